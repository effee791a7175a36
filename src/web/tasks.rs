//! The paper's applications on a2x's own robust CIFAR-10 model (section 5.2; issue #6): generate
//! an image of a class, inpaint a painted hole, turn a sketch into an image — A2X beside the
//! baseline it is compared with (Santurkar et al.'s targeted ℓ2 PGD at the same budget), both
//! stepped in turn so the two pictures change side by side. The state and its updates are here,
//! the view in `tasks_view.rs`; the algorithms are the engine's (`engine::tasks`), as in the CLI.

use super::browser::{self, yield_now};
use super::explain::{backend_id, backend_notice, fingerprint, same_inputs, same_link, ActiveDevice, Share};
use crate::bundled::PHOTOS as BUNDLED;
use crate::bundled::{self, CENTRAL_HOLE, STARTING_SKETCH};
use crate::drawing::Edit;
use crate::link::{self, PictureBase, SharedPage, SharedPicture, SharedState};
use super::now_ms;
use super::tasks_view;
use crate::drawing;
use crate::engine::estimate::perturb;
use crate::engine::gaussian::ClassGaussian;
use crate::engine::sampling::Rng;
use crate::engine::tasks::{self, Task, TaskSettings};
use crate::engine::{read_values, Classifier, Event};
use crate::imaging;
use crate::models::manifest::Manifest;
use crate::models::resnet::{self, CifarResNet, LABELS};
use crate::models::{self as model_tools};
use burn::tensor::{Device, Tensor, TensorData};
use image::{DynamicImage, Rgb, RgbImage};
use serde::Serialize;
use std::cell::Cell;
use std::rc::Rc;
use yew::html::Scope;
use yew::prelude::*;

/// The models' input side.
pub const SIZE: usize = 32;
/// The sketch canvas is drawn at 8× the seed's side (a steady hand at 32 px is impossible) and
/// shrunk with a box filter.
pub const SKETCH_SCALE: u32 = bundled::SKETCH_SCALE;
/// The image the inpainting panel starts with: the bundled cat photo (CIFAR-10 has cats).
const INPAINT_START: usize = 0;

#[derive(Properties, Clone)]
pub struct Props {
    pub device: Option<ActiveDevice>,
    pub manifest: Option<Rc<Manifest>>,
    /// The task shown; `None` while the explanation page is shown (nothing is downloaded until a
    /// task is first opened).
    pub task: Option<Task>,
    /// A share link for one of the tasks, to restore.
    pub shared: Option<Rc<SharedState>>,
}

impl PartialEq for Props {
    fn eq(&self, other: &Self) -> bool {
        same_inputs((&self.device, &self.manifest), (&other.device, &other.manifest)) && self.task == other.task && same_link(&self.shared, &other.shared)
    }
}

/// The robust model (the one both methods attack), the standard one (an independent judge: the
/// issue's measure) and the class Gaussians (D̄, and the generation seed).
pub struct TaskModels {
    pub robust: Rc<CifarResNet>,
    pub standard: Rc<CifarResNet>,
    pub gaussians: Rc<Vec<ClassGaussian>>,
    pub from_cache: bool,
    pub bytes: usize,
    pub load_ms: f64,
}

pub enum Loading {
    Idle,
    Downloading { received: u64, total: u64 },
    Ready(TaskModels),
    Failed(String),
}

impl Loading {
    pub fn name(&self) -> &'static str {
        match self {
            Loading::Idle => "idle",
            Loading::Downloading { .. } => "downloading",
            Loading::Ready(_) => "ready",
            Loading::Failed(_) => "failed",
        }
    }
}

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

/// How one model judges one picture.
#[derive(Clone, Debug, Serialize)]
pub struct Verdict {
    pub top1: usize,
    pub top1_name: &'static str,
    pub target_probability: f32,
}

