//! Section 5.1's schedule: Algorithm 1 until ℘ ≥ γ, then Algorithm 2, then Algorithm 1 again with
//! a refinement after every `refine_every`-th iteration, up to `iterations` in all (O9 decides what
//! happens when γ is never reached). A [`Run`] advances one iteration per [`Run::step`], so the
//! caller can show every event, yield to the browser, or cancel between iterations.
//!
//! [`Run::step`] is Algorithm 1 as the pseudo-code reads, its line numbers in the comments. a2x's
//! additions sit around it in the order they act, each a setting of [`RunConfig`] that leaves
//! the paper's line as written when off (`RunConfig::additions` names the ones a run uses):
//! 1. transforms — where p lands on each image (lines 4, 13–14, 21–22; [`super::transforms`]);
//! 2. ξ balanced — line 6 ([`super::Fusion`]);
//! 3. terms on the fused gradient g — smoothing by σ, then inpainting's hole constraint (Eq. 4);
//! 4. the parameterisation — the moments of lines 8–10 in another basis ([`super::param`]);
//! 5. the step size — after line 10 (O10);
//! 6. the probe of the ± check — lines 11–12 ([`super::SignProbe`]).

use super::estimate::{
    fuse_gradients, input_gradients, outside_of_hole, perturb, per_image_norms, project, target_probabilities,
    smooth, unit_max_norm, with_length, Moments,
};
use super::param::Basis;
use super::penalty::{HolePenalty, PenaltyForm};
use super::refine::{refine, Refinement};
use super::sampling::Rng;
use super::transforms::Placements;
use super::{read_values as read, Classifier, EngineError, Event, PhaseTimes, RefineStart, Region, RunConfig, SignCheck, SignProbe};
use crate::clock::now_ms;
use burn::tensor::{Int, Tensor, TensorData};

/// The placements' random stream is the run's seed XOR this, apart from the mini-batches', so
/// that a run with transforms draws the same mini-batches as one without.
const PLACEMENT_STREAM: u64 = 0x7A2F_0021_0000_0001;

/// One explanation run: the state of Algorithm 1 between iterations.
pub struct Run<'a, C: Classifier> {
    classifier: &'a C,
    config: RunConfig,
    /// d̄: the original seed, `[1, C, H, W]` (region already applied).
    seed: Tensor<4>,
    /// D̄: the raw samples, `[N, C, H, W]` (region already applied).
    samples: Tensor<4>,
    /// p_t.
    perturbation: Tensor<4>,
    moments: Moments,
    rng: Rng,
    /// t: iterations done.
    iteration: usize,
    gamma_reached: bool,
    last_refinement: Option<Refinement>,
    /// Inpainting (section 5.2): how g is kept to the hole, if at all.
    hole: Option<Hole>,
    /// The parameterisation made concrete (pixels: as written).
    basis: Basis,
    /// Where the transforms' draws come from (unused without transforms).
    placement_rng: Rng,
}

/// Everything of a run that changes from one iteration to the next — Algorithm 1's p_t, μ_t, σ_t
/// and t (line 1's state), whether ℘ has reached γ, and both random streams' positions — as
/// plain data. A run set up from the same request and [`Run::restore`]d from it goes on exactly
/// as the run it was taken from (issue #23: a web worker that dies resumes from the last one).
/// μ and σ are in the parameterisation's basis, as the moments keep them.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunCheckpoint {
    pub iteration: usize,
    pub gamma_reached: bool,
    pub rng: u64,
    pub placement_rng: u64,
    /// The moments' own count of updates (t of lines 8–10's bias correction).
    pub moment_steps: i32,
    pub perturbation: Vec<f32>,
    pub mean: Vec<f32>,
    pub variance: Vec<f32>,
}

/// Inpainting's ways of keeping p to the hole F (`tasks::HoleConstraint` names the three).
enum Hole {
    /// Eq. 4's penalty; with `loss_check` the ± check compares Eq. 4's loss instead of the
    /// target probability.
    Penalty { penalty: HolePenalty, loss_check: bool },
    /// β → ∞: F broadcast to `[1, C, H, W]` (1 inside the hole).
    StepInside { inside: Tensor<4> },
}

