//! The explanation page (issue #5): pick a model and a class, edit the seed, choose D̄ and the
//! settings, run the engine live on the active backend, read the result and export it.
//!
//! The engine runs on the page's main thread, one iteration at a time: `Run::step` is async, every
//! readback awaits the GPU, and the driver yields to the browser before each iteration, so the
//! browser paints, scrolls and handles clicks between iterations (ARCHITECTURE.md says why not a
//! worker yet). Pause and cancel are flags the driver reads before each iteration.

use super::browser::{self, sleep, yield_now};
use super::now_ms;
use super::{explain_view, zoo};
use crate::bundled::PhotoSet;
use crate::distribution;
use crate::drawing::{self, Edit};
use crate::link::{self, PictureBase, SharedPage, SharedPicture, SharedState};
use crate::engine::schedule::Run;
use crate::engine::{read_values, Event, RunConfig};
use crate::imaging;
use crate::models::ImageNetModel;
use crate::models::manifest::Manifest;
use crate::models::{self, labels, CrossCheck, Prediction};
use burn::tensor::{Device, Tensor, TensorData};
use image::{DynamicImage, RgbImage};
use serde::Serialize;
use std::cell::Cell;
use std::collections::HashMap;
use std::rc::Rc;
use yew::html::Scope;
use yew::prelude::*;

/// The backend the page computes on, as the app hands it down.
#[derive(Clone)]
pub struct ActiveDevice {
    pub device: Device,
    pub label: &'static str,
    pub is_cpu: bool,
    /// Changes with every backend switch.
    pub generation: u32,
}

#[derive(Properties, Clone)]
pub struct Props {
    pub device: Option<ActiveDevice>,
    pub manifest: Option<Rc<Manifest>>,
    /// A share link for this page, to restore.
    pub shared: Option<Rc<SharedState>>,
}

impl PartialEq for Props {
    fn eq(&self, other: &Self) -> bool {
        same_inputs((&self.device, &self.manifest), (&other.device, &other.manifest)) && same_link(&self.shared, &other.shared)
    }
}

/// Whether two pages got the same share link (the same `Rc`: a link is restored once).
pub fn same_link(a: &Option<Rc<SharedState>>, b: &Option<Rc<SharedState>>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => Rc::ptr_eq(x, y),
        (None, None) => true,
        _ => false,
    }
}

/// The backend's name in a share link.
pub fn backend_id(device: &ActiveDevice) -> &'static str {
    if device.is_cpu { "cpu" } else { "webgpu" }
}

/// What the page says about a link made on another backend.
pub fn backend_notice(link_backend: &str, device: Option<&ActiveDevice>) -> Option<String> {
    let here = device.map(backend_id)?;
    (link_backend != here).then(|| {
        format!(
            "This link was made on the {link_backend} backend and this page computes on {here}: the same steps run, but floating-point results \
             differ in the last digits between backends, and the method's first steps (close to the sign of the gradient) can enlarge that, \
             so the ℘ curve and the picture may differ in detail from the sender's. On the same backend they are the same."
        )
    })
}

/// A short fingerprint of a vector of numbers (FNV-1a over their bits): two runs agree on it
/// only if every number is the same. The page shows it so a replayed link can be compared.
pub fn fingerprint(values: &[f32]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for v in values {
        for byte in v.to_bits().to_le_bytes() {
            hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
        }
    }
    format!("{hash:016x}")
}

/// Whether a page's inputs from the app are unchanged: the same backend (by its generation) and
/// the same manifest (the same `Rc`). Shared by the explanation's and the image tasks' props.
pub fn same_inputs(a: (&Option<ActiveDevice>, &Option<Rc<Manifest>>), b: (&Option<ActiveDevice>, &Option<Rc<Manifest>>)) -> bool {
    let device = |d: &Option<ActiveDevice>| d.as_ref().map(|d| (d.generation, d.label));
    let manifest = match (a.1, b.1) {
        (Some(x), Some(y)) => Rc::ptr_eq(x, y),
        (None, None) => true,
        _ => false,
    };
    device(a.0) == device(b.0) && manifest
}

/// The bundled photos of both sets, in order (static/samples/README.md): the seed choices, and
/// what D̄ is drawn from.
pub fn bundled() -> Vec<(&'static str, &'static str)> {
    PhotoSet::Wide.photos()
}

/// Most photos of the visitor's own in D̄ (the paper draws 256 photos in all).
pub const MAX_OWN_PHOTOS: usize = 256;

/// What the page says first about a link it restored: whether its run starts by itself, and
/// when a link asks for more work than the gallery's cards need, that the visitor decides
/// (issue #23: a link could ask for 100,000 iterations and run on opening).
pub fn restored_notice(state: &crate::link::SharedState, waiting_for: &str) -> String {
    if state.runs_by_itself() {
        format!("Restored from a link; it runs as soon as {waiting_for} ready.")
    } else if state.auto_run {
        format!(
            "Restored from a link that asks to run at once, but its run is large: about {} forward passes of a 224² image, {:.0}× the gallery's largest explanation. Press Run if you want it.",
            state.work(),
            state.work() as f64 / crate::link::GALLERY_LARGEST_WORK as f64
        )
    } else {
        "Restored from a link: press Run to compute it.".to_string()
    }
}

/// What a model slot holds.
pub enum ModelSlot {
    Downloading { received: u64, total: u64 },
    Loading,
    Ready(Rc<ImageNetModel>, LoadInfo),
    Failed(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct LoadInfo {
    pub from_cache: bool,
    pub bytes: usize,
    pub download_ms: f64,
    pub load_ms: f64,
    /// The first forward pass on this backend (kernel compilation on a GPU): the warm-up.
    pub warmup_ms: f64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Brush,
    Eraser,
    Fill,
    Region,
}

/// The seed d̄, at the chosen model's input size.
pub struct Seed {
    pub image: RgbImage,
    /// The photo it was cropped from, so a model of another input size crops it again.
    pub source: Option<RgbImage>,
    /// How the seed was made (photo, then edits), for share links.
    pub recipe: SharedPicture,
    pub undo: Vec<SeedSnapshot>,
    pub redo: Vec<SeedSnapshot>,
}

impl Seed {
    /// The recipe's name: the photo's, " (edited)" once drawn on (D̄ leaves out the unedited seed
    /// photo only).
    pub fn name(&self) -> String {
        self.recipe.name()
    }
}

/// One undo step: the picture and its recipe.
pub struct SeedSnapshot {
    pub image: RgbImage,
    pub recipe: SharedPicture,
}

const UNDO_DEPTH: usize = 50;

/// Photos from files are scaled by the browser so the shorter side is at most this: the model
/// crops see at most 260 px, and a 12-megapixel photo would cost 36 MB of memory per copy.
const PHOTO_SIDE: u32 = 512;

#[derive(Clone, Copy, PartialEq, Eq, Debug, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    A2x,
    A2xV1,
    Paper,
    Preview,
}

impl Preset {
    pub const ALL: [Preset; 4] = [Preset::A2x, Preset::Paper, Preset::A2xV1, Preset::Preview];

