//! The session API (issue #22): what a front end asks of the engine and what it hears back, as
//! plain serde data, and the engine-side session that turns one into the other.
//!
//! - [`RunRequest`]: an explanation or an image task, every input as plain data (model id,
//!   pixels, D̄'s photos and size, the hole, the settings). `from_link` makes one from a share
//!   link, for the pages and `a2x replay` alike.
//! - [`RunEvent`]: the run started (d̄ as the engine uses it, judged for a task), one iteration
//!   (with the current picture), finished (with the judges' answers), or failed (a sentence).
//! - [`Session`]: owns a run's sequence — D̄ from its recipe, the seed's fill, A2X beside the PGD
//!   baseline for a task, the judging — and hands out one event per [`Session::next`]. A front end
//!   is one loop: `while let Some(event) = session.next().await { show(event) }`; it pauses or
//!   cancels by not asking for the next event.
//!
//! The session holds the tensors; the pages hold none (they send requests and render events), the
//! step before moving the session into a web worker (issue #23).

pub mod from_link;
pub mod transport;
#[cfg(test)]
mod tests;

use crate::distribution;
use crate::engine::estimate::perturb;
use crate::engine::gaussian::ClassGaussian;
use crate::engine::pgd::PgdAttack;
use crate::engine::sampling::Rng;
use crate::engine::schedule::{Run, RunCheckpoint};
use crate::engine::tasks::{self, Task, TaskSettings};
use crate::engine::{read_values, Classifier, Event, RunConfig};
use crate::imaging;
use crate::models::{self, Prediction};
use burn::tensor::{Device, Tensor, TensorData};
use image::RgbImage;
use serde::{Deserialize, Serialize};

/// An RGB picture as plain data (what a request carries instead of an image type or a tensor).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Photo {
    /// What the page calls it (a bundled id, a file name).
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// Row-major RGB, 3 bytes a pixel.
    pub rgb: Vec<u8>,
}

impl Photo {
    pub fn new(name: &str, image: &RgbImage) -> Photo {
        Photo { name: name.into(), width: image.width(), height: image.height(), rgb: image.as_raw().clone() }
    }

    pub fn image(&self) -> Result<RgbImage, String> {
        RgbImage::from_raw(self.width, self.height, self.rgb.clone())
            .ok_or_else(|| format!("“{}”: {} bytes are not a {}×{} RGB picture", self.name, self.rgb.len(), self.width, self.height))
    }
}

/// An explanation (Algorithms 1 and 2) of `config.target` on one ImageNet model.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ExplainRequest {
    /// The model's id in the manifest (the caller loads it; the session checks the sizes).
    pub model: String,
    /// Every setting, the target and the region included.
    pub config: RunConfig,
    /// d̄ at the model's input side.
    pub seed: Photo,
    /// D̄'s recipe: these photos stretched to `samples` samples by crops and flips drawn from
    /// `config.rng_seed` (`distribution::stretch`).
    pub photos: Vec<Photo>,
    pub samples: usize,
}

/// An image task: A2X beside the PGD baseline at the same budget, on the robust CIFAR-10 model
/// (`model` absent) or on an ImageNet model of the zoo at its own size (issue #33).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TaskRequest {
    pub task: Task,
    /// Both methods' settings (target and RNG seed in `settings.run`).
    pub settings: TaskSettings,
    /// The seed, CHW at the model's size in [0, 1]: the sketch, or the picture to inpaint (its
    /// hole is filled as `settings.inpaint_seed` says, whatever it holds), or generation's start.
    /// `None` only for generation on CIFAR-10: a sample of the target's Gaussian drawn with the
    /// RNG seed.
    pub seed: Option<Vec<f32>>,
    /// Inpainting's F: 1 inside the hole, per pixel.
    pub hole: Option<Vec<f32>>,
    /// The ImageNet model's id in the manifest (the caller loads it and its judge); absent for
    /// the CIFAR-10 tasks, so their requests and links read as before.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// An ImageNet task's D̄: these photos stretched to `settings.samples` samples by crops and
    /// flips drawn from the RNG seed, as an explanation's (the CIFAR-10 tasks draw D̄ from the
    /// class's Gaussian).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub photos: Vec<Photo>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RunRequest {
    Explain(ExplainRequest),
    Task(TaskRequest),
}