/// The robust and the standard model's verdicts on one picture.
#[derive(Clone, Debug, Serialize)]
pub struct Verdicts {
    pub robust: Verdict,
    pub standard: Verdict,
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
    pub cancel: Rc<Cell<bool>>,
    /// For the share link: the pictures' recipes and the backend.
    pub seed_recipe: Option<SharedPicture>,
    pub hole_recipe: Option<SharedPicture>,
    pub backend_id: &'static str,
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
    pub fn summary(&self) -> serde_json::Value {
        serde_json::json!({
            "task": self.task,
            "target": self.target,
            "target_name": LABELS[self.target],
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

/// The sketch: drawn on a large canvas, with undo; the recipe (starting sketch + edits) is what
/// a share link carries.
pub struct Sketch {
    pub canvas: RgbImage,
    pub recipe: SharedPicture,
    pub undo: Vec<(RgbImage, SharedPicture)>,
    pub redo: Vec<(RgbImage, SharedPicture)>,
}

impl Sketch {
    fn starting() -> Sketch {
        let recipe = SharedPicture { base: PictureBase::BuiltIn { id: STARTING_SKETCH.into() }, side: SIZE as u32 * SKETCH_SCALE, edits: Vec::new() };
        Sketch { canvas: bundled::starting_sketch(), recipe, undo: Vec::new(), redo: Vec::new() }
    }
}

/// The inpainting input: a picture at 32×32 and the hole painted on it (white = hole), each with
/// its recipe for share links.
pub struct Inpainting {
    pub name: String,
    pub picture: RgbImage,
    pub picture_recipe: SharedPicture,
    pub hole: RgbImage,
    pub hole_recipe: SharedPicture,
}

fn central_hole() -> (RgbImage, SharedPicture) {
    (bundled::central_hole(), SharedPicture { base: PictureBase::BuiltIn { id: CENTRAL_HOLE.into() }, side: SIZE as u32, edits: Vec::new() })
}

impl Inpainting {
    /// F: 1 inside the hole, per pixel.
    pub fn hole_mask(&self) -> Vec<f32> {
        self.hole.pixels().map(|p| if p[0] > 127 { 1.0 } else { 0.0 }).collect()
    }

    /// The picture with the hole filled by the mean colour of the rest: what the mask canvas
    /// shows, and the seed of a run with `InpaintSeed::MeanColour` (a run fills the hole as its
    /// settings say, see `engine::tasks::inpaint_seed`).
    pub fn seed(&self) -> Vec<f32> {
        tasks::fill_hole_with_mean(&imaging::to_chw(&self.picture), &self.hole_mask(), SIZE)
    }

    /// What the mask canvas shows: the seed, the hole tinted red.
    pub fn overlay(&self) -> RgbImage {
        let seed = imaging::from_chw(&self.seed(), [SIZE, SIZE]);
        RgbImage::from_fn(SIZE as u32, SIZE as u32, |x, y| {
            let p = seed.get_pixel(x, y);
            if self.hole.get_pixel(x, y)[0] > 127 {
                Rgb([((p[0] as u32 + 255) / 2) as u8, p[1] / 2, p[2] / 2])
            } else {
                *p
            }
        })
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

/// How a run ended.
pub enum Outcome {
    /// The verdicts on A2X's and PGD's final pictures.
    Done(Verdicts, Verdicts),
    Cancelled,
    Failed(String),
}

pub enum Msg {
    Progress(u32, u64, u64),
    Loaded(u32, Result<TaskModels, String>),
    Retry,
    SetTarget(usize),
    Set(Task, Field, String),
    Reset(Task),
    // Sketch canvas.
    PointerDown(f32, f32),
    PointerMove(f32, f32),
    PointerUp,
    Brush(f32),
    Colour(String),
    Eraser(bool),
    Undo,
    Redo,
    ClearSketch,
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
    Cancel,
    Started(u32, Vec<f32>, Verdicts),
    Step(u32, Option<Event>, Vec<f32>, Option<(Vec<f32>, f32)>),
    Ended(u32, Outcome),
    Save(&'static str),
    ShareAutoRun(bool),
    CopyLink,
    Copied(u32, Result<(), String>),
}

pub struct ImageTasks {
    pub device: Option<ActiveDevice>,
    pub manifest: Option<Rc<Manifest>>,
    pub task: Option<Task>,
    pub loading: Loading,
    /// Changes with every (re)load, so a late answer for another device is dropped.
    load_generation: u32,
    /// Per task (Generate, Inpaint, Sketch): the target class.
    pub targets: [usize; 3],
    /// Per task (Generate, Inpaint, Sketch), each starting from `Task::defaults`.
    pub settings: [TaskSettings; 3],
    pub setting_error: Option<String>,
    pub sketch: Sketch,
    pub brush: f32,
    pub colour: [u8; 3],
    pub eraser: bool,
    last_point: Option<(f32, f32)>,
    pub inpainting: Inpainting,
    pub mask_brush: f32,
    pub mask_erase: bool,
    pub picture_error: Option<String>,
    /// The latest run of each task.
    pub runs: [Option<TaskRun>; 3],
    next_run: u32,
    pub sketch_canvas: NodeRef,
    pub mask_canvas: NodeRef,
    /// Seed, A2X, PGD: each drawn twice, enlarged by nearest-neighbour and by smooth scaling.
    pub pictures: [NodeRef; 3],
    pub smooth_pictures: [NodeRef; 3],
    /// A share link not yet restored (it waits for the manifest), the last one restored and
    /// what the page says about it.
    link_pending: Option<Rc<SharedState>>,
    pub link_notices: Vec<String>,
    /// The link's inpainting picture, restored when its photo arrives (or the visitor opens it).
    pending_picture: Option<SharedPicture>,
    /// Numbers the picture requests: a late answer to an older one is dropped.
    picture_request: u32,
    auto_run_pending: bool,
    pub share_auto_run: bool,
    pub share: Option<Share>,
}

pub fn index(task: Task) -> usize {
    match task {
        Task::Generate => 0,
        Task::Inpaint => 1,
        Task::Sketch => 2,
    }
}

/// The robust model, the standard one and the Gaussians, each sha256-checked against the
/// manifest, from Cache Storage or downloaded; then one forward pass to warm the backend up.
async fn load_models(manifest: Rc<Manifest>, device: Device, progress: impl Fn(u64, u64) + Clone) -> Result<TaskModels, String> {
    let start = now_ms();
    let robust_entry = manifest.trained("cifar-robust").ok_or("the manifest lists no cifar-robust model")?.clone();
    let standard_entry = manifest.trained("cifar-standard").ok_or("the manifest lists no cifar-standard model")?.clone();
    let gaussians_entry = robust_entry.gaussians.clone().ok_or("the manifest names no Gaussians for cifar-robust")?;
    let sizes = [robust_entry.file_bytes as u64, standard_entry.file_bytes as u64, gaussians_entry.file_bytes as u64];
    let total: u64 = sizes.iter().sum();
    // One bar for the three files.
    let part = |before: u64| {
        let progress = progress.clone();
        move |received: u64, _| progress(before + received, total)
    };
    let load = |entry: &crate::models::manifest::TrainedEntry| {
        let (sha, name, device) = (entry.sha256.clone(), entry.name.clone(), device.clone());
        move |bytes: &[u8]| resnet::load(bytes, Some(&sha), &device).map_err(|e| format!("{name}: {e}"))
    };
    let (robust, a, cached_a) = browser::fetch_checked(&format!("models/{}", robust_entry.file), sizes[0], part(0), load(&robust_entry)).await?;
    let (standard, b, cached_b) =
        browser::fetch_checked(&format!("models/{}", standard_entry.file), sizes[1], part(sizes[0]), load(&standard_entry)).await?;
    let sha = gaussians_entry.sha256.clone();
    let (gaussians, c, cached_c) = browser::fetch_checked(
        &format!("models/{}", gaussians_entry.file),
        sizes[2],
        part(sizes[0] + sizes[1]),
        move |bytes: &[u8]| crate::models::gaussians::read_file(bytes, Some(&sha)).map_err(|e| format!("class Gaussians: {e}")),
    )
    .await?;
    if gaussians.len() != resnet::CLASSES {
        return Err(format!("the Gaussians file holds {} classes, the model {}", gaussians.len(), resnet::CLASSES));
    }
    let grey = RgbImage::from_pixel(SIZE as u32, SIZE as u32, Rgb([128, 128, 128]));
    model_tools::logits_of(&robust, &grey, &device).await.map_err(|e| format!("warm-up on this backend failed: {e}"))?;
    Ok(TaskModels {
        robust: Rc::new(robust),
        standard: Rc::new(standard),
        gaussians: Rc::new(gaussians),
        from_cache: cached_a && cached_b && cached_c,
        bytes: a + b + c,
        load_ms: now_ms() - start,
    })
}

async fn judge(models: &TaskModels, image: &[f32], target: usize, device: &Device) -> Result<Verdicts, String> {
    let verdict = |logits: Vec<Vec<f32>>| {
        let top1 = model_tools::top_k(&logits[0], 1)[0].class;
        Verdict { top1, top1_name: LABELS[top1], target_probability: model_tools::probability_of(&logits[0], target) }
    };
    let robust = model_tools::classify(&*models.robust, image.to_vec(), device).await.map_err(|e| e.to_string())?;
    let standard = model_tools::classify(&*models.standard, image.to_vec(), device).await.map_err(|e| e.to_string())?;
    Ok(Verdicts { robust: verdict(robust), standard: verdict(standard) })
}

/// One run: A2X and PGD from the same seed, one step of each per turn of the event loop, both
/// pictures read back after every step.
#[allow(clippy::too_many_arguments)]
async fn drive(
    models: TaskModels,
    device: Device,
    seed: Vec<f32>,
    hole: Option<Vec<f32>>,
    settings: TaskSettings,
    cancel: Rc<Cell<bool>>,
    link: Scope<ImageTasks>,
    id: u32,
) {
    let fail = |e: String| link.send_message(Msg::Ended(id, Outcome::Failed(e)));
    let target = settings.run.target;
    let models = &models;
    // Inpainting: fill the hole as the settings say (the mask canvas previews the mean colour).
    let seed = match &hole {
        Some(hole) => match tasks::inpaint_seed(&seed, hole, settings.inpaint_seed, &models.gaussians[target]) {
            Ok(seed) => seed,
            Err(e) => return fail(e),
        },
        None => seed,
    };
    let seed_verdicts = match judge(models, &seed, target, &device).await {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    link.send_message(Msg::Started(id, seed.clone(), seed_verdicts));
    // D̄ from the target's Gaussian, drawn with the CLI's stream (`a2x generate` etc. give the same).
    let samples = match tasks::task_samples(&models.gaussians[target], &settings, hole.as_deref().map(|h| (seed.as_slice(), h)), &device) {
        Ok(samples) => samples,
        Err(e) => return fail(e.to_string()),
    };
    let seed_tensor = Tensor::<4>::from_data(TensorData::new(seed, [1, 3, SIZE, SIZE]), &device);
    let robust = &*models.robust;
    let mut run = match tasks::a2x_run(robust, seed_tensor.clone(), samples, &settings, hole.as_deref()) {
        Ok(run) => run,
        Err(e) => return fail(e.to_string()),
    };
    let mut pgd = tasks::pgd_attack(robust, seed_tensor, &settings, hole.as_deref());
    let forward = |x: Tensor<4>| robust.logits(x);
    while !(run.is_finished() && pgd.is_finished()) {
        yield_now().await;
        if cancel.get() {
            return link.send_message(Msg::Ended(id, Outcome::Cancelled));
        }
        let mut event = None;
        let mut a2x_image = Vec::new();
        if !run.is_finished() {
            match run.step().await {
                Ok(e) => event = Some(e),
                Err(e) => return fail(e.to_string()),
            }
            match read_values(perturb(run.seed(), run.perturbation())).await {
                Ok(values) => a2x_image = values,
                Err(e) => return fail(e.to_string()),
            }
        }
        let mut pgd_update = None;
        if !pgd.is_finished() {
            pgd.step(&forward);
            let image = match read_values(pgd.current()).await {
                Ok(values) => values,
                Err(e) => return fail(e.to_string()),
            };
            let probability = match model_tools::classify(robust, image.clone(), &device).await {
                Ok(logits) => model_tools::probability_of(&logits[0], target),
                Err(e) => return fail(e.to_string()),
            };
            pgd_update = Some((image, probability));
        }
        link.send_message(Msg::Step(id, event, a2x_image, pgd_update));
    }
    let a2x_image = match read_values(perturb(run.seed(), run.perturbation())).await {
        Ok(values) => values,
        Err(e) => return fail(e.to_string()),
    };
    let pgd_image = match read_values(pgd.current()).await {
        Ok(values) => values,
        Err(e) => return fail(e.to_string()),
    };
    let a2x_verdicts = match judge(models, &a2x_image, target, &device).await {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    match judge(models, &pgd_image, target, &device).await {
        Ok(pgd_verdicts) => link.send_message(Msg::Ended(id, Outcome::Done(a2x_verdicts, pgd_verdicts))),
        Err(e) => fail(e),
    }
}

impl TaskModels {
    /// Another handle on the same models (for a run to hold on to).
    fn share(&self) -> TaskModels {
        TaskModels {
            robust: self.robust.clone(),
            standard: self.standard.clone(),
            gaussians: self.gaussians.clone(),
            from_cache: self.from_cache,
            bytes: self.bytes,
            load_ms: self.load_ms,
        }
    }
}

fn parse<T: std::str::FromStr>(value: &str, what: &str) -> Result<T, String> {
    value.trim().parse().map_err(|_| format!("{what}: “{value}” is not a valid number"))
}

impl ImageTasks {
    pub fn busy(&self) -> bool {
        self.runs.iter().flatten().any(|r| r.state == RunState::Running)
    }

    pub fn settings_of(&self, task: Task) -> &TaskSettings {
        &self.settings[index(task)]
    }

    pub fn target_of(&self, task: Task) -> usize {
        self.targets[index(task)]
    }

    pub fn run_of(&self, task: Task) -> Option<&TaskRun> {
        self.runs[index(task)].as_ref()
    }

    fn run_mut(&mut self, id: u32) -> Option<&mut TaskRun> {
        self.runs.iter_mut().flatten().find(|r| r.id == id)
    }

    /// The seed of `task` as it stands: a Gaussian sample of the target (generation), the image
    /// with its hole filled (inpainting), the shrunk sketch.
    pub fn seed_of(&self, task: Task) -> Option<Vec<f32>> {
        match task {
            Task::Generate => {
                let Loading::Ready(models) = &self.loading else { return None };
                Some(models.gaussians[self.target_of(task)].sample(1, &mut Rng::new(self.settings_of(task).run.rng_seed)))
            }
            Task::Inpaint => Some(self.inpainting.seed()),
            Task::Sketch => Some(imaging::to_chw(&drawing::box_downscale(&self.sketch.canvas, SKETCH_SCALE))),
        }
    }

    fn load(&mut self, ctx: &Context<Self>) {
        let (Some(device), Some(manifest)) = (self.device.clone(), self.manifest.clone()) else { return };
        if self.task.is_none() || !matches!(self.loading, Loading::Idle) {
            return;
        }
        self.load_generation += 1;
        let generation = self.load_generation;
        self.loading = Loading::Downloading { received: 0, total: 0 };
        let link = ctx.link().clone();
        ctx.link().send_future(async move {
            let progress = move |received, total| link.send_message(Msg::Progress(generation, received, total));
            Msg::Loaded(generation, load_models(manifest, device.device, progress).await)
        });
    }

    fn set_field(&mut self, task: Task, field: Field, value: &str) -> Result<(), String> {
        let s = &mut self.settings[index(task)];
        match field {
            Field::Iterations => {
                let n: usize = parse(value, "iterations")?;
                if n == 0 || n > 100_000 {
                    return Err("iterations: between 1 and 100000".into());
                }
                s.run.iterations = n;
                s.baseline.steps = n;
            }
            Field::Budget => {
                let eta: f32 = parse(value, "budget")?;
                if !(eta > 0.0 && eta.is_finite()) {
                    return Err("budget: a positive number".into());
                }
                s.run.eta = eta;
                s.baseline.epsilon = eta;
                s.run.step_size = Some(s.baseline.step_size / eta);
            }
            Field::Step => {
                let step: f32 = parse(value, "step")?;
                if !(step > 0.0 && step.is_finite()) {
                    return Err("step: a positive number".into());
                }
                s.baseline.step_size = step;
                s.run.step_size = Some(step / s.run.eta);
            }
            Field::Samples => {
                let n: usize = parse(value, "|D̄|")?;
                if n == 0 || n > 4096 {
                    return Err("|D̄|: between 1 and 4096".into());
                }
                s.samples = n;
            }
            Field::Batch => {
                let b: usize = parse(value, "b")?;
                if !(2..=1024).contains(&b) {
                    return Err("b: between 2 and 1024".into());
                }
                s.run.batch = b;
            }
            Field::SignCheck => s.run.sign_check = crate::engine::from_name(value).map_err(|_| format!("unknown option “{value}”"))?,
            Field::RefineEvery => s.run.refine_every = parse(value, "refine every")?,
            Field::Gamma => {
                let gamma: f32 = parse(value, "γ")?;
                if !(0.0..=1.0).contains(&gamma) {
                    return Err("γ: between 0 and 1".into());
                }
                s.run.gamma = gamma;
            }
            Field::StopAtGamma => s.run.stop_at_gamma = value == "true",
            Field::HoleWeight => {
                let beta: f32 = parse(value, "β")?;
                if !(beta >= 0.0 && beta.is_finite()) {
                    return Err("β: zero or a positive number".into());
                }
                s.hole_weight = beta;
            }
            Field::HoleConstraint => s.hole_constraint = crate::engine::from_name(value).map_err(|_| format!("unknown option “{value}”"))?,
            Field::InpaintSamples => s.inpaint_samples = crate::engine::from_name(value).map_err(|_| format!("unknown option “{value}”"))?,
            Field::HolePenalty => s.hole_penalty = crate::engine::from_name(value).map_err(|_| format!("unknown option “{value}”"))?,
            Field::InpaintSeed => s.inpaint_seed = crate::engine::from_name(value).map_err(|_| format!("unknown option “{value}”"))?,
            Field::RngSeed => s.run.rng_seed = parse(value, "RNG seed")?,
        }
        Ok(())
    }

    fn start(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        let task = self.task.ok_or("no task is shown")?;
        let device = self.device.clone().ok_or("the backend is still starting")?;
        let Loading::Ready(models) = &self.loading else { return Err("the models are not loaded yet".into()) };
        if self.busy() {
            return Err("a run is going on; cancel it first".into());
        }
        let models = models.share();
        let seed = self.seed_of(task).ok_or("no seed yet")?;
        let hole = (task == Task::Inpaint).then(|| self.inpainting.hole_mask());
        if hole.as_ref().is_some_and(|h| !h.iter().any(|&f| f > 0.5)) {
            return Err("paint a hole first: the mask is empty".into());
        }
        let mut settings = self.settings_of(task).clone();
        settings.run.target = self.target_of(task);
        if settings.run.batch > settings.samples + 1 {
            return Err(format!("b = {} needs at least b − 1 = {} samples in D̄", settings.run.batch, settings.run.batch - 1));
        }
        self.next_run += 1;
        let id = self.next_run;
        self.share = None;
        let cancel = Rc::new(Cell::new(false));
        let (seed_recipe, hole_recipe) = match task {
            Task::Generate => (None, None),
            Task::Inpaint => (Some(self.inpainting.picture_recipe.clone()), Some(self.inpainting.hole_recipe.clone())),
            Task::Sketch => (Some(self.sketch.recipe.clone()), None),
        };
        self.runs[index(task)] = Some(TaskRun {
            id,
            task,
            target: settings.run.target,
            settings: settings.clone(),
            state: RunState::Running,
            error: None,
            seed: seed.clone(),
            a2x: seed.clone(),
            pgd: seed.clone(),
            events: Vec::new(),
            pgd_probability: Vec::new(),
            seed_verdicts: None,
            a2x_verdicts: None,
            pgd_verdicts: None,
            started_ms: now_ms(),
            ended_ms: None,
            cancel: cancel.clone(),
            seed_recipe,
            hole_recipe,
            backend_id: backend_id(&device),
        });
        let link = ctx.link().clone();
        wasm_bindgen_futures::spawn_local(drive(models, device.device, seed, hole, settings, cancel, link, id));
        Ok(())
    }

    /// Applies and records one edit of the sketch (one undo step).
    fn edit_sketch(&mut self, edit: Edit) {
        let before = (self.sketch.canvas.clone(), self.sketch.recipe.clone());
        edit.apply(&mut self.sketch.canvas);
        self.sketch.recipe.edits.push(edit);
        self.sketch.undo.push(before);
        if self.sketch.undo.len() > 50 {
            self.sketch.undo.remove(0);
        }
        self.sketch.redo.clear();
    }

    /// The share link of the shown task's last run.
    fn share_state(&self, run: &TaskRun) -> Option<SharedState> {
        let entry = self.manifest.as_ref()?.trained("cifar-robust")?;
        Some(SharedState {
            page: SharedPage::Task {
                task: run.task,
                model: entry.id.clone(),
                weights: entry.sha256.chars().take(16).collect(),
                settings: run.settings.clone(),
                seed: run.seed_recipe.clone(),
                hole: run.hole_recipe.clone(),
            },
            backend: run.backend_id.into(),
            auto_run: self.share_auto_run,
        })
    }

    /// Restores a task from a share link once the model list is there.
    fn apply_link(&mut self, ctx: &Context<Self>) {
        let (Some(state), Some(manifest)) = (self.link_pending.clone(), self.manifest.clone()) else { return };
        self.link_pending = None;
        let SharedPage::Task { task, model, weights, settings, seed, hole } = &state.page else { return };
        for run in self.runs.iter_mut().flatten() {
            run.cancel.set(true);
        }
        let mut notices = vec![super::explain::restored_notice(&state, "the models are")];
        match manifest.trained(model) {
            Some(entry) if !entry.sha256.starts_with(weights.as_str()) => notices.push(format!(
                "The link was made with other weights of {model} (fingerprint {weights}, this page has {}): the result will differ.",
                &entry.sha256[..16]
            )),
            Some(_) => {}
            None => notices.push(format!("The link names a model this page does not have (“{model}”).")),
        }
        notices.extend(backend_notice(&state.backend, self.device.as_ref()));
        let i = index(*task);
        self.settings[i] = settings.clone();
        self.targets[i] = settings.run.target;
        self.setting_error = None;
        self.pending_picture = None;
        match (task, seed) {
            (Task::Sketch, Some(picture)) => match &picture.base {
                PictureBase::BuiltIn { id } if bundled::built_in(id).is_some_and(|b| b.width() == picture.side) => {
                    let start = bundled::built_in(id).expect("checked");
                    self.sketch = Sketch { canvas: picture.render(start), recipe: picture.clone(), undo: Vec::new(), redo: Vec::new() };
                }
                _ => notices.push("The link's sketch does not start from the page's canvas.".into()),
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
                    match &hole.base {
                        PictureBase::BuiltIn { id } if bundled::built_in(id).is_some_and(|b| b.width() == hole.side) => {
                            self.inpainting.hole = hole.render(bundled::built_in(id).expect("checked"));
                            self.inpainting.hole_recipe = hole.clone();
                        }
                        _ => notices.push("The link's hole does not start from the page's mask.".into()),
                    }
                }
            }
            _ => {}
        }
        self.link_notices = notices;
        self.auto_run_pending = state.runs_by_itself();
        self.try_auto_run(ctx);
    }

    /// Fetches bundled photo `i` for the inpainting panel (the latest request wins).
    fn request_bundled(&mut self, ctx: &Context<Self>, i: usize) {
        let Some((name, url)) = BUNDLED.get(i).copied() else { return };
        self.picture_request += 1;
        let request = self.picture_request;
        ctx.link().send_future(async move { Msg::Picture(request, name.to_string(), true, browser::fetch_image(url).await) });
    }

    /// Starts the run a link asked for, once the models (and the picture) are there.
    fn try_auto_run(&mut self, ctx: &Context<Self>) {
        if self.auto_run_pending && self.link_pending.is_none() && self.pending_picture.is_none() && matches!(self.loading, Loading::Ready(_)) && !self.busy() {
            self.auto_run_pending = false;
            if self.device.as_ref().is_some_and(|d| d.is_cpu) {
                // As on the explanation page: on the CPU a run holds the page's only thread, so
                // the visitor decides.
                self.link_notices.push("The link asks to run at once, but this page computes on the CPU backend, where the page waits while it runs: press Run when you are ready.".into());
                return;
            }
            if let Err(e) = self.start(ctx) {
                self.setting_error = Some(e);
            }
        }
    }

    /// PNG of a result (8× nearest-neighbour), offered as a download.
    fn save(&self, which: &str) -> Result<(), String> {
        let task = self.task.ok_or("no task")?;
        let run = self.run_of(task).ok_or("nothing to save yet")?;
        let values = match which {
            "a2x" => &run.a2x,
            "pgd" => &run.pgd,
            _ => &run.seed,
        };
        let png = imaging::enlarged_png(values, SIZE, 8)?;
        browser::download(&png, "image/png", &format!("a2x-{}-{}-{}-{which}.png", crate::engine::name_of(task), LABELS[run.target], run.settings.run.rng_seed))
    }
}

impl Component for ImageTasks {
    type Message = Msg;
    type Properties = Props;

    fn create(ctx: &Context<Self>) -> Self {
        let props = ctx.props().clone();
        let mut page = ImageTasks {
            device: props.device,
            manifest: props.manifest,
            task: props.task,
            loading: Loading::Idle,
            load_generation: 0,
            // Horse, cat (the bundled cat photo), ship (the starting sketch).
            targets: [7, 3, 8],
            settings: [Task::Generate.defaults(), Task::Inpaint.defaults(), Task::Sketch.defaults()],
            setting_error: None,
            sketch: Sketch::starting(),
            brush: 16.0,
            colour: [40, 120, 40],
            eraser: false,
            last_point: None,
            inpainting: {
                let (hole, hole_recipe) = central_hole();
                let picture_recipe = SharedPicture { base: PictureBase::Bundled { id: BUNDLED[INPAINT_START].0.into() }, side: SIZE as u32, edits: Vec::new() };
                Inpainting { name: String::new(), picture: RgbImage::new(SIZE as u32, SIZE as u32), picture_recipe, hole, hole_recipe }
            },
            mask_brush: 3.0,
            mask_erase: false,
            picture_error: None,
            runs: [None, None, None],
            next_run: 0,
            sketch_canvas: NodeRef::default(),
            mask_canvas: NodeRef::default(),
            pictures: Default::default(),
            smooth_pictures: Default::default(),
            link_pending: props.shared.clone(),
            link_notices: Vec::new(),
            pending_picture: None,
            picture_request: 0,
            auto_run_pending: false,
            share_auto_run: true,
            share: None,
        };
        page.request_bundled(ctx, INPAINT_START);
        page.load(ctx);
        page.apply_link(ctx);
        page
    }

    fn changed(&mut self, ctx: &Context<Self>, old: &Self::Properties) -> bool {
        let props = ctx.props().clone();
        if !same_link(&props.shared, &old.shared) && props.shared.is_some() {
            self.link_pending = props.shared.clone();
        }
        let new_backend = props.device.as_ref().map(|d| d.generation) != self.device.as_ref().map(|d| d.generation);
        self.device = props.device;
        self.manifest = props.manifest;
        self.task = props.task;
        if new_backend {
            // Models live on one device: stop runs on the old one and load again on the new one.
            for run in self.runs.iter_mut().flatten() {
                run.cancel.set(true);
            }
            self.loading = Loading::Idle;
        }
        self.load(ctx);
        self.apply_link(ctx);
        true
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Progress(generation, received, total) => {
                if generation != self.load_generation || !matches!(self.loading, Loading::Downloading { .. }) {
                    return false;
                }
                self.loading = Loading::Downloading { received, total };
            }
            Msg::Loaded(generation, result) => {
                if generation != self.load_generation {
                    return false;
                }
                self.loading = match result {
                    Ok(models) => Loading::Ready(models),
                    Err(e) => Loading::Failed(e),
                };
                self.try_auto_run(ctx);
            }
            Msg::Retry => {
                self.loading = Loading::Idle;
                self.load(ctx);
            }
            Msg::SetTarget(class) => {
                if let Some(task) = self.task {
                    self.targets[index(task)] = class.min(LABELS.len() - 1);
                }
            }
            Msg::Set(task, field, value) => self.setting_error = self.set_field(task, field, &value).err(),
            Msg::Reset(task) => {
                self.settings[index(task)] = task.defaults();
                self.setting_error = None;
            }
            Msg::PointerDown(x, y) => {
                let (radius, colour) = (self.brush / 2.0, if self.eraser { [255; 3] } else { self.colour });
                // Recorded as painted (quarter-pixel points), so a link replays the same pixels.
                self.edit_sketch(Edit::stroke_at(colour, radius, (x, y), self.sketch.canvas.width()));
                self.last_point = Some((x, y));
            }
            Msg::PointerMove(x, y) => {
                if self.last_point.is_none() {
                    return false;
                }
                // One stroke is one undo step: the move extends the stroke just recorded.
                if let Some(stroke) = self.sketch.recipe.edits.last_mut() {
                    stroke.continue_on(&mut self.sketch.canvas, (x, y));
                }
                self.last_point = Some((x, y));
            }
            Msg::PointerUp => return self.last_point.take().is_some(),
            Msg::Brush(size) => self.brush = size.clamp(1.0, 96.0),
            Msg::Colour(hex) => {
                if let Some(colour) = drawing::parse_hex_color(&hex) {
                    self.colour = colour;
                    self.eraser = false;
                }
            }
            Msg::Eraser(on) => self.eraser = on,
            Msg::Undo | Msg::Redo => {
                let sketch = &mut self.sketch;
                let (from, to) = if matches!(msg, Msg::Undo) { (&mut sketch.undo, &mut sketch.redo) } else { (&mut sketch.redo, &mut sketch.undo) };
                if let Some((canvas, recipe)) = from.pop() {
                    to.push((std::mem::replace(&mut sketch.canvas, canvas), std::mem::replace(&mut sketch.recipe, recipe)));
                }
            }
            Msg::ClearSketch => self.edit_sketch(Edit::Clear { colour: [255; 3] }),
            Msg::PickPicture(i) => {
                // The visitor's choice replaces a link's picture still waiting for its file.
                self.pending_picture = None;
                self.request_bundled(ctx, i);
            }
            Msg::PictureFile(files) => {
                let Some(file) = files.into_iter().next() else { return false };
                self.picture_request += 1;
                let request = self.picture_request;
                ctx.link().send_future(async move {
                    let name = file.name();
                    Msg::Picture(request, name.clone(), false, browser::decode_blob(&file, &name, 256).await)
                });
            }
            Msg::Picture(request, _, _, _) if request != self.picture_request => return false,
            Msg::Picture(_, name, bundled, result) => match result {
                Ok(photo) => {
                    let picture = imaging::center_crop(&DynamicImage::ImageRgb8(photo), SIZE);
                    let recipe = match self.pending_picture.take() {
                        // The picture a link asked for, with its edits.
                        Some(recipe) => recipe,
                        None => {
                            let base = if bundled {
                                PictureBase::Bundled { id: name.clone() }
                            } else {
                                // A 32×32 PNG always fits in a link.
                                link::embed_image(&name, &picture).unwrap_or_else(|| PictureBase::Supplied { name: link::plain_file_name(&name) })
                            };
                            SharedPicture { base, side: SIZE as u32, edits: Vec::new() }
                        }
                    };
                    self.inpainting.picture = recipe.render(picture);
                    self.inpainting.picture_recipe = recipe;
                    self.inpainting.name = name;
                    self.picture_error = None;
                    self.try_auto_run(ctx);
                }
                Err(e) => self.picture_error = Some(e),
            },
            Msg::MaskDown(x, y) => {
                let colour = if self.mask_erase { [0; 3] } else { [255; 3] };
                let edit = Edit::stroke_at(colour, self.mask_brush / 2.0, (x, y), SIZE as u32);
                edit.apply(&mut self.inpainting.hole);
                self.inpainting.hole_recipe.edits.push(edit);
                self.last_point = Some((x, y));
            }
            Msg::MaskMove(x, y) => {
                if self.last_point.is_none() {
                    return false;
                }
                if let Some(stroke) = self.inpainting.hole_recipe.edits.last_mut() {
                    stroke.continue_on(&mut self.inpainting.hole, (x, y));
                }
                self.last_point = Some((x, y));
            }
            Msg::MaskUp => return self.last_point.take().is_some(),
            Msg::MaskBrush(size) => self.mask_brush = size.clamp(1.0, 16.0),
            Msg::MaskErase(on) => self.mask_erase = on,
            Msg::ResetHole => (self.inpainting.hole, self.inpainting.hole_recipe) = central_hole(),
            Msg::Run => {
                if let Err(e) = self.start(ctx) {
                    self.setting_error = Some(e);
                }
            }
            Msg::Cancel => {
                for run in self.runs.iter_mut().flatten() {
                    run.cancel.set(true);
                }
            }
            Msg::Started(id, seed, verdicts) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.seed = seed;
                run.seed_verdicts = Some(verdicts);
            }
            Msg::Step(id, event, a2x, pgd) => {
                let Some(run) = self.run_mut(id) else { return false };
                if let Some(event) = event {
                    run.events.push(event);
                    run.a2x = a2x;
                }
                if let Some((image, probability)) = pgd {
                    run.pgd = image;
                    run.pgd_probability.push(probability);
                }
            }
            Msg::Ended(id, result) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.ended_ms = Some(now_ms());
                match result {
                    Outcome::Done(a2x, pgd) => {
                        run.a2x_verdicts = Some(a2x);
                        run.pgd_verdicts = Some(pgd);
                        run.state = RunState::Done;
                    }
                    Outcome::Cancelled => run.state = RunState::Cancelled,
                    Outcome::Failed(e) => {
                        run.state = RunState::Failed;
                        run.error = Some(e);
                    }
                }
            }
            Msg::Save(which) => {
                if let Err(e) = self.save(which) {
                    self.setting_error = Some(e);
                }
            }
            Msg::ShareAutoRun(on) => {
                self.share_auto_run = on;
                self.share = None;
            }
            Msg::CopyLink => {
                let Some(run) = self.task.and_then(|t| self.run_of(t)) else { return false };
                let Some(state) = self.share_state(run) else { return false };
                let (link, id) = (ctx.link().clone(), run.id);
                self.share = Some(Share::copy(&state, id, move |result| link.send_message(Msg::Copied(id, result))));
            }
            Msg::Copied(id, result) => return Share::record(&mut self.share, id, result),
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        tasks_view::view(self, ctx)
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first_render: bool) {
        let draw = |node: &NodeRef, image: Option<RgbImage>| browser::draw_on(node, image.as_ref());
        let Some(task) = self.task else { return };
        let picture = |values: &[f32]| imaging::from_chw(values, [SIZE, SIZE]);
        draw(&self.sketch_canvas, (task == Task::Sketch).then(|| self.sketch.canvas.clone()));
        draw(&self.mask_canvas, (task == Task::Inpaint).then(|| self.inpainting.overlay()));
        let run = self.run_of(task);
        let seed = run.map(|r| r.seed.clone()).or_else(|| self.seed_of(task));
        let shown = [seed.as_deref().map(picture), run.map(|r| picture(&r.a2x)), run.map(|r| picture(&r.pgd))];
        for (i, image) in shown.into_iter().enumerate() {
            draw(&self.pictures[i], image.clone());
            draw(&self.smooth_pictures[i], image);
        }
    }
}
