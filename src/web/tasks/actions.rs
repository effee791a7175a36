//! What the image tasks page does: load the models, set a field, start a run (a request sent to
//! the session, its events turned into messages), edit the sketch, save a picture.

use super::inputs::{SIZE, SKETCH_SCALE};
use super::models::{load_models, Loading};
use super::run::{Outcome, Resumed, RunInputs, RunState, TaskRun};
use super::state::{index, Field, ImageTasks, Msg};
use crate::drawing::{self, Edit};
use crate::engine::sampling::Rng;
use crate::engine::tasks::{Task, TaskSettings};
use crate::imaging;
use crate::models::resnet::LABELS;
use crate::session::transport::ModelFiles;
use crate::session::{Outcome as SessionOutcome, RunEvent, RunRequest, TaskRequest};
use crate::web::browser;
use crate::web::engine_worker::{run_in_worker, Control, Heard};
use crate::web::now_ms;
use crate::web::page::backend_id;
use yew::prelude::*;

impl ImageTasks {
    pub(super) fn busy(&self) -> bool {
        self.runs.iter().flatten().any(|r| r.state == RunState::Running)
    }

    pub(super) fn settings_of(&self, task: Task) -> &TaskSettings {
        &self.settings[index(task)]
    }

    pub(super) fn target_of(&self, task: Task) -> usize {
        self.targets[index(task)]
    }

    pub(super) fn run_of(&self, task: Task) -> Option<&TaskRun> {
        self.runs[index(task)].as_ref()
    }

    pub(super) fn run_mut(&mut self, id: u32) -> Option<&mut TaskRun> {
        self.runs.iter_mut().flatten().find(|r| r.id == id)
    }

    /// The seed of `task` as it stands: a Gaussian sample of the target (generation), the image
    /// with its hole filled (inpainting), the shrunk sketch.
    pub(super) fn seed_of(&self, task: Task) -> Option<Vec<f32>> {
        match task {
            Task::Generate => {
                let Loading::Ready(models) = &self.loading else { return None };
                Some(models.gaussians[self.target_of(task)].sample(1, &mut Rng::new(self.settings_of(task).run.rng_seed)))
            }
            Task::Inpaint => Some(self.inpainting.seed()),
            Task::Sketch => Some(imaging::to_chw(&drawing::box_downscale(&self.sketch.canvas, SKETCH_SCALE))),
        }
    }

    pub(super) fn load(&mut self, ctx: &Context<Self>) {
        // The files do not depend on the backend; the models are built by the worker on it.
        let (Some(_), Some(manifest)) = (self.device.as_ref(), self.manifest.clone()) else { return };
        if self.task.is_none() || !matches!(self.loading, Loading::Idle) {
            return;
        }
        self.load_generation += 1;
        let generation = self.load_generation;
        self.loading = Loading::Downloading { received: 0, total: 0 };
        let link = ctx.link().clone();
        ctx.link().send_future(async move {
            let progress = move |received, total| link.send_message(Msg::Progress(generation, received, total));
            Msg::Loaded(generation, load_models(manifest, progress).await)
        });
    }

    /// Sets one field of `task`'s settings through `TaskSettings::with_overrides`, where the
    /// budget moves A2X's η and PGD's ε together (and the CLI's flags go the same way).
    pub(super) fn set_field(&mut self, task: Task, field: Field, value: &str) -> Result<(), String> {
        let i = index(task);
        let value = crate::engine::setting_value(value);
        self.settings[i] = self.settings[i].with_overrides(&serde_json::json!({ field.setting_name(): value }))?;
        Ok(())
    }

    pub(super) fn start(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        let task = self.task.ok_or("no task is shown")?;
        // The files are in Cache Storage, checked: the worker builds the models from there.
        let Loading::Ready(_) = &self.loading else { return Err("the models are not loaded yet".into()) };
        if self.busy() {
            return Err("a run is going on; cancel it first".into());
        }
        let files = self.model_files()?;
        let seed = self.seed_of(task).ok_or("no seed yet")?;
        let hole = (task == Task::Inpaint).then(|| self.inpainting.hole_mask());
        // Generation's seed is the session's own draw (the same sample of the target's Gaussian).
        let request_seed = (task != Task::Generate).then(|| seed.clone());
        if hole.as_ref().is_some_and(|h| !h.iter().any(|&f| f > 0.5)) {
            return Err("paint a hole first: the mask is empty".into());
        }
        let mut settings = self.settings_of(task).clone();
        settings.run.target = self.target_of(task);
        if settings.run.batch > settings.samples + 1 {
            return Err(format!("b = {} needs at least b − 1 = {} samples in D̄", settings.run.batch, settings.run.batch - 1));
        }
        let (seed_recipe, hole_recipe) = self.recipes_of(task);
        let request = TaskRequest { task, settings, seed: request_seed, hole, model: None, photos: Vec::new() };
        let inputs = RunInputs { request, files, seed_recipe, hole_recipe };
        self.launch(ctx, inputs, seed, None)
    }