/// How one model judges one picture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    pub top1: usize,
    pub top1_name: String,
    pub target_probability: f32,
    /// The target's place in the model's ranking, 1 = top (0 in events written before it existed).
    #[serde(default)]
    pub target_rank: usize,
}

/// The attacked model's and the judge's verdicts on one picture. On CIFAR-10 the attacked model
/// is the robust one and the judge the standard one; on ImageNet the attacked model is the
/// task's (SqueezeNet by default) and the judge a model of another family (`models::judge_of`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Verdicts {
    pub robust: Verdict,
    pub standard: Verdict,
}

/// One step of the PGD baseline: its picture and the robust model's target probability of it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PgdStep {
    pub image: Vec<f32>,
    pub target_probability: f32,
}

/// What a finished run produced (tagged `outcome`: it travels inside `RunEvent::Finished`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "outcome")]
pub enum Outcome {
    /// p, and the top five of Clip(d̄ + p) by the model that computed p.
    Explanation { perturbation: Vec<f32>, top5: Vec<Prediction> },
    /// Both methods' pictures and the judges' verdicts on them.
    Task { a2x_image: Vec<f32>, pgd_image: Vec<f32>, a2x: Verdicts, pgd: Verdicts },
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum RunEvent {
    /// Set up: d̄ as the engine uses it (an explanation's region filled, a task's hole filled)
    /// and, for a task, the judges' verdicts on it.
    Started { seed: Vec<f32>, verdicts: Option<Verdicts> },
    /// One iteration of an explanation: Algorithm 1's event, p_t, and p_t as a page shows it.
    Explained { event: Event, perturbation: Vec<f32>, pictures: imaging::ExplanationPictures },
    /// One step of a task: A2X's event and Clip(d̄ + p_t) (until A2X stops) and PGD's step
    /// (until it has taken its steps).
    TaskStep { a2x: Option<(Event, Vec<f32>)>, pgd: Option<PgdStep> },
    Finished(Outcome),
    /// Why the run stopped, as a sentence.
    Failed { message: String },
}

/// A run's state after one of its events (issue #23): A2X's and, for a task, the baseline's. A
/// session of the same request [`Session::resuming`] from it goes on with the next iteration
/// exactly as the session it was taken from did.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub a2x: RunCheckpoint,
    pub pgd: Option<PgdCheckpoint>,
}

/// The PGD baseline's state: the steps it has taken and its picture after them.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PgdCheckpoint {
    pub steps: usize,
    pub image: Vec<f32>,
}

/// The models an image task needs: the one both methods attack, the one that judges (on
/// CIFAR-10 the standard model, on ImageNet one of another family), and for CIFAR-10 the class
/// Gaussians (generation's seed, D̄; empty for ImageNet).
pub struct TaskModels<'a, C: Classifier> {
    pub robust: &'a C,
    pub standard: &'a C,
    pub gaussians: &'a [ClassGaussian],
}

impl<C: Classifier> Clone for TaskModels<'_, C> {
    fn clone(&self) -> Self {
        TaskModels { robust: self.robust, standard: self.standard, gaussians: self.gaussians }
    }
}

/// The name of class `index` of a model with `classes` outputs: ImageNet's or CIFAR-10's.
pub fn class_name(classes: usize, index: usize) -> String {
    match classes {
        1000 => models::labels::imagenet().get(index).map_or_else(|| format!("class {index}"), |l| l.name().to_string()),
        _ => models::resnet::LABELS.get(index).map_or_else(|| format!("class {index}"), |l| l.to_string()),
    }
}

/// A CHW picture of `size`² as `model` takes it: the same values, or (a judge of another size,
/// Lite0's 224 beside SqueezeNet's 227) the whole picture as a PNG would show it, scaled to the
/// judge's size with Catmull–Rom (no crop: the judge sees all of it).
fn at_size_of<C: Classifier>(model: &C, image: &[f32], size: usize) -> Vec<f32> {
    let side = model.input_shape()[1];
    if side == size {
        return image.to_vec();
    }
    let picture = imaging::from_chw(image, [size, size]);
    imaging::to_chw(&image::imageops::resize(&picture, side as u32, side as u32, image::imageops::FilterType::CatmullRom))
}

