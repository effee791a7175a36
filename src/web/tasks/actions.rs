//! What the image tasks page does: load the models, set a field, start a run (a request sent to
//! the session, its events turned into messages), edit the sketch, save a picture.

use super::inputs::Start;
use super::models::{load_imagenet, load_models, Loading};
use super::set::TaskSet;
use super::run::{Outcome, Resumed, RunInputs, RunState, TaskRun};
use super::state::{index, Field, ImageTasks, Msg};
use crate::drawing::{self, Edit};
use crate::engine::sampling::Rng;
use crate::engine::tasks::{Task, TaskSettings};
use crate::imaging;
use crate::link::{PictureBase, SharedPicture};
use crate::session::transport::ModelFiles;
use crate::session::{Outcome as SessionOutcome, RunEvent, RunRequest, TaskRequest};
use crate::web::browser;
use crate::web::engine_worker::{run_in_worker, Control, Heard};
use crate::web::now_ms;
use crate::web::page::backend_id;
use std::rc::Rc;
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
            Task::Generate if self.set.is_imagenet() => Some(imaging::to_chw(&self.start.picture)),
            Task::Generate => {
                let Loading::Ready(models) = &self.loading else { return None };
                Some(models.gaussians[self.target_of(task)].sample(1, &mut Rng::new(self.settings_of(task).run.rng_seed)))
            }
            Task::Inpaint => Some(self.inpainting.seed()),
            Task::Sketch => Some(imaging::to_chw(&drawing::box_downscale(&self.sketch.canvas, self.set.sketch_scale()))),
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
        let set = self.set.clone();
        ctx.link().send_future(async move {
            let progress = move |received, total| link.send_message(Msg::Progress(generation, received, total));
            let loaded = match set {
                TaskSet::Cifar => load_models(manifest, progress).await,
                TaskSet::ImageNet(_) => load_imagenet(manifest, set, progress).await,
            };
            Msg::Loaded(generation, loaded)
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
        let Loading::Ready(models) = &self.loading else { return Err("the models are not loaded yet".into()) };
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
        let request = match &self.set {
            TaskSet::Cifar => TaskRequest { task, settings, seed: request_seed, hole, model: None, photos: Vec::new() },
            // As `session::from_link` builds it from the run's link: the picture as drawn (the
            // session fills the hole as the settings say), D̄ the wide set less the target's photos.
            TaskSet::ImageNet(model) => {
                let picture = if task == Task::Inpaint { imaging::to_chw(&self.inpainting.picture) } else { seed.clone() };
                let photos = crate::session::from_link::distribution_photos(crate::bundled::PhotoSet::Wide, "", settings.run.target, &models.photos)?;
                TaskRequest { task, settings, seed: Some(picture), hole, model: Some(model.clone()), photos }
            }
        };
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
        let resumed_at = events.len().max(pgd_probability.len());
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
            resumed_at,
            paused: false,
            control: control.clone(),
            recovered: Vec::new(),
            backend_id: backend_id(&device),
            inputs: inputs.clone(),
        });
        let RunInputs { request, files, .. } = inputs;
        let link = ctx.link().clone();
        wasm_bindgen_futures::spawn_local(async move {
            let finished = run_in_worker(control, device.backend, files, Rc::new(RunRequest::Task(request)), checkpoint, |heard| match heard {
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

    /// The files of the set's models, as the manifest lists them (the worker loads them).
    fn model_files(&self) -> Result<ModelFiles, String> {
        self.set.model_files(self.manifest.as_ref().ok_or("the manifest is not read yet")?)
    }

    /// The largest mask brush: a sixth of the picture.
    pub(super) fn max_mask_brush(&self) -> f32 {
        (self.set.side() as f32 / 6.0).max(16.0)
    }

    /// Generation's starting picture (ImageNet models): `grey`, `noise` or a bundled photo by id.
    pub(super) fn pick_start(&mut self, id: &str) -> Result<(), String> {
        let side = self.set.side();
        self.start = match id {
            crate::bundled::GREY | crate::bundled::NOISE => Start::built_in(id, side),
            photo => {
                let Loading::Ready(models) = &self.loading else { return Err("the photos are not loaded yet".into()) };
                let (_, image) = models.photos.iter().find(|(name, _)| name == photo).ok_or(format!("no bundled photo “{photo}”"))?;
                let recipe = SharedPicture { base: PictureBase::Bundled { id: photo.into() }, side: side as u32, edits: Vec::new() };
                Start { picture: crate::session::from_link::render_from_photo(&recipe, image), recipe }
            }
        };
        Ok(())
    }

    /// Asks the engine's worker what the attacked model sees in the inpainting picture (its
    /// top-1 becomes the target until the visitor picks one). ImageNet models only, and only once
    /// the tasks are shown and their files loaded: a page that shows the explanation must not
    /// start a second engine worker for this.
    pub(super) fn classify_picture(&mut self, ctx: &Context<Self>) {
        if self.task.is_none() || !matches!(self.loading, Loading::Ready(_)) {
            return;
        }
        let (TaskSet::ImageNet(id), Some(manifest), Some(device)) = (&self.set, &self.manifest, &self.device) else { return };
        let Some(entry) = manifest.model(id).cloned() else { return };
        let worker = match self.worker.get() {
            Ok(worker) => worker,
            Err(e) => {
                self.picture_top5 = Some(Err(e));
                return;
            }
        };
        let (request, backend) = (self.picture_request, device.backend);
        let picture = crate::session::Photo::new(&self.inpainting.name, &self.inpainting.picture);
        self.picture_top5 = None;
        ctx.link().send_future(async move {
            let answer = match worker.ask(backend, crate::session::transport::Job::Top5 { entry, pictures: vec![picture] }).await {
                Ok(crate::session::transport::Answer::Top5 { mut top5 }) if top5.len() == 1 => Ok(top5.remove(0)),
                Ok(other) => Err(format!("the engine's worker answered {other:?} to a top five")),
                Err(e) => Err(e),
            };
            Msg::PictureTop5(request, answer)
        });
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
        let png = imaging::enlarged_png(values, self.set.side(), self.set.enlarge())?;
        let class = self.set.class_name(run.target).split(',').next().unwrap_or_default().replace(' ', "-");
        browser::download(&png, "image/png", &format!("a2x-{}-{}-{class}-{}-{which}.png", crate::engine::name_of(task), self.set.model(), run.settings.run.rng_seed))
    }

    /// The run's numbers as JSON (settings, curves, verdicts, fingerprints), offered as a download.
    pub(super) fn save_json(&self) -> Result<(), String> {
        let task = self.task.ok_or("no task")?;
        let run = self.run_of(task).ok_or("nothing to save yet")?;
        let mut summary = run.summary(&self.set);
        summary["model"] = self.set.model().into();
        summary["link"] = self.share_state(run).map(|state| crate::link::encode(&state)).into();
        let text = serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?;
        browser::download(text.as_bytes(), "application/json", &format!("a2x-{}-{}-{}.json", crate::engine::name_of(task), self.set.model(), run.settings.run.rng_seed))
    }
}
