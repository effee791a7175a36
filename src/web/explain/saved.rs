//! The explanation page across a reload or a closed tab (issue #23 item 3), kept in IndexedDB
//! (`web/saved.rs`):
//! - a draft: the seed with its recipe and pixels, the model, the class and every setting, kept
//!   after each change (a stroke when the pointer lifts);
//! - the visitor's own photos of D̄, as the files they chose;
//! - the run in progress: what it was asked, once at its start, with each of D̄'s photos under a
//!   key of its own (they are megabytes together: one put of all of them held the page's thread
//!   for 50–85 ms here, and over 200 ms on a loaded machine); and after every iteration its
//!   checkpoint with the events shown up to there.
//!
//! After a reload the seed, its edits and the settings are back (a share link in the address wins
//! over the draft), and the page offers to resume the run where it was.

use super::kept::{Draft, DraftSeed, Interrupted, Kept, Progress};
use super::run::{ExplainInputs, Resumed};
use super::seed::Seed;
use super::state::{Explain, Msg};
use crate::session::transport::Bulky;
use crate::bundled::PhotoSet;
use crate::link::SharedPicture;
use crate::models::manifest::ModelEntry;
use crate::session::{Checkpoint, ExplainRequest, Photo, RunRequest};
use std::rc::Rc;
use crate::web::{messages, saved};
use image::RgbImage;
use wasm_bindgen::JsCast;
use yew::prelude::*;

const DRAFT_KEY: &str = "explain-draft";
const PHOTOS_KEY: &str = "explain-photos";
/// The run in progress: its inputs (kept once), and its progress (after every iteration).
const RUN_KEY: &str = "explain-run";
const PROGRESS_KEY: &str = "explain-run-progress";
/// Photo i of the kept run's D̄ is kept under this prefix followed by i.
const RUN_PHOTO_PREFIX: &str = "explain-run-photo-";

/// One photo of the kept run's D̄, with the run's tag (so a photo of an older run is not taken
/// for this one's).
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptPhoto {
    tag: String,
    photo: Photo,
}

impl Bulky for KeptPhoto {
    fn arrays(&mut self, visit: &mut dyn FnMut(crate::session::transport::ArrayMut)) {
        self.photo.arrays(visit);
    }
}

/// The kept run's inputs with the pixels of D̄'s photos put back (their names and sizes are in
/// the inputs; their pixels under `RUN_PHOTO_PREFIX`), or why not.
async fn read_run_inputs() -> Option<ExplainInputs> {
    let mut inputs = read::<ExplainInputs>(RUN_KEY, "run").await?;
    for (i, photo) in inputs.request.photos.iter_mut().enumerate() {
        let full = photo.width as usize * photo.height as usize * 3;
        // A run kept by an earlier version of the page has its photos inside its inputs.
        if photo.rgb.len() == full {
            continue;
        }
        let kept = read::<KeptPhoto>(&format!("{RUN_PHOTO_PREFIX}{i}"), "photo of the run's D̄").await;
        match kept {
            Some(kept) if kept.tag == inputs.tag && kept.photo.name == photo.name && kept.photo.rgb.len() == full => {
                photo.rgb = kept.photo.rgb;
            }
            _ => {
                warn("the kept run cannot be resumed", format!("photo {} of its D̄ (“{}”) was not kept", i + 1, photo.name));
                return None;
            }
        }
    }
    Some(inputs)
}

/// Deletes the kept run: its progress, its inputs and its photos.
async fn forget_kept_run() {
    for key in [PROGRESS_KEY, RUN_KEY] {
        if let Err(e) = saved::delete(key).await {
            warn("the kept run could not be forgotten", e);
        }
    }
    if let Err(e) = saved::delete_prefix(RUN_PHOTO_PREFIX).await {
        warn("the kept run's photos could not be forgotten", e);
    }
}

fn warn(what: &str, e: String) {
    web_sys::console::warn_1(&format!("{what}: {e}").into());
}

/// The value kept under `key` as a `T`, if there is one that reads.
async fn read<T: Bulky>(key: &str, what: &str) -> Option<T> {
    match saved::get(key).await {
        Ok(Some(value)) => messages::from_js::<T>(&value).map_err(|e| warn(&format!("the kept {what} did not read"), e)).ok(),
        Ok(None) => None,
        Err(e) => {
            warn(&format!("no {what} kept from before"), e);
            None
        }
    }
}

