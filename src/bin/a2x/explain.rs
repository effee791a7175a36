//! `a2x explain` and `a2x bench`: the engine from the command line.

use crate::common::open_device;
use crate::images;
use a2x::clock::now_ms;
use a2x::device::BackendKind;
use a2x::engine::sampling::Rng;
use a2x::engine::schedule::Run;
use a2x::engine::{Classifier, Fusion, Preset, RefineInput, RefineStart, Region, RunConfig, SignCheck, SignProbe};
use a2x::models::tiny::TinyCnn;
use a2x::session::{ExplainRequest, Outcome, Photo, RunEvent, Session};
use burn::tensor::Device;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Parses a setting by the engine's own name ([`a2x::engine::from_name`]).
fn engine_name<T: serde::de::DeserializeOwned>(s: &str) -> Result<T, String> {
    a2x::engine::from_name(s).map_err(|e| e.to_string())
}

/// The engine settings shared by `explain` and `bench`: a preset, then any setting given.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Classifier: `lite0`, `lite1`, `lite2`, `squeezenet` (models/manifest.json), a model file's path, or
    /// `tiny` (a small random CNN for exercising the engine, `--size` px, 10 classes).
    #[arg(long, default_value = "tiny")]
    pub model: String,
    /// Input size in pixels, for models that accept any: `tiny` (32 when not given) and `.onnx`
    /// files whose height and width are symbolic.
    #[arg(long)]
    pub size: Option<usize>,
    /// What an `.onnx` model's input expects (ignored for the zoo's models).
    #[command(flatten)]
    pub onnx: crate::common::OnnxArgs,
    /// `ndarray` or `flex` (CPU), or `wgpu` (Vulkan).
    #[arg(long, default_value = "ndarray")]
    pub backend: BackendKind,
    /// Where every setting below starts: `a2x` (the defaults chosen by `a2x study`, see the
    /// README's "Does it work?"), `paper` (the paper's settings, its pseudo-code as written) or
    /// `a2x-v1` (a2x's first defaults, of issue #8) or `preview` (the defaults at b 8 and 20
    /// iterations: the page's quick look).
    #[arg(long, default_value = "a2x", value_parser = engine_name::<Preset>)]
    pub preset: Preset,
    /// η: bound on ‖p‖₂, images in [0, 1].
    #[arg(long)]
    pub eta: Option<f32>,
    /// γ: target probability at which estimation first refines.
    #[arg(long)]
    pub gamma: Option<f32>,
    /// b: mini-batch size including the seed.
    #[arg(long)]
    pub batch: Option<usize>,
    /// Iterations in all.
    #[arg(long)]
    pub iters: Option<usize>,
    /// Refine every this many iterations (0: never).
    #[arg(long)]
    pub refine_every: Option<usize>,
    /// λ of Algorithm 2.
    #[arg(long)]
    pub lambda: Option<f32>,
    /// Seed of every random draw.
    #[arg(long)]
    pub rng: Option<u64>,
    /// Images per forward/backward pass (memory; does not change the result).
    #[arg(long)]
    pub chunk: Option<usize>,
    /// Where the ± check evaluates (O2): `all-samples` (all of D̄, as written) or `batch` (the
    /// iteration's mini-batch).
    #[arg(long, value_parser = engine_name::<SignCheck>)]
    pub sign_check: Option<SignCheck>,
    /// What the ± check adds to p: `unit-max` (±ρ/‖ρ‖∞, as written) or `step` (± the step taken).
    #[arg(long, value_parser = engine_name::<SignProbe>)]
    pub sign_probe: Option<SignProbe>,
    /// When refinement starts (O9): `after-gamma` (as written) or `every-interval`.
    #[arg(long, value_parser = engine_name::<RefineStart>)]
    pub refine_start: Option<RefineStart>,
    /// What Algorithm 2's convolutional base sees of p (O6): `mid-grey` (p + ½) or `visualized`
    /// (½ + p / (2 max|p|)).
    #[arg(long, value_parser = engine_name::<RefineInput>)]
    pub refine_input: Option<RefineInput>,
    /// Step size (O10): each iteration moves p by s·η along ρ; 0: none, ρ as written, rescaled
    /// by the projection.
    #[arg(long)]
    pub step_size: Option<f32>,
    /// Line 6's ξ: `as-written` (mean of the samples' gradient lengths) or `balanced` (length of
    /// their mean gradient).
    #[arg(long, value_parser = engine_name::<Fusion>)]
    pub fusion: Option<Fusion>,
    /// σ in pixels of the Gaussian that smooths the fused gradient (Dong et al. 2019); 0: none.
    #[arg(long)]
    pub smoothing: Option<f32>,
    /// Random geometric transforms of p per image (issue #21): `none`, `lucent` (jitter 8,
    /// scale 0.9–1.1, rotate ±10°, jitter 4) or a JSON list as in a study grid.
    #[arg(long, value_parser = parse_transforms)]
    pub transforms: Option<Vec<a2x::engine::transforms::Transform>>,
    /// The basis the moments move p in (issue #21): `pixels` (as written), `fourier` (a 1/f
    /// spectrum in decorrelated colour, Lucent's), `natural` (the bundled photos' spectrum, in
    /// decorrelated colour) or a JSON object as in a study grid.
    #[arg(long, value_parser = parse_param)]
    pub param: Option<a2x::engine::param::Parameterisation>,
}

