//! `a2x generate | inpaint | sketch` and `a2x eval-tasks`: the paper's image tasks on a2x's robust
//! CIFAR-10 model, A2X beside Santurkar et al.'s PGD baseline (issue #6).

use a2x::device::BackendKind;
use a2x::engine::gaussian::ClassGaussian;
use a2x::engine::sampling::Rng;
use a2x::engine::tasks::{self, HoleConstraint, InpaintSamples, InpaintSeed, Task, TaskSettings};
use a2x::engine::penalty::PenaltyForm;
use a2x::engine::SignCheck;
use a2x::models::resnet::{self, CifarResNet, LABELS};
use a2x::session::{self, Outcome, RunEvent, Session, TaskModels, TaskRequest, Verdicts};
use a2x::train::data::{Dataset, Split};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use std::path::{Path, PathBuf};
use std::time::Instant;

#[derive(Args, Debug, Clone)]
pub struct TaskArgs {
    // The CPU default is flex: burn-ndarray's convolution backward is ≈ 40× slower on this network.
    /// Target class: a CIFAR-10 name (`horse`) or index; with an ImageNet `--model`, an ImageNet
    /// index (`340`) or name (`zebra`).
    #[arg(long)]
    pub target: Option<String>,
    /// `cifar-robust` (the paper's robust-model setting at 32×32, the default) or an ImageNet
    /// model of the zoo (`squeezenet`, `lite0`, `lite1`, `lite2`) at its own size, judged by a
    /// model of another family.
    #[arg(long, default_value = "cifar-robust")]
    pub model: String,
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// RNG seed of the run (Gaussian samples, mini-batches).
    #[arg(long, default_value_t = 0)]
    pub rng: u64,
    #[command(flatten)]
    pub settings: SettingsArgs,
    /// Folder for the images and the JSON report.
    #[arg(long, default_value = "target/tasks")]
    pub out: PathBuf,
}

/// Changes to a task's defaults, shared by the task commands and `eval-tasks` (cheaper checks and
/// variants; the defaults are the acceptance numbers).
#[derive(Args, Debug, Clone)]
pub struct SettingsArgs {
    /// Override the task's iterations (both methods).
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Override the budget: A2X's η and PGD's ε (ℓ2, pixels in [0, 1]); the step length is kept.
    #[arg(long)]
    pub budget: Option<f32>,
    /// Override the ℓ2 length of each step (both methods; A2X's step size becomes step / η).
    #[arg(long)]
    pub step: Option<f32>,
    /// Override O2 (`all-samples`, the paper's, or `batch`: cheaper).
    #[arg(long, value_parser = |s: &str| a2x::engine::from_name::<SignCheck>(s).map_err(|e| e.to_string()))]
    pub sign_check: Option<SignCheck>,
    /// Inpainting, A2X: `penalty` (the default: Eq. 4 with β 10), `penalty-in-check` (the ± check
    /// compares Eq. 4's loss) or `step-inside-hole` (β → ∞).
    #[arg(long, value_parser = |s: &str| a2x::engine::from_name::<HoleConstraint>(s).map_err(|e| e.to_string()))]
    pub hole_constraint: Option<HoleConstraint>,
    /// Inpainting, A2X's D̄: `class` (the default: whole images of the class's Gaussian) or
    /// `context` (the seed outside the hole, the Gaussian conditioned on what it shows inside).
    #[arg(long, value_parser = |s: &str| a2x::engine::from_name::<InpaintSamples>(s).map_err(|e| e.to_string()))]
    pub inpaint_samples: Option<InpaintSamples>,
    /// Inpainting, both methods: the penalty on p outside the hole, `mean-square` (the default:
    /// Santurkar et al.'s notebook, β · mean of the squares) or `norm` (Eq. 4's β‖·‖₂).
    #[arg(long, value_parser = |s: &str| a2x::engine::from_name::<PenaltyForm>(s).map_err(|e| e.to_string()))]
    pub hole_penalty: Option<PenaltyForm>,
    /// Inpainting, both methods: what fills the seed's hole, `class-mean` (the default: the
    /// target's Gaussian given the blocks around the hole) or `mean-colour` (of the rest of the image).
    #[arg(long, value_parser = |s: &str| a2x::engine::from_name::<InpaintSeed>(s).map_err(|e| e.to_string()))]
    pub inpaint_seed: Option<InpaintSeed>,
    /// Any other A2X setting, as a field of `RunConfig` = a JSON value or a name, repeatable:
    /// `--set smoothing=1.0 --set fusion=balanced`.
    #[arg(long = "set", value_name = "FIELD=VALUE")]
    pub overrides: Vec<String>,
}

