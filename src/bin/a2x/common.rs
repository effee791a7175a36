//! What every CLI command shares: opening a backend's device, the models folder and its
//! manifest, and loading a model of the zoo by id or path. No command's own logic lives here, so
//! every command module imports it and none imports another command's module for these.

use a2x::device::{self, BackendKind};
use a2x::models::efficientnet::Padding;
use a2x::models::manifest::Manifest;
use a2x::models::{self, ImageNetModel, IMAGENET_IDS};
use burn::tensor::Device;
use clap::Args;
use std::path::{Path, PathBuf};

/// The device of `backend` (for wgpu: the first adapter, named on stderr).
pub fn open_device(backend: BackendKind) -> Result<Device, String> {
    match backend {
        BackendKind::Ndarray => Ok(device::cpu_device()),
        BackendKind::Flex => Ok(device::flex_device()),
        BackendKind::Wgpu => {
            let (device, info) = pollster::block_on(device::init_wgpu())
                .map_err(|e| format!("no wgpu adapter: {e}"))?;
            eprintln!("wgpu adapter: {} ({}, {})", info.name, info.backend, info.driver);
            Ok(device)
        }
    }
}

/// `./models` when the current folder has one (a checkout's root), otherwise the `models/` of the
/// checkout this binary was built from.
pub fn default_models_dir() -> PathBuf {
    let here = PathBuf::from("models");
    if here.join("manifest.json").is_file() {
        here
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models")
    }
}

/// The model flags shared by `classify`, `eval-imagenet` and the commands that load a zoo model.
#[derive(Args, Debug, Clone)]
pub struct ModelArgs {
    /// A model id from models/manifest.json (lite0, lite1, lite2, squeezenet) or the path of a
    /// model file.
    #[arg(long, default_value = "lite0")]
    pub model: String,
    /// The models folder holding manifest.json.
    #[arg(long, default_value_os_t = default_models_dir())]
    pub models_dir: PathBuf,
    /// `ndarray` (CPU) or `wgpu`.
    #[arg(long, default_value = "ndarray")]
    pub backend: BackendKind,
    /// Pad symmetrically (PyTorch's k/2) instead of TensorFlow's SAME: only to measure what
    /// that mistake costs.
    #[arg(long)]
    pub symmetric_padding: bool,
    /// What an `.onnx` model's input expects (ignored for the zoo's models).
    #[command(flatten)]
    pub onnx: OnnxArgs,
    /// The input side of an `.onnx` model whose height and width are symbolic.
    #[arg(long)]
    pub size: Option<usize>,
}

/// The preprocessing of an `.onnx` model: what the file cannot say (issue #34). The defaults are
/// torchvision's ImageNet preprocessing.
#[derive(Args, Debug, Clone)]
pub struct OnnxArgs {
    /// The value a full-intensity channel has before normalisation: 1 (inputs in [0, 1]) or 255.
    #[arg(long, default_value_t = 1.0)]
    pub range: f32,
    /// Per-channel means, R,G,B, in the units of --range.
    #[arg(long, value_delimiter = ',', default_values_t = [0.485, 0.456, 0.406])]
    pub mean: Vec<f32>,
    /// Per-channel standard deviations, R,G,B, in the units of --range.
    #[arg(long, value_delimiter = ',', default_values_t = [0.229, 0.224, 0.225])]
    pub std: Vec<f32>,
    /// The model takes BGR images.
    #[arg(long)]
    pub bgr: bool,
    /// The class names, one a line (without it, a model of 1000 classes has ImageNet's).
    #[arg(long)]
    pub labels: Option<PathBuf>,
}

impl Default for OnnxArgs {
    /// torchvision's ImageNet preprocessing, as the flags' defaults.
    fn default() -> OnnxArgs {
        let p = a2x::models::onnx::Preprocess::default();
        OnnxArgs { range: p.range, mean: p.mean.to_vec(), std: p.std.to_vec(), bgr: p.bgr, labels: None }
    }
}

