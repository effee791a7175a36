//! ℓ2 projected gradient descent (Madry et al. 2018), one function for three uses: the attack
//! inside adversarial training (untargeted: raise the true label's loss), the robustness
//! evaluation (ε 0.5, 20 steps of 0.1), and the baseline of the image tasks (Santurkar et al.
//! 2019: targeted, lower the target's loss).
//!
//! Per image, with ĝ the gradient of the cross-entropy scaled to unit ℓ2 length:
//! x_{k+1} = clip_[0,1]( x₀ + Π_ε( x_k ± α ĝ − x₀ ) ), Π_ε scaling a difference longer than ε
//! back onto the ε-sphere. Images are in [0, 1] (O7's pixel scale).

use crate::engine::estimate::{per_image_norms, project};
use crate::engine::penalty::HolePenalty;
use crate::engine::sampling::Rng;
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
        PgdAttack { original, x, labels: labels.to_vec(), direction, config: *config, penalty, steps_taken: 0 }
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
        let tracked = x.clone().detach().require_grad();
        let mut loss = cross_entropy_sum(forward(tracked.clone()), &self.labels);
        if let Some(penalty) = &self.penalty {
            loss = loss + penalty.value(tracked.clone() - original.clone()).sum();
        }
        let gradient = tracked.grad(&loss.backward()).expect("the input requires its gradient");
        let gradient = Tensor::<4>::from_inner(gradient);
        let unit = gradient.clone() / norms_like(gradient, 1e-12);
        let stepped = x.detach() + unit * (self.direction * self.config.step_size);
        self.x = (original.clone() + project(stepped - original.clone(), self.config.epsilon)).clamp(0.0, 1.0);
        self.steps_taken += 1;
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