fn parse_class(name: &str) -> Result<usize, String> {
    name.parse::<usize>()
        .ok()
        .filter(|&i| i < 10)
        .or_else(|| LABELS.iter().position(|l| l.eq_ignore_ascii_case(name)))
        .ok_or_else(|| format!("`{name}` is not a CIFAR-10 class ({})", LABELS.join(", ")))
}

/// The robust model, the standard one (judge) and the Gaussians, each checked against the manifest.
struct Zoo {
    robust: CifarResNet,
    standard: CifarResNet,
    gaussians: Vec<ClassGaussian>,
}

fn open_zoo(device: &Device) -> Result<Zoo, String> {
    let dir = crate::common::default_models_dir();
    let manifest = crate::common::read_manifest(&dir)?;
    let load = |id: &str| -> Result<CifarResNet, String> {
        let entry = manifest.trained(id).ok_or(format!("models/manifest.json lists no model `{id}`"))?;
        let bytes = std::fs::read(dir.join(&entry.file)).map_err(|e| format!("{}: {e}", entry.file))?;
        resnet::load(&bytes, Some(&entry.sha256), device).map_err(|e| format!("{}: {e}", entry.file))
    };
    let entry = manifest.trained("cifar-robust").ok_or("models/manifest.json lists no cifar-robust")?;
    let file = entry.gaussians.as_ref().ok_or("the manifest names no Gaussians for cifar-robust")?;
    let bytes = std::fs::read(dir.join(&file.file)).map_err(|e| format!("{}: {e}", file.file))?;
    Ok(Zoo { robust: load("cifar-robust")?, standard: load("cifar-standard")?, gaussians: a2x::models::gaussians::read_file(&bytes, Some(&file.sha256))? })
}

fn settings_for(task: Task, args: &SettingsArgs, rng: u64, target: usize) -> Result<TaskSettings, String> {
    let mut object = overrides_of(args)?;
    object.insert("target".into(), target.into());
    object.insert("rng_seed".into(), rng.into());
    task.defaults().with_overrides(&serde_json::Value::Object(object))
}

/// The flags' changes to a task's defaults, by name ([`TaskSettings::with_overrides`]).
pub fn overrides_of(args: &SettingsArgs) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    let mut object = serde_json::Map::new();
    let mut set = |name: &str, value: serde_json::Value| object.insert(name.into(), value);
    if let Some(n) = args.iterations {
        set("iterations", n.into());
    }
    if let Some(budget) = args.budget {
        set("budget", budget.into());
    }
    if let Some(step) = args.step {
        set("step", step.into());
    }
    for (name, value) in [
        ("sign_check", json(&args.sign_check)),
        ("hole_constraint", json(&args.hole_constraint)),
        ("inpaint_samples", json(&args.inpaint_samples)),
        ("hole_penalty", json(&args.hole_penalty)),
        ("inpaint_seed", json(&args.inpaint_seed)),
    ] {
        if let Some(value) = value {
            set(name, value);
        }
    }
    object.extend(parse_set(&args.overrides)?);
    Ok(object)
}

/// Whether the task runs on an ImageNet model (issue #33) rather than the CIFAR-10 pair.
fn on_imagenet(args: &TaskArgs) -> Result<bool, String> {
    match args.model.as_str() {
        "cifar-robust" => Ok(false),
        id if a2x::models::IMAGENET_IDS.contains(&id) => Ok(true),
        other => Err(format!("--model {other}: `cifar-robust` or an ImageNet model ({})", a2x::models::IMAGENET_IDS.join(", "))),
    }
}

fn json<T: serde::Serialize>(value: &Option<T>) -> Option<serde_json::Value> {
    value.as_ref().map(|v| serde_json::to_value(v).expect("a setting serializes"))
}