/// Both models' verdicts on one CHW picture at the attacked model's input size.
pub async fn judge<C: Classifier>(models: &TaskModels<'_, C>, image: &[f32], target: usize, device: &Device) -> Result<Verdicts, String> {
    let verdict = |logits: Vec<Vec<f32>>| {
        let top1 = models::top_k(&logits[0], 1)[0].class;
        Verdict {
            top1,
            top1_name: class_name(logits[0].len(), top1),
            target_probability: models::probability_of(&logits[0], target),
            target_rank: models::rank_of(&logits[0], target),
        }
    };
    let robust = models::classify(models.robust, image.to_vec(), device).await.map_err(|e| e.to_string())?;
    let standard = models::classify(models.standard, at_size_of(models.standard, image, models.robust.input_shape()[1]), device).await.map_err(|e| e.to_string())?;
    Ok(Verdicts { robust: verdict(robust), standard: verdict(standard) })
}

enum Stage<'a, C: Classifier> {
    /// Not yet set up: the first `next` builds the run and says `Started`.
    Explain { model: &'a C, request: Box<ExplainRequest> },
    Explaining { model: &'a C, run: Box<Run<'a, C>>, seed: Vec<f32> },
    Task { models: TaskModels<'a, C>, request: Box<TaskRequest> },
    Tasking { models: TaskModels<'a, C>, run: Box<Run<'a, C>>, pgd: Box<PgdAttack>, target: usize },
    /// Finished or failed: no more events.
    Over,
}

/// One run, stepped by its front end one event at a time.
pub struct Session<'a, C: Classifier> {
    device: Device,
    stage: Stage<'a, C>,
    /// A2X's iterations so far (for a task's closing step).
    iterations: usize,
    /// Where to go on from, once the run is set up.
    resume: Option<Checkpoint>,
}

impl<'a, C: Classifier> Session<'a, C> {
    /// An explanation on `model` (the model `request.model` names, loaded on `device`).
    pub fn explain(request: ExplainRequest, model: &'a C, device: &Device) -> Self {
        Session { device: device.clone(), stage: Stage::Explain { model, request: Box::new(request) }, iterations: 0, resume: None }
    }

    /// An image task on `models`.
    pub fn task(request: TaskRequest, models: TaskModels<'a, C>, device: &Device) -> Self {
        Session { device: device.clone(), stage: Stage::Task { models, request: Box::new(request) }, iterations: 0, resume: None }
    }

    /// The same session, going on from `checkpoint` (taken by [`Session::checkpoint`] of a session
    /// of the same request): it says `Started` as usual, then hands out the events after the
    /// checkpoint's iteration.
    pub fn resuming(mut self, checkpoint: Checkpoint) -> Self {
        self.resume = Some(checkpoint);
        self
    }

    /// An explanation stopped before its end: the top five of Clip(d̄ + p) by the model, with p
    /// as it stands (`None` for a task, or before the run is set up).
    pub async fn top5_now(&self) -> Option<Result<Vec<Prediction>, String>> {
        let Stage::Explaining { model, run, seed } = &self.stage else { return None };
        let top5 = async {
            let perturbation = read_values(run.perturbation()).await.map_err(|e| e.to_string())?;
            top5_of_perturbed(*model, seed, &perturbation, &self.device).await
        };
        Some(top5.await)
    }

    /// The run's state now, once it is set up (`None` before the first event and once over).
    pub async fn checkpoint(&self) -> Option<Result<Checkpoint, String>> {
        let (run, pgd) = match &self.stage {
            Stage::Explaining { run, .. } => (run, None),
            Stage::Tasking { run, pgd, .. } => (run, Some(pgd)),
            _ => return None,
        };
        let state = async {
            let a2x = run.checkpoint().await.map_err(|e| e.to_string())?;
            let pgd = match pgd {
                Some(pgd) => Some(PgdCheckpoint { steps: pgd.steps_taken(), image: read_values(pgd.current()).await.map_err(|e| e.to_string())? }),
                None => None,
            };
            Ok(Checkpoint { a2x, pgd })
        };
        Some(state.await)
    }

