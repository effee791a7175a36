//! One run of an image task as the page shows it: A2X beside PGD from the same seed, their
//! pictures, curves and the judges' verdicts.

use crate::engine::tasks::{Task, TaskSettings};
use crate::engine::Event;
use crate::link::SharedPicture;
use crate::session::transport::ModelFiles;
use crate::session::transport::{ArrayMut, Bulky};
use crate::session::{Checkpoint, TaskRequest, Verdicts};
use serde::{Deserialize, Serialize};
use crate::web::now_ms;
use crate::web::engine_worker::Control;
use crate::web::page::fingerprint;
use std::rc::Rc;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum RunState {
    Running,
    Done,
    Cancelled,
    Failed,
}

impl RunState {
    pub fn name(self) -> &'static str {
        match self {
            RunState::Running => "running",
            RunState::Done => "done",
            RunState::Cancelled => "cancelled",
            RunState::Failed => "failed",
        }
    }
}

/// How a run ended.
pub enum Outcome {
    /// The verdicts on A2X's and PGD's final pictures.
    Done(Verdicts, Verdicts),
    Cancelled,
    Failed(String),
}

/// One run of a task: A2X and PGD from the same seed.
pub struct TaskRun {
    pub id: u32,
    pub task: Task,
    pub target: usize,
    pub settings: TaskSettings,
    pub state: RunState,
    pub error: Option<String>,
    pub seed: Vec<f32>,
    pub a2x: Vec<f32>,
    pub pgd: Vec<f32>,
    /// A2X's per-iteration events (℘ on D̄, the target probability of seed + p, …).
    pub events: Vec<Event>,
    /// The robust model's target probability of PGD's image after each step.
    pub pgd_probability: Vec<f32>,
    /// Before any step: the seed, judged.
    pub seed_verdicts: Option<Verdicts>,
    /// After the last step.
    pub a2x_verdicts: Option<Verdicts>,
    pub pgd_verdicts: Option<Verdicts>,
    pub started_ms: f64,
    pub ended_ms: Option<f64>,
    /// The iterations a resumed run had done before this page started it (0 for a new run).
    pub resumed_at: usize,
    /// Held by the visitor (Pause) before its next step.
    pub paused: bool,
    pub control: Rc<Control>,
    /// Each time the engine's worker died and the run went on in a new one: what happened.
    pub recovered: Vec<String>,
    /// For the share link: the backend.
    pub backend_id: &'static str,
    /// What the run was asked to do (the share link's recipes, and a resume after a reload).
    pub inputs: RunInputs,
}

/// What a run of a task is asked to do: the request the worker runs, the files of its models,
/// and the pictures' recipes (for its share link).
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct RunInputs {
    pub request: TaskRequest,
    pub files: ModelFiles,
    pub seed_recipe: Option<SharedPicture>,
    pub hole_recipe: Option<SharedPicture>,
}

impl TaskRun {
    pub fn iteration(&self) -> usize {
        self.events.len().max(self.pgd_probability.len())
    }

    /// A2X's target probability (robust model, seed + p) per iteration.
    pub fn a2x_probability(&self) -> Vec<f32> {
        self.events.iter().map(|e| e.seed_probability).collect()
    }

    /// What the page's tests and the JSON export read.
    pub fn summary(&self, set: &super::set::TaskSet) -> serde_json::Value {
        serde_json::json!({
            "task": self.task,
            "target": self.target,
            "target_name": set.class_name(self.target),
            "state": self.state.name(),
            "iteration": self.iteration(),
            "settings": self.settings,
            "a2x_target_probability": self.a2x_probability(),
            "a2x_samples_probability": self.events.iter().map(|e| e.target_probability).collect::<Vec<_>>(),
            "pgd_target_probability": self.pgd_probability,
            "seed": self.seed_verdicts,
            "a2x": self.a2x_verdicts,
            "pgd": self.pgd_verdicts,
            "seconds": self.ended_ms.unwrap_or_else(now_ms).max(self.started_ms) / 1e3 - self.started_ms / 1e3,
            "seed_fingerprint": fingerprint(&self.seed),
            "a2x_fingerprint": fingerprint(&self.a2x),
            "pgd_fingerprint": fingerprint(&self.pgd),
        })
    }
}

/// A run as kept after each of its iterations: what it was asked, its last checkpoint and what
/// the page had shown of it up to there.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedRun {
    pub inputs: RunInputs,
    /// d̄ as the page showed it before the run's first step.
    pub seed: Vec<f32>,
    pub checkpoint: Checkpoint,
    pub events: Vec<Event>,
    pub pgd_probability: Vec<f32>,
}

impl Bulky for SavedRun {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        self.inputs.request.arrays(visit);
        visit(ArrayMut::Floats(&mut self.seed));
        self.checkpoint.arrays(visit);
    }
}

impl SavedRun {
    pub fn task(&self) -> Task {
        self.inputs.request.task
    }

    /// A2X's iterations done, of how many.
    pub fn progress(&self) -> (usize, usize) {
        (self.checkpoint.a2x.iteration, self.inputs.request.settings.run.iterations)
    }
}

/// What a resumed run starts from: the checkpoint, and the curves up to it.
pub struct Resumed {
    pub checkpoint: Checkpoint,
    pub events: Vec<Event>,
    pub pgd_probability: Vec<f32>,
}