    pub fn id(self) -> &'static str {
        match self {
            Preset::A2x => "a2x",
            Preset::Paper => "paper",
            Preset::A2xV1 => "a2x-v1",
            Preset::Preview => "preview",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Preset::A2x => "a2x defaults (transforms, natural spectrum, 50 it.; judged by another model family, see “Does it work?”)",
            Preset::Paper => "the paper as written (η 10, 300 it., ± check on all of D̄)",
            Preset::A2xV1 => "a2x's first defaults (issue #8: σ 2 smoothing, no transforms, 100 it.)",
            Preset::Preview => "fast preview (b 8, |D̄| 16, 20 it.): a quick look, not the measured setting",
        }
    }

    /// The settings and |D̄| of this preset. The page computes in chunks of 8 images (bounds GPU
    /// memory; the result does not depend on it, O3).
    pub fn settings(self) -> (RunConfig, usize) {
        let config = match self {
            Preset::A2x | Preset::Preview => RunConfig::default(),
            Preset::Paper => RunConfig::paper(),
            Preset::A2xV1 => RunConfig::a2x_v1(),
        };
        match self {
            Preset::Preview => (RunConfig { batch: 8, iterations: 20, chunk: 8, ..config }, 16),
            _ => (RunConfig { chunk: 8, ..config }, 256),
        }
    }
}

/// Shared between the page and the run's driver.
#[derive(Default)]
pub struct Control {
    pub paused: Cell<bool>,
    pub cancelled: Cell<bool>,
}

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

/// One run as the page shows it.
pub struct RunView {
    pub id: u32,
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
    /// d̄ as the engine used it (region filled), CHW.
    pub seed_values: Vec<f32>,
    pub size: usize,
    pub events: Vec<Event>,
    pub perturbation: Option<Vec<f32>>,
    pub started_ms: f64,
    pub paused_since: Option<f64>,
    pub paused_ms: f64,
    pub ended_ms: Option<f64>,
    pub control: Rc<Control>,
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
    pub fn elapsed_ms(&self) -> f64 {
        let end = self.ended_ms.or(self.paused_since).unwrap_or_else(now_ms);
        end - self.started_ms - self.paused_ms
    }

    /// Estimated time left, from the mean time per iteration so far.
    pub fn remaining_ms(&self) -> Option<f64> {
        let done = self.events.len();
        (done > 0 && self.state.active()).then(|| self.elapsed_ms() / done as f64 * (self.config.iterations - done) as f64)
    }

    /// p as the page shows it (`view`), the picture the cross-model check classifies and the
    /// PNG export holds.
    pub fn perturbation_image(&self, view: imaging::PerturbationView) -> Option<RgbImage> {
        let p = self.perturbation.as_ref()?;
        Some(imaging::from_chw(&view.render(p), [self.size, self.size]))
    }

    pub fn perturbed_seed_image(&self) -> Option<RgbImage> {
        let p = self.perturbation.as_ref()?;
        let values: Vec<f32> = self.seed_values.iter().zip(p).map(|(s, p)| (s + p).clamp(0.0, 1.0)).collect();
        Some(imaging::from_chw(&values, [self.size, self.size]))
    }
}

/// A setting the form edits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Eta,
    Gamma,
    Batch,
    NumSamples,
    Iterations,
    RefineEvery,
    Lambda,
    Alpha,
    Beta,
    RngSeed,
    Chunk,
    StepSize,
    Smoothing,
    SignCheck,
    RefineStart,
    RefineInput,
    SignProbe,
    Fusion,
    Transforms,
    Param,
}

/// The named choices of transforms the page offers (a link may carry others: shown as such).
pub fn transforms_choice(transforms: &[crate::engine::transforms::Transform]) -> &'static str {
    if transforms.is_empty() {
        "none"
    } else if transforms == crate::engine::transforms::Transform::lucent_standard().as_slice() {
        "lucent"
    } else {
        "custom"
    }
}

/// The named parameterisations the page offers.
pub fn param_choice(param: &crate::engine::param::Parameterisation) -> &'static str {
    use crate::engine::param::{Parameterisation, Spectrum};
    match param {
        Parameterisation::Pixels => "pixels",
        p if *p == Parameterisation::lucent() => "fourier",
        Parameterisation::Fourier { spectrum: Spectrum::Natural, decorrelate: true } => "natural",
        _ => "custom",
    }
}

pub enum Msg {
    SetView(imaging::PerturbationView),
    /// Bundled photo `index` (of `bundled()`) fetched and decoded, or why not.
    SampleLoaded(usize, Result<RgbImage, String>),
    SelectModel(String),
    LoadModel,
    ModelProgress(u32, String, u64, u64),
    ModelLoaded(u32, String, Result<(Rc<ImageNetModel>, LoadInfo), String>),
    SeedTop5(u32, Result<Vec<Prediction>, String>),
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
    PhotosDecoded(Vec<Result<(String, RgbImage, String), String>>),
    ClearPhotos,
    Preset(Preset),
    SetField(Field, String),
    Start,
    Pause,
    Resume,
    Cancel,
    RunStarted(u32, Vec<f32>),
    Iteration(u32, Event, Vec<f32>),
    RunEnded(u32, Result<bool, String>),
    ResultTop5(u32, Result<Vec<Prediction>, String>),
    CrossCheck,
    CrossChecked(u32, Result<Vec<CrossRow>, String>),
    ExportPerturbation,
    ExportPerturbedSeed,
    ExportJson,
    ShareAutoRun(bool),
    CopyLink,
    Copied(u32, Result<(), String>),
}

/// The share link of the last result, once made.
pub struct Share {
    pub run_id: u32,
    pub url: String,
    pub copied: Option<Result<(), String>>,
}