    pub fn is_over(&self) -> bool {
        matches!(self.stage, Stage::Over)
    }

    /// A2X's iterations so far.
    pub fn iterations(&self) -> usize {
        self.iterations
    }

    /// The next event, `None` once the run has finished or failed.
    pub async fn next(&mut self) -> Option<RunEvent> {
        if self.is_over() {
            return None;
        }
        let event = match self.advance().await {
            Ok(event) => event,
            Err(message) => RunEvent::Failed { message },
        };
        if matches!(event, RunEvent::Finished(_) | RunEvent::Failed { .. }) {
            self.stage = Stage::Over;
        }
        Some(event)
    }

    /// Every remaining event, in order (the CLI's and the tests' way; `on_event` sees each).
    pub async fn run_to_end(&mut self, mut on_event: impl FnMut(&RunEvent)) -> Vec<RunEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next().await {
            on_event(&event);
            events.push(event);
        }
        events
    }

    async fn advance(&mut self) -> Result<RunEvent, String> {
        let device = self.device.clone();
        match std::mem::replace(&mut self.stage, Stage::Over) {
            Stage::Explain { model, request } => {
                let (mut run, seed) = start_explanation(model, *request, &device).await?;
                if let Some(checkpoint) = self.resume.take() {
                    run.restore(&checkpoint.a2x).map_err(|e| e.to_string())?;
                    self.iterations = checkpoint.a2x.iteration;
                }
                self.stage = Stage::Explaining { model, run: Box::new(run), seed: seed.clone() };
                Ok(RunEvent::Started { seed, verdicts: None })
            }
            Stage::Explaining { model, mut run, seed } => {
                if run.is_finished() {
                    let perturbation = read_values(run.perturbation()).await.map_err(|e| e.to_string())?;
                    let top5 = top5_of_perturbed(model, &seed, &perturbation, &device).await?;
                    return Ok(RunEvent::Finished(Outcome::Explanation { perturbation, top5 }));
                }
                let event = run.step().await.map_err(|e| e.to_string())?;
                let perturbation = read_values(run.perturbation()).await.map_err(|e| e.to_string())?;
                self.iterations += 1;
                let pictures = imaging::ExplanationPictures::draw(&seed, &perturbation);
                self.stage = Stage::Explaining { model, run, seed };
                Ok(RunEvent::Explained { event, perturbation, pictures })
            }
            Stage::Task { models, request } => {
                let (mut run, mut pgd, seed, target) = start_task(&models, *request, &device)?;
                if let Some(checkpoint) = self.resume.take() {
                    run.restore(&checkpoint.a2x).map_err(|e| e.to_string())?;
                    let baseline = checkpoint.pgd.ok_or("a task's checkpoint without the baseline's state")?;
                    pgd.restore(baseline.steps, &baseline.image)?;
                    self.iterations = checkpoint.a2x.iteration;
                }
                let verdicts = judge(&models, &seed, target, &device).await?;
                self.stage = Stage::Tasking { models, run: Box::new(run), pgd: Box::new(pgd), target };
                Ok(RunEvent::Started { seed, verdicts: Some(verdicts) })
            }
            Stage::Tasking { models, mut run, mut pgd, target } => {
                if run.is_finished() && pgd.is_finished() {
                    let a2x_image = read_values(perturb(run.seed(), run.perturbation())).await.map_err(|e| e.to_string())?;
                    let pgd_image = read_values(pgd.current()).await.map_err(|e| e.to_string())?;
                    let a2x = judge(&models, &a2x_image, target, &device).await?;
                    let pgd = judge(&models, &pgd_image, target, &device).await?;
                    return Ok(RunEvent::Finished(Outcome::Task { a2x_image, pgd_image, a2x, pgd }));
                }
                let mut a2x = None;
                if !run.is_finished() {
                    let event = run.step().await.map_err(|e| e.to_string())?;
                    self.iterations += 1;
                    a2x = Some((event, read_values(perturb(run.seed(), run.perturbation())).await.map_err(|e| e.to_string())?));
                }
                let mut pgd_step = None;
                if !pgd.is_finished() {
                    let robust = models.robust;
                    pgd.step(&|x: Tensor<4>| robust.logits(x));
                    let image = read_values(pgd.current()).await.map_err(|e| e.to_string())?;
                    let logits = models::classify(robust, image.clone(), &device).await.map_err(|e| e.to_string())?;
                    pgd_step = Some(PgdStep { target_probability: models::probability_of(&logits[0], target), image });
                }
                self.stage = Stage::Tasking { models, run, pgd, target };
                Ok(RunEvent::TaskStep { a2x, pgd: pgd_step })
            }
            Stage::Over => Err("the run is over".into()),
        }
    }
}

