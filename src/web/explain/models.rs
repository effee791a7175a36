//! The explanation page's model slots: one model of the zoo downloaded (or taken from Cache
//! Storage) and sha256-checked by the page, then loaded and warmed up by the engine's worker,
//! which computes everything with it (issue #23: the page holds no model).

use crate::models::manifest::ModelEntry;
use crate::session::transport::{Answer, Backend, Job};
use crate::web::page::fetch_model_file;
use crate::web::engine_worker::EngineWorker;
use crate::web::now_ms;
use serde::Serialize;
use std::rc::Rc;

/// What a model slot holds.
pub enum ModelSlot {
    Downloading { received: u64, total: u64 },
    Loading,
    Ready(LoadInfo),
    Failed(String),
}

#[derive(Clone, Debug, Serialize)]
pub struct LoadInfo {
    pub from_cache: bool,
    pub bytes: usize,
    pub download_ms: f64,
    /// Reading and building the model in the engine's worker.
    pub load_ms: f64,
    /// The first forward pass on this backend (kernel compilation on a GPU): the warm-up.
    pub warmup_ms: f64,
}

/// Downloads (or takes from Cache Storage) and checks one model's file, then has the worker load
/// it and warm it up.
pub async fn load_model(entry: ModelEntry, worker: Rc<EngineWorker>, backend: Backend, progress: impl Fn(u64, u64)) -> Result<LoadInfo, String> {
    let start = now_ms();
    let (bytes, from_cache) = fetch_model_file(&entry.file, entry.file_bytes as u64, &entry.sha256, &entry.name, progress).await?;
    let download_ms = now_ms() - start;
    match worker.ask(backend, Job::Load { entry }).await? {
        Answer::Loaded { load_ms, warmup_ms } => Ok(LoadInfo { from_cache, bytes, download_ms, load_ms, warmup_ms }),
        other => Err(format!("the engine's worker answered {other:?} to a model to load")),
    }
}