fn put(key: &'static str, value: wasm_bindgen::JsValue, what: &'static str) {
    wasm_bindgen_futures::spawn_local(async move {
        if let Err(e) = saved::put(key, &value).await {
            warn(&format!("the {what} is not kept for a reload"), e);
        }
    });
}

fn image_of(photo: &Photo) -> Option<RgbImage> {
    RgbImage::from_raw(photo.width, photo.height, photo.rgb.clone())
}

impl Explain {
    /// Reads what was kept (see the module notes); the page hears it as `Msg::SavedRead`.
    pub(super) fn read_saved(&self, ctx: &Context<Self>) {
        ctx.link().send_future(async move {
            let draft = read::<Draft>(DRAFT_KEY, "seed and settings").await;
            let photos = match saved::get(PHOTOS_KEY).await {
                Ok(Some(value)) => value.dyn_into::<js_sys::Array>().map(|list| list.iter().filter_map(|f| f.dyn_into::<web_sys::File>().ok()).collect()).unwrap_or_default(),
                _ => Vec::new(),
            };
            let inputs = read_run_inputs().await;
            let progress = read::<Progress>(PROGRESS_KEY, "run's progress").await;
            // The progress of another run (a write that raced a newer run's start) is not this one's.
            let run = match (inputs, progress) {
                (Some(inputs), Some(progress)) if progress.tag == inputs.tag => Some(Interrupted { inputs, progress }),
                _ => None,
            };
            Msg::SavedRead(Box::new(Kept { draft, photos, run }))
        });
    }

    /// Puts back what was kept: the draft unless a share link is being opened (the link wins),
    /// the visitor's photos (decoded again, as when they were added), and the offer to resume.
    pub(super) fn restore_kept(&mut self, ctx: &Context<Self>, kept: Kept) {
        let Kept { draft, photos, run } = kept;
        let with_link = self.link_pending.is_some();
        if let Some(draft) = draft.filter(|_| !with_link) {
            self.restore_draft(draft);
        }
        if !with_link && !photos.is_empty() && self.own_photos.is_empty() {
            ctx.link().send_message(Msg::AddPhotos(photos));
        }
        // Not offered while this page runs already (a link's auto-run).
        self.interrupted = run.filter(|_| !self.busy());
        if let Some(run) = &self.interrupted {
            // Resume needs the run's model: it is loaded now, as the page's own would be.
            if !with_link && self.manifest.as_ref().is_none_or(|m| m.model(&run.inputs.request.model).is_some()) {
                self.model_id = run.inputs.request.model.clone();
                self.model_restored = true;
            }
        }
        // The seed at the input size of the model now chosen (the draft's, or the interrupted
        // run's), once; without the manifest yet, this happens when it arrives.
        if self.manifest.is_some() {
            self.fit_seed();
        }
        self.saved_read = true;
    }

    fn restore_draft(&mut self, draft: Draft) {
        if self.manifest.as_ref().is_some_and(|m| m.model(&draft.model).is_none()) {
            warn("the kept seed and settings", format!("this page has no model “{}” any more", draft.model));
            return;
        }
        self.model_id = draft.model;
        self.model_restored = true;
        self.target = draft.target.min(crate::models::labels::imagenet().len() - 1);
        self.preset = draft.preset;
        self.config = draft.config;
        self.num_samples = draft.num_samples;
        self.region = draft.region;
        self.region_size = draft.region_size;
        self.photo_set = draft.photo_set;
        self.view = draft.view;
        if let Some(seed) = draft.seed {
            match image_of(&seed.image) {
                Some(image) => {
                    let source = seed.source.as_ref().and_then(image_of);
                    self.seed = Some(Seed { image, source, recipe: seed.recipe, undo: Vec::new(), redo: Vec::new() });
                    self.seed_error = None;
                    // The first bundled photo no longer replaces it when it arrives.
                    self.pending_pick = None;
                }
                None => warn("the kept seed", "its pixels do not fill its size".into()),
            }
        }
    }

