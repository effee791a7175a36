//! The image tasks' state and messages (what the component holds and hears).

use super::inputs::{Inpainting, Sketch, Start};
use super::set::TaskSet;
use super::models::{Loading, TaskModels};
use super::run::{Outcome, TaskRun};
use crate::engine::tasks::{Task, TaskSettings};
use crate::engine::Event;
use crate::link::{SharedPicture, SharedState};
use crate::models::manifest::Manifest;
use crate::session::{PgdStep, Verdicts};
use crate::web::page::{same_inputs, same_link, ActiveDevice, Share};
use image::RgbImage;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, Clone)]
pub struct Props {
    pub device: Option<ActiveDevice>,
    pub manifest: Option<Rc<Manifest>>,
    /// The task shown; `None` while the explanation page is shown (nothing is downloaded until a
    /// task is first opened).
    pub task: Option<Task>,
    /// The models the tasks run on (the page shows one set at a time).
    pub set: TaskSet,
    /// A share link for one of the tasks, to restore.
    pub shared: Option<Rc<SharedState>>,
}

impl PartialEq for Props {
    fn eq(&self, other: &Self) -> bool {
        same_inputs((&self.device, &self.manifest), (&other.device, &other.manifest)) && self.task == other.task && self.set == other.set && same_link(&self.shared, &other.shared)
    }
}

/// Which numbered setting a field edits.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Field {
    Iterations,
    Budget,
    Step,
    Samples,
    Batch,
    SignCheck,
    RefineEvery,
    Gamma,
    StopAtGamma,
    HoleWeight,
    HoleConstraint,
    InpaintSamples,
    HolePenalty,
    InpaintSeed,
    RngSeed,
}

impl Field {
    /// The setting's name in `TaskSettings::with_overrides` (the CLI's `--set` and links use it).
    pub fn setting_name(self) -> &'static str {
        match self {
            Field::Iterations => "iterations",
            Field::Budget => "budget",
            Field::Step => "step",
            Field::Samples => "samples",
            Field::Batch => "batch",
            Field::SignCheck => "sign_check",
            Field::RefineEvery => "refine_every",
            Field::Gamma => "gamma",
            Field::StopAtGamma => "stop_at_gamma",
            Field::HoleWeight => "hole_weight",
            Field::HoleConstraint => "hole_constraint",
            Field::InpaintSamples => "inpaint_samples",
            Field::HolePenalty => "hole_penalty",
            Field::InpaintSeed => "inpaint_seed",
            Field::RngSeed => "rng_seed",
        }
    }
}