/// Region-specific semantics: every image's `region` replaced by the samples' mean pixel.
fn fill_region(images: Tensor<4>, region: Region, mean_pixel: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = images.dims();
    let mut inside = vec![0f32; h * w];
    for y in region.top..region.top + region.height {
        inside[y * w + region.left..y * w + region.left + region.width].fill(1.0);
    }
    let inside: Tensor<4> =
        Tensor::from_data(TensorData::new(inside, [1, 1, h, w]), &images.device());
    let inside = inside.expand([n, c, h, w]);
    images * (inside.clone().neg() + 1.0) + mean_pixel.expand([n, c, h, w]) * inside
}

impl<'a, C: Classifier> Run<'a, C> {
    /// Sets up a run. `seed` is `[1, C, H, W]` and `samples` `[N, C, H, W]`, in [0, 1], on the
    /// device to compute on (with autodiff enabled).
    pub fn new(
        classifier: &'a C,
        seed: Tensor<4>,
        samples: Tensor<4>,
        config: RunConfig,
    ) -> Result<Self, EngineError> {
        let bad = |m: String| Err(EngineError::Config(m));
        let [c, h, w] = classifier.input_shape();
        if seed.dims() != [1, c, h, w] {
            return bad(format!("the seed is {:?}, the model takes [1, {c}, {h}, {w}]", seed.dims()));
        }
        let [n, sc, sh, sw] = samples.dims();
        if [sc, sh, sw] != [c, h, w] {
            return bad(format!("the samples are {:?}, the model takes [N, {c}, {h}, {w}]", samples.dims()));
        }
        if config.batch < 2 {
            return bad(format!("the mini-batch b = {} must hold the seed and at least one sample", config.batch));
        }
        if n < config.batch - 1 {
            return bad(format!("{n} samples cannot fill a mini-batch of b − 1 = {}", config.batch - 1));
        }
        if config.target >= classifier.num_classes() {
            return bad(format!("target {} is not one of the model's {} classes", config.target, classifier.num_classes()));
        }
        if !(config.eta > 0.0 && config.eta.is_finite()) {
            return bad(format!("η = {} must be positive", config.eta));
        }
        if !(0.0..1.0).contains(&config.alpha) || !(0.0..1.0).contains(&config.beta) {
            return bad("α and β must lie in [0, 1)".into());
        }
        if config.chunk == 0 {
            return bad("the chunk size must be at least 1".into());
        }
        if let Some(s) = config.step_size {
            if !(s > 0.0 && s.is_finite()) {
                return bad(format!("the step size {s} must be positive"));
            }
        }
        if let Some(sigma) = config.smoothing {
            if !(sigma > 0.0 && sigma <= 32.0) {
                return bad(format!("the smoothing σ = {sigma} px must lie in (0, 32]"));
            }
        }
        if let Err(m) = config.check_additions() {
            return bad(m);
        }
        let basis = Basis::new(config.param, [c, h, w], &seed.device()).map_err(EngineError::Config)?;
        let (mut seed, mut samples) = (seed.detach(), samples.detach());
        if let Some(region) = config.region {
            let fits = |start: usize, extent: usize, side: usize| start.checked_add(extent).is_some_and(|end| end <= side);
            if region.height == 0 || region.width == 0 || !fits(region.top, region.height, h) || !fits(region.left, region.width, w) {
                return bad(format!("the region {region:?} does not fit in {h}×{w}"));
            }
            let mean_pixel = samples.clone().mean_dims(&[0, 2, 3]); // [1, C, 1, 1]
            seed = fill_region(seed, region, mean_pixel.clone());
            samples = fill_region(samples, region, mean_pixel);
        }
        // Line 1: p₀ = μ₀ = σ₀ = 0, t = 0.
        let zeros = Tensor::zeros([1, c, h, w], &seed.device());
        Ok(Run {
            classifier,
            moments: Moments::new(zeros.clone(), config.alpha, config.beta, config.epsilon),
            rng: Rng::new(config.rng_seed),
            placement_rng: Rng::new(config.rng_seed ^ PLACEMENT_STREAM),
            basis,
            perturbation: zeros,
            seed,
            samples,
            config,
            iteration: 0,
            gamma_reached: false,
            last_refinement: None,
            hole: None,
        })
    }

