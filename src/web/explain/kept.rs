//! What the explanation page keeps across a reload (`saved` keeps and reads it): plain data,
//! packed like a worker message (`session::transport`), the pixels as typed arrays.

use super::run::ExplainInputs;
use crate::bundled::PhotoSet;
use crate::engine::{Event, Preset, Region, RunConfig};
use crate::imaging::PerturbationView;
use crate::link::SharedPicture;
use crate::session::transport::{ArrayMut, Bulky};
use crate::session::{Checkpoint, Photo};
use serde::{Deserialize, Serialize};

/// The page's inputs as the visitor left them.
#[derive(Serialize, Deserialize)]
pub struct Draft {
    pub model: String,
    pub target: usize,
    pub preset: Preset,
    pub config: RunConfig,
    pub num_samples: usize,
    pub region: Option<Region>,
    pub region_size: usize,
    pub photo_set: PhotoSet,
    pub view: PerturbationView,
    pub seed: Option<DraftSeed>,
}

/// The seed as the page shows it: its recipe (for share links), its pixels, and the photo it was
/// cropped from while it is unedited (a model of another input size crops it again).
#[derive(Serialize, Deserialize)]
pub struct DraftSeed {
    pub recipe: SharedPicture,
    pub image: Photo,
    pub source: Option<Photo>,
}

impl Bulky for Draft {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        if let Some(seed) = &mut self.seed {
            seed.image.arrays(visit);
            if let Some(source) = &mut seed.source {
                source.arrays(visit);
            }
        }
    }
}

/// A run's progress as kept after an iteration: `tag` ties it to the inputs kept at its start.
#[derive(Clone, Serialize, Deserialize)]
pub struct Progress {
    pub tag: String,
    pub checkpoint: Checkpoint,
    /// The events of the iterations the checkpoint holds.
    pub events: Vec<Event>,
}

impl Bulky for Progress {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        self.checkpoint.arrays(visit);
    }
}

/// A run a reload (or a closed tab) interrupted: what it was asked and how far it came.
pub struct Interrupted {
    pub inputs: ExplainInputs,
    pub progress: Progress,
}

impl Interrupted {
    /// Iterations done, of how many.
    pub fn progress(&self) -> (usize, usize) {
        (self.progress.checkpoint.a2x.iteration, self.inputs.request.config.iterations)
    }
}

/// What was kept from before: the draft, the visitor's photo files, an interrupted run.
pub struct Kept {
    pub draft: Option<Draft>,
    pub photos: Vec<web_sys::File>,
    pub run: Option<Interrupted>,
}