impl Share {
    /// The link of `state` (the result of run `run_id`), put on the clipboard; `done` hears
    /// whether that worked. Both pages' "Copy link".
    pub fn copy(state: &SharedState, run_id: u32, done: impl FnOnce(Result<(), String>) + 'static) -> Share {
        let fragment = link::encode(state);
        // A link that would not open (too long, a drawing of too many strokes) is not offered.
        if let Err(e) = link::decode(&fragment) {
            return Share { run_id, url: String::new(), copied: Some(Err(format!("this result cannot travel in a link: {e}"))) };
        }
        let url = browser::url_with_fragment(&fragment);
        let text = url.clone();
        wasm_bindgen_futures::spawn_local(async move { done(browser::copy_text(&text).await) });
        Share { run_id, url, copied: None }
    }

    /// Records the clipboard's answer for run `run_id`; false if the link shown is another's.
    pub fn record(share: &mut Option<Share>, run_id: u32, result: Result<(), String>) -> bool {
        match share.as_mut().filter(|s| s.run_id == run_id) {
            Some(share) => {
                share.copied = Some(result);
                true
            }
            None => false,
        }
    }
}

pub struct Explain {
    pub device: Option<ActiveDevice>,
    pub manifest: Option<Rc<Manifest>>,
    pub model_id: String,
    pub models: HashMap<String, ModelSlot>,
    pub seed_top5: Option<Result<Vec<Prediction>, String>>,
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
    pub photo_errors: Vec<String>,
    pub decoding_photos: bool,
    pub preset: Preset,
    pub config: RunConfig,
    pub num_samples: usize,
    pub form_error: Option<String>,
    pub run: Option<RunView>,
    pub next_run: u32,
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
}

/// Downloads (or takes from Cache Storage), checks and loads one model, then warms it up.
async fn load_model(
    entry: crate::models::manifest::ModelEntry,
    device: Device,
    progress: impl Fn(u64, u64),
) -> Result<(Rc<ImageNetModel>, LoadInfo), String> {
    let url = format!("models/{}", entry.file);
    let start = now_ms();
    let (model, from_cache, bytes, download_ms) = match zoo::cached_model(&url, &entry, &device).await {
        Some((model, bytes)) => (model, true, bytes, now_ms() - start),
        None => {
            let bytes = browser::fetch_with_progress(&url, entry.file_bytes as u64, progress).await?;
            let download_ms = now_ms() - start;
            let model = models::load_imagenet(&bytes, Some(&entry.sha256), &device).map_err(|e| format!("{}: {e}", entry.name))?;
            if let Err(e) = browser::store_in_cache(&url, &bytes).await {
                web_sys::console::warn_1(&format!("not kept for the next visit: {e}").into());
            }
            (model, false, bytes.len(), download_ms)
        }
    };
    let load_ms = now_ms() - start - download_ms;
    // Warm-up: one forward pass compiles the kernels for this input size.
    let start = now_ms();
    let grey = RgbImage::from_pixel(entry.input_size as u32, entry.input_size as u32, image::Rgb([128, 128, 128]));
    models::logits_of(&model, &grey, &device).await.map_err(|e| format!("warm-up on this backend failed: {e}"))?;
    let warmup_ms = now_ms() - start;
    Ok((Rc::new(model), LoadInfo { from_cache, bytes, download_ms, load_ms, warmup_ms }))
}

/// Drives one run: an iteration, a message to the page, a turn of the event loop; again.
#[allow(clippy::too_many_arguments)]
async fn drive(
    model: Rc<ImageNetModel>,
    device: Device,
    seed: Vec<f32>,
    samples: Vec<f32>,
    num_samples: usize,
    config: RunConfig,
    control: Rc<Control>,
    link: Scope<Explain>,
    id: u32,
) {
    let size = crate::engine::Classifier::input_shape(&*model)[1];
    let seed = Tensor::<4>::from_data(TensorData::new(seed, [1, 3, size, size]), &device);
    let samples = Tensor::<4>::from_data(TensorData::new(samples, [num_samples, 3, size, size]), &device);
    let mut run = match Run::new(&*model, seed, samples, config) {
        Ok(run) => run,
        Err(e) => return link.send_message(Msg::RunEnded(id, Err(e.to_string()))),
    };
    match read_values(run.seed()).await {
        Ok(values) => link.send_message(Msg::RunStarted(id, values)),
        Err(e) => return link.send_message(Msg::RunEnded(id, Err(e.to_string()))),
    }
    while !run.is_finished() {
        // Let the browser handle input and paint before the next iteration.
        yield_now().await;
        while control.paused.get() && !control.cancelled.get() {
            sleep(100).await;
        }
        if control.cancelled.get() {
            return link.send_message(Msg::RunEnded(id, Ok(false)));
        }
        let event = match run.step().await {
            Ok(event) => event,
            Err(e) => return link.send_message(Msg::RunEnded(id, Err(e.to_string()))),
        };
        match read_values(run.perturbation()).await {
            Ok(p) => link.send_message(Msg::Iteration(id, event, p)),
            Err(e) => return link.send_message(Msg::RunEnded(id, Err(e.to_string()))),
        }
    }
    link.send_message(Msg::RunEnded(id, Ok(true)));
}

fn parse<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, String> {
    value.trim().parse().map_err(|_| format!("{what}: “{value}” is not a valid number"))
}

fn engine_name<T: serde::de::DeserializeOwned>(value: &str) -> Result<T, String> {
    crate::engine::from_name(value).map_err(|_| format!("unknown option “{value}”"))
}

impl Explain {
    fn entry(&self, id: &str) -> Option<crate::models::manifest::ModelEntry> {
        self.manifest.as_ref()?.model(id).cloned()
    }

    pub fn input_size(&self) -> usize {
        self.entry(&self.model_id).map(|e| e.input_size).unwrap_or(224)
    }

    pub fn ready_model(&self, id: &str) -> Option<Rc<ImageNetModel>> {
        match self.models.get(id) {
            Some(ModelSlot::Ready(model, _)) => Some(model.clone()),
            _ => None,
        }
    }

