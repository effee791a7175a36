//! Measuring a perturbation on images it was not computed on: how far it moves a set of images
//! to the target (the target's mean probability and how often it becomes the top-1 class). Used by
//! `a2x study` for the held-out photos; the page can show the same numbers.

use super::estimate::perturb;
use super::{read_values, Classifier, EngineError};
use burn::tensor::activation::softmax;
use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// What p does to a set of images.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct Transfer {
    /// Mean P(K(Clip(x + p)) → ℓ) over the images.
    pub target_probability: f32,
    /// Fraction of the images whose top-1 class becomes ℓ.
    pub top1_rate: f32,
    pub images: usize,
}

/// Classifies Clip(x + p) for every image x of `images` (`[n, C, H, W]`), `chunk` at a time.
pub async fn transfer<C: Classifier + ?Sized>(
    classifier: &C,
    images: Tensor<4>,
    perturbation: Tensor<4>,
    target: usize,
    chunk: usize,
) -> Result<Transfer, EngineError> {
    let n = images.dims()[0];
    if n == 0 {
        return Err(EngineError::Config("no images to measure the perturbation on".into()));
    }
    if target >= classifier.num_classes() {
        return Err(EngineError::Config(format!("target {target} is not one of the model's {} classes", classifier.num_classes())));
    }
    let (mut probability_sum, mut hits) = (0f64, 0usize);
    for start in (0..n).step_by(chunk.max(1)) {
        let part = images.clone().slice([start..(start + chunk.max(1)).min(n)]).detach();
        let logits = classifier.logits(perturb(part, perturbation.clone().detach())).detach();
        let [rows, _] = logits.dims();
        let target_logit = logits.clone().slice([0..rows, target..target + 1]);
        let is_top1 = target_logit.greater_equal(logits.clone().max_dim(1)).float().reshape([rows]);
        let probability = softmax(logits, 1).slice([0..rows, target..target + 1]).reshape([rows]);
        let values = read_values(Tensor::cat(vec![probability, is_top1], 0)).await?;
        probability_sum += values[..rows].iter().map(|&v| v as f64).sum::<f64>();
        hits += values[rows..].iter().filter(|&&v| v > 0.5).count();
    }
    Ok(Transfer { target_probability: (probability_sum / n as f64) as f32, top1_rate: hits as f32 / n as f32, images: n })
}
