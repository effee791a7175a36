//! The image tasks and share links: a run's state as a link, and a link restored (the task's
//! settings, the sketch or the inpainting picture and hole from their recipes, the run it asks for).

use super::inputs::Sketch;
use super::models::Loading;
use super::run::TaskRun;
use super::state::{index, ImageTasks, Msg};
use crate::bundled::PHOTOS as BUNDLED;
use crate::engine::tasks::{Task, TaskSettings};
use crate::imaging;
use crate::link::{PictureBase, SharedPage, SharedPicture, SharedState};
use crate::session::from_link::render_picture;
use crate::web::browser;
use crate::web::page::{backend_notice, restored_notice};
use yew::prelude::*;

impl ImageTasks {
    pub(super) fn share_state(&self, run: &TaskRun) -> Option<SharedState> {
        let (seed, hole) = (run.inputs.seed_recipe.clone(), run.inputs.hole_recipe.clone());
        self.task_state(run.task, run.settings.clone(), (seed, hole), run.backend_id, self.share_auto_run)
    }

    /// A task's inputs as a share link's state (a run's link, or the drawing kept for a reload).
    pub(super) fn task_state(
        &self,
        task: Task,
        settings: TaskSettings,
        (seed, hole): (Option<SharedPicture>, Option<SharedPicture>),
        backend: &str,
        auto_run: bool,
    ) -> Option<SharedState> {
        let entry = self.manifest.as_ref()?.trained("cifar-robust")?;
        let page = SharedPage::Task { task, model: entry.id.clone(), weights: entry.sha256.chars().take(16).collect(), settings, seed, hole };
        Some(SharedState { page, backend: backend.into(), auto_run })
    }

    /// The recipes of `task`'s seed and hole as the page holds them now.
    pub(super) fn recipes_of(&self, task: Task) -> (Option<SharedPicture>, Option<SharedPicture>) {
        match task {
            Task::Generate => (None, None),
            Task::Inpaint => (Some(self.inpainting.picture_recipe.clone()), Some(self.inpainting.hole_recipe.clone())),
            Task::Sketch => (Some(self.sketch.recipe.clone()), None),
        }
    }

    /// Restores a task from a share link once the model list is there.
    pub(super) fn apply_link(&mut self, ctx: &Context<Self>) {
        let (Some(state), Some(manifest)) = (self.link_pending.clone(), self.manifest.clone()) else { return };
        self.link_pending = None;
        let SharedPage::Task { task, model, weights, settings, seed, hole } = &state.page else { return };
        for run in self.runs.iter_mut().flatten() {
            run.control.cancel();
        }
        let mut notices = vec![restored_notice(&state, "the models are")];
        match manifest.trained(model) {
            Some(entry) if !entry.sha256.starts_with(weights.as_str()) => notices.push(format!(
                "The link was made with other weights of {model} (fingerprint {weights}, this page has {}): the result will differ.",
                &entry.sha256[..16]
            )),
            Some(_) => {}
            None => notices.push(format!("The link names a model this page does not have (“{model}”).")),
        }
        notices.extend(backend_notice(&state.backend, self.device.as_ref()));
        notices.extend(self.restore_inputs(ctx, *task, settings, seed.as_ref(), hole.as_ref()));
        self.link_notices = notices;
        self.auto_run_pending = state.runs_by_itself();
        self.try_auto_run(ctx);
    }

    /// A task's settings, sketch, picture and hole from their recipes (a share link's, or the
    /// drawings kept across a reload); what could not be restored, as sentences.
    pub(super) fn restore_inputs(&mut self, ctx: &Context<Self>, task: Task, settings: &TaskSettings, seed: Option<&SharedPicture>, hole: Option<&SharedPicture>) -> Vec<String> {
        let mut notices = Vec::new();
        let i = index(task);
        self.settings[i] = settings.clone();
        self.targets[i] = settings.run.target;
        self.setting_error = None;
        self.pending_picture = None;
        match (task, seed) {
            // A sketch and a hole start from the page's own canvases (built-in pictures).
            (Task::Sketch, Some(picture)) => match render_picture(picture, &[], None).ok().filter(|_| matches!(picture.base, PictureBase::BuiltIn { .. })) {
                Some(canvas) => self.sketch = Sketch { canvas, recipe: picture.clone(), undo: Vec::new(), redo: Vec::new() },
                None => notices.push("The link's sketch does not start from the page's canvas.".into()),
            },
            (Task::Inpaint, Some(picture)) => {
                match &picture.base {
                    PictureBase::Bundled { id } => match BUNDLED.iter().position(|(name, _)| name == id) {
                        Some(at) => {
                            self.pending_picture = Some(picture.clone());
                            self.request_bundled(ctx, at);
                        }
                        None => notices.push(format!("The link's picture is a sample photo this page does not have (“{id}”).")),
                    },
                    PictureBase::Image { name, .. } => match picture.embedded_png().and_then(|png| imaging::decode(&png).ok()) {
                        Some(image) => {
                            self.pending_picture = Some(picture.clone());
                            self.picture_request += 1;
                            ctx.link().send_message(Msg::Picture(self.picture_request, name.clone(), false, Ok(image.to_rgb8())));
                        }
                        None => notices.push("The link's embedded picture could not be decoded.".into()),
                    },
                    PictureBase::Supplied { name } => {
                        notices.push(format!("The picture was the sender's own image “{name}”: open it with “Your image…” to restore it."));
                        self.pending_picture = Some(picture.clone());
                    }
                    PictureBase::BuiltIn { .. } => notices.push("The link's picture is not a photo.".into()),
                }
                if let Some(hole) = hole {
                    match render_picture(hole, &[], None).ok().filter(|_| matches!(hole.base, PictureBase::BuiltIn { .. })) {
                        Some(mask) => {
                            self.inpainting.hole = mask;
                            self.inpainting.hole_recipe = hole.clone();
                        }
                        None => notices.push("The link's hole does not start from the page's mask.".into()),
                    }
                }
            }
            _ => {}
        }
        notices
    }

    /// Fetches bundled photo `i` for the inpainting panel (the latest request wins).
    pub(super) fn request_bundled(&mut self, ctx: &Context<Self>, i: usize) {
        let Some((name, url)) = BUNDLED.get(i).copied() else { return };
        self.picture_request += 1;
        let request = self.picture_request;
        ctx.link().send_future(async move { Msg::Picture(request, name.to_string(), true, browser::fetch_image(url).await) });
    }

    /// Starts the run a link asked for, once the models (and the picture) are there.
    pub(super) fn try_auto_run(&mut self, ctx: &Context<Self>) {
        if self.auto_run_pending && self.link_pending.is_none() && self.pending_picture.is_none() && matches!(self.loading, Loading::Ready(_)) && !self.busy() {
            self.auto_run_pending = false;
            if self.device.as_ref().is_some_and(|d| d.is_cpu) {
                // As on the explanation page: on the CPU a run takes many times longer than on
                // a GPU, so the visitor decides.
                self.link_notices.push("The link asks to run at once, but this page computes on the CPU backend, where this run takes long: press Run when you are ready.".into());
                return;
            }
            if let Err(e) = self.start(ctx) {
                self.setting_error = Some(e);
            }
        }
    }

}