fn parse_transforms(s: &str) -> Result<Vec<a2x::engine::transforms::Transform>, String> {
    let transforms = match a2x::engine::transforms::Transform::named(s) {
        Some(named) => named,
        None => serde_json::from_str(s).map_err(|e| format!("`{s}`: {e}"))?,
    };
    a2x::engine::transforms::check(&transforms)?;
    Ok(transforms)
}

fn parse_param(s: &str) -> Result<a2x::engine::param::Parameterisation, String> {
    let param = match a2x::engine::param::Parameterisation::named(s) {
        Some(named) => named,
        None => serde_json::from_str(s).map_err(|e| format!("`{s}`: {e}"))?,
    };
    param.check()?;
    Ok(param)
}

impl EngineArgs {
    /// The preset with every setting given on the command line applied over it
    /// ([`RunConfig::with_overrides`], the one override path; a step size or σ of 0 is none).
    pub fn config(&self, target: usize, region: Option<Region>) -> Result<RunConfig, String> {
        fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
            serde_json::to_value(value).expect("a setting serializes")
        }
        let none_at_zero = |value: Option<f32>| value.map(|v| if v > 0.0 { json(&v) } else { serde_json::Value::Null });
        let given = [
            ("eta", self.eta.map(|v| json(&v))),
            ("gamma", self.gamma.map(|v| json(&v))),
            ("batch", self.batch.map(|v| json(&v))),
            ("iterations", self.iters.map(|v| json(&v))),
            ("refine_every", self.refine_every.map(|v| json(&v))),
            ("lambda", self.lambda.map(|v| json(&v))),
            ("rng_seed", self.rng.map(|v| json(&v))),
            ("chunk", self.chunk.map(|v| json(&v))),
            ("sign_check", self.sign_check.map(|v| json(&v))),
            ("sign_probe", self.sign_probe.map(|v| json(&v))),
            ("refine_start", self.refine_start.map(|v| json(&v))),
            ("refine_input", self.refine_input.map(|v| json(&v))),
            ("step_size", none_at_zero(self.step_size)),
            ("fusion", self.fusion.map(|v| json(&v))),
            ("smoothing", none_at_zero(self.smoothing)),
            ("transforms", self.transforms.as_ref().map(json)),
            ("param", self.param.as_ref().map(json)),
            ("target", Some(json(&target))),
            ("region", Some(json(&region))),
        ];
        let overrides: serde_json::Map<String, serde_json::Value> = given.into_iter().filter_map(|(name, value)| Some((name.to_string(), value?))).collect();
        self.preset.config().with_overrides(&serde_json::Value::Object(overrides))
    }
}

pub fn open_model(args: &EngineArgs, device: &Device) -> Result<Box<dyn Classifier>, String> {
    match args.model.as_str() {
        "tiny" => match args.size.unwrap_or(32) {
            size if size >= 8 => Ok(Box::new(TinyCnn::random(size, 10, 0, device))),
            size => Err(format!("--size {size} is too small (at least 8)")),
        },
        other => {
            let zoo_args = crate::common::ModelArgs {
                onnx: args.onnx.clone(),
                size: args.size,
                ..crate::common::ModelArgs::of(other, crate::common::default_models_dir(), args.backend)
            };
            let (model, label) = crate::common::load_model(&zoo_args, device)?;
            eprintln!("model: {label}");
            Ok(Box::new(model))
        }
    }
}

