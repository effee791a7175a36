//! The paper's applications on a2x's own robust CIFAR-10 model (section 5.2; issue #6): generate
//! an image of a class, inpaint a painted hole, turn a sketch into an image — A2X beside the
//! baseline it is compared with (Santurkar et al.'s targeted ℓ2 PGD at the same budget), both
//! stepped in turn so the two pictures change side by side. The state and its updates are here,
//! the view in `tasks_view.rs`; the algorithms are the engine's (`engine::tasks`), as in the CLI.

use super::browser::{self, yield_now};
use super::explain::{same_inputs, ActiveDevice, BUNDLED};
use super::now_ms;
use super::tasks_view;
use crate::drawing;
use crate::engine::estimate::perturb;
use crate::engine::gaussian::{self, ClassGaussian};
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
pub const SKETCH_SCALE: u32 = 8;
/// The image the inpainting panel starts with: the bundled cat photo (CIFAR-10 has cats).
const INPAINT_START: usize = 0;
/// The evaluation hole: a central 10×10 square.
const HOLE: (usize, usize, usize, usize) = (11, 11, 10, 10);

#[derive(Properties, Clone)]
pub struct Props {
    pub device: Option<ActiveDevice>,
    pub manifest: Option<Rc<Manifest>>,
    /// The task shown; `None` while the explanation page is shown (nothing is downloaded until a
    /// task is first opened).
    pub task: Option<Task>,
}

impl PartialEq for Props {
    fn eq(&self, other: &Self) -> bool {
        same_inputs((&self.device, &self.manifest), (&other.device, &other.manifest)) && self.task == other.task
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
        })
    }
}

/// The sketch: drawn on a large canvas, with undo.
pub struct Sketch {
    pub canvas: RgbImage,
    pub undo: Vec<RgbImage>,
    pub redo: Vec<RgbImage>,
}

/// The inpainting input: a picture at 32×32 and the hole painted on it (white = hole).
pub struct Inpainting {
    pub name: String,
    pub picture: RgbImage,
    pub hole: RgbImage,
}

impl Inpainting {
    /// F: 1 inside the hole, per pixel.
    pub fn hole_mask(&self) -> Vec<f32> {
        self.hole.pixels().map(|p| if p[0] > 127 { 1.0 } else { 0.0 }).collect()
    }

    /// The seed: the picture with the hole filled by the mean colour of the rest (the CLI's and
    /// the evaluation's choice, see `engine::tasks`).
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
    HoleWeight,
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
    Picture(String, Result<RgbImage, String>),
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
}

pub fn index(task: Task) -> usize {
    match task {
        Task::Generate => 0,
        Task::Inpaint => 1,
        Task::Sketch => 2,
    }
}

/// The sketch a visitor starts from: sky over sea with a dark hull — something to run at once.
fn starting_sketch() -> RgbImage {
    let side = SIZE as u32 * SKETCH_SCALE;
    let mut canvas = RgbImage::from_fn(side, side, |_, y| if y < side * 11 / 20 { Rgb([150, 195, 235]) } else { Rgb([40, 90, 150]) });
    let s = SKETCH_SCALE as f32;
    // Hull, cabin and mast, in 32-px units scaled up.
    for (from, to, radius, colour) in [
        ((7.0, 19.0), (25.0, 19.0), 2.2, [60, 60, 70]),
        ((9.0, 21.0), (23.0, 21.0), 1.6, [60, 60, 70]),
        ((13.0, 15.5), (19.0, 15.5), 1.5, [235, 235, 235]),
        ((16.0, 8.0), (16.0, 14.0), 0.5, [90, 70, 50]),
    ] {
        drawing::stroke(&mut canvas, (from.0 * s, from.1 * s), (to.0 * s, to.1 * s), radius * s, colour);
    }
    canvas
}

