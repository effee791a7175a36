//! The image tasks across a reload or a closed tab (issue #23 item 3), kept in IndexedDB
//! (`web/saved.rs`): each task's drawings and settings, as the share link of its inputs (so they
//! are read back through a link's checks), and the run in progress with its last checkpoint.
//! After a reload the drawings are back, and the page offers to resume the run where it was.

use super::run::{Resumed, SavedRun};
use super::set::TaskSet;
use super::state::{ImageTasks, Msg};
use crate::engine::name_of;
use crate::engine::tasks::Task;
use crate::link::{self, SharedPage, SharedState};
use crate::session::Checkpoint;
use crate::web::page::backend_id;
use crate::web::{messages, saved};
use yew::prelude::*;

/// Where the run in progress is kept (one a set of models at a time: the page runs one task at a
/// time). The CIFAR-10 keys are those from before the ImageNet tasks.
fn run_key(set: &TaskSet) -> String {
    format!("{}-run", set.saved_prefix())
}

fn draft_key(set: &TaskSet, task: Task) -> String {
    format!("{}-draft-{}", set.saved_prefix(), name_of(task))
}

fn warn(what: &str, e: String) {
    web_sys::console::warn_1(&format!("{what}: {e}").into());
}

impl ImageTasks {
    /// Reads what was kept: the drawings (unless the page opened a share link, which wins) and
    /// an interrupted run.
    pub(super) fn read_saved(&self, ctx: &Context<Self>) {
        let with_link = self.link_pending.is_some();
        let set = self.set.clone();
        ctx.link().send_future(async move {
            let mut drafts = Vec::new();
            for task in [Task::Generate, Task::Inpaint, Task::Sketch].into_iter().filter(|_| !with_link) {
                match saved::get(&draft_key(&set, task)).await {
                    Ok(Some(value)) => match value.as_string().map(|text| link::decode(&text)) {
                        Some(Ok(state)) => drafts.push(state),
                        Some(Err(e)) => warn("the kept drawing did not read", e.to_string()),
                        None => warn("the kept drawing did not read", "not text".into()),
                    },
                    Ok(None) => {}
                    Err(e) => {
                        warn("nothing kept from before", e);
                        break;
                    }
                }
            }
            let run = match saved::get(&run_key(&set)).await {
                Ok(Some(value)) => messages::from_js::<SavedRun>(&value).map_err(|e| warn("the kept run did not read", e)).ok(),
                Ok(None) => None,
                Err(e) => {
                    warn("no run kept from before", e);
                    None
                }
            };
            Msg::SavedRead(drafts, run.map(Box::new))
        });
    }

    /// Puts back the drawings and settings kept before the reload.
    pub(super) fn restore_drafts(&mut self, ctx: &Context<Self>, drafts: Vec<SharedState>) {
        if self.link_pending.is_some() {
            return;
        }
        for state in drafts {
            if let SharedPage::Task { task, settings, seed, hole, .. } = &state.page {
                for problem in self.restore_inputs(ctx, *task, settings, seed.as_ref(), hole.as_ref()) {
                    warn("a kept drawing", problem);
                }
            }
        }
    }

    /// Keeps the shown task's drawings and settings (after each stroke, undo, picture or setting).
    pub(super) fn save_draft(&self) {
        let Some(task) = self.task.filter(|_| self.saved_read) else { return };
        let mut settings = self.settings_of(task).clone();
        settings.run.target = self.target_of(task);
        let backend = self.device.as_ref().map(backend_id).unwrap_or("cpu");
        let Some(state) = self.task_state(task, settings, self.recipes_of(task), backend, false) else { return };
        let text = link::encode(&state);
        let key = draft_key(&self.set, task);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = saved::put(&key, &text.into()).await {
                warn("the drawing is not kept for a reload", e);
            }
        });
    }

    /// Keeps run `id` as it stands after the iteration of `checkpoint`.
    pub(super) fn save_run(&self, id: u32, checkpoint: Checkpoint) {
        let Some(run) = self.runs.iter().flatten().find(|r| r.id == id) else { return };
        let saved = SavedRun {
            inputs: run.inputs.clone(),
            seed: run.seed.clone(),
            checkpoint,
            events: run.events.clone(),
            pgd_probability: run.pgd_probability.clone(),
        };
        let (value, _) = messages::to_js(saved);
        let key = run_key(&self.set);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = saved::put(&key, &value).await {
                warn("the run is not kept for a reload", e);
            }
        });
    }

    /// Forgets the kept run (it ended, or the visitor discarded it).
    pub(super) fn forget_run(&self) {
        let key = run_key(&self.set);
        wasm_bindgen_futures::spawn_local(async move {
            if let Err(e) = saved::delete(&key).await {
                warn("the kept run could not be forgotten", e);
            }
        });
    }

    /// Resumes the interrupted run from its checkpoint, on this page's backend.
    pub(super) fn resume_interrupted(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        if !matches!(self.loading, super::models::Loading::Ready(_)) {
            return Err("the models are not loaded yet".into());
        }
        if self.busy() {
            return Err("a run is going on; cancel it first".into());
        }
        let saved = self.interrupted.take().ok_or("there is no interrupted run")?;
        let SavedRun { inputs, seed, checkpoint, events, pgd_probability } = *saved;
        self.launch(ctx, inputs, seed, Some(Resumed { checkpoint, events, pgd_probability }))
    }
}
