//! The image tasks' files: the robust CIFAR-10 model, the standard one that judges, and the
//! class Gaussians, each sha256-checked, from Cache Storage or downloaded. The page keeps only the
//! Gaussians (the generation seed is drawn from them); the engine's worker builds the models
//! from the same cached files for a run, so the page's thread runs no tensor operation.

use crate::engine::gaussian::ClassGaussian;
use crate::web::page::fetch_model_file;
use crate::models::manifest::Manifest;
use super::set::TaskSet;
use crate::models::resnet;
use crate::web::browser;
use crate::web::now_ms;
use image::RgbImage;
use std::rc::Rc;

/// The files are in Cache Storage, checked; the class Gaussians (D̄, and the generation seed)
/// read.
pub struct TaskModels {
    /// CIFAR-10: D̄ and generation's seed are drawn from them (empty on ImageNet).
    pub gaussians: Rc<Vec<ClassGaussian>>,
    /// ImageNet: every bundled photo by id, for D̄ (the wide set less the target's photos) and
    /// the pictures to start from (empty on CIFAR-10).
    pub photos: Rc<Vec<(String, RgbImage)>>,
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
/// manifest, from Cache Storage or downloaded (the worker warms its backend up on its first run).
pub async fn load_models(manifest: Rc<Manifest>, progress: impl Fn(u64, u64) + Clone) -> Result<TaskModels, String> {
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
    let (a, cached_a) = fetch_model_file(&robust_entry.file, sizes[0], &robust_entry.sha256, &robust_entry.name, part(0)).await?;
    let (b, cached_b) = fetch_model_file(&standard_entry.file, sizes[1], &standard_entry.sha256, &standard_entry.name, part(sizes[0])).await?;
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
    Ok(TaskModels {
        gaussians: Rc::new(gaussians),
        photos: Rc::default(),
        from_cache: cached_a && cached_b && cached_c,
        bytes: a + b + c,
        load_ms: now_ms() - start,
    })
}

/// An ImageNet task's files: the model and its judge (each sha256-checked into Cache Storage,
/// where the worker takes them) and the bundled photos (D̄ and the pictures to start from).
pub async fn load_imagenet(manifest: Rc<Manifest>, set: TaskSet, progress: impl Fn(u64, u64) + Clone) -> Result<TaskModels, String> {
    let start = now_ms();
    let crate::session::transport::ModelFiles::ImageNetTask { model, judge } = set.model_files(&manifest)? else {
        return Err("not an ImageNet task".into());
    };
    let total = model.file_bytes as u64 + judge.file_bytes as u64;
    let part = |before: u64| {
        let progress = progress.clone();
        move |received: u64, _| progress(before + received, total)
    };
    let (a, cached_a) = fetch_model_file(&model.file, model.file_bytes as u64, &model.sha256, &model.name, part(0)).await?;
    let (b, cached_b) = fetch_model_file(&judge.file, judge.file_bytes as u64, &judge.sha256, &judge.name, part(model.file_bytes as u64)).await?;
    let mut photos = Vec::new();
    for (id, path) in crate::bundled::PhotoSet::Wide.photos() {
        photos.push((id.to_string(), browser::fetch_image(path).await.map_err(|e| format!("the bundled photo {id}: {e}"))?));
    }
    Ok(TaskModels { gaussians: Rc::default(), photos: Rc::new(photos), from_cache: cached_a && cached_b, bytes: a + b, load_ms: now_ms() - start })
}