fn hole_image() -> RgbImage {
    let (top, left, height, width) = HOLE;
    let mask = tasks::hole_mask(SIZE, top, left, height, width);
    RgbImage::from_fn(SIZE as u32, SIZE as u32, |x, y| if mask[y as usize * SIZE + x as usize] > 0.5 { Rgb([255; 3]) } else { Rgb([0; 3]) })
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
        move |bytes: &[u8]| gaussian::read_file(bytes, Some(&sha)).map_err(|e| format!("class Gaussians: {e}")),
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
    let seed_verdicts = match judge(models, &seed, target, &device).await {
        Ok(v) => v,
        Err(e) => return fail(e),
    };
    link.send_message(Msg::Started(id, seed.clone(), seed_verdicts));
    // D̄ from the target's Gaussian, drawn with the CLI's stream (`a2x generate` etc. give the same).
    let mut rng = Rng::new(settings.run.rng_seed ^ 0x6A55);
    let samples = tasks::gaussian_samples(&models.gaussians[target], settings.samples, &mut rng, &device);
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
            Field::HoleWeight => {
                let beta: f32 = parse(value, "β")?;
                if !(beta >= 0.0 && beta.is_finite()) {
                    return Err("β: zero or a positive number".into());
                }
                s.hole_weight = beta;
            }
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
        let cancel = Rc::new(Cell::new(false));
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
        });
        let link = ctx.link().clone();
        wasm_bindgen_futures::spawn_local(drive(models, device.device, seed, hole, settings, cancel, link, id));
        Ok(())
    }

    fn edit_sketch(&mut self, edit: impl FnOnce(&mut RgbImage)) {
        let before = self.sketch.canvas.clone();
        edit(&mut self.sketch.canvas);
        self.sketch.undo.push(before);
        if self.sketch.undo.len() > 50 {
            self.sketch.undo.remove(0);
        }
        self.sketch.redo.clear();
    }

    fn paint_hole(&mut self, from: (f32, f32), to: (f32, f32)) {
        let colour = if self.mask_erase { [0; 3] } else { [255; 3] };
        drawing::stroke(&mut self.inpainting.hole, from, to, self.mask_brush / 2.0, colour);
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
            sketch: Sketch { canvas: starting_sketch(), undo: Vec::new(), redo: Vec::new() },
            brush: 16.0,
            colour: [40, 120, 40],
            eraser: false,
            last_point: None,
            inpainting: Inpainting { name: String::new(), picture: RgbImage::new(SIZE as u32, SIZE as u32), hole: hole_image() },
            mask_brush: 3.0,
            mask_erase: false,
            picture_error: None,
            runs: [None, None, None],
            next_run: 0,
            sketch_canvas: NodeRef::default(),
            mask_canvas: NodeRef::default(),
            pictures: Default::default(),
            smooth_pictures: Default::default(),
        };
        ctx.link().send_message(Msg::PickPicture(INPAINT_START));
        page.load(ctx);
        page
    }

    fn changed(&mut self, ctx: &Context<Self>, _old: &Self::Properties) -> bool {
        let props = ctx.props().clone();
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
                self.edit_sketch(|canvas| {
                    drawing::stroke(canvas, (x, y), (x, y), radius, colour);
                });
                self.last_point = Some((x, y));
            }
            Msg::PointerMove(x, y) => {
                let Some(last) = self.last_point else { return false };
                let (radius, colour) = (self.brush / 2.0, if self.eraser { [255; 3] } else { self.colour });
                // One stroke is one undo step.
                drawing::stroke(&mut self.sketch.canvas, last, (x, y), radius, colour);
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
            Msg::Undo => {
                if let Some(previous) = self.sketch.undo.pop() {
                    self.sketch.redo.push(std::mem::replace(&mut self.sketch.canvas, previous));
                }
            }
            Msg::Redo => {
                if let Some(next) = self.sketch.redo.pop() {
                    self.sketch.undo.push(std::mem::replace(&mut self.sketch.canvas, next));
                }
            }
            Msg::ClearSketch => self.edit_sketch(|canvas| canvas.pixels_mut().for_each(|p| p.0 = [255; 3])),
            Msg::PickPicture(i) => {
                let Some((name, url)) = BUNDLED.get(i).copied() else { return false };
                ctx.link().send_future(async move { Msg::Picture(name.to_string(), browser::fetch_image(url).await) });
            }
            Msg::PictureFile(files) => {
                let Some(file) = files.into_iter().next() else { return false };
                ctx.link().send_future(async move {
                    let name = file.name();
                    Msg::Picture(name.clone(), browser::decode_blob(&file, &name, 256).await)
                });
            }
            Msg::Picture(name, result) => match result {
                Ok(photo) => {
                    self.inpainting.picture = imaging::center_crop(&DynamicImage::ImageRgb8(photo), SIZE);
                    self.inpainting.name = name;
                    self.picture_error = None;
                }
                Err(e) => self.picture_error = Some(e),
            },
            Msg::MaskDown(x, y) => {
                self.paint_hole((x, y), (x, y));
                self.last_point = Some((x, y));
            }
            Msg::MaskMove(x, y) => {
                let Some(last) = self.last_point else { return false };
                self.paint_hole(last, (x, y));
                self.last_point = Some((x, y));
            }
            Msg::MaskUp => return self.last_point.take().is_some(),
            Msg::MaskBrush(size) => self.mask_brush = size.clamp(1.0, 16.0),
            Msg::MaskErase(on) => self.mask_erase = on,
            Msg::ResetHole => self.inpainting.hole = hole_image(),
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
