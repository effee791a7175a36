//! `a2x train-cifar` and `a2x eval-cifar`: a2x's own CIFAR-10 classifiers (issue #6).

use a2x::device::BackendKind;
use a2x::engine::pgd::PgdConfig;
use a2x::train::data::{Dataset, Split};
use a2x::train::{self, AttackConfig, TrainConfig};
use clap::{Args, ValueEnum};
use a2x::models::manifest::{GaussiansFile, RobustAccuracy, TrainedEntry, Training};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Where CIFAR-10 is, by default: the shared data folder beside the project.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/data/cifar10")
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Kind {
    /// ℓ2 adversarial training (the model the image tasks use).
    Robust,
    /// Plain training (the model that judges generated images).
    Standard,
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// `robust` or `standard`.
    #[arg(long, value_enum)]
    pub kind: Kind,
    /// CIFAR-10: the binary release's folder (data_batch_1.bin …) or a folder with
    /// train/<class>/ and test/<class>/ image folders.
    #[arg(long, default_value_os_t = default_data_dir())]
    pub data: PathBuf,
    /// Checkpoint folder; an existing run there is resumed.
    #[arg(long)]
    pub checkpoint: PathBuf,
    #[arg(long, default_value_t = BackendKind::Wgpu)]
    pub backend: BackendKind,
    /// Epochs of the one-cycle schedule. Without it, --budget-minutes must be given and the
    /// epochs are fitted to it: 12 steps are timed first (after 4 of warm-up) on a throwaway
    /// network, and the chosen number is printed and stored in the checkpoint's config.json.
    #[arg(long)]
    pub epochs: Option<usize>,
    #[arg(long, default_value_t = 512)]
    pub batch_size: usize,
    /// Peak of the one-cycle learning rate.
    #[arg(long, default_value_t = 0.4)]
    pub lr: f32,
    #[arg(long, default_value_t = 5e-4)]
    pub weight_decay: f32,
    /// ε of the training attack (robust only), ℓ2, images in [0, 1].
    #[arg(long, default_value_t = 0.5)]
    pub epsilon: f32,
    /// PGD steps of the training attack (robust only), each 2.5 ε / steps long.
    #[arg(long, default_value_t = 3)]
    pub attack_steps: usize,
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Stop (with a checkpoint) after this many minutes of this call; rerun to resume.
    #[arg(long, default_value_t = f64::INFINITY)]
    pub budget_minutes: f64,
    /// Use only the first N training images of each class (quick checks).
    #[arg(long)]
    pub limit: Option<usize>,
}

/// The first `per_class` images of each class, in order.
fn load(data: &std::path::Path, split: Split, limit: Option<usize>) -> Result<Dataset, String> {
    let started = Instant::now();
    let dataset = Dataset::load(data, split)?;
    let dataset = match limit {
        Some(n) => dataset.first_per_class(n),
        None => dataset,
    };
    eprintln!("{split:?}: {} images from {} in {:.1} s", dataset.len(), data.display(), started.elapsed().as_secs_f64());
    Ok(dataset)
}