/// `--set FIELD=VALUE` items as settings by name: VALUE is read as JSON (`1.5`, `null`, `true`),
/// else as a string (`balanced`); [`TaskSettings::with_overrides`] then refuses an unknown field
/// or a value of the wrong kind.
fn parse_set(items: &[String]) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    items
        .iter()
        .map(|item| {
            let (field, raw) = item.split_once('=').ok_or_else(|| format!("--set {item}: expected FIELD=VALUE"))?;
            Ok((field.to_string(), a2x::engine::setting_value(raw)))
        })
        .collect()
}

fn tensor(values: Vec<f32>, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, [1, 3, 32, 32]), device)
}

fn values(image: Tensor<4>) -> Result<Vec<f32>, String> {
    pollster::block_on(a2x::engine::read_values(image)).map_err(|e| e.to_string())
}

/// Writes a CHW 32×32 image as a PNG enlarged 8× with nearest-neighbour scaling.
fn save_png(path: &Path, image: &[f32]) -> Result<(), String> {
    std::fs::write(path, a2x::imaging::enlarged_png(image, 32, 8)?).map_err(|e| format!("{}: {e}", path.display()))
}

/// What one task produced: the seed as both methods start from it, A2X's picture (unless only
/// the baseline ran) and PGD's, each with the judges' verdicts.
struct Ran {
    seed: (Vec<f32>, Verdicts),
    a2x: Option<(Vec<f32>, Verdicts)>,
    pgd: (Vec<f32>, Verdicts),
    iterations: usize,
}

fn models_of(zoo: &Zoo) -> TaskModels<'_, CifarResNet> {
    TaskModels { robust: &zoo.robust, standard: &zoo.standard, gaussians: &zoo.gaussians }
}

/// One task through the session (the page's path): A2X beside PGD, both judged; with
/// `baseline_only` PGD alone (the request must then carry its seed, hole already filled).
/// `on_step` sees each of A2X's iterations and its picture.
fn run_one(zoo: &Zoo, request: TaskRequest, device: &Device, baseline_only: bool, mut on_step: impl FnMut(&a2x::engine::Event, &[f32])) -> Result<Ran, String> {
    let models = models_of(zoo);
    let target = request.settings.run.target;
    if baseline_only {
        let seed = request.seed.clone().ok_or("the baseline alone needs its seed")?;
        let pgd = values(tasks::run_pgd(&zoo.robust, tensor(seed.clone(), device), &request.settings, request.hole.as_deref()).map_err(|e| e.to_string())?.image)?;
        let judge = |image: &[f32]| pollster::block_on(session::judge(&models, image, target, device));
        return Ok(Ran { seed: (seed.clone(), judge(&seed)?), pgd: (pgd.clone(), judge(&pgd)?), a2x: None, iterations: 0 });
    }
    let mut session = Session::task(request, models, device);
    let mut seed = None;
    while let Some(event) = pollster::block_on(session.next()) {
        match event {
            RunEvent::Started { seed: values, verdicts } => seed = Some((values, verdicts.ok_or("the seed was not judged")?)),
            RunEvent::TaskStep { a2x: Some((event, image)), .. } => on_step(&event, &image),
            RunEvent::Finished(Outcome::Task { a2x_image, pgd_image, a2x, pgd }) => {
                let seed = seed.ok_or("the run finished before it started")?;
                return Ok(Ran { seed, a2x: Some((a2x_image, a2x)), pgd: (pgd_image, pgd), iterations: session.iterations() });
            }
            RunEvent::Failed { message } => return Err(message),
            _ => {}
        }
    }
    Err("the run ended without a result".into())
}

fn run_task(task: Task, args: TaskArgs, seed: Option<Vec<f32>>, hole: Option<Vec<f32>>, true_image: Option<Vec<f32>>) -> Result<(), String> {
    let target = parse_class(args.target.as_deref().ok_or("--target is required")?)?;
    let settings = settings_for(task, &args.settings, args.rng, target)?;
    let stem = format!("{}-{}-{}", a2x::engine::name_of(task), LABELS[target], args.rng);
    run_request(TaskRequest { task, settings, seed, hole, model: None, photos: Vec::new() }, args.backend, &args.out, &stem, true_image).map(|_| ())
}

