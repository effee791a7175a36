//! Algorithm 2 — perturbation refinement.

use super::cubic::resize_bicubic;
use super::estimate::project;
use super::otsu::otsu;
use super::{read_values, Classifier, EngineError, RefineInput};
use burn::tensor::{Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// What one refinement did, for display and tests.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Refinement {
    /// Shape `[h, w]` of the feature maps.
    pub map_shape: [usize; 2],
    /// a: the channel mean of the feature maps (line 3), row-major.
    pub activation: Vec<f32>,
    /// τ (line 4); `None` when the map was constant and p was left as it was.
    pub threshold: Option<f32>,
    /// The binarised map (line 5): every value is 0 or λ.
    pub mask: Vec<f32>,
    /// Fraction of p's entries that line 7's clip to [−1, 1] changed (O5: how much the choice
    /// of clip range matters).
    pub clipped_fraction: f32,
}

/// Algorithm 2 on `perturbation` (`[1, C, H, W]`); returns the refined, projected perturbation.
pub async fn refine<C: Classifier>(
    classifier: &C,
    perturbation: Tensor<4>,
    lambda: f32,
    eta: f32,
    input: RefineInput,
) -> Result<(Tensor<4>, Refinement), EngineError> {
    let [_, channels, height, width] = perturbation.dims();
    let device = perturbation.device();
    // Line 2: Ω ← K̃(p). O6: the base sees p on mid-grey, at its amplitude or at full contrast.
    let shown = match input {
        RefineInput::MidGrey => perturbation.clone().detach() + 0.5,
        RefineInput::Visualized => {
            let largest = perturbation.clone().detach().abs().max().clamp_min(1e-12).reshape([1, 1, 1, 1]);
            perturbation.clone().detach() / largest.expand([1, channels, height, width]) * 0.5 + 0.5
        }
    }
    .clamp(0.0, 1.0);
    let features = classifier.features(shown).detach();
    let [_, _, map_h, map_w] = features.dims();
    // Line 3: a ← mean over the channels.
    let activation = read_values(features.mean_dim(1)).await?;
    // Line 4: τ ← Otsu(a) (O4). A constant map has no threshold: leave p as it is.
    let Some(split) = otsu(&activation) else {
        return Ok((
            perturbation,
            Refinement { map_shape: [map_h, map_w], mask: activation.clone(), activation, threshold: None, clipped_fraction: 0.0 },
        ));
    };
    // Line 5: a(x, y) ← λ where a > τ, else 0.
    let mask: Vec<f32> = split.foreground.iter().map(|&f| if f { lambda } else { 0.0 }).collect();
    // Line 6: f ← bicubic upsample of a to the image size (Keys, a = −0.5).
    let upsampled = resize_bicubic(&mask, [map_h, map_w], [height, width]);
    let factor: Tensor<4> =
        Tensor::from_data(TensorData::new(upsampled, [1, 1, height, width]), &device);
    // Line 7: p ← Clip(p ⊙ f). O5: clip to [−1, 1], then back onto the η-ball.
    let [n, c, h, w] = perturbation.dims();
    let multiplied = perturbation.detach() * factor.expand([n, c, h, w]);
    let clipped_fraction = read_values(multiplied.clone().abs().greater_elem(1.0).float().mean()).await?[0];
    let refined = project(multiplied.clamp(-1.0, 1.0), eta);
    Ok((
        refined,
        Refinement { map_shape: [map_h, map_w], activation, threshold: Some(split.threshold), mask, clipped_fraction },
    ))
}