    /// Inpainting (section 5.2): the loss becomes E[J(I ⊖ p, ℓ)] + β‖p ⊙ (1 − F)‖₂ (Eq. 4, or
    /// β · the mean square with [`PenaltyForm::MeanSquare`]), where `hole` (`H × W`, row-major)
    /// is F: 1 inside the hole, 0 outside. The penalty's gradient at p_{t−1},
    /// β (p ⊙ (1 − F)) / ‖p ⊙ (1 − F)‖₂ (0 while p is 0 outside), is added to the fused gradient
    /// g of line 7 before the moments, so p grows freely inside the hole and is pulled back to 0
    /// outside it.
    pub fn with_hole_penalty(mut self, hole: &[f32], weight: f32, form: PenaltyForm) -> Result<Self, EngineError> {
        self.hole = Some(Hole::Penalty { penalty: self.penalty_of(hole, weight, form)?, loss_check: false });
        Ok(self)
    }

    /// As [`Run::with_hole_penalty`], and the ± check (lines 11–19) compares Eq. 4's loss at the
    /// two probes, mean J(D̄ ⊖ (p_{t−1} ± ρ), ℓ) + β‖(p_{t−1} ± ρ) ⊙ (1 − F)‖₂ (J = −ln P(ℓ)),
    /// keeping the sign with the lower loss, instead of the target probability alone.
    pub fn with_hole_penalty_in_check(mut self, hole: &[f32], weight: f32, form: PenaltyForm) -> Result<Self, EngineError> {
        self.hole = Some(Hole::Penalty { penalty: self.penalty_of(hole, weight, form)?, loss_check: true });
        Ok(self)
    }

    /// Inpainting with β → ∞ in Eq. 4: g is multiplied by F before the moments, so p changes
    /// only inside the hole (F as in [`Run::with_hole_penalty`]). What each does is measured in
    /// `engine/tasks.rs`.
    pub fn with_step_inside_hole(mut self, hole: &[f32]) -> Result<Self, EngineError> {
        self.hole = Some(Hole::StepInside { inside: self.outside_of(hole)?.neg() + 1.0 });
        Ok(self)
    }

    /// The penalty of an `H × W` hole mask, checked against the model's input size.
    fn penalty_of(&self, hole: &[f32], weight: f32, form: PenaltyForm) -> Result<HolePenalty, EngineError> {
        self.check_hole(hole)?;
        Ok(HolePenalty::new(hole, self.classifier.input_shape(), weight, form, &self.seed.device()))
    }

    /// 1 − F of an `H × W` hole mask, checked against the model's input size.
    fn outside_of(&self, hole: &[f32]) -> Result<Tensor<4>, EngineError> {
        self.check_hole(hole)?;
        Ok(outside_of_hole(hole, self.classifier.input_shape(), &self.seed.device()))
    }

    fn check_hole(&self, hole: &[f32]) -> Result<(), EngineError> {
        let [_, h, w] = self.classifier.input_shape();
        if hole.len() != h * w {
            return Err(EngineError::Config(format!("the hole mask has {} values, the image {h}×{w}", hole.len())));
        }
        Ok(())
    }

    pub fn config(&self) -> &RunConfig {
        &self.config
    }

    /// p_t, `[1, C, H, W]`.
    pub fn perturbation(&self) -> Tensor<4> {
        self.perturbation.clone()
    }

    /// d̄ as the engine uses it (with the region filled, if one is set).
    pub fn seed(&self) -> Tensor<4> {
        self.seed.clone()
    }

    /// D̄ as the engine uses it (with the region filled, if one is set).
    pub fn samples(&self) -> Tensor<4> {
        self.samples.clone()
    }