    fn busy(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.state.active())
    }

    fn load(&mut self, ctx: &Context<Self>, id: String) {
        let (Some(entry), Some(device)) = (self.entry(&id), self.device.clone()) else { return };
        if matches!(self.models.get(&id), Some(ModelSlot::Ready(..) | ModelSlot::Downloading { .. } | ModelSlot::Loading)) {
            return;
        }
        self.models.insert(id.clone(), ModelSlot::Downloading { received: 0, total: entry.file_bytes as u64 });
        let link = ctx.link().clone();
        let generation = device.generation;
        ctx.link().send_future(async move {
            let progress = {
                let (link, id) = (link.clone(), id.clone());
                move |received, total| link.send_message(Msg::ModelProgress(generation, id.clone(), received, total))
            };
            let result = load_model(entry, device.device, progress).await;
            Msg::ModelLoaded(generation, id, result)
        });
    }

    /// The chosen model is what the page is for: it is fetched as soon as the backend is known.
    fn auto_load(&mut self, ctx: &Context<Self>) {
        if self.device.is_some() && self.manifest.is_some() && !self.models.contains_key(&self.model_id) {
            self.load(ctx, self.model_id.clone());
        }
    }

    /// Classifies the seed with the chosen model (the page's "what the model sees now").
    fn classify_seed(&mut self, ctx: &Context<Self>) {
        let (Some(model), Some(device), Some(seed)) = (self.ready_model(&self.model_id), self.device.clone(), self.seed.as_ref()) else {
            return;
        };
        let image = seed.image.clone();
        let generation = device.generation;
        self.seed_top5 = None;
        ctx.link().send_future(async move {
            let result = models::logits_of(&*model, &image, &device.device).await.map(|l| models::top_k(&l, 5)).map_err(|e| e.to_string());
            Msg::SeedTop5(generation, result)
        });
    }

    /// A new seed from a photo: a bundled one (`bundled`), or the visitor's (embedded in a share
    /// link if it fits, otherwise named so the recipient is asked for it).
    fn set_seed_from_photo(&mut self, name: String, photo: RgbImage, bundled: bool) {
        let side = self.input_size();
        let image = imaging::center_crop(&DynamicImage::ImageRgb8(photo.clone()), side);
        let base = if bundled {
            PictureBase::Bundled { id: name }
        } else {
            link::embed_image(&name, &image).unwrap_or_else(|| PictureBase::Supplied { name: link::plain_file_name(&name) })
        };
        let recipe = SharedPicture { base, side: side as u32, edits: Vec::new() };
        let undo = self.seed.take().map(|s| {
            let mut undo = s.undo;
            undo.push(SeedSnapshot { image: s.image, recipe: s.recipe });
            undo
        });
        self.seed = Some(Seed { image, source: Some(photo), recipe, undo: undo.unwrap_or_default(), redo: Vec::new() });
        self.seed_error = None;
    }

    /// The seed a link describes, from its starting photo.
    fn restore_seed(&mut self, picture: SharedPicture, photo: RgbImage) {
        let start = imaging::center_crop(&DynamicImage::ImageRgb8(photo.clone()), picture.side as usize);
        let image = picture.render(start);
        let source = picture.edits.is_empty().then_some(photo);
        self.seed = Some(Seed { image, source, recipe: picture, undo: Vec::new(), redo: Vec::new() });
        self.seed_error = None;
        self.fit_seed();
    }

    /// After the model changes: the seed at the new input size (a photo is cropped again).
    fn fit_seed(&mut self) {
        let size = self.input_size() as u32;
        if let Some(seed) = self.seed.as_mut() {
            if seed.image.width() != size {
                match &seed.source {
                    Some(photo) => {
                        seed.image = imaging::center_crop(&DynamicImage::ImageRgb8(photo.clone()), size as usize);
                        seed.recipe.side = size;
                    }
                    None => {
                        let resize = Edit::Resize { side: size };
                        resize.apply(&mut seed.image);
                        seed.recipe.edits.push(resize);
                    }
                }
                seed.undo.clear();
                seed.redo.clear();
            }
        }
        if let Some(region) = self.region.as_mut() {
            let size = size as usize;
            region.height = region.height.min(size);
            region.width = region.width.min(size);
            region.top = region.top.min(size - region.height);
            region.left = region.left.min(size - region.width);
        }
    }

    /// Applies and records one edit of the seed (one undo step); false if it changed nothing.
    fn edit_seed(&mut self, edit: Edit) -> bool {
        let Some(seed) = self.seed.as_mut() else { return false };
        let before = SeedSnapshot { image: seed.image.clone(), recipe: seed.recipe.clone() };
        if edit.apply(&mut seed.image) == 0 {
            return false;
        }
        seed.undo.push(before);
        if seed.undo.len() > UNDO_DEPTH {
            seed.undo.remove(0);
        }
        seed.redo.clear();
        seed.source = None;
        seed.recipe.edits.push(edit);
        true
    }

    fn place_region(&mut self, x: f32, y: f32) {
        let size = self.input_size();
        let side = self.region_size.clamp(1, size);
        let clamp = |c: f32| ((c - side as f32 / 2.0).round().max(0.0) as usize).min(size - side);
        self.region = Some(crate::engine::Region { top: clamp(y), left: clamp(x), height: side, width: side });
    }

    /// The photos D̄ is drawn from: the bundled ones except the seed's own, and the visitor's
    /// (borrowed: the view asks for them at every render).
    pub fn distribution_photos(&self) -> Vec<(&str, &RgbImage)> {
        let seed_name = self.seed.as_ref().map(Seed::name).unwrap_or_default();
        let bundled = match &self.bundled {
            Some(Ok(bundled)) => bundled.as_slice(),
            _ => &[],
        };
        // The photo set's photos, in its order, but the seed (and, with the wide set, those that
        // show the target), then the visitor's.
        self.photo_set
            .photos()
            .into_iter()
            .filter(|(id, _)| self.photo_set.in_distribution(id, &seed_name, self.target))
            .filter_map(|(id, _)| bundled.iter().find(|(name, _)| name == id))
            .map(|(name, photo)| (name.as_str(), photo))
            .chain(self.own_photos.iter().map(|(name, photo, _)| (name.as_str(), photo)))
            .collect()
    }

    fn set_field(&mut self, field: Field, value: &str) -> Result<(), String> {
        let c = &mut self.config;
        let optional = |v: &str, what: &str| -> Result<Option<f32>, String> {
            let x: f32 = parse(v, what)?;
            Ok((x > 0.0).then_some(x))
        };
        match field {
            Field::Eta => c.eta = parse(value, "η")?,
            Field::Gamma => c.gamma = parse(value, "γ")?,
            Field::Batch => c.batch = parse(value, "b")?,
            Field::NumSamples => self.num_samples = parse(value, "|D̄|")?,
            Field::Iterations => c.iterations = parse(value, "iterations")?,
            Field::RefineEvery => c.refine_every = parse(value, "refine every")?,
            Field::Lambda => c.lambda = parse(value, "λ")?,
            Field::Alpha => c.alpha = parse(value, "α")?,
            Field::Beta => c.beta = parse(value, "β")?,
            Field::RngSeed => c.rng_seed = parse(value, "RNG seed")?,
            Field::Chunk => c.chunk = parse(value, "chunk")?,
            Field::StepSize => c.step_size = optional(value, "step size")?,
            Field::Smoothing => c.smoothing = optional(value, "smoothing σ")?,
            Field::SignCheck => c.sign_check = engine_name(value)?,
            Field::RefineStart => c.refine_start = engine_name(value)?,
            Field::RefineInput => c.refine_input = engine_name(value)?,
            Field::SignProbe => c.sign_probe = engine_name(value)?,
            Field::Fusion => c.fusion = engine_name(value)?,
            Field::Transforms => match value {
                "none" => c.transforms = Vec::new(),
                "lucent" => c.transforms = crate::engine::transforms::Transform::lucent_standard(),
                _ => {}
            },
            Field::Param => {
                use crate::engine::param::{Parameterisation, Spectrum};
                match value {
                    "pixels" => c.param = Parameterisation::Pixels,
                    "fourier" => c.param = Parameterisation::lucent(),
                    "natural" => c.param = Parameterisation::Fourier { spectrum: Spectrum::Natural, decorrelate: true },
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn start(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        let device = self.device.clone().ok_or("the backend is still starting")?;
        let model = self.ready_model(&self.model_id).ok_or("the model is not loaded yet")?;
        let seed = self.seed.as_ref().ok_or("choose a seed first")?;
        match &self.bundled {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("the bundled photos of D̄ did not load ({e}); reload the page")),
            None => {
                let arrived = self.bundled_arrived.iter().filter(|p| p.is_some()).count();
                return Err(format!("the bundled photos of D̄ are still loading ({arrived} of {})", self.bundled_arrived.len()));
            }
        }
        let (photo_names, images): (Vec<String>, Vec<RgbImage>) =
            self.distribution_photos().into_iter().map(|(name, photo)| (name.to_string(), photo.clone())).unzip();
        if images.is_empty() {
            return Err("D̄ has no photos: add some of your own".into());
        }
        let size = self.input_size();
        if self.num_samples + 1 < self.config.batch {
            return Err(format!("|D̄| = {} cannot fill a mini-batch of b − 1 = {}", self.num_samples, self.config.batch.saturating_sub(1)));
        }
        if self.num_samples == 0 || self.num_samples > 4096 {
            return Err("|D̄| must lie between 1 and 4096".into());
        }
        crate::link::check_sample_bytes(self.num_samples, size).map_err(|e| e.to_string())?;
        let config = RunConfig { target: self.target, region: self.region, ..self.config.clone() };
        let samples = distribution::stretch(&images, self.num_samples, size, config.rng_seed)?;
        let seed_values = imaging::to_chw(&seed.image);
        self.next_run += 1;
        let id = self.next_run;
        self.share = None;
        let control = Rc::new(Control::default());
        self.run = Some(RunView {
            id,
            state: RunState::Preparing,
            error: None,
            model_id: self.model_id.clone(),
            backend: device.label,
            config: config.clone(),
            num_samples: self.num_samples,
            seed_name: seed.name(),
            seed_recipe: seed.recipe.clone(),
            own_photos: self.own_photos.len(),
            backend_id: backend_id(&device),
            distribution: photo_names,
            photo_set: self.photo_set,
            seed_values: seed_values.clone(),
            size,
            events: Vec::new(),
            perturbation: None,
            started_ms: now_ms(),
            paused_since: None,
            paused_ms: 0.0,
            ended_ms: None,
            control: control.clone(),
            top5: None,
            cross: None,
            cross_running: false,
        });
        wasm_bindgen_futures::spawn_local(drive(
            model,
            device.device,
            seed_values,
            samples,
            self.num_samples,
            config,
            control,
            ctx.link().clone(),
            id,
        ));
        Ok(())
    }

    fn run_mut(&mut self, id: u32) -> Option<&mut RunView> {
        self.run.as_mut().filter(|r| r.id == id)
    }

    /// Top-5 of the perturbed seed by the model that computed p.
    fn classify_result(&mut self, ctx: &Context<Self>) {
        let Some(run) = self.run.as_ref() else { return };
        let (Some(model), Some(device), Some(picture)) = (self.ready_model(&run.model_id), self.device.clone(), run.perturbed_seed_image()) else {
            return;
        };
        let id = run.id;
        ctx.link().send_future(async move {
            let result = models::logits_of(&*model, &picture, &device.device).await.map(|l| models::top_k(&l, 5)).map_err(|e| e.to_string());
            Msg::ResultTop5(id, result)
        });
    }

    /// The paper's cross-model check on every model of the zoo (loading the others first).
    fn cross_check(&mut self, ctx: &Context<Self>) {
        let Some(manifest) = self.manifest.clone() else { return };
        let ids: Vec<String> = manifest.models.iter().map(|m| m.id.clone()).collect();
        let missing: Vec<String> = ids.iter().filter(|id| self.ready_model(id).is_none()).cloned().collect();
        for id in &missing {
            if matches!(self.models.get(id), Some(ModelSlot::Failed(_))) {
                self.models.remove(id);
            }
            self.load(ctx, id.clone());
        }
        let Some(run) = self.run.as_mut() else { return };
        run.cross_running = true;
        if !missing.is_empty() {
            return; // ModelLoaded calls this again once every model is there.
        }
        let (Some(picture), Some(perturbed), Some(device)) = (run.perturbation_image(self.view), run.perturbed_seed_image(), self.device.clone()) else {
            return;
        };
        let zoo: Vec<(String, Rc<ImageNetModel>)> =
            ids.iter().filter_map(|id| self.models.get(id).and_then(|s| if let ModelSlot::Ready(m, _) = s { Some((id.clone(), m.clone())) } else { None })).collect();
        let (id, target, own) = (run.id, run.config.target, run.model_id.clone());
        ctx.link().send_future(async move {
            let mut rows = Vec::new();
            for (model_id, model) in zoo {
                let check = async {
                    Ok::<_, String>(CrossRow {
                        computed_p: model_id == own,
                        perturbation: models::cross_check(&*model, &model_id, &picture, target, &device.device).await.map_err(|e| e.to_string())?,
                        perturbed_seed: models::cross_check(&*model, &model_id, &perturbed, target, &device.device).await.map_err(|e| e.to_string())?,
                        model: model_id.clone(),
                    })
                };
                match check.await {
                    Ok(row) => rows.push(row),
                    Err(e) => return Msg::CrossChecked(id, Err(e)),
                }
            }
            Msg::CrossChecked(id, Ok(rows))
        });
    }

    /// The share link of a run: everything needed to compute it again.
    fn share_state(&self, run: &RunView) -> Option<SharedState> {
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
    fn apply_link(&mut self, ctx: &Context<Self>) {
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
            run.control.cancelled.set(true);
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
            PictureBase::Image { .. } => match seed.embedded_png().and_then(|png| imaging::decode(&png).ok()) {
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
    fn try_auto_run(&mut self, ctx: &Context<Self>) {
        if self.auto_run_pending && !self.busy() && self.pending_supplied.is_none() && self.seed.is_some() && self.ready_model(&self.model_id).is_some() {
            let Some(device) = self.device.as_ref() else { return };
            self.auto_run_pending = false;
            if device.is_cpu {
                // On the CPU an iteration holds the page's only thread for minutes: the visitor
                // decides, knowing that (the CPU notice says how long).
                self.link_notices.push("The link asks to run at once, but this page computes on the CPU backend, where this run takes long: press Run when you are ready.".into());
                return;
            }
            self.form_error = self.start(ctx).err();
        }
    }

    fn export_json(&self) -> Option<String> {
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
        let run = self.run.as_ref()?;
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

    fn export_name(&self, what: &str, extension: &str) -> String {
        let run = self.run.as_ref();
        let target = run.map(|r| r.config.target).unwrap_or(self.target);
        let name: String = labels::imagenet()[target].name().chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        format!("a2x-{}-{target}-{name}-{what}.{extension}", run.map(|r| r.model_id.as_str()).unwrap_or(""))
    }
}

impl Component for Explain {
    type Message = Msg;
    type Properties = Props;

    fn create(ctx: &Context<Self>) -> Self {
        // All photos are requested at once; each is decoded as it arrives, so the page answers
        // between them and a sample can be picked before the last one is there.
        for (index, (_, url)) in bundled().into_iter().enumerate() {
            ctx.link().send_future(async move { Msg::SampleLoaded(index, browser::fetch_image(url).await) });
        }
        let (config, num_samples) = Preset::A2x.settings();
        let props = ctx.props();
        let mut explain = Explain {
            device: props.device.clone(),
            manifest: props.manifest.clone(),
            // The manifest's `default_model` replaces it as soon as the manifest is read.
            model_id: models::squeezenet::ID.into(),
            models: HashMap::new(),
            seed_top5: None,
            query: String::new(),
            target: 1,
            bundled: None,
            bundled_arrived: vec![None; bundled().len()],
            pending_pick: None,
            photo_set: PhotoSet::Wide,
            view: imaging::PerturbationView::default(),
            seed: None,
            seed_error: None,
            tool: Tool::Brush,
            brush: 6.0,
            colour: [220, 40, 40],
            last_point: None,
            region: None,
            region_size: 64,
            own_photos: Vec::new(),
            photo_errors: Vec::new(),
            decoding_photos: false,
            preset: Preset::A2x,
            config,
            num_samples,
            form_error: None,
            run: None,
            next_run: 0,
            seed_canvas: NodeRef::default(),
            p_canvas: NodeRef::default(),
            perturbed_canvas: NodeRef::default(),
            link_pending: props.shared.clone(),
            link_notices: Vec::new(),
            pending_supplied: None,
            auto_run_pending: false,
            share_auto_run: true,
            share: None,
        };
        if let Some(manifest) = &explain.manifest {
            explain.model_id = manifest.default_model.clone();
        }
        explain.auto_load(ctx);
        explain
    }

    fn changed(&mut self, ctx: &Context<Self>, old: &Self::Properties) -> bool {
        let props = ctx.props().clone();
        if !same_link(&props.shared, &old.shared) && props.shared.is_some() {
            self.link_pending = props.shared.clone();
        }
        let new_backend = props.device.as_ref().map(|d| d.generation) != self.device.as_ref().map(|d| d.generation);
        if self.manifest.is_none() {
            if let Some(manifest) = &props.manifest {
                self.model_id = manifest.default_model.clone();
            }
        }
        self.manifest = props.manifest;
        self.device = props.device;
        if new_backend {
            // Models live on one device: load again on the new one, and stop a run on the old one.
            if let Some(run) = self.run.as_mut() {
                if run.state.active() {
                    run.control.cancelled.set(true);
                }
            }
            self.models.clear();
            self.seed_top5 = None;
        }
        self.auto_load(ctx);
        self.apply_link(ctx);
        true
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::SampleLoaded(index, result) => {
                if matches!(self.bundled, Some(Err(_))) {
                    return false;
                }
                let photo = match result {
                    Ok(photo) => photo,
                    Err(e) => {
                        self.bundled = Some(Err(e));
                        self.pending_pick = None;
                        self.apply_link(ctx);
                        return true;
                    }
                };
                let name = bundled()[index].0.to_string();
                // The first photo is the seed until the visitor (or a link) picks another.
                let pick = self.pending_pick == Some(index) || (index == 0 && self.seed.is_none());
                if pick {
                    self.pending_pick = None;
                    self.set_seed_from_photo(name, photo.clone(), true);
                    self.classify_seed(ctx);
                }
                self.bundled_arrived[index] = Some(photo);
                if self.bundled_arrived.iter().all(Option::is_some) {
                    let names = bundled().into_iter().map(|(name, _)| name.to_string());
                    self.bundled = Some(Ok(names.zip(self.bundled_arrived.drain(..).flatten()).collect()));
                    self.apply_link(ctx);
                }
            }
            Msg::SelectModel(id) => {
                if self.busy() || id == self.model_id {
                    return false;
                }
                self.model_id = id;
                self.fit_seed();
                self.seed_top5 = None;
                self.auto_load(ctx);
                self.classify_seed(ctx);
            }
            Msg::LoadModel => {
                if matches!(self.models.get(&self.model_id), Some(ModelSlot::Failed(_))) {
                    self.models.remove(&self.model_id);
                }
                self.load(ctx, self.model_id.clone());
            }
            Msg::ModelProgress(generation, id, received, total) => {
                if Some(generation) != self.device.as_ref().map(|d| d.generation) {
                    return false;
                }
                match self.models.get_mut(&id) {
                    Some(slot @ ModelSlot::Downloading { .. }) => {
                        *slot = if received >= total { ModelSlot::Loading } else { ModelSlot::Downloading { received, total } };
                    }
                    _ => return false,
                }
            }
            Msg::ModelLoaded(generation, id, result) => {
                if Some(generation) != self.device.as_ref().map(|d| d.generation) {
                    return false;
                }
                self.models.insert(id.clone(), match result {
                    Ok((model, info)) => ModelSlot::Ready(model, info),
                    Err(e) => ModelSlot::Failed(e),
                });
                if id == self.model_id {
                    self.classify_seed(ctx);
                    self.try_auto_run(ctx);
                }
                let waiting_cross = self.run.as_ref().is_some_and(|r| r.cross_running);
                if waiting_cross {
                    let all_there = self.manifest.as_ref().is_some_and(|m| m.models.iter().all(|e| !matches!(self.models.get(&e.id), None | Some(ModelSlot::Downloading { .. } | ModelSlot::Loading))));
                    if all_there {
                        let failed: Vec<String> = self.models.iter().filter_map(|(id, s)| if let ModelSlot::Failed(e) = s { Some(format!("{id}: {e}")) } else { None }).collect();
                        if failed.is_empty() {
                            self.cross_check(ctx);
                        } else if let Some(run) = self.run.as_mut() {
                            run.cross_running = false;
                            run.cross = Some(Err(failed.join("; ")));
                        }
                    }
                }
            }
            Msg::SeedTop5(generation, result) => {
                if Some(generation) != self.device.as_ref().map(|d| d.generation) {
                    return false;
                }
                self.seed_top5 = Some(result);
            }
            Msg::ClassQuery(query) => self.query = query,
            Msg::SetTarget(target) => {
                if target < labels::imagenet().len() && !self.busy() {
                    self.target = target;
                }
            }
            Msg::RandomClass => {
                if !self.busy() {
                    self.target = ((browser::random() * 1000.0) as usize).min(999);
                }
            }
            Msg::SetView(view) => {
                self.view = view;
                // The check classified the other view: drop it, a click checks this one.
                if let Some(run) = self.run.as_mut() {
                    run.cross = None;
                }
            }
            Msg::PickSample(index) => {
                let arrived = match &self.bundled {
                    Some(Ok(photos)) => photos.get(index).cloned(),
                    Some(Err(_)) => None,
                    None => self.bundled_arrived.get(index).cloned().flatten().map(|photo| (bundled()[index].0.to_string(), photo)),
                };
                match arrived {
                    Some((name, photo)) => {
                        self.pending_pick = None;
                        self.set_seed_from_photo(name, photo, true);
                        self.classify_seed(ctx);
                    }
                    // Not there yet: it becomes the seed when it arrives.
                    None if self.bundled.is_none() => self.pending_pick = Some(index),
                    None => {}
                }
            }
            Msg::SeedFiles(files) => {
                let Some(file) = files.into_iter().next() else { return false };
                ctx.link().send_future(async move {
                    let name = file.name();
                    Msg::SeedDecoded(browser::decode_blob(&file, &name, PHOTO_SIDE).await.map(|image| (name, image)))
                });
            }
            Msg::SeedDecoded(result) => match result {
                Ok((name, photo)) => {
                    match self.pending_supplied.take() {
                        // The image a link asked for: its crop and edits as the sender made them.
                        Some(recipe) => self.restore_seed(recipe, photo),
                        None => self.set_seed_from_photo(name, photo, false),
                    }
                    self.classify_seed(ctx);
                    self.try_auto_run(ctx);
                }
                Err(e) => self.seed_error = Some(e),
            },
            Msg::SetTool(tool) => self.tool = tool,
            Msg::BrushSize(size) => self.brush = size.clamp(1.0, 64.0),
            Msg::Colour(value) => {
                if let Some(colour) = drawing::parse_hex_color(&value) {
                    self.colour = colour;
                }
            }
            Msg::Undo | Msg::Redo => {
                let undo = matches!(msg, Msg::Undo);
                if let Some(seed) = self.seed.as_mut() {
                    let (from, to) = if undo { (&mut seed.undo, &mut seed.redo) } else { (&mut seed.redo, &mut seed.undo) };
                    if let Some(step) = from.pop() {
                        to.push(SeedSnapshot {
                            image: std::mem::replace(&mut seed.image, step.image),
                            recipe: std::mem::replace(&mut seed.recipe, step.recipe),
                        });
                        seed.source = None;
                    }
                }
                self.classify_seed(ctx);
            }
            Msg::ClearSeed => {
                self.edit_seed(Edit::Clear { colour: [255, 255, 255] });
                self.classify_seed(ctx);
            }
            Msg::PointerDown(x, y) => {
                let (colour, radius) = (self.colour, self.brush / 2.0);
                let side = self.input_size() as u32;
                match self.tool {
                    Tool::Brush | Tool::Eraser => {
                        let colour = if self.tool == Tool::Eraser { [255, 255, 255] } else { colour };
                        // A stroke is recorded as it is painted (quarter-pixel points), so a link
                        // replays the very same pixels.
                        if self.edit_seed(Edit::stroke_at(colour, radius, (x, y), side)) {
                            self.last_point = Some((x, y));
                        }
                    }
                    Tool::Fill => {
                        self.edit_seed(Edit::Fill { colour, at: [x.max(0.0) as u32, y.max(0.0) as u32] });
                        self.classify_seed(ctx);
                    }
                    Tool::Region => {
                        self.place_region(x, y);
                        self.last_point = Some((x, y));
                    }
                }
            }
            Msg::PointerMove(x, y) => {
                if self.last_point.is_none() {
                    return false;
                }
                match self.tool {
                    Tool::Brush | Tool::Eraser => {
                        // One stroke is one undo step: the move extends the stroke just recorded.
                        if let Some(seed) = self.seed.as_mut() {
                            if let Some(stroke) = seed.recipe.edits.last_mut() {
                                stroke.continue_on(&mut seed.image, (x, y));
                            }
                        }
                        self.last_point = Some((x, y));
                    }
                    Tool::Region => {
                        self.place_region(x, y);
                        self.last_point = Some((x, y));
                    }
                    Tool::Fill => return false,
                }
            }
            Msg::PointerUp => {
                if self.last_point.take().is_none() {
                    return false;
                }
                if matches!(self.tool, Tool::Brush | Tool::Eraser) {
                    self.classify_seed(ctx);
                }
            }
            Msg::RegionOn(on) => {
                if on {
                    let size = self.input_size() as f32;
                    self.place_region(size / 2.0, size / 2.0);
                    self.tool = Tool::Region;
                } else {
                    self.region = None;
                    if self.tool == Tool::Region {
                        self.tool = Tool::Brush;
                    }
                }
            }
            Msg::RegionSize(size) => {
                self.region_size = size.clamp(8, self.input_size());
                if let Some(region) = self.region {
                    let centre = ((region.left + region.width / 2) as f32, (region.top + region.height / 2) as f32);
                    self.place_region(centre.0, centre.1);
                }
            }
            Msg::AddPhotos(mut files) => {
                if files.is_empty() {
                    return false;
                }
                // At most MAX_OWN_PHOTOS in all (issue #23: there was no cap on their number).
                let room = MAX_OWN_PHOTOS.saturating_sub(self.own_photos.len());
                let refused = files.len().saturating_sub(room);
                files.truncate(room);
                self.decoding_photos = !files.is_empty();
                ctx.link().send_future(async move {
                    let mut decoded = Vec::new();
                    if refused > 0 {
                        decoded.push(Err(format!("{refused} of the images were not added: D̄ takes at most {MAX_OWN_PHOTOS} of your own")));
                    }
                    for file in files {
                        let name = file.name();
                        let result = browser::decode_blob(&file, &name, PHOTO_SIDE).await;
                        decoded.push(result.map(|image| (name, image, browser::object_url(&file).unwrap_or_default())));
                    }
                    Msg::PhotosDecoded(decoded)
                });
            }
            Msg::PhotosDecoded(results) => {
                self.decoding_photos = false;
                self.photo_errors.clear();
                for result in results {
                    match result {
                        Ok(photo) => self.own_photos.push(photo),
                        Err(e) => self.photo_errors.push(e),
                    }
                }
            }
            Msg::ClearPhotos => {
                for (_, _, url) in self.own_photos.drain(..) {
                    browser::revoke_object_url(&url);
                }
                self.photo_errors.clear();
            }
            Msg::Preset(preset) => {
                if !self.busy() {
                    self.preset = preset;
                    (self.config, self.num_samples) = preset.settings();
                    self.form_error = None;
                }
            }
            Msg::SetField(field, value) => {
                if self.busy() {
                    return false;
                }
                self.form_error = self.set_field(field, &value).err();
            }
            Msg::Start => {
                if self.busy() {
                    return false;
                }
                self.form_error = self.start(ctx).err();
            }
            Msg::Pause | Msg::Resume => {
                let pause = matches!(msg, Msg::Pause);
                if let Some(run) = self.run.as_mut().filter(|r| r.state.active()) {
                    run.control.paused.set(pause);
                    if pause && run.paused_since.is_none() {
                        run.paused_since = Some(now_ms());
                        run.state = RunState::Paused;
                    } else if !pause {
                        if let Some(since) = run.paused_since.take() {
                            run.paused_ms += now_ms() - since;
                        }
                        run.state = RunState::Running;
                    }
                }
            }
            Msg::Cancel => {
                if let Some(run) = self.run.as_mut().filter(|r| r.state.active()) {
                    run.control.cancelled.set(true);
                }
            }
            Msg::RunStarted(id, seed_values) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.seed_values = seed_values;
                if run.state == RunState::Preparing {
                    run.state = RunState::Running;
                }
            }
            Msg::Iteration(id, event, p) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.events.push(event);
                run.perturbation = Some(p);
            }
            Msg::RunEnded(id, result) => {
                let Some(run) = self.run_mut(id) else { return false };
                if let Some(since) = run.paused_since.take() {
                    run.paused_ms += now_ms() - since;
                }
                run.ended_ms = Some(now_ms());
                match result {
                    Ok(true) => run.state = RunState::Finished,
                    Ok(false) => run.state = RunState::Cancelled,
                    Err(e) => {
                        run.state = RunState::Failed;
                        run.error = Some(e);
                    }
                }
                if run.perturbation.is_some() {
                    self.classify_result(ctx);
                }
            }
            Msg::ResultTop5(id, result) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.top5 = Some(result);
            }
            Msg::CrossCheck => {
                if self.run.as_ref().is_some_and(|r| !r.state.active() && r.perturbation.is_some() && !r.cross_running) {
                    self.cross_check(ctx);
                }
            }
            Msg::CrossChecked(id, result) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.cross_running = false;
                run.cross = Some(result);
            }
            Msg::ExportPerturbation | Msg::ExportPerturbedSeed => {
                let Some(run) = self.run.as_ref() else { return false };
                let (picture, what) = if matches!(msg, Msg::ExportPerturbation) {
                    (run.perturbation_image(self.view), "perturbation")
                } else {
                    (run.perturbed_seed_image(), "seed-plus-p")
                };
                let Some(picture) = picture else { return false };
                let name = self.export_name(what, "png");
                if let Err(e) = imaging::encode_png(&picture).and_then(|png| browser::download(&png, "image/png", &name)) {
                    self.form_error = Some(format!("export failed: {e}"));
                }
            }
            Msg::ShareAutoRun(on) => {
                self.share_auto_run = on;
                self.share = None;
            }
            Msg::CopyLink => {
                let Some(run) = self.run.as_ref() else { return false };
                let Some(state) = self.share_state(run) else { return false };
                let (link, id) = (ctx.link().clone(), run.id);
                self.share = Some(Share::copy(&state, id, move |result| link.send_message(Msg::Copied(id, result))));
            }
            Msg::Copied(id, result) => return Share::record(&mut self.share, id, result),
            Msg::ExportJson => {
                let Some(json) = self.export_json() else { return false };
                let name = self.export_name("run", "json");
                if let Err(e) = browser::download(json.as_bytes(), "application/json", &name) {
                    self.form_error = Some(format!("export failed: {e}"));
                }
            }
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        explain_view::view(self, ctx)
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first_render: bool) {
        browser::draw_on(&self.seed_canvas, self.seed.as_ref().map(|s| &s.image));
        browser::draw_on(&self.p_canvas, self.run.as_ref().and_then(|run| run.perturbation_image(self.view)).as_ref());
        browser::draw_on(&self.perturbed_canvas, self.run.as_ref().and_then(RunView::perturbed_seed_image).as_ref());
    }
}
