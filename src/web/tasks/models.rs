//! The image tasks' models: the robust CIFAR-10 model, the standard one that judges, and the
//! class Gaussians, each sha256-checked, from Cache Storage or downloaded.

use super::inputs::SIZE;
use crate::engine::gaussian::ClassGaussian;
use crate::models::manifest::Manifest;
use crate::models::resnet::{self, CifarResNet};
use crate::models::{self as model_tools};
use crate::session;
use crate::web::browser;
use crate::web::now_ms;
use burn::tensor::Device;
use image::{Rgb, RgbImage};
use std::rc::Rc;

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

/// The robust model, the standard one and the Gaussians, each sha256-checked against the
/// manifest, from Cache Storage or downloaded; then one forward pass to warm the backend up.
pub async fn load_models(manifest: Rc<Manifest>, device: Device, progress: impl Fn(u64, u64) + Clone) -> Result<TaskModels, String> {
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

impl TaskModels {
    /// Another handle on the same models (for a run to hold on to).
    pub fn share(&self) -> TaskModels {
        TaskModels {
            robust: self.robust.clone(),
            standard: self.standard.clone(),
            gaussians: self.gaussians.clone(),
            from_cache: self.from_cache,
            bytes: self.bytes,
            load_ms: self.load_ms,
        }
    }

    /// The session's view of them.
    pub fn for_session(&self) -> session::TaskModels<'_, CifarResNet> {
        session::TaskModels { robust: &self.robust, standard: &self.standard, gaussians: &self.gaussians }
    }
}