pub fn train_cifar(args: TrainArgs) -> Result<(), String> {
    let mut config = TrainConfig {
        epochs: args.epochs.unwrap_or(1),
        batch_size: args.batch_size,
        peak_learning_rate: args.lr,
        warmup: 0.25,
        momentum: 0.9,
        weight_decay: args.weight_decay,
        attack: match args.kind {
            Kind::Robust => Some(AttackConfig::madry(args.epsilon, args.attack_steps)),
            Kind::Standard => None,
        },
        seed: args.seed,
    };
    let train_set = load(&args.data, Split::Train, args.limit)?;
    let test_set = load(&args.data, Split::Test, args.limit.map(|n| n.min(100)))?;
    let device = crate::common::open_device(args.backend)?;
    let started = Instant::now();
    let resuming = args.checkpoint.join("config.json").is_file();
    if args.epochs.is_none() {
        if resuming {
            let saved = std::fs::read(args.checkpoint.join("config.json")).map_err(|e| e.to_string())?;
            let saved: TrainConfig = serde_json::from_slice(&saved).map_err(|e| e.to_string())?;
            config.epochs = saved.epochs;
            eprintln!("resuming a run of {} epochs", config.epochs);
        } else if args.budget_minutes.is_finite() {
            let per_step = train::seconds_per_step(&config, &train_set, &device, 4, 12)?;
            // Compile (and autotune) the evaluation's kernels now too, outside the budget's fit.
            let warm = test_set.first_per_class(50);
            train::accuracy(&a2x::train::net::TrainingNet::init(0, &device), &warm, None, &device, 500)?;
            let steps_per_epoch = train_set.len() / config.batch_size;
            // The clean test evaluation after each epoch costs about a tenth of a step per batch.
            let per_epoch = per_step * (steps_per_epoch as f64 + 0.1 * test_set.len().div_ceil(500) as f64);
            let left = args.budget_minutes * 60.0 - started.elapsed().as_secs_f64();
            config.epochs = ((0.9 * left / per_epoch).floor() as usize).max(1);
            eprintln!("{per_step:.3} s/step, {per_epoch:.0} s/epoch: {} epochs fit in the {:.0} s left (--epochs {})", config.epochs, left, config.epochs);
        } else {
            return Err("give --epochs, or --budget-minutes to fit the epochs to it".into());
        }
    }
    let mut log = |line: &str| eprintln!("{line}");
    let budget = args.budget_minutes * 60.0 - started.elapsed().as_secs_f64();
    let (_, progress) = train::train(&config, &train_set, &test_set, &device, &args.checkpoint, budget, &mut log)?;
    println!("| epoch | mean loss | clean test top-1 | seconds |\n|---|---|---|---|");
    for r in &progress.history {
        println!("| {} | {:.4} | {:.2} % | {:.0} |", r.epoch, r.mean_loss, 100.0 * r.test_accuracy, r.seconds);
    }
    println!("{} of {} epochs done, {:.1} min of training in all", progress.epoch, config.epochs, progress.seconds / 60.0);
    Ok(())
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Checkpoint folders (from train-cifar) or model files (.a2xm) to evaluate.
    #[arg(required = true)]
    pub models: Vec<PathBuf>,
    #[arg(long, default_value_os_t = default_data_dir())]
    pub data: PathBuf,
    #[arg(long, default_value_t = BackendKind::Wgpu)]
    pub backend: BackendKind,
    /// The attack: ℓ2 PGD with this ε (images in [0, 1]) …
    #[arg(long, default_value_t = 0.5)]
    pub epsilon: f32,
    /// … this many steps …
    #[arg(long, default_value_t = 20)]
    pub steps: usize,
    /// … of this length.
    #[arg(long, default_value_t = 0.1)]
    pub step_size: f32,
    /// Evaluate only the first N test images of each class.
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, default_value_t = 250)]
    pub batch_size: usize,
    /// Record the numbers in models/manifest.json, for model files that it lists.
    #[arg(long)]
    pub record: bool,
}

pub fn eval_cifar(args: EvalArgs) -> Result<(), String> {
    let test_set = load(&args.data, Split::Test, args.limit)?;
    let device = crate::common::open_device(args.backend)?;
    let attack = PgdConfig { epsilon: args.epsilon, steps: args.steps, step_size: args.step_size, random_start: false };
    println!(
        "| model | clean top-1 | top-1 under ℓ2 PGD (ε {}, {} steps of {}) | test images | seconds |\n|---|---|---|---|---|",
        args.epsilon, args.steps, args.step_size
    );
    for path in &args.models {
        let started = Instant::now();
        let (clean, robust) = if path.is_dir() {
            let (net, _, _) = train::load_checkpoint(path, &device)?;
            (
                train::accuracy(&net, &test_set, None, &device, args.batch_size)?,
                train::accuracy(&net, &test_set, Some(&attack), &device, args.batch_size)?,
            )
        } else {
            use a2x::engine::Classifier;
            let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
            let model = a2x::models::resnet::load(&bytes, None, &device).map_err(|e| format!("{}: {e}", path.display()))?;
            let forward = |x| model.logits(x);
            (
                train::accuracy_of(&forward, &test_set, None, &device, args.batch_size)?,
                train::accuracy_of(&forward, &test_set, Some(&attack), &device, args.batch_size)?,
            )
        };
        println!(
            "| {} | {:.2} % | {:.2} % | {} | {:.0} |",
            path.display(),
            100.0 * clean,
            100.0 * robust,
            test_set.len(),
            started.elapsed().as_secs_f64()
        );
        if args.record && path.is_file() {
            record(path, clean, robust, &attack, test_set.len(), args.backend, args.limit.is_some())?;
        }
    }
    Ok(())
}