/// One task request exactly (the task commands, and `a2x replay` of a share link): A2X and PGD
/// from the request's seed, both judged by both models; writes `{stem}-{seed,a2x,pgd}.png` (8×
/// nearest) and `{stem}.json` into `out` and returns the report. With `true_image`, inpainting's
/// error inside the hole too.
pub fn run_request(request: TaskRequest, backend: BackendKind, out: &Path, stem: &str, true_image: Option<Vec<f32>>) -> Result<serde_json::Value, String> {
    let device = crate::common::open_device(backend)?;
    let zoo = open_zoo(&device)?;
    let (task, settings, hole) = (request.task, request.settings.clone(), request.hole.clone());
    let target = settings.run.target;
    let started = Instant::now();
    let ran = run_one(&zoo, request, &device, false, |e, _| {
        if e.iteration % 10 == 0 || e.iteration == 1 {
            eprintln!("{task:?} A2X iteration {}: ℘ {:.3} (seed {:.3}), ‖p‖ {:.2}{}", e.iteration, e.target_probability, e.seed_probability, e.perturbation_norm, if e.refined { ", refined" } else { "" });
        }
    })?;
    eprintln!("A2X and PGD, stepped in turn: {:.1} s", started.elapsed().as_secs_f64());
    std::fs::create_dir_all(out).map_err(|e| e.to_string())?;
    let mut report = serde_json::json!({ "task": task, "target": LABELS[target], "settings": settings, "iterations": ran.iterations });
    let a2x = ran.a2x.expect("A2X ran");
    for (name, (image, verdicts)) in [("seed", &ran.seed), ("a2x", &a2x), ("pgd", &ran.pgd)] {
        let path = out.join(format!("{stem}-{name}.png"));
        save_png(&path, image)?;
        let (robust, standard) = (&verdicts.robust, &verdicts.standard);
        println!(
            "{name:>4}: robust model says {} (target {:.3}), standard model says {} (target {:.3}) → {}",
            robust.top1_name, robust.target_probability, standard.top1_name, standard.target_probability, path.display()
        );
        report[name] = serde_json::json!({ "png": path, "robust_top1": robust.top1_name, "robust_target_probability": robust.target_probability,
            "standard_top1": standard.top1_name, "standard_target_probability": standard.target_probability });
        if let (Some(truth), Some(hole)) = (&true_image, &hole) {
            report[name]["hole_mse"] = serde_json::json!(hole_mse(image, truth, hole));
            println!("      mean squared error inside the hole: {:.5}", hole_mse(image, truth, hole));
        }
    }
    let path = out.join(format!("{stem}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&report).expect("serializes")).map_err(|e| e.to_string())?;
    Ok(report)
}

pub use a2x::measure::hole_mse;

/// How an inpainted `image` changed the `seed`: ‖p‖ inside and outside the hole, and the cosine
/// between p and the true change (truth − seed) inside it. The in-hole error falls iff
/// cos > ‖p_in‖ / (2 ‖truth − seed‖_in).
fn hole_change(image: &[f32], seed: &[f32], truth: &[f32], hole: &[f32]) -> String {
    let pixels = hole.len();
    let (mut inside, mut outside, mut dot, mut residual) = (0f64, 0f64, 0f64, 0f64);
    for c in 0..3 {
        for i in 0..pixels {
            let p = (image[c * pixels + i] - seed[c * pixels + i]) as f64;
            if hole[i] >= 0.5 {
                let r = (truth[c * pixels + i] - seed[c * pixels + i]) as f64;
                inside += p * p;
                dot += p * r;
                residual += r * r;
            } else {
                outside += p * p;
            }
        }
    }
    let cosine = dot / (inside.sqrt() * residual.sqrt()).max(1e-12);
    format!("‖p‖ in the hole {:.3}, outside {:.3}; cos(p, truth − seed) in the hole {cosine:.3}; ‖truth − seed‖ in the hole {:.3}", inside.sqrt(), outside.sqrt(), residual.sqrt())
}

/// `--trace`: one inpainting run more, printing A2X's ‖p‖, ℘ and in-hole error every 4th
/// iteration (and the last).
fn trace_inpainting(zoo: &Zoo, settings: &TaskSettings, seed: &[f32], truth: &[f32], hole: &[f32], device: &Device, index: usize) -> Result<(), String> {
    let mut line = format!("trace {index} ({}): iteration ‖p‖ ℘ error |", LABELS[settings.run.target]);
    let last = settings.run.iterations;
    let request = TaskRequest { task: Task::Inpaint, settings: settings.clone(), seed: Some(seed.to_vec()), hole: Some(hole.to_vec()), model: None, photos: Vec::new() };
    let ran = run_one(zoo, request, device, false, |event, image| {
        if event.iteration % 4 == 0 || event.iteration == 1 || event.iteration == last {
            line += &format!(" {} {:.2} {:.3} {:.5} |", event.iteration, event.perturbation_norm, event.target_probability, hole_mse(image, truth, hole));
        }
    })?;
    eprintln!("{line} (stopped after {})", ran.iterations);
    Ok(())
}

/// Reads an image file as a 32×32 CHW seed: a square whose side is a multiple of 32 (the page's
/// 256×256 sketch canvas) is averaged over blocks as the page does; any other size is scaled with
/// Catmull–Rom.
fn read_image(path: &Path) -> Result<Vec<f32>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let image = a2x::imaging::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?.to_rgb8();
    let (w, h) = image.dimensions();
    let image = if w == h && w % 32 == 0 {
        a2x::drawing::box_downscale(&image, w / 32)
    } else {
        image::imageops::resize(&image, 32, 32, image::imageops::FilterType::CatmullRom)
    };
    Ok(a2x::imaging::to_chw(&image))
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// ImageNet models: the seed, `grey` (the default), `noise` (uniform, the same every run) or a picture
    /// file. The CIFAR-10 task starts from a sample of the class's Gaussian.
    #[arg(long)]
    pub start: Option<String>,
}

pub fn generate(args: GenerateArgs) -> Result<(), String> {
    if on_imagenet(&args.task)? {
        let start = crate::photo_tasks::Start::parse(args.start.as_deref().unwrap_or("grey"));
        return crate::photo_tasks::run(Task::Generate, &args.task, crate::photo_tasks::SeedSource::Start(start), None);
    }
    if args.start.is_some() {
        return Err("--start is for the ImageNet models: the CIFAR-10 task starts from the class's Gaussian".into());
    }
    run_task(Task::Generate, args.task, None, None, None)
}

#[derive(Args, Debug)]
pub struct SketchArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// The sketch (any image; scaled to 32×32).
    #[arg(long)]
    pub sketch: PathBuf,
}