/// The tensor of one or more CHW images of side `size`.
fn images(values: Vec<f32>, count: usize, size: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, [count, 3, size, size]), device)
}

/// D̄ stretched from its photos, d̄ and the run; d̄ read back as the run uses it (region filled).
async fn start_explanation<'a, C: Classifier>(model: &'a C, request: ExplainRequest, device: &Device) -> Result<(Run<'a, C>, Vec<f32>), String> {
    let size = model.input_shape()[1];
    let seed = request.seed.image()?;
    if seed.dimensions() != (size as u32, size as u32) {
        return Err(format!("the seed is {}×{}, {} takes {size}×{size}", seed.width(), seed.height(), request.model));
    }
    if request.samples == 0 {
        return Err("|D̄| must be at least 1".into());
    }
    crate::link::check_sample_bytes(request.samples, size).map_err(|e| e.to_string())?;
    let photos = request.photos.iter().map(Photo::image).collect::<Result<Vec<_>, _>>()?;
    if photos.is_empty() {
        return Err("D̄ has no photos".into());
    }
    let samples = distribution::stretch(&photos, request.samples, size, request.config.rng_seed)?;
    let run = Run::new(model, images(imaging::to_chw(&seed), 1, size, device), images(samples, request.samples, size, device), request.config)
        .map_err(|e| e.to_string())?;
    let seed = read_values(run.seed()).await.map_err(|e| e.to_string())?;
    Ok((run, seed))
}

/// The top five of Clip(d̄ + p) by `model`.
async fn top5_of_perturbed<C: Classifier>(model: &C, seed: &[f32], perturbation: &[f32], device: &Device) -> Result<Vec<Prediction>, String> {
    let size = model.input_shape()[1];
    let perturbed: Vec<f32> = seed.iter().zip(perturbation).map(|(s, p)| (s + p).clamp(0.0, 1.0)).collect();
    let logits = models::logits_of(model, &imaging::from_chw(&perturbed, [size, size]), device).await.map_err(|e| e.to_string())?;
    Ok(models::top_k(&logits, 5))
}

