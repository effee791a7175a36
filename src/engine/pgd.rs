//! ℓ2 projected gradient descent (Madry et al. 2018), one function for three uses: the attack
//! inside adversarial training (untargeted: raise the true label's loss), the robustness
//! evaluation (ε 0.5, 20 steps of 0.1), and the baseline of the image tasks (Santurkar et al.
//! 2019: targeted, lower the target's loss).
//!
//! Per image, with ĝ the gradient of the cross-entropy scaled to unit ℓ2 length:
//! x_{k+1} = clip_[0,1]( x₀ + Π_ε( x_k ± α ĝ − x₀ ) ), Π_ε scaling a difference longer than ε
//! back onto the ε-sphere. Images are in [0, 1] (O7's pixel scale).

use crate::engine::estimate::{per_image_norms, project};
use crate::engine::param::{Basis, Parameterisation};
use crate::engine::penalty::HolePenalty;
use crate::engine::sampling::Rng;
use crate::engine::transforms::{Placements, Transform};
use burn::tensor::activation::log_softmax;
use burn::tensor::{Tensor, TensorData};

/// What the attack does with the labels it is given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Goal {
    /// Raise the loss of each image's label: make the model wrong.
    Untargeted,
    /// Lower the loss of each image's label: make the model say that label.
    Targeted,
}

#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PgdConfig {
    /// ε: radius of the ℓ2 ball around each image.
    pub epsilon: f32,
    pub steps: usize,
    /// α: ℓ2 length of each step.
    pub step_size: f32,
    /// Start from a uniformly random point of the ε-ball instead of the image itself.
    pub random_start: bool,
}

impl PgdConfig {
    /// The untargeted attack in words, as the manifest records it beside a model's accuracy under it.
    pub fn untargeted_description(&self) -> String {
        format!(
            "untargeted ℓ2 PGD, ε {}, {} steps of {}, {} start, images in [0, 1]",
            self.epsilon,
            self.steps,
            self.step_size,
            if self.random_start { "random" } else { "no random" }
        )
    }
}

/// Sum over the batch of each image's cross-entropy with its label, from logits `[n, classes]`.
pub fn cross_entropy_sum(logits: Tensor<2>, labels: &[usize]) -> Tensor<1> {
    let [n, classes] = logits.dims();
    let one_hot = one_hot(labels, classes, &logits.device());
    assert_eq!(n, labels.len(), "one label per image");
    (log_softmax(logits, 1) * one_hot).sum().neg()
}

/// `[n, classes]` float one-hot rows.
pub fn one_hot(labels: &[usize], classes: usize, device: &burn::tensor::Device) -> Tensor<2> {
    let mut values = vec![0f32; labels.len() * classes];
    for (row, &label) in labels.iter().enumerate() {
        values[row * classes + label] = 1.0;
    }
    Tensor::from_data(TensorData::new(values, [labels.len(), classes]), device)
}

/// Each image's ℓ2 norm, broadcast back to `[n, c, h, w]`, floored at `floor`.
fn norms_like(x: Tensor<4>, floor: f32) -> Tensor<4> {
    let [n, c, h, w] = x.dims();
    per_image_norms(x).clamp_min(floor).reshape([n, 1, 1, 1]).expand([n, c, h, w])
}

