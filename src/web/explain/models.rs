//! The explanation page's model slots: downloading (or taking from Cache Storage), checking,
//! loading and warming up one model of the zoo.

use crate::web::browser;
use crate::web::now_ms;
use crate::web::zoo;
use crate::models::{self, ImageNetModel};
use burn::tensor::Device;
use serde::Serialize;
use std::rc::Rc;

/// What a model slot holds.
pub enum ModelSlot {
    Downloading { received: u64, total: u64 },
    Loading,
    Ready(Rc<ImageNetModel>, LoadInfo),
    Failed(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct LoadInfo {
    pub from_cache: bool,
    pub bytes: usize,
    pub download_ms: f64,
    pub load_ms: f64,
    /// The first forward pass on this backend (kernel compilation on a GPU): the warm-up.
    pub warmup_ms: f64,
}

/// Downloads (or takes from Cache Storage), checks and loads one model, then warms it up.
pub async fn load_model(
    entry: crate::models::manifest::ModelEntry,
    device: Device,
    progress: impl Fn(u64, u64),
) -> Result<(Rc<ImageNetModel>, LoadInfo), String> {
    let url = format!("models/{}", entry.file);
    let start = now_ms();
    let (model, from_cache, bytes, download_ms) = match zoo::cached_model(&url, &entry, &device).await {
        Some((model, bytes)) => (model, true, bytes, now_ms() - start),
        None => {
            let bytes = browser::fetch_with_progress(&url, entry.file_bytes as u64, progress).await?;
            let download_ms = now_ms() - start;
            let model = models::load_imagenet(&bytes, Some(&entry.sha256), &device).map_err(|e| format!("{}: {e}", entry.name))?;
            if let Err(e) = browser::store_in_cache(&url, &bytes).await {
                web_sys::console::warn_1(&format!("not kept for the next visit: {e}").into());
            }
            (model, false, bytes.len(), download_ms)
        }
    };
    let load_ms = now_ms() - start - download_ms;
    // Warm-up: one forward pass compiles the kernels for this input size.
    let start = now_ms();
    models::warm_up(&model, &device).await?;
    let warmup_ms = now_ms() - start;
    Ok((Rc::new(model), LoadInfo { from_cache, bytes, download_ms, load_ms, warmup_ms }))
}