/// A task's seed (generation's Gaussian sample, inpainting's fill), D̄ from the target's Gaussian
/// with the CLI's stream, A2X's run and the baseline's attack from the same seed.
fn start_task<'a, C: Classifier>(models: &TaskModels<'a, C>, request: TaskRequest, device: &Device) -> Result<(Run<'a, C>, PgdAttack, Vec<f32>, usize), String> {
    if request.model.is_some() {
        return start_imagenet_task(models, request, device);
    }
    let TaskRequest { task, settings, seed, hole, .. } = request;
    let target = settings.run.target;
    let gaussian = models.gaussians.get(target).ok_or(format!("no Gaussian of class {target}"))?;
    let [_, size, _] = models.robust.input_shape();
    let pixels = size * size;
    if hole.as_ref().is_some_and(|h| h.len() != pixels) {
        return Err(format!("the hole has {} pixels, the model takes {size}×{size}", hole.as_ref().map_or(0, Vec::len)));
    }
    if (task == Task::Inpaint) != hole.is_some() {
        return Err("inpainting, and only inpainting, needs a hole".into());
    }
    if hole.as_ref().is_some_and(|h| !h.iter().any(|&f| f > 0.5)) {
        return Err("paint a hole first: the mask is empty".into());
    }
    let seed = match (seed, &hole) {
        (Some(image), _) if image.len() != 3 * pixels => return Err(format!("the seed has {} values, the model takes 3×{size}×{size}", image.len())),
        (Some(image), Some(hole)) => tasks::inpaint_seed(&image, hole, settings.inpaint_seed, Some(gaussian))?,
        (Some(image), None) => image,
        (None, _) => gaussian.sample(1, &mut Rng::new(settings.run.rng_seed)),
    };
    let samples = tasks::task_samples(gaussian, &settings, hole.as_deref().map(|h| (seed.as_slice(), h)), device).map_err(|e| e.to_string())?;
    let seed_tensor = images(seed.clone(), 1, size, device);
    let run = tasks::a2x_run(models.robust, seed_tensor.clone(), samples, &settings, hole.as_deref()).map_err(|e| e.to_string())?;
    let pgd = tasks::pgd_attack(models.robust, seed_tensor, &settings, hole.as_deref()).map_err(|e| e.to_string())?;
    Ok((run, pgd, seed, target))
}

/// An ImageNet task (issue #33): the seed as given (inpainting's hole filled as the settings
/// say), D̄ stretched from the request's photos as an explanation's, A2X and the baseline.
/// Every way the inputs can be wrong is a sentence: a class the model lacks, a seed of another
/// size, an empty mask or one covering the picture, a sketch of one flat colour.
fn start_imagenet_task<'a, C: Classifier>(models: &TaskModels<'a, C>, request: TaskRequest, device: &Device) -> Result<(Run<'a, C>, PgdAttack, Vec<f32>, usize), String> {
    use crate::engine::imagenet_tasks;
    let TaskRequest { task, settings, seed, hole, model, photos } = request;
    let model = model.unwrap_or_default();
    let target = settings.run.target;
    let classes = models.robust.num_classes();
    if target >= classes {
        return Err(format!("class {target} is not one of {model}'s {classes} classes (0 to {})", classes - 1));
    }
    let [_, size, _] = models.robust.input_shape();
    let pixels = size * size;
    let seed = seed.ok_or("an ImageNet task needs its seed picture")?;
    if seed.len() != 3 * pixels {
        return Err(format!("the seed has {} values, {model} takes 3×{size}×{size}", seed.len()));
    }
    if (task == Task::Inpaint) != hole.is_some() {
        return Err("inpainting, and only inpainting, needs a mask".into());
    }
    if task == Task::Sketch && imagenet_tasks::is_flat(&seed) {
        return Err("the sketch is one flat colour: draw something on it first".into());
    }
    let seed = match &hole {
        Some(hole) if hole.len() != pixels => return Err(format!("the mask has {} pixels, {model} takes {size}×{size}", hole.len())),
        Some(hole) => {
            imagenet_tasks::check_hole(hole)?;
            tasks::inpaint_seed(&seed, hole, settings.inpaint_seed, None)?
        }
        None => seed,
    };
    if photos.is_empty() {
        return Err("D̄ has no photos".into());
    }
    if settings.samples < settings.run.batch - 1 {
        return Err(format!("|D̄| = {} cannot fill a mini-batch of b − 1 = {}", settings.samples, settings.run.batch - 1));
    }
    crate::link::check_sample_bytes(settings.samples, size).map_err(|e| e.to_string())?;
    let photos = photos.iter().map(Photo::image).collect::<Result<Vec<_>, _>>()?;
    let samples = distribution::stretch(&photos, settings.samples, size, settings.run.rng_seed)?;
    let seed_tensor = images(seed.clone(), 1, size, device);
    let run = tasks::a2x_run(models.robust, seed_tensor.clone(), images(samples, settings.samples, size, device), &settings, hole.as_deref())
        .map_err(|e| e.to_string())?;
    let pgd = tasks::pgd_attack(models.robust, seed_tensor, &settings, hole.as_deref()).map_err(|e| e.to_string())?;
    Ok((run, pgd, seed, target))
}
