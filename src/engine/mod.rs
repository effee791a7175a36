//! The attack engine: "Attack to Explain Deep Representation" (Jalwana et al., CVPR 2020).
//!
//! - [`estimate`]: Algorithm 1, perturbation estimation, one iteration at a time.
//! - [`refine`]: Algorithm 2, perturbation refinement.
//! - [`schedule`]: section 5.1, their alternation, as a [`schedule::Run`] that the UI or the CLI
//!   steps one iteration at a time, receiving an [`Event`] after each.
//!
//! The engine knows nothing of the UI, of files or of the network. It runs on any burn
//! [`Device`](burn::tensor::Device) (WebGPU, Vulkan, ndarray): one code path for every backend, and
//! every readback is async so it also runs in the browser.
//!
//! # Open choices
//! The paper leaves these open (see `shared/paper/ALGORITHMS.md`); each is decided where it is made:
//! - **O1** "x ⊖ p" is x + p, clipped to [0, 1] afterwards — [`estimate::perturb`].
//! - **O2** The ± check of lines 11–14 runs on the whole D̄ by default ([`SignCheck::AllSamples`],
//!   faithful); [`SignCheck::Batch`] uses the iteration's mini-batch instead (b−1 images, about
//!   |D̄|/b times cheaper) and is named as such wherever it is offered.
//! - **O3** Per-sample gradients come from one backward pass over the summed loss of a chunk (the
//!   classifier is in eval mode, so each input's gradient is its own); chunks of
//!   [`RunConfig::chunk`] images bound memory, and the result does not depend on the chunk size —
//!   [`estimate::input_gradients`].
//! - **O4** Otsu on a float map: 256 bins between the map's min and max — [`otsu`].
//! - **O5** Algorithm 2's Clip of p: to [−1, 1], the range a perturbation of a [0, 1] image can
//!   have (clipping to [0, 1] would delete its negative half); then p is projected back onto the
//!   η-ball so ‖p‖₂ ≤ η holds after every step — [`refine::refine`].
//! - **O6** The convolutional base sees the perturbation as it is shown: p + ½ (mid-grey centred),
//!   clipped to [0, 1], through the model's own normalisation — [`refine::refine`].
//! - **O7** η is measured on [0, 1] images (η = 10 on 224×224×3 is ≈ 0.038 per pixel RMS).
//! - **O8** All randomness comes from one seeded SplitMix64 — [`sampling::Rng`].
//! - **O9** γ may never be reached: [`RefineStart::AfterGamma`] is the paper's schedule taken
//!   literally (no refinement before ℘ ≥ γ), [`RefineStart::EveryInterval`] refines after every
//!   `refine_every`-th iteration regardless; every event says whether γ has been reached.
//! - **O10** Line 10 has no step size; ρ is kept as written (≈ ±1 per pixel) and the projection of
//!   line 20 rescales it.
//!
//! Readings of the pseudo-code that are not in the list above:
//! - Line 4 overwrites d with Clip(d ⊖ p_t) every iteration, which taken literally compounds
//!   every past p into the seed. p is the whole perturbation, so d is recomputed from the original
//!   seed d̄ each iteration: d = Clip(d̄ + p_{t−1}); likewise D = Clip(D_raw + p_{t−1}).
//! - Line 21's D is the raw mini-batch of line 3: S_p = Clip({d̄} ∪ D_raw + p_t).
//! - Line 10's ε: ρ = μ̂ / (√σ̂ + ε) with μ̂, σ̂ the bias-corrected moments, ε = 1e-8 (Adam's).

pub mod cubic;
pub mod estimate;
pub mod otsu;
pub mod refine;
pub mod sampling;
pub mod schedule;

use burn::tensor::Tensor;
use serde::{Deserialize, Serialize};

/// What the engine needs of a classifier. Images are NCHW in [0, 1]; the classifier applies its
/// own normalisation. It must be deterministic (eval mode: no dropout, frozen batch norm), and its
/// parameters must not require gradients: the engine differentiates with respect to the input
/// only, and tracked parameters would make every forward pass keep its activations.
pub trait Classifier {
    /// Logits, `[batch, classes]`.
    fn logits(&self, images: Tensor<4>) -> Tensor<2>;
    /// Feature maps of the convolutional base (everything before global pooling), NCHW.
    fn features(&self, images: Tensor<4>) -> Tensor<4>;
    /// Input shape `[channels, height, width]`.
    fn input_shape(&self) -> [usize; 3];
    /// Number of classes.
    fn num_classes(&self) -> usize;
}

