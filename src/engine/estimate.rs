//! Algorithm 1 — perturbation estimation: the building blocks of one iteration, each a function
//! named after what it computes; [`super::schedule::Run::step`] strings them together in the
//! order of the pseudo-code.

use super::{Classifier, Fusion};
use burn::tensor::activation::{log_softmax, softmax};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Tensor, TensorData};

/// O1: "x ⊖ p" = Clip(x + p) with p broadcast over the batch.
pub fn perturb(images: Tensor<4>, perturbation: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = images.dims();
    (images + perturbation.expand([n, c, h, w])).clamp(0.0, 1.0)
}

/// Splits `images` along the batch into chunks of at most `chunk` images.
fn chunks(images: Tensor<4>, chunk: usize) -> Vec<Tensor<4>> {
    let n = images.dims()[0];
    let chunk = chunk.max(1);
    if n <= chunk {
        return vec![images];
    }
    (0..n).step_by(chunk).map(|s| images.clone().slice([s..(s + chunk).min(n)])).collect()
}

/// ∇ₓ J(x, ℓ) for every image x of the batch, `[n, C, H, W]` (lines 6–7; O3).
///
/// J is the cross-entropy of the target class. In eval mode the images do not interact, so the
/// gradient of Σᵢ J(xᵢ, ℓ) with respect to xᵢ is xᵢ's own gradient: one backward pass per chunk
/// gives them all. The device must have autodiff enabled.
pub fn input_gradients<C: Classifier>(
    classifier: &C,
    images: Tensor<4>,
    target: usize,
    chunk: usize,
) -> Tensor<4> {
    let gradients: Vec<Tensor<4>> = chunks(images, chunk)
        .into_iter()
        .map(|part| {
            let part = part.detach().require_grad();
            let logits = classifier.logits(part.clone());
            let [n, classes] = logits.dims();
            assert!(target < classes, "target {target} out of range for {classes} classes");
            let loss = -log_softmax(logits, 1).slice([0..n, target..target + 1]).sum();
            let grads = loss.backward();
            part.grad(&grads).expect("the input is tracked").detach()
        })
        .collect();
    Tensor::cat(gradients, 0)
}

/// P(K(x) → ℓ) for every image of the batch, `[n]`, without gradients.
pub fn target_probabilities<C: Classifier>(
    classifier: &C,
    images: Tensor<4>,
    target: usize,
    chunk: usize,
) -> Tensor<1> {
    let probabilities: Vec<Tensor<1>> = chunks(images.detach(), chunk)
        .into_iter()
        .map(|part| {
            let logits = classifier.logits(part).detach();
            let [n, _] = logits.dims();
            softmax(logits, 1).slice([0..n, target..target + 1]).reshape([n])
        })
        .collect();
    Tensor::cat(probabilities, 0)
}

/// ℓ2 norm of each image of the batch, `[n]`.
pub fn per_image_norms(images: Tensor<4>) -> Tensor<1> {
    let [n, _, _, _] = images.dims();
    images.square().sum_dims(&[1, 2, 3]).sqrt().reshape([n])
}

/// Lines 6–7: the fused gradient g_t and ξ.
///
/// ξ = ‖∇_d J(d)‖₂ / mean_i ‖∇_{dᵢ} J(dᵢ)‖₂;  g = ½ ∇_d J(d) + (ξ/2) · mean_i ∇_{dᵢ} J(dᵢ).
/// `seed_gradient` is `[1, C, H, W]`, `sample_gradients` `[b − 1, C, H, W]`. Returns (g, ξ as `[1]`).
///
/// With [`Fusion::Balanced`] the denominator is the length of the mean gradient instead,
/// ‖mean_i ∇_{dᵢ} J(dᵢ)‖₂, so both halves of g have the seed gradient's length.
pub fn fuse_gradients(
    seed_gradient: Tensor<4>,
    sample_gradients: Tensor<4>,
    fusion: Fusion,
) -> (Tensor<4>, Tensor<1>) {
    let seed_norm = per_image_norms(seed_gradient.clone()); // [1]
    let mean_sample_gradient = sample_gradients.clone().mean_dim(0); // [1, C, H, W]
    let sample_scale = match fusion {
        Fusion::AsWritten => per_image_norms(sample_gradients).mean(),
        Fusion::Balanced => per_image_norms(mean_sample_gradient.clone()),
    };
    // Clamped away from 0: when every sample is already classified as the target with
    // certainty their gradients vanish, and ξ = ‖∇d‖/0 would turn p into NaN.
    let xi = seed_norm / sample_scale.clamp_min(1e-30); // line 6
    let fused = seed_gradient * 0.5
        + mean_sample_gradient * xi.clone().reshape([1, 1, 1, 1]) * 0.5; // line 7
    (fused, xi)
}

/// Lines 8–10: the Adam-like moments and the bias-corrected step ρ.
#[derive(Clone, Debug)]
pub struct Moments {
    /// μ_t (first moment).
    pub mean: Tensor<4>,
    /// σ_t (second moment).
    pub variance: Tensor<4>,
    /// t: number of updates so far.
    pub steps: i32,
    pub alpha: f32,
    pub beta: f32,
    pub epsilon: f32,
}

