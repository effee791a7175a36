//! Algorithm 2 — perturbation refinement.

use super::cubic::resize_bicubic;
use super::estimate::project;
use super::otsu::otsu;
use super::{read_values, Classifier, EngineError};
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
}

/// Algorithm 2 on `perturbation` (`[1, C, H, W]`); returns the refined, projected perturbation.
pub async fn refine<C: Classifier>(
    classifier: &C,
    perturbation: Tensor<4>,
    lambda: f32,
    eta: f32,
) -> Result<(Tensor<4>, Refinement), EngineError> {
    let [_, _, height, width] = perturbation.dims();
    let device = perturbation.device();
    // Line 2: Ω ← K̃(p). O6: the base sees p as it is shown, mid-grey centred, in [0, 1].
    let shown = (perturbation.clone().detach() + 0.5).clamp(0.0, 1.0);
    let features = classifier.features(shown).detach();
    let [_, _, map_h, map_w] = features.dims();
    // Line 3: a ← mean over the channels.
    let activation = read_values(features.mean_dim(1)).await?;
    // Line 4: τ ← Otsu(a) (O4). A constant map has no threshold: leave p as it is.
    let Some(split) = otsu(&activation) else {
        return Ok((
            perturbation,
            Refinement { map_shape: [map_h, map_w], mask: activation.clone(), activation, threshold: None },
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
    let refined = (perturbation.detach() * factor.expand([n, c, h, w])).clamp(-1.0, 1.0);
    let refined = project(refined, eta);
    Ok((
        refined,
        Refinement { map_shape: [map_h, map_w], activation, threshold: Some(split.threshold), mask },
    ))
}
