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
        let (model, sha256) = self.set.weights(self.manifest.as_ref()?)?;
        let page = SharedPage::Task { task, model, weights: sha256.chars().take(16).collect(), settings, seed, hole };
        Some(SharedState { page, backend: backend.into(), auto_run })
    }

    /// The recipes of `task`'s seed and hole as the page holds them now.
    pub(super) fn recipes_of(&self, task: Task) -> (Option<SharedPicture>, Option<SharedPicture>) {
        match task {
            Task::Generate if self.set.is_imagenet() => (Some(self.start.recipe.clone()), None),
            Task::Generate => (None, None),
            Task::Inpaint => (Some(self.inpainting.picture_recipe.clone()), Some(self.inpainting.hole_recipe.clone())),
            Task::Sketch => (Some(self.sketch.recipe.clone()), None),
        }
    }

    /// Restores a task from a share link once the model list is there.
    pub(super) fn apply_link(&mut self, ctx: &Context<Self>) {
        let (Some(state), Some(manifest)) = (self.link_pending.clone(), self.manifest.clone()) else { return };
        // On an ImageNet model a link's pictures may start from any bundled photo: they are
        // made once the photos are loaded.
        if self.set.is_imagenet() && !matches!(self.loading, Loading::Ready(_)) {
            return;
        }
        self.link_pending = None;
        let SharedPage::Task { task, model, weights, settings, seed, hole } = &state.page else { return };
        for run in self.runs.iter_mut().flatten() {
            run.control.cancel();
        }
        let mut notices = vec![restored_notice(&state, "the models are")];
        match self.set.weights(&manifest).filter(|(id, _)| id == model) {
            Some((_, sha256)) if !sha256.starts_with(weights.as_str()) => notices.push(format!(
                "The link was made with other weights of {model} (fingerprint {weights}, this page has {}): the result will differ.",
                &sha256[..16]
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
        let side = self.set.side() as u32;
        let photos = match &self.loading {
            Loading::Ready(models) => models.photos.clone(),
            _ => Default::default(),
        };
        // Every picture at the model's side (the sketch at the canvas's): one of another side
        // was made for other models, and would not run.
        let fits = |picture: &SharedPicture, wanted: u32| picture.final_side() == wanted;
        self.settings[i] = settings.clone();
        self.targets[i] = settings.run.target;
        self.setting_error = None;
        self.pending_picture = None;
        match (task, seed) {
            // A sketch and a hole start from the page's own canvases (built-in pictures).
            // A sketch starts from the page's canvas (a built-in picture), or on an ImageNet
            // model from an embedded drawing or a bundled photo to draw on.
            (Task::Sketch, Some(picture)) => {
                let allowed = matches!(picture.base, PictureBase::BuiltIn { .. }) || (self.set.is_imagenet() && !matches!(picture.base, PictureBase::Supplied { .. }));
                match render_picture(picture, &photos, None).ok().filter(|_| allowed && fits(picture, side * self.set.sketch_scale())) {
                    Some(canvas) => self.sketch = Sketch { canvas, recipe: picture.clone(), undo: Vec::new(), redo: Vec::new() },
                    None => notices.push("The link's sketch does not start from the page's canvas.".into()),
                }
            }
            (Task::Generate, Some(picture)) if self.set.is_imagenet() => match render_picture(picture, &photos, None).ok().filter(|_| fits(picture, side)) {
                Some(image) => self.start = super::inputs::Start { picture: image, recipe: picture.clone() },
                None => notices.push("The link's starting picture could not be made at this model's size.".into()),
            },
            (Task::Inpaint, Some(picture)) if !fits(picture, side) => notices.push(format!("The link's picture is {0}×{0}, not this model's {side}×{side}.", picture.final_side())),
            (Task::Inpaint, Some(picture)) => {
                // The link's target, not the picture's top-1.
                self.inpaint_target_chosen = true;
                match &picture.base {
                    PictureBase::Bundled { id } => match (photos.iter().find(|(name, _)| name == id), BUNDLED.iter().position(|(name, _)| name == id)) {
                        (Some((_, photo)), _) => {
                            self.pending_picture = Some(picture.clone());
                            self.picture_request += 1;
                            ctx.link().send_message(Msg::Picture(self.picture_request, id.clone(), true, Ok(photo.clone())));
                        }
                        (None, Some(at)) => {
                            self.pending_picture = Some(picture.clone());
                            self.request_bundled(ctx, at);
                        }
                        _ => notices.push(format!("The link's picture is a sample photo this page does not have (“{id}”).")),
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
                    match render_picture(hole, &[], None).ok().filter(|_| matches!(hole.base, PictureBase::BuiltIn { .. }) && fits(hole, side)) {
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