#[derive(Args, Debug)]
pub struct ExplainArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// ℓ_target: the class index to explain.
    #[arg(long)]
    pub target: usize,
    /// The seed image d.
    #[arg(long)]
    pub seed: PathBuf,
    /// A folder of sample images D̄ (JPEG/PNG).
    #[arg(long)]
    pub samples: PathBuf,
    /// |D̄|: how many of the folder's images to use, drawn with the RNG seed (all if fewer).
    #[arg(long, default_value_t = 256)]
    pub num_samples: usize,
    /// Region-specific semantics: `TOP,LEFT` (the paper's 64×64 region) or
    /// `TOP,LEFT,HEIGHT,WIDTH`, in input pixels.
    #[arg(long, value_parser = parse_region)]
    pub region: Option<Region>,
    /// The visualised perturbation (mid-grey centred, contrast set by the 99.5% quantile of |p|).
    #[arg(long, default_value = "p.png")]
    pub out: PathBuf,
    /// The perturbed seed Clip(d + p).
    #[arg(long, default_value = "seed_p.png")]
    pub out_seed: PathBuf,
    /// One JSON line per iteration.
    #[arg(long)]
    pub log: Option<PathBuf>,
}

/// The paper's region size for region-specific semantics (section 5.1).
const DEFAULT_REGION: usize = 64;

fn parse_region(s: &str) -> Result<Region, String> {
    let v: Vec<usize> = s
        .split(',')
        .map(|x| x.trim().parse::<usize>().map_err(|e| format!("`{x}`: {e}")))
        .collect::<Result<_, _>>()?;
    match v[..] {
        [top, left] => Ok(Region { top, left, height: DEFAULT_REGION, width: DEFAULT_REGION }),
        [top, left, height, width] => Ok(Region { top, left, height, width }),
        _ => Err("expected TOP,LEFT (a 64×64 region) or TOP,LEFT,HEIGHT,WIDTH".into()),
    }
}

pub fn explain(args: ExplainArgs) -> Result<(), String> {
    let device = open_device(args.engine.backend)?;
    let model = open_model(&args.engine, &device)?;
    let [c, h, w] = model.input_shape();
    let read = |path: &Path| -> Result<image::RgbImage, String> {
        let bytes = images::read_image_file(path)?;
        a2x::imaging::decode(&bytes).map(|i| i.to_rgb8()).map_err(|e| format!("{}: {e}", path.display()))
    };
    let seed = Photo::new(&args.seed.display().to_string(), &a2x::imaging::center_crop(&image::DynamicImage::ImageRgb8(read(&args.seed)?), h));
    let config = args.engine.config(args.target, args.region)?;
    let mut files = images::list_images(&args.samples)?;
    files.retain(|f| f.canonicalize().ok() != args.seed.canonicalize().ok());
    if files.is_empty() {
        return Err(format!("{}: no JPEG or PNG images", args.samples.display()));
    }
    if files.len() > args.num_samples {
        let picks = Rng::new(config.rng_seed ^ 0x5A17_5A17).distinct(files.len(), args.num_samples);
        files = picks.into_iter().map(|i| files[i].clone()).collect();
    }
    // D̄ is the photos themselves: stretched to as many samples as there are photos, each is its
    // own ImageNet centre crop (`distribution::stretch`).
    let photos = files.iter().map(|file| Ok(Photo::new(&file.display().to_string(), &read(file)?))).collect::<Result<Vec<_>, String>>()?;
    eprintln!("{} samples, model input {c}×{h}×{w}", files.len());
    let request = ExplainRequest { model: args.engine.model.clone(), config, seed, samples: photos.len(), photos };
    let mut log = match &args.log {
        Some(path) => Some(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?),
        None => None,
    };
    let start = now_ms();
    let mut session = Session::explain(request, &model, &device);
    let (mut seed_values, mut result) = (Vec::new(), None);
    while let Some(event) = pollster::block_on(session.next()) {
        match event {
            RunEvent::Started { seed, .. } => seed_values = seed,
            RunEvent::Explained { event, .. } => {
                if let Some(log) = log.as_mut() {
                    writeln!(log, "{}", serde_json::to_string(&event).expect("serialisable")).map_err(|e| e.to_string())?;
                }
                if event.iteration % 10 == 0 || event.iteration == 1 || event.refined {
                    eprintln!(
                        "t {:>4}  ℘ {:.4} (seed {:.4}, samples {:.4})  ϱ± {:.4}/{:.4}  ‖p‖ {:.3}{}",
                        event.iteration, event.target_probability, event.seed_probability,
                        event.samples_probability, event.rho_plus, event.rho_minus,
                        event.perturbation_norm, if event.refined { "  refined" } else { "" }
                    );
                }
            }
            RunEvent::Finished(Outcome::Explanation { perturbation, .. }) => result = Some(perturbation),
            RunEvent::Failed { message } => return Err(message),
            other => return Err(format!("an explanation does not send {other:?}")),
        }
    }
    let p = result.ok_or("the run ended without a result")?;
    a2x::imaging::from_chw(&a2x::imaging::PerturbationView::default().render(&p), [h, w])
        .save(&args.out)
        .map_err(|e| format!("{}: {e}", args.out.display()))?;
    let perturbed: Vec<f32> = seed_values.iter().zip(&p).map(|(s, p)| s + p).collect();
    a2x::imaging::from_chw(&perturbed, [h, w])
        .save(&args.out_seed)
        .map_err(|e| format!("{}: {e}", args.out_seed.display()))?;
    eprintln!(
        "done: {} iterations in {:.1} s; wrote {} and {}",
        session.iterations(), (now_ms() - start) / 1e3, args.out.display(), args.out_seed.display()
    );
    Ok(())
}