pub enum Msg {
    Progress(u32, u64, u64),
    Loaded(u32, Result<TaskModels, String>),
    Retry,
    SetTarget(usize),
    /// What the visitor typed to find an ImageNet class.
    ClassQuery(String),
    Set(Task, Field, String),
    Reset(Task),
    // Sketch canvas.
    PointerDown(f32, f32),
    PointerMove(f32, f32),
    PointerUp,
    Brush(f32),
    Colour(String),
    Eraser(bool),
    /// The paint bucket instead of the brush.
    FillMode(bool),
    /// Start the sketch over from a bundled photo (by id) to draw on (ImageNet models).
    SketchOnPhoto(String),
    Undo,
    Redo,
    ClearSketch,
    /// The attacked model's top five of the inpainting picture (answer to picture request n).
    PictureTop5(u32, Result<Vec<crate::models::Prediction>, String>),
    /// Generation on an ImageNet model: start from `grey`, `noise` or a bundled photo (by id).
    PickStart(String),
    // Inpainting.
    PickPicture(usize),
    PictureFile(Vec<web_sys::File>),
    /// A picture arrived: the request's number (only the latest request counts), its name,
    /// whether it is a bundled one, the image.
    Picture(u32, String, bool, Result<RgbImage, String>),
    MaskDown(f32, f32),
    MaskMove(f32, f32),
    MaskUp,
    MaskBrush(f32),
    MaskErase(bool),
    ResetHole,
    // Runs.
    Run,
    /// Hold the running task before its next step (true), or go on.
    Pause(bool),
    Cancel,
    Started(u32, Vec<f32>, Verdicts),
    /// The run's worker died and a new one goes on with it: what happened.
    Recovering(u32, String),
    /// The run's state after an iteration: kept, so that a reload can resume it.
    Checkpoint(u32, crate::session::Checkpoint),
    /// What was kept from before a reload: the drawings, an interrupted run.
    SavedRead(Vec<SharedState>, Option<Box<super::run::SavedRun>>),
    ResumeInterrupted,
    DiscardInterrupted,
    /// A2X's iteration and picture, PGD's step (each until it stops).
    Step(u32, Option<(Event, Vec<f32>)>, Option<PgdStep>),
    Ended(u32, Outcome),
    Save(&'static str),
    SaveJson,
    ShareAutoRun(bool),
    CopyLink,
    Copied(u32, Result<(), String>),
}

pub struct ImageTasks {
    pub set: TaskSet,
    pub device: Option<ActiveDevice>,
    pub manifest: Option<Rc<Manifest>>,
    pub task: Option<Task>,
    pub loading: Loading,
    /// Changes with every (re)load, so a late answer for another device is dropped.
    pub load_generation: u32,
    /// Per task (Generate, Inpaint, Sketch): the target class.
    pub targets: [usize; 3],
    /// The ImageNet class search's text.
    pub class_query: String,
    /// Per task (Generate, Inpaint, Sketch), each starting from `Task::defaults`.
    pub settings: [TaskSettings; 3],
    pub setting_error: Option<String>,
    pub sketch: Sketch,
    pub brush: f32,
    pub colour: [u8; 3],
    pub eraser: bool,
    pub fill: bool,
    pub last_point: Option<(f32, f32)>,
    pub inpainting: Inpainting,
    /// Generation's starting picture (ImageNet models; CIFAR-10 starts from a Gaussian sample).
    pub start: Start,
    /// Whether the visitor picked inpainting's target (else it is the picture's top-1).
    pub inpaint_target_chosen: bool,
    /// What the attacked model sees in the inpainting picture (ImageNet models).
    pub picture_top5: Option<Result<Vec<crate::models::Prediction>, String>>,
    pub mask_brush: f32,
    pub mask_erase: bool,
    pub picture_error: Option<String>,
    /// The latest run of each task.
    pub runs: [Option<TaskRun>; 3],
    pub next_run: u32,
    /// The engine's worker the runs go to (started with the first run).
    pub worker: crate::web::engine_worker::WorkerSlot,
    pub sketch_canvas: NodeRef,
    pub mask_canvas: NodeRef,
    /// Seed, A2X, PGD: each drawn twice, enlarged by nearest-neighbour and by smooth scaling.
    pub pictures: [NodeRef; 3],
    pub smooth_pictures: [NodeRef; 3],
    /// A share link not yet restored (it waits for the manifest), the last one restored and
    /// what the page says about it.
    pub link_pending: Option<Rc<SharedState>>,
    pub link_notices: Vec<String>,
    /// The link's inpainting picture, restored when its photo arrives (or the visitor opens it).
    pub pending_picture: Option<SharedPicture>,
    /// Numbers the picture requests: a late answer to an older one is dropped.
    pub picture_request: u32,
    pub auto_run_pending: bool,
    pub share_auto_run: bool,
    pub share: Option<Share>,
    /// A run kept from before a reload, offered for resuming.
    pub interrupted: Option<Box<super::run::SavedRun>>,
    /// Whether what was kept has been read back (until then nothing is kept, so that the page's
    /// first picture does not overwrite the drawing it is about to restore).
    pub saved_read: bool,
}

pub fn index(task: Task) -> usize {
    match task {
        Task::Generate => 0,
        Task::Inpaint => 1,
        Task::Sketch => 2,
    }
}
