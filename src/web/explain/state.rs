//! The explanation page's state and its messages (what the component holds and hears).

use super::models::{LoadInfo, ModelSlot};
use super::run::{CrossRow, RunView};
use super::seed::{Seed, Tool};
use super::settings::Field;
use crate::bundled::PhotoSet;
use crate::engine::{Event, Preset, RunConfig};
use crate::imaging;
use crate::link::{SharedPicture, SharedState};
use crate::models::manifest::Manifest;
use crate::models::Prediction;
use crate::web::page::{same_inputs, same_link, ActiveDevice, Share};
use image::RgbImage;
use std::collections::HashMap;
use crate::web::engine_worker::WorkerSlot;
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, Clone)]
pub struct Props {
    pub device: Option<ActiveDevice>,
    pub manifest: Option<Rc<Manifest>>,
    /// A share link for this page, to restore.
    pub shared: Option<Rc<SharedState>>,
    /// The engine's worker the page's runs and panels go to (the app's).
    pub worker: WorkerSlot,
}

impl PartialEq for Props {
    fn eq(&self, other: &Self) -> bool {
        same_inputs((&self.device, &self.manifest), (&other.device, &other.manifest)) && same_link(&self.shared, &other.shared) && self.worker == other.worker
    }
}

pub enum Msg {
    SetView(imaging::PerturbationView),
    /// Bundled photo `index` (of `bundled()`) fetched and decoded, or why not.
    SampleLoaded(usize, Result<RgbImage, String>),
    SelectModel(String),
    LoadModel,
    ModelProgress(u32, String, u64, u64),
    ModelLoaded(u32, String, Result<LoadInfo, String>),
    /// The seed's top five on backend generation `.0`, for the `.1`-th seed asked about.
    SeedTop5(u32, u32, Result<Vec<Prediction>, String>),
    ClassQuery(String),
    SetTarget(usize),
    RandomClass,
    PickSample(usize),
    SeedFiles(Vec<web_sys::File>),
    SeedDecoded(Result<(String, RgbImage), String>),
    SetTool(Tool),
    BrushSize(f32),
    Colour(String),
    Undo,
    Redo,
    ClearSeed,
    PointerDown(f32, f32),
    PointerMove(f32, f32),
    PointerUp,
    RegionOn(bool),
    RegionSize(usize),
    AddPhotos(Vec<web_sys::File>),
    PhotosDecoded(Vec<Result<(String, RgbImage, String, web_sys::File), String>>),
    ClearPhotos,
    Preset(Preset),
    SetField(Field, String),
    Start,
    Pause,
    Resume,
    Cancel,
    RunStarted(u32, Vec<f32>),
    /// An iteration's event, p and p's pictures (drawn in the worker).
    Iteration(u32, Event, Vec<f32>, imaging::ExplanationPictures),
    RunEnded(u32, Result<bool, String>),
    /// A cancelled run has stopped in the engine's worker (after the iteration in hand).
    EngineStopped(crate::web::engine_worker::Stopped),
    /// The run's worker died and a new one goes on with it: what happened.
    Recovering(u32, String),
    ResultTop5(u32, Result<Vec<Prediction>, String>),
    /// Run `.0`'s state after an iteration, kept for a reload.
    Checkpoint(u32, crate::session::Checkpoint),
    /// What was kept from before a reload: the seed and settings, the visitor's photos, a run.
    SavedRead(Box<super::kept::Kept>),
    ResumeInterrupted,
    DiscardInterrupted,
    CrossCheck,
    CrossChecked(u32, Result<Vec<CrossRow>, String>),
    ExportPerturbation,
    ExportPerturbedSeed,
    ExportJson,
    ShareAutoRun(bool),
    CopyLink,
    Copied(u32, Result<(), String>),
}

pub struct Explain {
    pub device: Option<ActiveDevice>,
    pub manifest: Option<Rc<Manifest>>,
    pub model_id: String,
    pub models: HashMap<String, ModelSlot>,
    pub seed_top5: Option<Result<Vec<Prediction>, String>>,
    /// How many seeds the worker was asked to classify: only the last one's answer is shown (a
    /// brush stroke asks again before the last answer came).
    pub seed_asked: u32,
    pub query: String,
    pub target: usize,
    /// Every bundled photo, once all have arrived (or why one could not).
    pub bundled: Option<Result<Vec<(String, RgbImage)>, String>>,
    /// The bundled photos that arrived so far, by index of `bundled()` (they load in parallel).
    pub bundled_arrived: Vec<Option<RgbImage>>,
    /// A sample the visitor picked before its photo arrived: it becomes the seed on arrival.
    pub pending_pick: Option<usize>,
    /// Which bundled photos D̄ is drawn from: the wide set, or the first seven for a link made
    /// with them.
    pub photo_set: PhotoSet,
    /// How p is shown (and checked and exported).
    pub view: imaging::PerturbationView,
    pub seed: Option<Seed>,
    pub seed_error: Option<String>,
    pub tool: Tool,
    pub brush: f32,
    pub colour: [u8; 3],
    pub last_point: Option<(f32, f32)>,
    pub region: Option<crate::engine::Region>,
    pub region_size: usize,
    /// The visitor's photos: name, pixels (shorter side ≤ 512 px), thumbnail object URL.
    pub own_photos: Vec<(String, RgbImage, String)>,
    /// Their files, in the same order (what is kept for a reload).
    pub own_files: Vec<web_sys::File>,
    pub photo_errors: Vec<String>,
    pub decoding_photos: bool,
    pub preset: Preset,
    pub config: RunConfig,
    pub num_samples: usize,
    pub form_error: Option<String>,
    pub run: Option<RunView>,
    pub next_run: u32,
    /// The engine's worker the runs and the panels go to (the app's, started with the page).
    pub worker: WorkerSlot,
    pub seed_canvas: NodeRef,
    pub p_canvas: NodeRef,
    pub perturbed_canvas: NodeRef,
    /// A share link not yet restored (it waits for the manifest and the bundled photos).
    pub link_pending: Option<Rc<SharedState>>,
    /// What the page says about the last link restored.
    pub link_notices: Vec<String>,
    /// The link's seed was the sender's own image: it is restored when the visitor opens it.
    pub pending_supplied: Option<SharedPicture>,
    /// The link asked to run as soon as everything is there.
    pub auto_run_pending: bool,
    pub share_auto_run: bool,
    pub share: Option<Share>,
    /// A run a reload interrupted, offered to resume.
    pub interrupted: Option<super::kept::Interrupted>,
    /// Whether what was kept from before has been read (until then nothing is kept, or the
    /// page's defaults would replace it).
    pub saved_read: bool,
    /// The model came from what was kept (the manifest's default must not replace it).
    pub model_restored: bool,
}