#[derive(Args, Debug)]
pub struct BenchArgs {
    #[command(flatten)]
    pub engine: EngineArgs,
    /// |D̄|: number of (synthetic) samples.
    #[arg(long, default_value_t = 256)]
    pub num_samples: usize,
    /// Backends to compare, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "ndarray,wgpu")]
    pub backends: Vec<BackendKind>,
    /// Measure these settings of a study grid (`--grid`) side by side, each over the paper's as
    /// in the study and on the models the grid names for it, instead of the engine flags and
    /// `--model`: one row per setting, model and backend, in one run.
    #[arg(long, value_delimiter = ',')]
    pub settings: Vec<String>,
    /// The study grid `--settings` names settings of.
    #[arg(long, default_value = "static/judged/grid.json")]
    pub grid: PathBuf,
    /// Iterations timed per setting (after one warm-up) when measuring grid settings or tasks.
    #[arg(long, default_value_t = 5)]
    pub timed: usize,
    /// Time these ImageNet tasks (`generate,sketch,inpaint`) on `--model` beside a default
    /// explanation, step by step in one run (issue #33's cost line), on the first of `--backends`.
    #[arg(long, value_delimiter = ',', value_parser = |s: &str| a2x::engine::from_name::<a2x::engine::tasks::Task>(s).map_err(|e| e.to_string()))]
    pub tasks: Vec<a2x::engine::tasks::Task>,
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn bench(args: BenchArgs) -> Result<(), String> {
    if !args.settings.is_empty() {
        return bench_settings(&args);
    }
    if !args.tasks.is_empty() {
        let backend = *args.backends.first().ok_or("--backends names none")?;
        return crate::photo_tasks::bench_tasks(&args.engine.model, &args.tasks, backend, args.timed);
    }
    println!("| backend | model | b | size of D̄ | sign check | iterations | gradient ms | ± check ms | ℘ ms | refine ms | total ms/it | peak RSS MiB |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for &backend in &args.backends {
        let device = match open_device(backend) {
            Ok(device) => device,
            Err(e) => {
                println!("| {backend} | skipped: {e} |||||||||||");
                continue;
            }
        };
        let model = open_model(&args.engine, &device)?;
        let [_, h, w] = model.input_shape();
        let (seed, samples) = a2x::bench::synthetic_images(model.input_shape(), args.num_samples, &device);
        // Refine on the last iteration so its cost is measured too.
        let mut config = args.engine.config(0, None)?;
        config.refine_start = RefineStart::EveryInterval;
        config.refine_every = config.iterations;
        let mut run = Run::new(&model, seed, samples, config.clone()).map_err(|e| e.to_string())?;
        // Warm-up iteration (kernel compilation, allocation), not counted.
        pollster::block_on(run.step()).map_err(|e| e.to_string())?;
        let mut totals = [0f64; 4];
        let mut timed = 0;
        let mut refine = 0.0;
        while !run.is_finished() {
            let start = now_ms();
            let event = pollster::block_on(run.step()).map_err(|e| e.to_string())?;
            let total = now_ms() - start;
            if event.refined {
                refine = event.times.refine_ms;
                continue;
            }
            totals[0] += event.times.gradient_ms;
            totals[1] += event.times.sign_check_ms;
            totals[2] += event.times.probability_ms;
            totals[3] += total;
            timed += 1;
        }
        let mean = |x: f64| if timed > 0 { x / timed as f64 } else { f64::NAN };
        let rss = match backend {
            BackendKind::Ndarray | BackendKind::Flex => peak_rss_mib().map_or("n/a".into(), |m| format!("{m:.0}")),
            BackendKind::Wgpu => "n/a (GPU)".into(),
        };
        println!(
            "| {backend} | {} {h}×{w} | {} | {} | {:?} | {timed} | {:.1} | {:.1} | {:.1} | {:.1} | {:.1} | {rss} |",
            args.engine.model, config.batch, args.num_samples, config.sign_check,
            mean(totals[0]), mean(totals[1]), mean(totals[2]), refine, mean(totals[3])
        );
    }
    Ok(())
}

/// `a2x bench --settings`: the cost per iteration of study settings, side by side in one run
/// (each after one warm-up iteration), interleaved round by round so that a slower moment of the
/// machine falls on every setting alike. Each setting runs on the models its grid entry names
/// (one row per setting and model), so a setting computed on SqueezeNet is compared with one on
/// Lite0 as a visitor would meet them; the ratio is to the first row of the backend.
fn bench_settings(args: &BenchArgs) -> Result<(), String> {
    let grid = crate::study::grid::read_grid(&args.grid)?;
    let mut rows = Vec::new();
    for name in &args.settings {
        let setting = grid.settings.iter().find(|s| &s.name == name).ok_or_else(|| format!("{}: no setting `{name}`", args.grid.display()))?;
        let mut config = crate::study::grid::config_of(setting, 0, 0)?;
        config.iterations = args.timed + 1;
        for model in &setting.models {
            rows.push((name.clone(), model.clone(), config.clone()));
        }
    }
    println!("| backend | model | setting | b | iterations timed | gradient ms | ± check ms | ℘ ms | total ms/it | ratio to the first |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for &backend in &args.backends {
        let device = open_device(backend)?;
        let mut models: Vec<(String, Box<dyn Classifier>)> = Vec::new();
        for (_, id, _) in &rows {
            if !models.iter().any(|(m, _)| m == id) {
                let engine = EngineArgs { model: id.clone(), backend, ..args.engine.clone() };
                models.push((id.clone(), open_model(&engine, &device)?));
            }
        }
        let model_of = |id: &str| &models.iter().find(|(m, _)| m == id).expect("every row's model is open").1;
        // The same synthetic images for every row of one input size.
        let mut runs = Vec::new();
        for (_, id, config) in &rows {
            let model = model_of(id);
            let (seed, samples) = a2x::bench::synthetic_images(model.input_shape(), args.num_samples, &device);
            let mut run = Run::new(model, seed, samples, config.clone()).map_err(|e| e.to_string())?;
            pollster::block_on(run.step()).map_err(|e| e.to_string())?;
            runs.push((run, [0f64; 4]));
        }
        for _ in 0..args.timed {
            for (run, totals) in runs.iter_mut() {
                let start = now_ms();
                let event = pollster::block_on(run.step()).map_err(|e| e.to_string())?;
                totals[0] += event.times.gradient_ms;
                totals[1] += event.times.sign_check_ms;
                totals[2] += event.times.probability_ms;
                totals[3] += now_ms() - start;
            }
        }
        let n = args.timed.max(1) as f64;
        let first = runs.first().map(|(_, t)| t[3] / n).unwrap_or(f64::NAN);
        for ((name, id, config), (_, totals)) in rows.iter().zip(&runs) {
            let [_, h, w] = model_of(id).input_shape();
            println!(
                "| {backend} | {id} {h}×{w} | {name} | {} | {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.2} |",
                config.batch, args.timed, totals[0] / n, totals[1] / n, totals[2] / n, totals[3] / n, totals[3] / n / first
            );
        }
    }
    Ok(())
}