pub fn sketch(args: SketchArgs) -> Result<(), String> {
    if on_imagenet(&args.task)? {
        return crate::photo_tasks::run(Task::Sketch, &args.task, crate::photo_tasks::SeedSource::Picture(args.sketch.clone()), None);
    }
    let seed = read_image(&args.sketch)?;
    run_task(Task::Sketch, args.task, Some(seed), None, None)
}

#[derive(Args, Debug)]
pub struct InpaintArgs {
    #[command(flatten)]
    pub task: TaskArgs,
    /// The image (scaled to 32×32); without it, test image --test-index of CIFAR-10.
    #[arg(long)]
    pub image: Option<PathBuf>,
    #[arg(long, default_value_t = 0)]
    pub test_index: usize,
    /// The hole: top,left,height,width (default: the central 10×10 on CIFAR-10, the central
    /// 64×64 on an ImageNet model).
    #[arg(long)]
    pub hole: Option<String>,
    /// ImageNet models: the hole as a picture (white = hole), scaled to the model's size.
    #[arg(long)]
    pub mask: Option<PathBuf>,
}

fn parse_hole(text: &str) -> Result<Vec<f32>, String> {
    let parts: Vec<usize> = text.split(',').map(|p| p.trim().parse::<usize>()).collect::<Result<_, _>>().map_err(|_| format!("--hole {text}: expected top,left,height,width"))?;
    match parts[..] {
        [top, left, height, width] if height > 0 && width > 0 && top + height <= 32 && left + width <= 32 => Ok(tasks::hole_mask(32, top, left, height, width)),
        _ => Err(format!("--hole {text}: four numbers, a rectangle inside 32×32")),
    }
}