    /// t: iterations done so far.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// All iterations done, or — with `stop_at_gamma`, Algorithm 1's line 2 — ℘ ≥ γ reached.
    pub fn is_finished(&self) -> bool {
        self.iteration >= self.config.iterations || (self.config.stop_at_gamma && self.gamma_reached)
    }

    /// The run's state after its last iteration, read back from the device.
    pub async fn checkpoint(&self) -> Result<RunCheckpoint, EngineError> {
        Ok(RunCheckpoint {
            iteration: self.iteration,
            gamma_reached: self.gamma_reached,
            rng: self.rng.state(),
            placement_rng: self.placement_rng.state(),
            moment_steps: self.moments.steps,
            perturbation: read(self.perturbation.clone()).await?,
            mean: read(self.moments.mean.clone()).await?,
            variance: read(self.moments.variance.clone()).await?,
        })
    }

    /// Puts the run where `checkpoint` was taken: a run of the same request restored from a
    /// checkpoint of iteration t steps on as that run did after t. A checkpoint of another shape
    /// (another model, another parameterisation) is refused.
    pub fn restore(&mut self, checkpoint: &RunCheckpoint) -> Result<(), EngineError> {
        let device = self.seed.device();
        let tensor = |values: &[f32], like: &Tensor<4>, what: &str| {
            let dims = like.dims();
            if values.len() != dims.iter().product::<usize>() {
                return Err(EngineError::Config(format!("the checkpoint's {what} has {} values, the run's {:?}", values.len(), dims)));
            }
            Ok(Tensor::<4>::from_data(TensorData::new(values.to_vec(), dims), &device))
        };
        if checkpoint.iteration > self.config.iterations || checkpoint.moment_steps < 0 {
            return Err(EngineError::Config(format!("a checkpoint of iteration {} does not fit a run of {}", checkpoint.iteration, self.config.iterations)));
        }
        let perturbation = tensor(&checkpoint.perturbation, &self.perturbation, "p")?;
        let mean = tensor(&checkpoint.mean, &self.moments.mean, "μ")?;
        let variance = tensor(&checkpoint.variance, &self.moments.variance, "σ")?;
        self.perturbation = perturbation;
        self.moments.mean = mean;
        self.moments.variance = variance;
        self.moments.steps = checkpoint.moment_steps;
        self.rng = Rng::new(checkpoint.rng);
        self.placement_rng = Rng::new(checkpoint.placement_rng);
        self.iteration = checkpoint.iteration;
        self.gamma_reached = checkpoint.gamma_reached;
        Ok(())
    }

    /// What the last refinement did, if one ran.
    pub fn last_refinement(&self) -> Option<&Refinement> {
        self.last_refinement.as_ref()
    }

    /// Where p lands on `n` images this iteration: `None` without transforms (p as it is, as
    /// written), otherwise a fresh draw per image.
    fn draw_placements(&mut self, n: usize) -> Option<Placements> {
        if self.config.transforms.is_empty() {
            return None;
        }
        let shape = self.classifier.input_shape();
        Some(Placements::draw(&self.config.transforms, n, &mut self.placement_rng, shape, &self.seed.device()))
    }

    /// The terms a2x adds to the fused gradient g of line 7, in order: smoothing by σ
    /// (translation-invariant attacks, Dong et al. 2019), then inpainting's hole constraint —
    /// + ∇ β‖p ⊙ (1 − F)‖ at p_{t−1} (Eq. 4, see `with_hole_penalty`; or its other form), or g ⊙ F.
    fn gradient_terms(&self, fused: Tensor<4>, previous: &Tensor<4>) -> Tensor<4> {
        let fused = match self.config.smoothing {
            Some(sigma) => smooth(fused, sigma),
            None => fused,
        };
        match &self.hole {
            Some(Hole::Penalty { penalty, .. }) => fused + penalty.gradient(previous.clone()),
            Some(Hole::StepInside { inside }) => fused * inside.clone(),
            None => fused,
        }
    }