/// A boxed classifier is a classifier (so the CLI can pick a model at run time).
impl<C: Classifier + ?Sized> Classifier for Box<C> {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        (**self).logits(images)
    }
    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        (**self).features(images)
    }
    fn input_shape(&self) -> [usize; 3] {
        (**self).input_shape()
    }
    fn num_classes(&self) -> usize {
        (**self).num_classes()
    }
}

/// Where the ± check of Algorithm 1, lines 11–14, evaluates (open choice O2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SignCheck {
    /// The whole sample set D̄, as written (two passes over |D̄| images per iteration).
    AllSamples,
    /// The iteration's mini-batch D only (b − 1 images): cheaper, not the paper's.
    Batch,
}

/// When refinement starts (open choice O9).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RefineStart {
    /// As written: refine once ℘ ≥ γ, then after every `refine_every`-th iteration.
    AfterGamma,
    /// After every `refine_every`-th iteration whether or not γ was reached.
    EveryInterval,
}

/// A rectangle, in input pixels, for region-specific semantics.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub top: usize,
    pub left: usize,
    pub height: usize,
    pub width: usize,
}

/// Every setting of a run. The defaults are the paper's (section 5.1).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RunConfig {
    /// ℓ_target: the class index the perturbation should show.
    pub target: usize,
    /// η: bound on ‖p‖₂ (images in [0, 1], O7).
    pub eta: f32,
    /// γ: stop estimating once ℘ ≥ γ.
    pub gamma: f32,
    /// b: mini-batch size, seed included (the seed plus b − 1 samples).
    pub batch: usize,
    /// Total iterations of Algorithm 1.
    pub iterations: usize,
    /// Refine after every this-many iterations (0: never refine).
    pub refine_every: usize,
    /// λ: value of the binarised mask in Algorithm 2.
    pub lambda: f32,
    /// α, β: first and second moment decay.
    pub alpha: f32,
    pub beta: f32,
    /// ε of line 10.
    pub epsilon: f32,
    /// Seed of every random draw (O8).
    pub rng_seed: u64,
    /// Images per forward/backward pass (memory bound; the result does not depend on it).
    pub chunk: usize,
    pub sign_check: SignCheck,
    pub refine_start: RefineStart,
    /// Region-specific semantics: this rectangle is replaced by the samples' mean pixel.
    pub region: Option<Region>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            target: 0,
            eta: 10.0,
            gamma: 0.8,
            batch: 32,
            iterations: 300,
            refine_every: 50,
            lambda: 5.0,
            alpha: 0.9,
            beta: 0.999,
            epsilon: 1e-8,
            rng_seed: 0,
            chunk: 32,
            sign_check: SignCheck::AllSamples,
            refine_start: RefineStart::AfterGamma,
            region: None,
        }
    }
}

/// Wall time of each phase of one iteration, in milliseconds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PhaseTimes {
    /// Lines 3–10: sampling, per-sample gradients, fusion, moments.
    pub gradient_ms: f64,
    /// Lines 11–19: the ± check.
    pub sign_check_ms: f64,
    /// Lines 20–22: projection and ℘.
    pub probability_ms: f64,
    /// Algorithm 2, when it ran.
    pub refine_ms: f64,
}

/// What happened in one iteration.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// t, from 1.
    pub iteration: usize,
    /// ℘: mean target probability on Clip({d̄} ∪ D + p_t) (line 22).
    pub target_probability: f32,
    /// The same on the seed alone and on the b − 1 samples alone.
    pub seed_probability: f32,
    pub samples_probability: f32,
    /// ϱ⁺ and ϱ⁻ (lines 13–14).
    pub rho_plus: f32,
    pub rho_minus: f32,
    /// +1 when p + ρ was taken, −1 for p − ρ.
    pub sign: i8,
    /// ‖p_t‖₂ after the step (and after the refinement, if one ran).
    pub perturbation_norm: f32,
    /// ξ of line 6.
    pub xi: f32,
    /// Whether Algorithm 2 ran after this iteration.
    pub refined: bool,
    /// Whether ℘ ≥ γ has happened at any iteration so far.
    pub gamma_reached: bool,
    pub times: PhaseTimes,
}

/// Reads a tensor back to the host asynchronously (a synchronous read panics on WebGPU).
pub async fn read_values<const D: usize>(tensor: Tensor<D>) -> Result<Vec<f32>, EngineError> {
    tensor
        .into_data_async()
        .await
        .map_err(|e| EngineError::Readback(format!("{e:?}")))?
        .try_into_vec::<f32>()
        .map_err(|e| EngineError::Readback(format!("{e:?}")))
}

/// Errors of the engine. Bad shapes are caught before any computation.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("invalid setting: {0}")]
    Config(String),
    #[error("reading a result back from the device failed: {0}")]
    Readback(String),
}