pub fn inpaint(mut args: InpaintArgs) -> Result<(), String> {
    if on_imagenet(&args.task)? {
        let image = args.image.clone().ok_or("--image is required on an ImageNet model")?;
        let size = a2x::models::imagenet_input_size(&args.task.model).ok_or("an ImageNet model without a size")?;
        let hole = crate::photo_tasks::read_mask(args.hole.as_deref(), args.mask.as_deref(), size)?;
        return crate::photo_tasks::run(Task::Inpaint, &args.task, crate::photo_tasks::SeedSource::Picture(image), Some(hole));
    }
    if args.mask.is_some() {
        return Err("--mask is for the ImageNet models; on CIFAR-10 give --hole".into());
    }
    let hole = parse_hole(args.hole.as_deref().unwrap_or("11,11,10,10"))?;
    let (truth, label) = match &args.image {
        Some(path) => (read_image(path)?, None),
        None => {
            let test = Dataset::load(&crate::cifar::default_data_dir(), Split::Test)?;
            if args.test_index >= test.len() {
                return Err(format!("--test-index {} is beyond the {} test images", args.test_index, test.len()));
            }
            let (values, labels) = test.batch(&[args.test_index], None);
            (values, Some(labels[0]))
        }
    };
    if args.task.target.is_none() {
        args.task.target = label.map(|l| l.to_string());
    }
    let seed = tasks::fill_hole_with_mean(&truth, &hole, 32);
    println!("mean-colour fill: mean squared error inside the hole {:.5}", hole_mse(&seed, &truth, &hole));
    run_task(Task::Inpaint, args.task, Some(seed), Some(hole), Some(truth))
}

#[derive(Args, Debug)]
pub struct EvalTasksArgs {
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// Generation: seeds (Gaussian samples, RNG seeds 0..N) per class.
    #[arg(long, default_value_t = 10)]
    pub seeds: usize,
    /// Inpainting: N test images spread over the classes (central 10×10 hole); 0 skips inpainting.
    #[arg(long, default_value_t = 100)]
    pub inpaint_images: usize,
    /// Inpainting: take the images from the training split instead (to choose settings on images
    /// the reported numbers are not measured on).
    #[arg(long)]
    pub inpaint_train: bool,
    /// Inpainting: print A2X's ‖p‖, ℘ and in-hole error every 4 iterations (an extra A2X run per image).
    #[arg(long)]
    pub trace: bool,
    /// Inpainting: only part I of N (`I/N`: the images k with k mod N = I), so that N processes
    /// can share the images; each prints one line per image ("image …") to merge.
    #[arg(long, default_value = "0/1", value_parser = parse_part)]
    pub inpaint_part: (usize, usize),
    /// Inpainting: skip the images k < K (to finish a run that was cut, with the same seeds).
    #[arg(long, default_value_t = 0)]
    pub inpaint_from: usize,
    /// Run only the PGD baseline (a quick way to compare schedules; A2X's column shows —).
    #[arg(long)]
    pub baseline_only: bool,
    #[command(flatten)]
    pub settings: SettingsArgs,
}

fn parse_part(text: &str) -> Result<(usize, usize), String> {
    let parsed = text.split_once('/').and_then(|(i, n)| Some((i.trim().parse::<usize>().ok()?, n.trim().parse::<usize>().ok()?)));
    match parsed {
        Some((part, parts)) if part < parts => Ok((part, parts)),
        _ => Err(format!("{text}: expected I/N with I < N, e.g. 0/4")),
    }
}

