//! One run as the explanation page shows it: its state, its pictures, the cross-model check and
//! the JSON export.

use crate::bundled::PhotoSet;
use crate::engine::{Event, RunConfig};
use crate::imaging;
use crate::link::SharedPicture;
use crate::models::{labels, CrossCheck, Prediction};
use crate::web::now_ms;
use crate::web::engine_worker::Control;
use image::RgbImage;
use crate::models::manifest::ModelEntry;
use crate::session::transport::{ArrayMut, Bulky};
use crate::session::{Checkpoint, ExplainRequest};
use serde::{Deserialize, Serialize};
use std::rc::Rc;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RunState {
    Preparing,
    Running,
    Paused,
    Finished,
    Cancelled,
    Failed,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Preparing => "preparing",
            RunState::Running => "running",
            RunState::Paused => "paused",
            RunState::Finished => "finished",
            RunState::Cancelled => "cancelled",
            RunState::Failed => "failed",
        }
    }
    pub fn active(self) -> bool {
        matches!(self, RunState::Preparing | RunState::Running | RunState::Paused)
    }
}

/// What a run is asked to do: the request the worker runs, the model's entry, and what its share
/// link records beyond the request. Kept at the run's start, so a reload can resume it.
#[derive(Clone, Serialize, Deserialize)]
pub struct ExplainInputs {
    /// Ties the progress kept after each iteration to this run.
    pub tag: String,
    pub request: ExplainRequest,
    pub entry: ModelEntry,
    pub seed_recipe: SharedPicture,
    pub own_photos: usize,
    pub photo_set: PhotoSet,
}

impl Bulky for ExplainInputs {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        self.request.arrays(visit);
    }
}

/// What a resumed run starts from: the checkpoint, and the events up to it.
pub struct Resumed {
    pub checkpoint: Checkpoint,
    pub events: Vec<Event>,
}

/// One run as the page shows it.
pub struct RunView {
    pub id: u32,
    /// The tag of its kept inputs (`ExplainInputs::tag`).
    pub tag: String,
    pub state: RunState,
    pub error: Option<String>,
    pub model_id: String,
    pub backend: &'static str,
    pub config: RunConfig,
    pub num_samples: usize,
    pub seed_name: String,
    /// The seed's recipe, the visitor's photos in D̄ and the backend, for the share link.
    pub seed_recipe: SharedPicture,
    pub own_photos: usize,
    pub backend_id: &'static str,
    pub distribution: Vec<String>,
    /// The set of bundled photos D̄ was drawn from (a link records it).
    pub photo_set: PhotoSet,
    /// `page::fingerprint` of d̄ as the engine used it (region filled, CHW) and of p, taken when
    /// they arrive (not at every render).
    pub seed_fingerprint: String,
    pub p_fingerprint: Option<String>,
    pub events: Vec<Event>,
    /// How many of `events` a resumed run started with (done before a reload).
    pub resumed_from: usize,
    pub perturbation: Option<Vec<f32>>,
    /// p's pictures as the page shows them, drawn by the engine's worker with p.
    pub pictures: Option<imaging::ExplanationPictures>,
    pub started_ms: f64,
    pub paused_since: Option<f64>,
    pub paused_ms: f64,
    pub ended_ms: Option<f64>,
    pub control: Rc<Control>,
    /// After a cancel: how many iterations the engine's worker still finished before it stopped
    /// (their results dropped), once it has.
    pub engine_stopped: Option<usize>,
    /// Each time the engine's worker died and the run went on in a new one: what happened.
    pub recovered: Vec<String>,
    pub top5: Option<Result<Vec<Prediction>, String>>,
    pub cross: Option<Result<Vec<CrossRow>, String>>,
    pub cross_running: bool,
}

/// The cross-model check of one model: the visualised p and the perturbed seed.
#[derive(Clone, Debug, Serialize)]
pub struct CrossRow {
    pub model: String,
    pub computed_p: bool,
    pub perturbation: CrossCheck,
    pub perturbed_seed: CrossCheck,
}

impl RunView {
    /// d̄ as the engine uses it.
    pub fn set_seed(&mut self, values: &[f32]) {
        self.seed_fingerprint = crate::web::page::fingerprint(values);
    }

    /// p after the last iteration shown, and its pictures.
    pub fn set_perturbation(&mut self, values: Vec<f32>, pictures: imaging::ExplanationPictures) {
        self.p_fingerprint = Some(crate::web::page::fingerprint(&values));
        self.perturbation = Some(values);
        self.pictures = Some(pictures);
    }

    pub fn elapsed_ms(&self) -> f64 {
        let end = self.ended_ms.or(self.paused_since).unwrap_or_else(now_ms);
        end - self.started_ms - self.paused_ms
    }

    /// Estimated time left, from the mean time per iteration so far.
    pub fn remaining_ms(&self) -> Option<f64> {
        let done = self.events.len().saturating_sub(self.resumed_from);
        let left = self.config.iterations.saturating_sub(self.events.len());
        (done > 0 && self.state.active()).then(|| self.elapsed_ms() / done as f64 * left as f64)
    }

    /// p as the page shows it (`view`), the picture the cross-model check classifies and the
    /// PNG export holds.
    pub fn perturbation_image(&self, view: imaging::PerturbationView) -> Option<RgbImage> {
        Some(self.pictures.as_ref()?.perturbation(view).to_rgb())
    }

    pub fn perturbed_seed_image(&self) -> Option<RgbImage> {
        Some(self.pictures.as_ref()?.perturbed_seed.to_rgb())
    }

    /// The run as the JSON export holds it: settings, D̄, the ℘ curve, the judges' answers.
    pub fn export_json(&self) -> Option<String> {
        #[derive(Serialize)]
        struct Export<'a> {
            app: &'static str,
            model: &'a str,
            backend: &'a str,
            target: usize,
            target_name: &'a str,
            seed: &'a str,
            distribution: &'a [String],
            num_samples: usize,
            distribution_note: &'static str,
            settings: &'a RunConfig,
            state: &'static str,
            elapsed_ms: f64,
            events: &'a [Event],
            perturbed_seed_top5: Option<&'a Vec<Prediction>>,
            cross_model_check: Option<&'a Vec<CrossRow>>,
        }
        let run = self;
        let export = Export {
            app: concat!("a2x ", env!("CARGO_PKG_VERSION")),
            model: &run.model_id,
            backend: run.backend,
            target: run.config.target,
            target_name: labels::imagenet()[run.config.target].name(),
            seed: &run.seed_name,
            distribution: &run.distribution,
            num_samples: run.num_samples,
            distribution_note: "the photos, then random square crops (40–100% of the shorter side) and mirror flips drawn from the RNG seed",
            settings: &run.config,
            state: run.state.name(),
            elapsed_ms: run.elapsed_ms(),
            events: &run.events,
            perturbed_seed_top5: run.top5.as_ref().and_then(|r| r.as_ref().ok()),
            cross_model_check: run.cross.as_ref().and_then(|r| r.as_ref().ok()),
        };
        serde_json::to_string_pretty(&export).ok()
    }
}