/// A point drawn uniformly from the ℓ2 ball of radius ε in `n` dimensions per image: a Gaussian
/// direction, radius ε·u^{1/d}.
fn random_in_ball(shape: [usize; 4], epsilon: f32, rng: &mut Rng, device: &burn::tensor::Device) -> Tensor<4> {
    let [n, c, h, w] = shape;
    let d = c * h * w;
    let mut values = Vec::with_capacity(n * d);
    for _ in 0..n {
        let direction: Vec<f32> = (0..d).map(|_| crate::engine::sampling::gaussian(rng)).collect();
        let length = direction.iter().map(|v| v * v).sum::<f32>().sqrt().max(1e-12);
        let radius = epsilon * (rng.unit() as f32).powf(1.0 / d as f32);
        values.extend(direction.iter().map(|v| v * radius / length));
    }
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Runs the attack on `images` (`[n, 3, h, w]` in [0, 1], on an autodiff device) against
/// `forward` (images → logits). Returns the attacked images, detached. `rng` is drawn from only
/// with `random_start`.
pub fn pgd_l2(
    forward: &dyn Fn(Tensor<4>) -> Tensor<2>,
    images: Tensor<4>,
    labels: &[usize],
    goal: Goal,
    config: &PgdConfig,
    rng: &mut Rng,
) -> Tensor<4> {
    pgd_l2_with_penalty(forward, images, labels, goal, config, None, rng)
}

/// [`pgd_l2`] with, for inpainting (Santurkar et al.'s loss), a hole's `penalty`: the loss gains
/// β · form((x − x₀) ⊙ (1 − F)) per image, counted against the goal (a targeted attack lowers
/// it, an untargeted one would raise it).
pub fn pgd_l2_with_penalty(
    forward: &dyn Fn(Tensor<4>) -> Tensor<2>,
    images: Tensor<4>,
    labels: &[usize],
    goal: Goal,
    config: &PgdConfig,
    penalty: Option<&HolePenalty>,
    rng: &mut Rng,
) -> Tensor<4> {
    let mut attack = PgdAttack::new(images, labels, goal, config, penalty.cloned(), rng);
    while !attack.is_finished() {
        attack.step(forward);
    }
    attack.current()
}

/// The same attack one step at a time, for a caller that shows it as it goes (the page runs
/// it beside A2X and yields to the browser between steps).
pub struct PgdAttack {
    original: Tensor<4>,
    x: Tensor<4>,
    labels: Vec<usize>,
    /// −1 for a targeted attack (descend the label's loss), +1 for an untargeted one.
    direction: f32,
    config: PgdConfig,
    penalty: Option<HolePenalty>,
    steps_taken: usize,
    /// With A2X's transforms and basis (the ImageNet tasks' fair baseline), or plain.
    expectation: Option<Expectation>,
}

/// What makes PGD a fair baseline for an A2X run with transforms and a parameterisation (issue
/// #33): each step's gradient is the mean over `copies` placements of δ = x − x₀ by the same
/// transforms (expectation over transformation, Athalye et al. 2018), and the step follows
/// P Pᵀ g, steepest descent in the same basis A2X's moments move in. The placements of step k
/// are drawn from a stream of their own, `rng_seed ^ STREAM ^ k`, so a resumed attack needs no
/// state beyond its picture and its step count.
pub struct Expectation {
    transforms: Vec<Transform>,
    copies: usize,
    basis: Basis,
    rng_seed: u64,
    /// Inpainting with the step confined to the hole (as A2X's `StepInsideHole`): F broadcast to
    /// `[1, C, H, W]`, multiplying the step's direction.
    inside: Option<Tensor<4>>,
}

const EXPECTATION_STREAM: u64 = 0x5067_D033_0000_0001;

impl Expectation {
    /// `copies` placements per step by `transforms`, steps in `param`'s basis, for images of `shape`.
    pub fn new(transforms: &[Transform], param: Parameterisation, copies: usize, rng_seed: u64, shape: [usize; 3], device: &burn::tensor::Device) -> Result<Self, String> {
        if copies == 0 {
            return Err("PGD's expectation needs at least one copy".into());
        }
        crate::engine::transforms::check(transforms)?;
        Ok(Expectation { transforms: transforms.to_vec(), copies, basis: Basis::new(param, shape, device)?, rng_seed, inside: None })
    }

    /// Steps confined to the hole F (`H × W`, 1 inside), as A2X's with β → ∞.
    pub fn inside_hole(mut self, hole: &[f32], [c, h, w]: [usize; 3], device: &burn::tensor::Device) -> Result<Self, String> {
        if hole.len() != h * w {
            return Err(format!("the hole mask has {} values, the image {h}×{w}", hole.len()));
        }
        self.inside = Some(crate::engine::estimate::outside_of_hole(hole, [c, h, w], device).neg() + 1.0);
        Ok(self)
    }

    /// The placements of step `step` (the identity for every copy without transforms).
    fn placements(&self, step: usize, shape: [usize; 3], device: &burn::tensor::Device) -> Placements {
        let mut rng = Rng::new(self.rng_seed ^ EXPECTATION_STREAM ^ (step as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        Placements::draw(&self.transforms, self.copies, &mut rng, shape, device)
    }
}

impl PgdAttack {
    /// Starts at `images` (or a random point of the ε-ball with `random_start`; `rng` is drawn
    /// from only then).
    pub fn new(images: Tensor<4>, labels: &[usize], goal: Goal, config: &PgdConfig, penalty: Option<HolePenalty>, rng: &mut Rng) -> Self {
        let original = images.detach();
        let x = if config.random_start {
            let start = random_in_ball(original.dims(), config.epsilon, rng, &original.device());
            (original.clone() + start).clamp(0.0, 1.0)
        } else {
            original.clone()
        };
        let direction = match goal {
            Goal::Untargeted => 1.0,
            Goal::Targeted => -1.0,
        };
        PgdAttack { original, x, labels: labels.to_vec(), direction, config: *config, penalty, steps_taken: 0, expectation: None }
    }

    /// The attack of one image with `expectation`: every step averages the gradient over its
    /// placements and moves in its basis (see [`Expectation`]).
    pub fn with_expectation(mut self, expectation: Expectation) -> Result<Self, String> {
        if self.original.dims()[0] != 1 {
            return Err("PGD with an expectation attacks one image at a time".into());
        }
        self.expectation = Some(expectation);
        Ok(self)
    }

    pub fn is_finished(&self) -> bool {
        self.steps_taken >= self.config.steps
    }

    pub fn steps_taken(&self) -> usize {
        self.steps_taken
    }

    /// The attacked images so far, detached.
    pub fn current(&self) -> Tensor<4> {
        self.x.clone().detach()
    }

    /// Puts the attack at `steps` steps taken with the images `values` (what [`PgdAttack::current`]
    /// read back then): it goes on from there as it did (a resumed task, issue #23).
    pub fn restore(&mut self, steps: usize, values: &[f32]) -> Result<(), String> {
        let dims = self.x.dims();
        if values.len() != dims.iter().product::<usize>() || steps > self.config.steps {
            return Err(format!("a PGD checkpoint of {} values after {steps} steps does not fit an attack of {dims:?} and {} steps", values.len(), self.config.steps));
        }
        self.x = Tensor::from_data(TensorData::new(values.to_vec(), dims), &self.x.device());
        self.steps_taken = steps;
        Ok(())
    }

    /// One step: x ← clip(x₀ + Π_ε(x ± α ĝ − x₀)).
    pub fn step(&mut self, forward: &dyn Fn(Tensor<4>) -> Tensor<2>) {
        let (original, x) = (&self.original, self.x.clone());
        let gradient = match &self.expectation {
            None => {
                let tracked = x.clone().detach().require_grad();
                let mut loss = cross_entropy_sum(forward(tracked.clone()), &self.labels);
                if let Some(penalty) = &self.penalty {
                    loss = loss + penalty.value(tracked.clone() - original.clone()).sum();
                }
                let gradient = tracked.grad(&loss.backward()).expect("the input requires its gradient");
                Tensor::<4>::from_inner(gradient)
            }
            Some(expectation) => self.expectation_gradient(expectation, forward),
        };
        let unit = gradient.clone() / norms_like(gradient, 1e-12);
        let stepped = x.detach() + unit * (self.direction * self.config.step_size);
        self.x = (original.clone() + project(stepped - original.clone(), self.config.epsilon)).clamp(0.0, 1.0);
        self.steps_taken += 1;
    }

    /// ∇_δ of mean_k CE(K(Clip(x₀ + T_k δ)), ℓ) (+ the hole's penalty on δ), as P Pᵀ g: the
    /// copies' gradients with respect to their placed images, carried back through each
    /// placement (its exact adjoint; the clip passes the gradient, as in A2X's line 6), then
    /// through the basis. One image: `x` is `[1, C, H, W]`.
    fn expectation_gradient(&self, expectation: &Expectation, forward: &dyn Fn(Tensor<4>) -> Tensor<2>) -> Tensor<4> {
        let [_, c, h, w] = self.original.dims();
        let device = self.original.device();
        let delta = (self.x.clone() - self.original.clone()).detach();
        let placements = expectation.placements(self.steps_taken, [c, h, w], &device);
        let copies = expectation.copies;
        let placed = (self.original.clone().expand([copies, c, h, w]) + placements.place(delta.clone())).clamp(0.0, 1.0);
        let tracked = placed.detach().require_grad();
        let labels = vec![self.labels[0]; copies];
        let loss = cross_entropy_sum(forward(tracked.clone()), &labels) / copies as f64;
        let gradient = Tensor::<4>::from_inner(tracked.grad(&loss.backward()).expect("the input requires its gradient"));
        let mut gradient = placements.carry_back(gradient).sum_dim(0);
        if let Some(penalty) = &self.penalty {
            gradient = gradient + penalty.gradient(delta);
        }
        let direction = expectation.basis.to_pixels(expectation.basis.to_parameters(gradient));
        match &expectation.inside {
            Some(inside) => direction * inside.clone(),
            None => direction,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::cpu_device;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    #[test]
    fn projection_scales_long_differences_onto_the_sphere_only() {
        let device = cpu_device();
        // Image 0: (3, 4) has length 5 → scaled to length 2: (1.2, 1.6). Image 1: (0.3, 0.4), length
        // 0.5, kept. Image 2: zero stays zero.
        let d = Tensor::<4>::from_data(TensorData::new(vec![3.0f32, 4.0, 0.3, 0.4, 0.0, 0.0], [3, 1, 1, 2]), &device);
        let p = values(project(d, 2.0));
        let expected = [1.2, 1.6, 0.3, 0.4, 0.0, 0.0];
        assert_eq!(p.len(), expected.len());
        for (a, b) in p.iter().zip(expected) {
            assert!((a - b).abs() < 1e-6, "{p:?}");
        }
    }

    /// A linear "model" logits = [w·x, 0]: the loss gradient direction is ±w, so every step
    /// moves x along w by exactly α until the ε-sphere — worked out by hand.
    #[test]
    fn steps_follow_the_normalized_gradient_and_stay_in_the_ball() {
        let device = cpu_device();
        let w = [0.6f32, 0.8, 0.0, 0.0]; // unit length
        let forward = |x: Tensor<4>| -> Tensor<2> {
            let [n, _, _, _] = x.dims();
            let weights = Tensor::<1>::from_floats(w, &x.device()).reshape([4, 1]);
            let score = x.reshape([n, 4]).matmul(weights);
            Tensor::cat(vec![score.clone(), score.zeros_like()], 1)
        };
        let start = vec![0.5f32; 4];
        let images = Tensor::<4>::from_data(TensorData::new(start.clone(), [1, 1, 2, 2]), &device);
        let mut rng = Rng::new(1);
        // Targeted at class 0: raise the score, i.e. move along +w. 3 steps of 0.1 inside ε = 1.
        let config = PgdConfig { epsilon: 1.0, steps: 3, step_size: 0.1, random_start: false };
        let x = values(pgd_l2(&forward, images.clone(), &[0], Goal::Targeted, &config, &mut rng));
        for i in 0..4 {
            assert!((x[i] - (0.5 + 0.3 * w[i])).abs() < 1e-5, "{x:?}");
        }
        // Untargeted on class 0: move along −w; 10 steps of 0.1 with ε = 0.25 stop on the sphere.
        let config = PgdConfig { epsilon: 0.25, steps: 10, step_size: 0.1, random_start: false };
        let x = values(pgd_l2(&forward, images.clone(), &[0], Goal::Untargeted, &config, &mut rng));
        for i in 0..4 {
            assert!((x[i] - (0.5 - 0.25 * w[i])).abs() < 1e-5, "{x:?}");
        }
        // A random start stays inside the ball and the image range.
        let config = PgdConfig { epsilon: 0.25, steps: 0, step_size: 0.1, random_start: true };
        let x = values(pgd_l2(&forward, images, &[0], Goal::Untargeted, &config, &mut rng));
        let moved: f32 = x.iter().zip(&start).map(|(a, b)| (a - b).powi(2)).sum::<f32>().sqrt();
        assert!(moved > 0.0 && moved <= 0.25 + 1e-5, "moved {moved}");
    }
}

#[cfg(test)]
mod expectation_tests {
    use super::*;
    use crate::device::cpu_device;
    use crate::engine::param::Spectrum;
    use crate::models::tiny::TinyCnn;
    use crate::engine::Classifier;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
    }

    /// With no transforms, pixels and one copy, the expectation is the plain attack: the same
    /// pictures step by step (the reference is the attack without it).
    #[test]
    fn without_transforms_and_basis_it_is_plain_pgd() {
        let device = cpu_device();
        let model = TinyCnn::random(12, 5, 3, &device);
        let image: Vec<f32> = (0..3 * 144).map(|i| ((i * 37) % 101) as f32 / 100.0).collect();
        let images = Tensor::<4>::from_data(TensorData::new(image, [1, 3, 12, 12]), &device);
        let config = PgdConfig { epsilon: 2.0, steps: 4, step_size: 0.3, random_start: false };
        let forward = |x: Tensor<4>| model.logits(x);
        let mut plain = PgdAttack::new(images.clone(), &[2], Goal::Targeted, &config, None, &mut Rng::new(0));
        let expectation = Expectation::new(&[], Parameterisation::Pixels, 3, 7, model.input_shape(), &device).unwrap();
        let mut expected = PgdAttack::new(images, &[2], Goal::Targeted, &config, None, &mut Rng::new(0)).with_expectation(expectation).unwrap();
        for step in 0..4 {
            plain.step(&forward);
            expected.step(&forward);
            let (a, b) = (values(plain.current()), values(expected.current()));
            let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(worst < 1e-5, "step {step}: {worst}");
        }
    }

    /// A linear "model" logits = [w·x, 0] on a 4×4 grey picture: the cross-entropy's gradient is
    /// a multiple of −w, so the first step moves x by α along P Pᵀ w / ‖P Pᵀ w‖ — with P built
    /// here by hand as the basis's action on each unit vector (P Pᵀ w = Σⱼ ⟨Pⱼ, w⟩ Pⱼ).
    #[test]
    fn the_step_follows_the_basis_preconditioned_gradient() {
        let device = cpu_device();
        let (c, h, w) = (3, 4, 4);
        let d = c * h * w;
        let weights: Vec<f32> = (0..d).map(|i| ((i * 13) % 7) as f32 / 7.0 - 0.4).collect();
        let forward = |x: Tensor<4>| -> Tensor<2> {
            let [n, _, _, _] = x.dims();
            let column = Tensor::<1>::from_floats(weights.as_slice(), &x.device()).reshape([d, 1]);
            let score = x.reshape([n, d]).matmul(column);
            Tensor::cat(vec![score.clone(), score.zeros_like()], 1)
        };
        let param = Parameterisation::Fourier { spectrum: Spectrum::PowerLaw { decay: 1.0 }, decorrelate: true };
        let basis = Basis::new(param, [c, h, w], &device).unwrap();
        let mut direction = vec![0f64; d];
        for j in 0..d {
            let mut unit = vec![0f32; d];
            unit[j] = 1.0;
            let column = values(basis.to_pixels(Tensor::<4>::from_data(TensorData::new(unit, [1, c, h, w]), &device)));
            let dot: f64 = column.iter().zip(&weights).map(|(a, b)| (*a as f64) * (*b as f64)).sum();
            for (k, v) in column.iter().enumerate() {
                direction[k] += dot * *v as f64;
            }
        }
        let length = direction.iter().map(|v| v * v).sum::<f64>().sqrt();
        let start = Tensor::<4>::from_data(TensorData::new(vec![0.5f32; d], [1, c, h, w]), &device);
        let config = PgdConfig { epsilon: 10.0, steps: 1, step_size: 0.05, random_start: false };
        let expectation = Expectation::new(&[], param, 2, 0, [c, h, w], &device).unwrap();
        let mut attack = PgdAttack::new(start, &[0], Goal::Targeted, &config, None, &mut Rng::new(0)).with_expectation(expectation).unwrap();
        attack.step(&forward);
        let moved = values(attack.current());
        for k in 0..d {
            let want = 0.5 + 0.05 * direction[k] / length;
            assert!((moved[k] as f64 - want).abs() < 1e-5, "value {k}: {} against {want}", moved[k]);
        }
    }
}