    /// Starts a run of `inputs` in the engine's worker on the page's backend: from the start, or
    /// from `resumed` (an interrupted run's checkpoint, with what the page had shown of it).
    pub(super) fn launch(&mut self, ctx: &Context<Self>, inputs: RunInputs, seed: Vec<f32>, resumed: Option<Resumed>) -> Result<(), String> {
        let device = self.device.clone().ok_or("the backend is still starting")?;
        let task = inputs.request.task;
        self.next_run += 1;
        let id = self.next_run;
        self.share = None;
        let control = Control::new(&self.worker, id)?;
        // A new run is kept in place of an interrupted one.
        self.interrupted = None;
        let settings = inputs.request.settings.clone();
        let (events, pgd_probability, checkpoint) = match resumed {
            Some(r) => (r.events, r.pgd_probability, Some(r.checkpoint)),
            None => (Vec::new(), Vec::new(), None),
        };
        self.runs[index(task)] = Some(TaskRun {
            id,
            task,
            target: settings.run.target,
            settings: settings.clone(),
            state: RunState::Running,
            error: None,
            seed: seed.clone(),
            a2x: seed.clone(),
            pgd: seed,
            events,
            pgd_probability,
            seed_verdicts: None,
            a2x_verdicts: None,
            pgd_verdicts: None,
            started_ms: now_ms(),
            ended_ms: None,
            control: control.clone(),
            recovered: Vec::new(),
            backend_id: backend_id(&device),
            inputs: inputs.clone(),
        });
        let RunInputs { request, files, .. } = inputs;
        let link = ctx.link().clone();
        wasm_bindgen_futures::spawn_local(async move {
            let finished = run_in_worker(control, device.backend, files, RunRequest::Task(request), checkpoint, |heard| match heard {
                Heard::Event(RunEvent::Started { seed, verdicts: Some(verdicts) }) => link.send_message(Msg::Started(id, seed, verdicts)),
                Heard::Event(RunEvent::TaskStep { a2x, pgd }) => link.send_message(Msg::Step(id, a2x, pgd)),
                Heard::Event(RunEvent::Finished(SessionOutcome::Task { a2x, pgd, .. })) => link.send_message(Msg::Ended(id, Outcome::Done(a2x, pgd))),
                Heard::Event(RunEvent::Failed { message }) => link.send_message(Msg::Ended(id, Outcome::Failed(message))),
                Heard::Event(other) => link.send_message(Msg::Ended(id, Outcome::Failed(format!("an image task does not send {other:?}")))),
                Heard::Checkpoint(checkpoint) => link.send_message(Msg::Checkpoint(id, checkpoint)),
                Heard::Recovering(what) => link.send_message(Msg::Recovering(id, what)),
            })
            .await;
            if !finished {
                link.send_message(Msg::Ended(id, Outcome::Cancelled));
            }
        });
        Ok(())
    }

    /// The files of the robust model, the standard one and the class Gaussians, as the manifest
    /// lists them (the worker loads them).
    fn model_files(&self) -> Result<ModelFiles, String> {
        let manifest = self.manifest.as_ref().ok_or("the manifest is not read yet")?;
        let robust = manifest.trained("cifar-robust").ok_or("the manifest lists no cifar-robust model")?.clone();
        let standard = manifest.trained("cifar-standard").ok_or("the manifest lists no cifar-standard model")?.clone();
        let gaussians = robust.gaussians.clone().ok_or("the manifest names no Gaussians for cifar-robust")?;
        Ok(ModelFiles::Tasks { robust, standard, gaussians })
    }

    /// Applies and records one edit of the sketch (one undo step).
    pub(super) fn edit_sketch(&mut self, edit: Edit) {
        let before = (self.sketch.canvas.clone(), self.sketch.recipe.clone());
        edit.apply(&mut self.sketch.canvas);
        self.sketch.recipe.edits.push(edit);
        self.sketch.undo.push(before);
        if self.sketch.undo.len() > 50 {
            self.sketch.undo.remove(0);
        }
        self.sketch.redo.clear();
    }

    /// The share link of the shown task's last run.
    /// PNG of a result (8× nearest-neighbour), offered as a download.
    pub(super) fn save(&self, which: &str) -> Result<(), String> {
        let task = self.task.ok_or("no task")?;
        let run = self.run_of(task).ok_or("nothing to save yet")?;
        let values = match which {
            "a2x" => &run.a2x,
            "pgd" => &run.pgd,
            _ => &run.seed,
        };
        let png = imaging::enlarged_png(values, SIZE, 8)?;
        browser::download(&png, "image/png", &format!("a2x-{}-{}-{}-{which}.png", crate::engine::name_of(task), LABELS[run.target], run.settings.run.rng_seed))
    }
}