impl Moments {
    /// μ₀ = σ₀ = 0 (line 1).
    pub fn new(zeros: Tensor<4>, alpha: f32, beta: f32, epsilon: f32) -> Self {
        Moments { mean: zeros.clone(), variance: zeros, steps: 0, alpha, beta, epsilon }
    }

    /// Lines 8–10 with g_t: updates μ and σ and returns ρ = μ̂ / (√σ̂ + ε), where
    /// μ̂ = μ_t / (1 − αᵗ) and σ̂ = σ_t / (1 − βᵗ) — line 10's (μ_t √(1−βᵗ)) ⊘ (√σ_t (1−αᵗ)) with ε.
    pub fn update(&mut self, gradient: Tensor<4>) -> Tensor<4> {
        self.steps += 1;
        let (alpha, beta) = (self.alpha as f64, self.beta as f64);
        self.mean = self.mean.clone() * alpha + gradient.clone() * (1.0 - alpha); // line 8
        self.variance = self.variance.clone() * beta + gradient.square() * (1.0 - beta); // line 9
        let mean_hat = self.mean.clone() / (1.0 - alpha.powi(self.steps));
        let variance_hat = self.variance.clone() / (1.0 - beta.powi(self.steps));
        mean_hat / (variance_hat.sqrt() + self.epsilon as f64) // line 10
    }
}

/// ρ / ‖ρ‖_∞ (lines 11–12). A zero ρ stays zero.
pub fn unit_max_norm(step: Tensor<4>) -> Tensor<4> {
    let max = step.clone().abs().max().clamp_min(1e-30).reshape([1, 1, 1, 1]);
    let [n, c, h, w] = step.dims();
    step / max.expand([n, c, h, w])
}

/// The normalised Gaussian kernel of standard deviation `sigma` pixels, radius ⌈3σ⌉.
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(1.0) as i32;
    let weights: Vec<f64> = (-radius..=radius).map(|x| (-(x * x) as f64 / (2.0 * (sigma as f64).powi(2))).exp()).collect();
    let total: f64 = weights.iter().sum();
    weights.iter().map(|w| (w / total) as f32).collect()
}

/// Translation-invariant smoothing of a gradient (Dong et al., CVPR 2019, "TI"): each channel
/// convolved with a Gaussian of `sigma` pixels (separable; zeros beyond the border). A pattern
/// built from smoothed gradients holds when it is shifted or resampled by a few pixels.
pub fn smooth(gradient: Tensor<4>, sigma: f32) -> Tensor<4> {
    let kernel = gaussian_kernel(sigma);
    let (k, radius) = (kernel.len(), kernel.len() / 2);
    let [_, channels, _, _] = gradient.dims();
    let device = gradient.device();
    let weights = |shape: [usize; 4]| -> Tensor<4> {
        let values: Vec<f32> = (0..channels).flat_map(|_| kernel.iter().copied()).collect();
        Tensor::from_data(TensorData::new(values, shape), &device)
    };
    let rows = ConvOptions::new([1, 1], [radius, 0], [1, 1], channels);
    let columns = ConvOptions::new([1, 1], [0, radius], [1, 1], channels);
    let vertical = conv2d(gradient, weights([channels, 1, k, 1]), None, rows);
    conv2d(vertical, weights([channels, 1, 1, k]), None, columns)
}

/// O10 with a step size: `step` rescaled to ℓ2 length `length` (a zero step stays zero).
pub fn with_length(step: Tensor<4>, length: f32) -> Tensor<4> {
    let norm = per_image_norms(step.clone()).clamp_min(1e-30).reshape([1, 1, 1, 1]);
    let [n, c, h, w] = step.dims();
    step / norm.expand([n, c, h, w]) * length as f64
}

/// Inpainting's 1 − F: `hole` (`h × w`, row-major, 1 inside the hole) turned into a
/// `[1, c, h, w]` tensor that is 1 outside the hole and 0 inside.
pub fn outside_of_hole(hole: &[f32], [c, h, w]: [usize; 3], device: &burn::tensor::Device) -> Tensor<4> {
    let outside: Vec<f32> = hole.iter().map(|&f| 1.0 - f.clamp(0.0, 1.0)).collect();
    Tensor::<4>::from_data(TensorData::new(outside, [1, 1, h, w]), device).expand([1, c, h, w])
}

/// Line 20: p · min(1, η / ‖p‖₂), the projection onto the ℓ2 ball of radius η, of each image of
/// the batch on its own (so also PGD's Π_ε of its differences; a zero p stays zero).
pub fn project(perturbation: Tensor<4>, eta: f32) -> Tensor<4> {
    let [n, c, h, w] = perturbation.dims();
    let norm = per_image_norms(perturbation.clone()); // [n]
    let scale = (norm.recip() * eta as f64).clamp_max(1.0).reshape([n, 1, 1, 1]);
    perturbation * scale.expand([n, c, h, w])
}