impl OnnxArgs {
    /// The preprocessing, with `size` the input side for files whose height and width are
    /// symbolic.
    pub fn preprocess(&self, size: Option<usize>) -> Result<a2x::models::onnx::Preprocess, String> {
        let three = |v: &[f32], what: &str| -> Result<[f32; 3], String> { v.try_into().map_err(|_| format!("--{what} takes three values, R,G,B")) };
        Ok(a2x::models::onnx::Preprocess { range: self.range, mean: three(&self.mean, "mean")?, std: three(&self.std, "std")?, bgr: self.bgr, size })
    }

    /// The class names of a model of `classes` outputs.
    pub fn class_names(&self, classes: usize) -> Result<Vec<String>, String> {
        match &self.labels {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                let names: Vec<String> = text.lines().map(|l| l.trim().to_string()).filter(|l| !l.is_empty()).collect();
                if names.len() != classes {
                    return Err(format!("{}: {} names for a model of {classes} classes", path.display(), names.len()));
                }
                Ok(names)
            }
            None if classes == 1000 => Ok(a2x::models::labels::imagenet().iter().map(|c| c.lemmas.to_string()).collect()),
            None => Ok((0..classes).map(|i| format!("class {i}")).collect()),
        }
    }
}

impl ModelArgs {
    /// A model by id or path with every other flag at its default: what commands that pick the
    /// model themselves (replay, the tasks, the study) load.
    pub fn of(model: &str, models_dir: PathBuf, backend: BackendKind) -> ModelArgs {
        ModelArgs { model: model.into(), models_dir, backend, symmetric_padding: false, onnx: OnnxArgs::default(), size: None }
    }
}

pub fn read_manifest(dir: &Path) -> Result<Manifest, String> {
    let path = dir.join("manifest.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    Manifest::parse(&text)
}

pub fn write_manifest(dir: &Path, manifest: &Manifest) -> Result<(), String> {
    let path = dir.join("manifest.json");
    std::fs::write(&path, manifest.to_json()).map_err(|e| format!("{}: {e}", path.display()))
}

/// Loads a model by manifest id (checking the manifest's sha256) or from a file path.
pub fn load_model(args: &ModelArgs, device: &Device) -> Result<(ImageNetModel, String), String> {
    let (bytes, expected, label) = match IMAGENET_IDS.iter().find(|&&id| id == args.model) {
        Some(&id) => {
            let manifest = read_manifest(&args.models_dir)?;
            let entry = manifest.model(id).ok_or_else(|| format!("models/manifest.json has no model `{id}`"))?;
            let path = args.models_dir.join(&entry.file);
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            (bytes, Some(entry.sha256.clone()), format!("{} ({})", entry.name, path.display()))
        }
        None => {
            let path = PathBuf::from(&args.model);
            if !path.exists() {
                return Err(format!("`{}` is neither a model id ({}) nor a file", args.model, IMAGENET_IDS.join(", ")));
            }
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("onnx")) {
                let model = a2x::models::onnx::OnnxModel::load(&bytes, args.onnx.preprocess(args.size)?, device).map_err(|e| format!("{}: {e}", path.display()))?;
                let (calls, folded) = model.operations();
                let label = format!("{} ({}, {calls} operations a call, {folded} folded when it loaded)", path.display(), model.producer);
                return Ok((ImageNetModel::Onnx(Box::new(model)), label));
            }
            (bytes, None, path.display().to_string())
        }
    };
    let model = models::load_imagenet(&bytes, expected.as_deref(), device).map_err(|e| format!("{label}: {e}"))?;
    match model {
        ImageNetModel::Lite(lite) if args.symmetric_padding => Ok((ImageNetModel::Lite(lite.with_padding(Padding::Symmetric)), label)),
        ImageNetModel::SqueezeNet(_) if args.symmetric_padding => Err("--symmetric-padding is for the EfficientNet-Lite models".into()),
        model => Ok((model, label)),
    }
}