    /// Keeps the page's inputs (after each change of the seed, the model, the class or a setting).
    pub(super) fn save_draft(&self) {
        if !self.saved_read {
            return; // what is kept is not read yet: it would be overwritten by the page's defaults
        }
        let draft = Draft {
            model: self.model_id.clone(),
            target: self.target,
            preset: self.preset,
            config: self.config.clone(),
            num_samples: self.num_samples,
            region: self.region,
            region_size: self.region_size,
            photo_set: self.photo_set,
            view: self.view,
            seed: self.seed.as_ref().map(|seed| DraftSeed {
                recipe: seed.recipe.clone(),
                image: Photo::new(&seed.name(), &seed.image),
                source: seed.source.as_ref().map(|source| Photo::new("source", source)),
            }),
        };
        put(DRAFT_KEY, messages::to_js(draft).0, "seed");
    }

    /// Keeps the files of the visitor's own photos in D̄ (none: forgets them).
    pub(super) fn save_photos(&self) {
        if !self.saved_read {
            return;
        }
        let files: js_sys::Array = self.own_files.iter().collect();
        put(PHOTOS_KEY, files.into(), "photos of your own");
    }

    /// Keeps what run `tag` was asked (once, at its start), in place of any run kept before:
    /// the inputs without the pixels of D̄'s photos, then each photo, each copied from the
    /// request the worker is sent in a task of its own.
    pub(super) fn save_run_inputs(tag: &str, entry: &ModelEntry, seed_recipe: &SharedPicture, own_photos: usize, photo_set: PhotoSet, request: Rc<RunRequest>) {
        let RunRequest::Explain(explain) = &*request else { return };
        let skeleton = ExplainInputs {
            tag: tag.to_string(),
            request: ExplainRequest {
                model: explain.model.clone(),
                config: explain.config.clone(),
                seed: explain.seed.clone(),
                photos: explain.photos.iter().map(|p| Photo { name: p.name.clone(), width: p.width, height: p.height, rgb: Vec::new() }).collect(),
                samples: explain.samples,
            },
            entry: entry.clone(),
            seed_recipe: seed_recipe.clone(),
            own_photos,
            photo_set,
        };
        wasm_bindgen_futures::spawn_local(async move {
            use crate::web::browser::yield_now;
            // In a task of its own, after the Run click's.
            yield_now().await;
            forget_kept_run().await;
            let RunRequest::Explain(explain) = &*request else { return };
            for (i, photo) in explain.photos.iter().enumerate() {
                yield_now().await;
                let kept = KeptPhoto { tag: skeleton.tag.clone(), photo: photo.clone() };
                if let Err(e) = saved::put(&format!("{RUN_PHOTO_PREFIX}{i}"), &messages::to_js(kept).0).await {
                    warn("the run is not kept for a reload", e);
                    return;
                }
            }
            // Last, so that inputs that read have every photo kept before them.
            if let Err(e) = saved::put(RUN_KEY, &messages::to_js(skeleton).0).await {
                warn("the run is not kept for a reload", e);
            }
        });
    }

    /// Keeps run `id`'s progress after the iteration of `checkpoint`.
    pub(super) fn save_progress(&self, id: u32, checkpoint: Checkpoint) {
        let Some(run) = self.run.as_ref().filter(|r| r.id == id && r.state.active()) else { return };
        let done = checkpoint.a2x.iteration.min(run.events.len());
        let progress = Progress { tag: run.tag.clone(), checkpoint, events: run.events[..done].to_vec() };
        put(PROGRESS_KEY, messages::to_js(progress).0, "run's progress");
    }

    /// Forgets the kept run (it ended, or the visitor discarded it).
    pub(super) fn forget_run() {
        wasm_bindgen_futures::spawn_local(forget_kept_run());
    }

    /// Resumes the interrupted run from its checkpoint, on this page's backend.
    pub(super) fn resume_interrupted(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        if self.busy() {
            return Err("a run is going on; cancel it first".into());
        }
        let model = &self.interrupted.as_ref().ok_or("there is no interrupted run")?.inputs.request.model;
        if !self.model_ready(model) {
            return Err(format!("{model} is not loaded yet"));
        }
        let Interrupted { inputs, progress } = self.interrupted.take().ok_or("there is no interrupted run")?;
        self.launch(ctx, inputs, Some(Resumed { checkpoint: progress.checkpoint, events: progress.events }))
    }
}