fn record(path: &Path, clean: f32, robust: f32, attack: &PgdConfig, images: usize, backend: BackendKind, partial: bool) -> Result<(), String> {
    if partial {
        return Err("--record needs the whole test set (drop --limit)".into());
    }
    let models_dir = crate::common::default_models_dir();
    let mut manifest = crate::common::read_manifest(&models_dir)?;
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default().to_string();
    let sha256 = a2x::models::format::sha256_hex(&std::fs::read(path).map_err(|e| e.to_string())?);
    let entry = manifest.trained.iter_mut().find(|m| m.file == name).ok_or(format!("models/manifest.json lists no trained model file {name}"))?;
    if entry.sha256 != sha256 {
        return Err(format!("{} is not the file models/manifest.json describes (sha256 differs)", path.display()));
    }
    entry.metrics = Some(RobustAccuracy {
        clean_top1: (10000.0 * clean as f64).round() / 100.0,
        attacked_top1: (10000.0 * robust as f64).round() / 100.0,
        attack: attack.untargeted_description(),
        images,
        dataset: "../shared/data/cifar10/test (JPEG re-encoding of part of the CIFAR-10 test set)".into(),
        backend: backend.to_string(),
    });
    crate::common::write_manifest(&models_dir, &manifest)?;
    eprintln!("recorded in {}", models_dir.join("manifest.json").display());
    Ok(())
}

#[derive(Args, Debug)]
pub struct ExportArgs {
    /// The checkpoint folder of a finished `a2x train-cifar` run.
    #[arg(long)]
    pub checkpoint: PathBuf,
    /// `cifar-robust` or `cifar-standard`.
    #[arg(long)]
    pub id: String,
    /// Where the run was computed, for the manifest.
    #[arg(long)]
    pub device: String,
    /// The training images, to fit the class-conditional Gaussians (robust model only).
    #[arg(long, default_value_os_t = default_data_dir())]
    pub data: PathBuf,
}