/// Issue #6's evaluation: per class and overall, how often the standard model classifies A2X's
/// and PGD's generated images as the target (equal budget), and the in-hole MSE of inpainting
/// against the true image beside filling the hole with the mean colour and beside the seed
/// both methods start from.
pub fn eval_tasks(args: EvalTasksArgs) -> Result<(), String> {
    let device = crate::common::open_device(args.backend)?;
    let zoo = open_zoo(&device)?;
    let started = Instant::now();
    if args.seeds > 0 {
        println!("Generation: share of images the standard model classifies as the target ({} seeds per class)\n", args.seeds);
        println!("| class | A2X | PGD |\n|---|---|---|");
        let (mut a2x_total, mut pgd_total, mut a2x_iterations) = (0usize, 0usize, 0usize);
        for target in 0..10 {
            let (mut a2x_hits, mut pgd_hits) = (0usize, 0usize);
            for seed in 0..args.seeds as u64 {
                let settings = settings_for(Task::Generate, &args.settings, seed, target)?;
                // The seed as the session draws it (a sample of the target's Gaussian, RNG seed
                // `seed`), given so that the baseline alone starts from it too.
                let seed_image = zoo.gaussians[target].sample(1, &mut Rng::new(seed));
                let request = TaskRequest { task: Task::Generate, settings, seed: Some(seed_image), hole: None, model: None, photos: Vec::new() };
                let ran = run_one(&zoo, request, &device, args.baseline_only, |_, _| {})?;
                a2x_iterations += ran.iterations;
                if let Some((_, verdicts)) = &ran.a2x {
                    a2x_hits += usize::from(verdicts.standard.top1 == target);
                }
                pgd_hits += usize::from(ran.pgd.1.standard.top1 == target);
            }
            let a2x_cell = if args.baseline_only { "—".to_string() } else { format!("{a2x_hits}/{}", args.seeds) };
            println!("| {} | {a2x_cell} | {}/{} |", LABELS[target], pgd_hits, args.seeds);
            a2x_total += a2x_hits;
            pgd_total += pgd_hits;
        }
        let n = 10 * args.seeds;
        let share = |hits: usize| format!("{:.1} %", 100.0 * hits as f64 / n.max(1) as f64);
        println!("| all | {} | {} |\n", if args.baseline_only { "—".to_string() } else { share(a2x_total) }, share(pgd_total));
        eprintln!("generation: {:.0} s; A2X took {:.1} iterations on average", started.elapsed().as_secs_f64(), a2x_iterations as f64 / n.max(1) as f64);
    }
    if args.inpaint_images > 0 {
        let split = if args.inpaint_train { Split::Train } else { Split::Test };
        let images = Dataset::load(&crate::cifar::default_data_dir(), split)?;
        let hole = {
            let (top, left, height, width) = a2x::bundled::HOLE;
            tasks::hole_mask(32, top, left, height, width)
        };
        let (mut mean_fill, mut seed_fill, mut a2x_mse, mut pgd_mse) = (0f64, 0f64, 0f64, 0f64);
        let count = args.inpaint_images.min(images.len());
        // Spread over the classes: the test set is sorted by class (the training set is not).
        let stride = images.len() / count;
        let (part, parts) = args.inpaint_part;
        let mine: Vec<usize> = (args.inpaint_from..count).filter(|k| k % parts == part).collect();
        for (done, &k) in mine.iter().enumerate() {
            let (truth, labels) = images.batch(&[k * stride], None);
            let mean_colour = tasks::fill_hole_with_mean(&truth, &hole, 32);
            let settings = settings_for(Task::Inpaint, &args.settings, k as u64, labels[0])?;
            let seed = tasks::inpaint_seed(&truth, &hole, settings.inpaint_seed, Some(&zoo.gaussians[labels[0]]))?;
            if args.trace && !args.baseline_only {
                trace_inpainting(&zoo, &settings, &seed, &truth, &hole, &device, k)?;
            }
            let request = TaskRequest { task: Task::Inpaint, settings, seed: Some(seed.clone()), hole: Some(hole.clone()), model: None, photos: Vec::new() };
            let ran = run_one(&zoo, request, &device, args.baseline_only, |_, _| {})?;
            let (a2x_image, pgd_image, a2x_iterations) = (ran.a2x.map(|(image, _)| image), ran.pgd.0, ran.iterations);
            if let Some(image) = &a2x_image {
                eprintln!("  A2X ({a2x_iterations} iterations) {}", hole_change(image, &seed, &truth, &hole));
            }
            eprintln!("  PGD {}", hole_change(&pgd_image, &seed, &truth, &hole));
            let errors = [hole_mse(&mean_colour, &truth, &hole), hole_mse(&seed, &truth, &hole), a2x_image.map_or(f64::NAN, |image| hole_mse(&image, &truth, &hole)), hole_mse(&pgd_image, &truth, &hole)];
            // One line per image, for merging runs over parts of the images (`--inpaint-part`).
            eprintln!("image {} class {}: mean colour {:.6}, seed {:.6}, A2X {:.6}, PGD {:.6}", k * stride, labels[0], errors[0], errors[1], errors[2], errors[3]);
            mean_fill += errors[0];
            seed_fill += errors[1];
            a2x_mse += errors[2];
            pgd_mse += errors[3];
            let n = (done + 1) as f64;
            eprintln!(
                "inpainting {}/{}: running means — mean colour {:.5}, seed {:.5}, A2X {:.5}, PGD {:.5} ({:.0} s)",
                done + 1,
                mine.len(),
                mean_fill / n,
                seed_fill / n,
                a2x_mse / n,
                pgd_mse / n,
                started.elapsed().as_secs_f64()
            );
        }
        let c = mine.len().max(1) as f64;
        let count = mine.len();
        println!("Inpainting: mean squared error inside a central 10×10 hole, {count} {} images (pixels in [0, 1])\n", if args.inpaint_train { "training" } else { "test" });
        let a2x_cell = if args.baseline_only { "—".to_string() } else { format!("{:.5}", a2x_mse / c) };
        let seed_name = a2x::engine::name_of(args.settings.inpaint_seed.unwrap_or(Task::Inpaint.defaults().inpaint_seed));
        println!("| mean colour | seed ({seed_name}) | A2X | PGD |\n|---|---|---|---|\n| {:.5} | {:.5} | {a2x_cell} | {:.5} |", mean_fill / c, seed_fill / c, pgd_mse / c);
        eprintln!("all: {:.0} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_set_go_through_the_one_override_path() {
        let args = |overrides: &[&str], budget: Option<f32>| SettingsArgs {
            iterations: Some(9),
            budget,
            step: None,
            sign_check: Some(SignCheck::Batch),
            hole_constraint: None,
            inpaint_samples: None,
            hole_penalty: None,
            inpaint_seed: Some(InpaintSeed::MeanColour),
            overrides: overrides.iter().map(|s| s.to_string()).collect(),
        };
        let defaults = Task::Sketch.defaults();
        let set = |items: &[&str], budget| settings_for(Task::Sketch, &args(items, budget), 4, 7);
        let changed = set(&["smoothing=1.5", "fusion=balanced", "batch=8"], Some(8.0)).unwrap();
        assert_eq!((changed.run.target, changed.run.rng_seed), (7, 4));
        assert_eq!((changed.run.iterations, changed.baseline.steps), (9, 9));
        assert_eq!((changed.run.eta, changed.baseline.epsilon), (8.0, 8.0));
        assert_eq!(changed.run.step_size, Some(defaults.baseline.step_size / 8.0), "the step's length is kept");
        assert_eq!((changed.run.sign_check, changed.inpaint_seed), (SignCheck::Batch, InpaintSeed::MeanColour));
        assert_eq!(changed.run.smoothing, Some(1.5));
        assert_eq!(changed.run.fusion, a2x::engine::Fusion::Balanced);
        assert_eq!(changed.run.batch, 8);
        assert_eq!(changed.run.gamma, defaults.run.gamma, "other fields kept");
        assert_eq!(set(&["smoothing=null"], None).unwrap().run.smoothing, None);
        assert_eq!(set(&["hole_weight=2"], None).unwrap().hole_weight, 2.0, "the task's own settings by name too");
        assert!(set(&["no_such_field=1"], None).unwrap_err().contains("unknown engine setting `no_such_field`"));
        // Settings left out of the JSON at their default can be set too.
        assert_eq!(set(&["transforms=[{\"kind\":\"jitter\",\"pixels\":2}]"], None).unwrap().run.transforms.len(), 1);
        assert!(set(&["batch=many"], None).is_err());
        assert!(set(&["batch"], None).unwrap_err().contains("FIELD=VALUE"));
    }
}