    /// P(K(Clip(x + p)) → ℓ) for each image x of `images`, p placed on each as `placements`
    /// say (as written without), in chunks.
    fn probabilities(&self, images: Tensor<4>, perturbation: Tensor<4>, placements: Option<&Placements>) -> Tensor<1> {
        let (target, chunk) = (self.config.target, self.config.chunk);
        let Some(placements) = placements else {
            return target_probabilities(self.classifier, perturb(images, perturbation), target, chunk);
        };
        let n = images.dims()[0];
        let device = images.device();
        let parts: Vec<Tensor<1>> = (0..n)
            .step_by(chunk)
            .map(|start| {
                let end = (start + chunk).min(n);
                let placed = placements.part(start..end, &device).place(perturbation.clone());
                let part = (images.clone().slice([start..end]) + placed).clamp(0.0, 1.0);
                target_probabilities(self.classifier, part, target, chunk)
            })
            .collect();
        Tensor::cat(parts, 0)
    }

    /// One iteration of Algorithm 1 (lines 3–22), then Algorithm 2 when the schedule says so.
    pub async fn step(&mut self) -> Result<Event, EngineError> {
        if self.is_finished() {
            return Err(EngineError::Config("the run has done all its iterations".into()));
        }
        let config = self.config.clone();
        let (classifier, target, chunk) = (self.classifier, config.target, config.chunk);
        let device = self.seed.device();
        let mut times = PhaseTimes::default();
        let start = now_ms();

        // Line 3: draw D ⊂ D̄ with |D| = b − 1.
        let picks = self.rng.distinct(self.samples.dims()[0], config.batch - 1);
        let picks: Vec<i64> = picks.into_iter().map(|i| i as i64).collect();
        let picks = Tensor::<1, Int>::from_data(TensorData::new(picks, [config.batch - 1]), &device);
        let batch_raw = self.samples.clone().select(0, picks);
        // a2x, transforms: where p lands on d̄ and on each image of D this iteration.
        let placements = self.draw_placements(config.batch);
        let sample_placements = placements.as_ref().map(|all| all.part(1..config.batch, &device));
        // Line 4: d ← Clip(d̄ ⊖ p), D ← Clip(D ⊖ p) (from d̄ and the raw D, see the module notes).
        let previous = self.perturbation.clone();
        let seed_and_batch = Tensor::cat(vec![self.seed.clone(), batch_raw.clone()], 0);
        let now = match &placements {
            None => Tensor::cat(vec![perturb(self.seed.clone(), previous.clone()), perturb(batch_raw.clone(), previous.clone())], 0),
            Some(placed) => (seed_and_batch.clone() + placed.place(previous.clone())).clamp(0.0, 1.0),
        };
        // Line 5: t ← t + 1.
        self.iteration += 1;
        let t = self.iteration;
        // Lines 6–7: ∇J(·, ℓ) of every image (with transforms, carried back to p through its
        // placement), ξ, and the fused gradient g.
        let gradients = input_gradients(classifier, now, target, chunk);
        let gradients = match &placements {
            Some(placed) => placed.carry_back(gradients),
            None => gradients,
        };
        let seed_gradient = gradients.clone().slice([0..1]);
        let sample_gradients = gradients.slice([1..config.batch]);
        let (fused, xi) = fuse_gradients(seed_gradient, sample_gradients, config.fusion);
        let fused = self.gradient_terms(fused, &previous);
        // Lines 8–10: moments and ρ, in the parameterisation's basis (as written: the pixels).
        let step = self.basis.to_pixels(self.moments.update(self.basis.to_parameters(fused)));
        // Inpainting with β → ∞: P spreads a step in another basis over the whole picture, so
        // it is confined to the hole again (in pixels it already is, and ⊙ F changes no value).
        let step = match &self.hole {
            Some(Hole::StepInside { inside }) if !self.basis.is_pixels() => step * inside.clone(),
            _ => step,
        };
        // O10: with a step size, a move of s·η along ρ.
        let step = match config.step_size {
            None => step,
            Some(size) => with_length(step, size * config.eta),
        };
        let xi = read(xi).await?[0];
        times.gradient_ms = now_ms() - start;

        // Lines 11–14: ϱ± on D̄ ⊖ (p_{t−1} ± ρ/‖ρ‖_∞) (O2 picks the set; the probe may instead
        // be the step itself, see SignProbe; with transforms, p lands on each image as in line 4,
        // or, on all of D̄, as freshly drawn).
        let start = now_ms();
        let all_placements = match config.sign_check {
            SignCheck::AllSamples => self.draw_placements(self.samples.dims()[0]),
            SignCheck::Batch => None,
        };
        let (check_set, check_placements) = match config.sign_check {
            SignCheck::AllSamples => (self.samples.clone(), all_placements.as_ref()),
            SignCheck::Batch => (batch_raw.clone(), sample_placements.as_ref()),
        };
        let probe = match config.sign_probe {
            SignProbe::UnitMax => unit_max_norm(step.clone()),
            SignProbe::Step => step.clone(),
        };
        let (p_plus, p_minus) = (previous.clone() + probe.clone(), previous.clone() - probe);
        let plus = self.probabilities(check_set.clone(), p_plus.clone(), check_placements);
        let minus = self.probabilities(check_set, p_minus.clone(), check_placements);
        let mut summary = vec![plus.clone().mean(), minus.clone().mean()];
        if let Some(Hole::Penalty { penalty, loss_check: true }) = &self.hole {
            // Eq. 4's loss at each probe: mean −ln P(ℓ) + β‖p ⊙ (1 − F)‖₂ (or the other form).
            let loss = |probabilities: Tensor<1>, p: Tensor<4>| probabilities.clamp_min(1e-30).log().neg().mean() + penalty.value(p);
            summary.push(loss(plus, p_plus));
            summary.push(loss(minus, p_minus));
        }
        let rho = read(Tensor::cat(summary, 0)).await?;
        let (rho_plus, rho_minus) = (rho[0], rho[1]);
        times.sign_check_ms = now_ms() - start;

        // Lines 15–19: keep the direction that raised the target probability more (or, with
        // Eq. 4's loss in the check, lowered that loss more).
        let start = now_ms();
        let plus_wins = match rho.get(2..4) {
            Some([loss_plus, loss_minus]) => loss_plus <= loss_minus,
            _ => rho_plus >= rho_minus,
        };
        let sign: i8 = if plus_wins { 1 } else { -1 };
        let moved = previous + step * sign as f64;
        // Line 20: projection onto the η-ball.
        self.perturbation = project(moved, config.eta);
        // Lines 21–22: ℘ on Clip({d̄} ∪ D ⊖ p_t) (with transforms, placed as in line 4).
        let probabilities = self.probabilities(seed_and_batch, self.perturbation.clone(), placements.as_ref());
        let probabilities = read(probabilities).await?;
        let target_probability = probabilities.iter().sum::<f32>() / probabilities.len() as f32;
        let samples_probability =
            probabilities[1..].iter().sum::<f32>() / (probabilities.len() - 1) as f32;
        times.probability_ms = now_ms() - start;

        // Section 5.1 / O9: refine now?
        let reached_now = target_probability >= config.gamma;
        let first_time = reached_now && !self.gamma_reached;
        self.gamma_reached |= reached_now;
        let interval = config.refine_every > 0 && t % config.refine_every == 0;
        let refine_now = config.refine_every > 0
            && match config.refine_start {
                RefineStart::AfterGamma => first_time || (self.gamma_reached && interval),
                RefineStart::EveryInterval => interval,
            };
        if refine_now {
            let start = now_ms();
            let (refined, refinement) =
                refine(classifier, self.perturbation.clone(), config.lambda, config.eta, config.refine_input).await?;
            self.perturbation = refined;
            self.last_refinement = Some(refinement);
            times.refine_ms = now_ms() - start;
        }
        let perturbation_norm = read(per_image_norms(self.perturbation.clone())).await?[0];

        Ok(Event {
            iteration: t,
            target_probability,
            seed_probability: probabilities[0],
            samples_probability,
            rho_plus,
            rho_minus,
            sign,
            perturbation_norm,
            xi,
            refined: refine_now,
            gamma_reached: self.gamma_reached,
            times,
        })
    }
}
