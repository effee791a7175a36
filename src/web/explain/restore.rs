//! The explanation page and share links: the state of a result as a link, and a link restored
//! (the model, the settings, the seed made from its recipe, D̄'s photo set, the run it asks for).

use super::run::RunView;
use super::state::Explain;
use crate::link::{PictureBase, SharedPage, SharedState};
use crate::web::page::{backend_notice, restored_notice};
use yew::prelude::*;

impl Explain {
    pub(super) fn share_state(&self, run: &RunView) -> Option<SharedState> {
        let weights = self.entry(&run.model_id)?.sha256.chars().take(16).collect();
        Some(SharedState {
            page: SharedPage::Explain {
                model: run.model_id.clone(),
                weights,
                config: run.config.clone(),
                samples: run.num_samples,
                seed: run.seed_recipe.clone(),
                own_photos: run.own_photos,
                photos: run.photo_set,
            },
            backend: run.backend_id.into(),
            auto_run: self.share_auto_run,
        })
    }

    /// Restores the page from a share link once the model list and the bundled photos are there.
    pub(super) fn apply_link(&mut self, ctx: &Context<Self>) {
        let (Some(state), Some(manifest)) = (self.link_pending.clone(), self.manifest.clone()) else { return };
        let photos = match &self.bundled {
            Some(Ok(photos)) => photos.clone(),
            Some(Err(e)) => {
                self.link_pending = None;
                self.link_notices = vec![format!("The link cannot be restored: the bundled photos did not load ({e}).")];
                return;
            }
            None => return,
        };
        self.link_pending = None;
        let SharedPage::Explain { model, weights, config, samples, seed, own_photos, photos: photo_set } = &state.page else { return };
        self.photo_set = *photo_set;
        if let Some(run) = self.run.as_mut().filter(|r| r.state.active()) {
            run.control.cancel();
        }
        let mut notices = Vec::new();
        match manifest.model(model) {
            Some(entry) => {
                if !entry.sha256.starts_with(weights.as_str()) {
                    notices.push(format!("The link was made with other weights of {model} (fingerprint {weights}, this page has {}): the result will differ.", &entry.sha256[..16]));
                }
                self.model_id = model.clone();
            }
            None => notices.push(format!("The link names a model this page does not have (“{model}”); {} is used instead.", self.model_id)),
        }
        self.target = config.target;
        self.config = config.clone();
        self.num_samples = *samples;
        self.region = config.region;
        if let Some(region) = config.region {
            self.region_size = region.height.max(region.width);
        }
        self.form_error = None;
        if *own_photos > 0 {
            notices.push(format!("The sender had added {own_photos} photos of their own to D̄; photos cannot travel in a link, so D̄ here differs and so will the result. Add them with “Add your own images…” to match."));
        }
        notices.extend(backend_notice(&state.backend, self.device.as_ref()));
        self.pending_supplied = None;
        match &seed.base {
            PictureBase::Bundled { id } => match photos.iter().find(|(name, _)| name == id) {
                Some((_, photo)) => self.restore_seed(seed.clone(), photo.clone()),
                None => notices.push(format!("The link's seed is a sample photo this page does not have (“{id}”).")),
            },
            PictureBase::Image { .. } => match seed.embedded_png().and_then(|png| crate::imaging::decode(&png).ok()) {
                Some(image) => self.restore_seed(seed.clone(), image.to_rgb8()),
                None => notices.push("The link's embedded seed image could not be decoded.".into()),
            },
            PictureBase::Supplied { name } => {
                notices.push(format!("The seed was the sender's own image “{name}”, too large for a link: open it with “Open image…” to restore the seed and its edits."));
                self.pending_supplied = Some(seed.clone());
            }
            PictureBase::BuiltIn { .. } => notices.push("The link's seed is not a photo.".into()),
        }
        notices.insert(0, restored_notice(&state, "the model is"));
        self.link_notices = notices;
        self.auto_run_pending = state.runs_by_itself();
        self.seed_top5 = None;
        self.auto_load(ctx);
        self.classify_seed(ctx);
        self.try_auto_run(ctx);
    }

    /// Starts the run a link asked for, once the model and the seed are ready.
    pub(super) fn try_auto_run(&mut self, ctx: &Context<Self>) {
        if self.auto_run_pending && !self.busy() && self.pending_supplied.is_none() && self.seed.is_some() && self.model_ready(&self.model_id) {
            let Some(device) = self.device.as_ref() else { return };
            self.auto_run_pending = false;
            if device.is_cpu {
                // On the CPU the run takes many times longer than on a GPU (in the engine's
                // worker; the page stays free): the visitor decides, knowing that (the CPU notice
                // says how long).
                self.link_notices.push("The link asks to run at once, but this page computes on the CPU backend, where this run takes long: press Run when you are ready.".into());
                return;
            }
            self.form_error = self.start(ctx).err();
        }
    }

}
