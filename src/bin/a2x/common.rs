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