/// Folds batch norm, quantizes to int8, checks the file loads and agrees with the checkpoint,
/// writes it to models/ with its manifest entry; for the robust model also the Gaussians.
pub fn export_cifar(args: ExportArgs) -> Result<(), String> {
    use a2x::engine::gaussian::{self, ClassGaussian};
    use a2x::engine::Classifier;
    use a2x::models::format::{self, Precision};
    let device = crate::common::open_device(BackendKind::Flex)?;
    let (net, config, progress) = train::load_checkpoint(&args.checkpoint, &device)?;
    if progress.epoch < config.epochs {
        return Err(format!("{} stopped at epoch {} of {}: finish the run first", args.checkpoint.display(), progress.epoch, config.epochs));
    }
    let bytes = train::export(&net, Precision::Int8);
    let model = a2x::models::resnet::load(&bytes, None, &device).map_err(|e| format!("the written file does not load: {e}"))?;
    // The int8 model must still compute what the checkpoint computes, closely.
    let test_set = Dataset::load(&args.data, Split::Test)?.first_per_class(20);
    let (values, _) = test_set.batch(&(0..test_set.len()).collect::<Vec<_>>(), None);
    let images = burn::tensor::Tensor::<4>::from_data(burn::tensor::TensorData::new(values, [test_set.len(), 3, 32, 32]), &device);
    let quantized = model.logits(images.clone()).argmax(1).into_data().convert::<i64>().try_to_vec::<i64>().map_err(|e| format!("{e:?}"))?;
    let float = net.forward(&net.values(), images, a2x::train::net::Mode::Eval).0.argmax(1).into_data().convert::<i64>().try_to_vec::<i64>().map_err(|e| format!("{e:?}"))?;
    let agree = quantized.iter().zip(&float).filter(|(a, b)| a == b).count();
    eprintln!("int8 vs float32 top-1 agreement on {} test images: {agree}", quantized.len());
    let models_dir = crate::common::default_models_dir();
    let file = format!("{}.a2xm", args.id);
    std::fs::write(models_dir.join(&file), &bytes).map_err(|e| e.to_string())?;
    let robust = config.attack.is_some();
    let gaussians = if robust {
        let train_set = Dataset::load(&args.data, Split::Train)?;
        let mut fitted = Vec::new();
        for class in 0..10u8 {
            let indices: Vec<usize> = (0..train_set.len()).filter(|&i| train_set.labels[i] == class).collect();
            let (values, _) = train_set.batch(&indices, None);
            fitted.push(ClassGaussian::fit(&values, indices.len(), 32 / gaussian::GRAIN)?);
        }
        let gaussian_bytes = a2x::models::gaussians::write_file(&fitted, 32);
        a2x::models::gaussians::read_file(&gaussian_bytes, None)?;
        let gaussian_file = "cifar10-gaussians.a2xm".to_string();
        std::fs::write(models_dir.join(&gaussian_file), &gaussian_bytes).map_err(|e| e.to_string())?;
        Some(GaussiansFile {
            file: gaussian_file,
            file_bytes: gaussian_bytes.len(),
            sha256: format::sha256_hex(&gaussian_bytes),
            description: format!(
                "per class: mean and covariance (1/n) of the {} training images at 8×8×3 (4×4 block means), float32; the distribution D̄ of the image tasks",
                train_set.len() / 10
            ),
        })
    } else {
        None
    };
    let mut manifest = crate::common::read_manifest(&models_dir)?;
    let attack = config.attack;
    let command = match attack {
        Some(a) => format!(
            "a2x train-cifar --kind robust --epochs {} --batch-size {} --lr {} --weight-decay {} --epsilon {} --attack-steps {} --seed {} --checkpoint <dir>",
            config.epochs, config.batch_size, config.peak_learning_rate, config.weight_decay, a.epsilon, a.steps, config.seed
        ),
        None => format!(
            "a2x train-cifar --kind standard --epochs {} --batch-size {} --lr {} --weight-decay {} --seed {} --checkpoint <dir>",
            config.epochs, config.batch_size, config.peak_learning_rate, config.weight_decay, config.seed
        ),
    };
    manifest.upsert_trained(TrainedEntry {
        id: args.id.clone(),
        name: if robust {
            "ResNet-9 (half width), CIFAR-10, ℓ2-robust (ε 0.5)".into()
        } else {
            "ResNet-9 (half width), CIFAR-10, standard".into()
        },
        role: if robust {
            "the robust classifier of the image tasks (generate, inpaint, sketch)".into()
        } else {
            "evaluation only: judges whether generated images show their class".into()
        },
        architecture: a2x::models::resnet::ARCHITECTURE.into(),
        input_size: 32,
        labels: a2x::models::resnet::LABELS.iter().map(|s| s.to_string()).collect(),
        normalization: "input x in [0, 1] (pixel / 255); the model computes (x − mean) / std per channel with CIFAR-10's mean (0.4914, 0.4822, 0.4465) and std (0.2470, 0.2435, 0.2616)".into(),
        file: file.clone(),
        file_bytes: bytes.len(),
        sha256: format::sha256_hex(&bytes),
        precision: Precision::Int8,
        quantization: "symmetric int8 per output channel (scale = max|w| / 127) for every weight tensor; biases float32; batch norm folded (eps 1e-5) before quantizing; dequantized to float32 at load".into(),
        licence: "MIT OR Apache-2.0, like a2x: trained by the a2x project (a2x train-cifar) from CIFAR-10 (Krizhevsky 2009, https://www.cs.toronto.edu/~kriz/cifar.html); the dataset itself is not shipped".into(),
        training: Training {
            command,
            data: "CIFAR-10 training set, 50,000 images (../shared/data/cifar10/train: JPEG re-encoding)".into(),
            epochs: config.epochs,
            config: serde_json::to_value(&config).map_err(|e| e.to_string())?,
            minutes: (progress.seconds / 60.0 * 10.0).round() / 10.0,
            device: args.device.clone(),
            history: serde_json::to_value(&progress.history).map_err(|e| e.to_string())?,
        },
        metrics: None,
        gaussians,
    });
    crate::common::write_manifest(&models_dir, &manifest)?;
    println!("{} → models/{file} ({:.2} MB int8), manifest updated; measure it with `a2x eval-cifar models/{file} --record`", args.checkpoint.display(), bytes.len() as f64 / 1e6);
    Ok(())
}
