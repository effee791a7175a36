//! `a2x explain` and `a2x bench`: the engine from the command line.

use crate::images;
use a2x::clock::now_ms;
use a2x::device::{self, BackendKind};
use a2x::engine::sampling::Rng;
use a2x::engine::schedule::Run;
use a2x::engine::{read_values, Classifier, Event, RefineStart, Region, RunConfig, SignCheck};
use a2x::models::tiny::TinyCnn;
use burn::tensor::{Device, Tensor, TensorData};
use clap::{Args, ValueEnum};
use std::io::Write;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum SignCheckArg {
    /// The whole sample set D̄ (the paper).
    All,
    /// The iteration's mini-batch only (cheaper; not the paper's).
    Batch,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum RefineStartArg {
    /// Refine once ℘ ≥ γ, then every `--refine-every` iterations (the paper, literally).
    Gamma,
    /// Refine every `--refine-every` iterations whether or not γ was reached.
    Interval,
}

/// The settings shared by `explain` and `bench`; defaults are the paper's.
#[derive(Args, Debug, Clone)]
pub struct EngineArgs {
    /// Classifier: `lite0`, `lite1`, `lite2` (models/manifest.json), a model file's path, or
    /// `tiny` (a small random CNN for exercising the engine, `--size` px, 10 classes).
    #[arg(long, default_value = "tiny")]
    pub model: String,
    /// Input size in pixels, for models that accept any (`tiny`).
    #[arg(long, default_value_t = 32)]
    pub size: usize,
    /// η: bound on ‖p‖₂, images in [0, 1].
    #[arg(long, default_value_t = 10.0)]
    pub eta: f32,
    /// γ: target probability at which estimation first refines.
    #[arg(long, default_value_t = 0.8)]
    pub gamma: f32,
    /// b: mini-batch size including the seed.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Iterations in all.
    #[arg(long, default_value_t = 300)]
    pub iters: usize,
    /// Refine every this many iterations (0: never).
    #[arg(long, default_value_t = 50)]
    pub refine_every: usize,
    /// λ of Algorithm 2.
    #[arg(long, default_value_t = 5.0)]
    pub lambda: f32,
    /// Seed of every random draw.
    #[arg(long, default_value_t = 0)]
    pub rng: u64,
    /// Images per forward/backward pass (memory; does not change the result).
    #[arg(long, default_value_t = 32)]
    pub chunk: usize,
    /// Where the ± check evaluates (open choice O2).
    #[arg(long, value_enum, default_value = "all")]
    pub sign_check: SignCheckArg,
    /// When refinement starts (open choice O9).
    #[arg(long, value_enum, default_value = "gamma")]
    pub refine_start: RefineStartArg,
    /// `ndarray` (CPU) or `wgpu` (Vulkan).
    #[arg(long, default_value = "ndarray")]
    pub backend: BackendKind,
}

impl EngineArgs {
    pub fn config(&self, target: usize, region: Option<Region>) -> RunConfig {
        RunConfig {
            target,
            eta: self.eta,
            gamma: self.gamma,
            batch: self.batch,
            iterations: self.iters,
            refine_every: self.refine_every,
            lambda: self.lambda,
            rng_seed: self.rng,
            chunk: self.chunk,
            sign_check: match self.sign_check {
                SignCheckArg::All => SignCheck::AllSamples,
                SignCheckArg::Batch => SignCheck::Batch,
            },
            refine_start: match self.refine_start {
                RefineStartArg::Gamma => RefineStart::AfterGamma,
                RefineStartArg::Interval => RefineStart::EveryInterval,
            },
            region,
            ..RunConfig::default()
        }
    }
}

pub fn open_device(backend: BackendKind) -> Result<Device, String> {
    match backend {
        BackendKind::Ndarray => Ok(device::cpu_device()),
        BackendKind::Wgpu => {
            let (device, info) = pollster::block_on(device::init_wgpu())
                .map_err(|e| format!("no wgpu adapter: {e}"))?;
            eprintln!("wgpu adapter: {} ({}, {})", info.name, info.backend, info.driver);
            Ok(device)
        }
    }
}

pub fn open_model(args: &EngineArgs, device: &Device) -> Result<Box<dyn Classifier>, String> {
    match args.model.as_str() {
        "tiny" if args.size >= 8 => Ok(Box::new(TinyCnn::random(args.size, 10, 0, device))),
        "tiny" => Err(format!("--size {} is too small (at least 8)", args.size)),
        other => {
            let zoo_args = crate::zoo::ModelArgs {
                model: other.to_string(),
                models_dir: crate::zoo::default_models_dir(),
                backend: args.backend,
                symmetric_padding: false,
            };
            let (model, label) = crate::zoo::load_model(&zoo_args, device)?;
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
    /// The visualised perturbation (mid-grey centred).
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

fn read_back(t: Tensor<4>) -> Result<Vec<f32>, String> {
    pollster::block_on(read_values(t)).map_err(|e| e.to_string())
}

pub fn explain(args: ExplainArgs) -> Result<(), String> {
    let device = open_device(args.engine.backend)?;
    let model = open_model(&args.engine, &device)?;
    let [c, h, w] = model.input_shape();
    let seed = images::load_for_model(&args.seed, h)?;
    let mut files = images::list_images(&args.samples)?;
    files.retain(|f| f.canonicalize().ok() != args.seed.canonicalize().ok());
    if files.is_empty() {
        return Err(format!("{}: no JPEG or PNG images", args.samples.display()));
    }
    if files.len() > args.num_samples {
        let picks = Rng::new(args.engine.rng ^ 0x5A17_5A17).distinct(files.len(), args.num_samples);
        files = picks.into_iter().map(|i| files[i].clone()).collect();
    }
    let mut sample_values = Vec::with_capacity(files.len() * c * h * w);
    for file in &files {
        sample_values.extend(images::load_for_model(file, h)?);
    }
    eprintln!("{} samples, model input {c}×{h}×{w}", files.len());
    let seed_tensor = Tensor::from_data(TensorData::new(seed, [1, c, h, w]), &device);
    let samples = Tensor::from_data(TensorData::new(sample_values, [files.len(), c, h, w]), &device);
    let config = args.engine.config(args.target, args.region);
    let mut run = Run::new(&model, seed_tensor, samples, config).map_err(|e| e.to_string())?;
    let mut log = match &args.log {
        Some(path) => Some(std::fs::File::create(path).map_err(|e| format!("{}: {e}", path.display()))?),
        None => None,
    };
    let start = now_ms();
    while !run.is_finished() {
        let event: Event = pollster::block_on(run.step()).map_err(|e| e.to_string())?;
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
    let p = read_back(run.perturbation())?;
    a2x::imaging::from_chw(&a2x::imaging::visualize_perturbation(&p), [h, w])
        .save(&args.out)
        .map_err(|e| format!("{}: {e}", args.out.display()))?;
    let perturbed: Vec<f32> = read_back(run.seed())?.iter().zip(&p).map(|(s, p)| s + p).collect();
    a2x::imaging::from_chw(&perturbed, [h, w])
        .save(&args.out_seed)
        .map_err(|e| format!("{}: {e}", args.out_seed.display()))?;
    eprintln!(
        "done: {} iterations in {:.1} s; wrote {} and {}",
        run.iteration(), (now_ms() - start) / 1e3, args.out.display(), args.out_seed.display()
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
}

/// Peak resident memory of this process (Linux), in MiB.
fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

pub fn bench(args: BenchArgs) -> Result<(), String> {
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
        let [c, h, w] = model.input_shape();
        let mut rng = Rng::new(1);
        let mut values = |n: usize| -> Tensor<4> {
            let v: Vec<f32> = (0..n * c * h * w).map(|_| rng.unit() as f32).collect();
            Tensor::from_data(TensorData::new(v, [n, c, h, w]), &device)
        };
        let seed = values(1);
        let samples = values(args.num_samples);
        // Refine on the last iteration so its cost is measured too.
        let mut config = args.engine.config(0, None);
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
            BackendKind::Ndarray => peak_rss_mib().map_or("n/a".into(), |m| format!("{m:.0}")),
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
