//! ℓ2 projected gradient descent (Madry et al. 2018), one function for three uses: the attack
//! inside adversarial training (untargeted: raise the true label's loss), the robustness
//! evaluation (ε 0.5, 20 steps of 0.1), and the baseline of the image tasks (Santurkar et al.
//! 2019: targeted, lower the target's loss).
//!
//! Per image, with ĝ the gradient of the cross-entropy scaled to unit ℓ2 length:
//! x_{k+1} = clip_[0,1]( x₀ + Π_ε( x_k ± α ĝ − x₀ ) ), Π_ε scaling a difference longer than ε
//! back onto the ε-sphere. Images are in [0, 1] (O7's pixel scale).

use crate::engine::estimate::{per_image_norms, project};
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

/// How the inpainting loss weighs p outside the hole, `d = p ⊙ (1 − F)` per image of m = C·H·W
/// values. Both methods take the same form (`tasks::TaskSettings::hole_penalty`; the inpainting
/// task's default is `MeanSquare`, see `engine/tasks.rs`). `Norm` is the enum's default so that
/// settings written before the choice existed read as they ran.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PenaltyForm {
    /// β‖d‖₂: Eq. 4 as the A2X paper writes it.
    #[default]
    Norm,
    /// β · (1/m) Σ d²: what Santurkar et al.'s inpainting notebook adds to the cross-entropy
    /// (`lambdar * ((im_targ - inp) * (1 - mask))**2` averaged over channels and pixels, λ 10).
    MeanSquare,
}

impl PenaltyForm {
    /// The penalty of each image of `outside_part` (= d), without β: `[n]`.
    pub fn of(self, outside_part: Tensor<4>) -> Tensor<1> {
        let [n, c, h, w] = outside_part.dims();
        let squares = outside_part.square().sum_dims(&[1, 2, 3]).reshape([n]);
        match self {
            // √(Σ d² + 1e-12): differentiable at 0, where an attack starts.
            PenaltyForm::Norm => (squares + 1e-12).sqrt(),
            PenaltyForm::MeanSquare => squares / (c * h * w) as f64,
        }
    }

    /// The gradient of [`PenaltyForm::of`] with respect to d, for one image `[1, C, H, W]`
    /// (`d / ‖d‖₂`, 0 at d = 0; or `2d / m`).
    pub fn gradient(self, outside_part: Tensor<4>) -> Tensor<4> {
        let dims = outside_part.dims();
        match self {
            PenaltyForm::Norm => {
                let norm = per_image_norms(outside_part.clone()).clamp_min(1e-12).reshape([1, 1, 1, 1]).expand(dims);
                outside_part / norm
            }
            PenaltyForm::MeanSquare => outside_part * (2.0 / (dims[1] * dims[2] * dims[3]) as f64),
        }
    }
}

/// [`pgd_l2`] with, for inpainting (Santurkar et al.'s loss), `penalty` = (1 − F broadcast to
/// the images' shape, β, form): the loss gains β · form((x − x₀) ⊙ (1 − F)) per image, counted
/// against the goal (a targeted attack lowers it, an untargeted one would raise it).
pub fn pgd_l2_with_penalty(
    forward: &dyn Fn(Tensor<4>) -> Tensor<2>,
    images: Tensor<4>,
    labels: &[usize],
    goal: Goal,
    config: &PgdConfig,
    penalty: Option<(&Tensor<4>, f32, PenaltyForm)>,
    rng: &mut Rng,
) -> Tensor<4> {
    let mut attack = PgdAttack::new(images, labels, goal, config, penalty.map(|(o, w, f)| (o.clone(), w, f)), rng);
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
    penalty: Option<(Tensor<4>, f32, PenaltyForm)>,
    steps_taken: usize,
}

impl PgdAttack {
    /// Starts at `images` (or a random point of the ε-ball with `random_start`; `rng` is drawn
    /// from only then).
    pub fn new(images: Tensor<4>, labels: &[usize], goal: Goal, config: &PgdConfig, penalty: Option<(Tensor<4>, f32, PenaltyForm)>, rng: &mut Rng) -> Self {
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

    /// One step: x ← clip(x₀ + Π_ε(x ± α ĝ − x₀)).
    pub fn step(&mut self, forward: &dyn Fn(Tensor<4>) -> Tensor<2>) {
        let (original, x) = (&self.original, self.x.clone());
        let tracked = x.clone().detach().require_grad();
        let mut loss = cross_entropy_sum(forward(tracked.clone()), &self.labels);
        if let Some((outside, weight, form)) = &self.penalty {
            let difference = (tracked.clone() - original.clone()) * outside.clone();
            loss = loss + form.of(difference).sum() * *weight;
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

    /// Both forms of the inpainting penalty: values by hand, and gradients against central
    /// differences of the values.
    #[test]
    fn penalty_forms_by_hand_and_by_finite_differences() {
        let device = cpu_device();
        let half = Tensor::<4>::from_data(TensorData::new(vec![0.5f32; 48], [1, 3, 4, 4]), &device);
        let of = |form: PenaltyForm, d: Tensor<4>| form.of(d).into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((of(PenaltyForm::Norm, half.clone()) - 12f32.sqrt()).abs() < 1e-5, "√(48 · 0.25)");
        assert!((of(PenaltyForm::MeanSquare, half) - 0.25).abs() < 1e-7, "48 · 0.25 / 48");
        let mut rng = Rng::new(4);
        let d: Vec<f32> = (0..48).map(|_| crate::engine::sampling::gaussian(&mut rng)).collect();
        let tensor = |v: Vec<f32>| Tensor::<4>::from_data(TensorData::new(v, [1, 3, 4, 4]), &device);
        for form in [PenaltyForm::Norm, PenaltyForm::MeanSquare] {
            let gradient = values(form.gradient(tensor(d.clone())));
            for i in [0, 7, 21, 47] {
                let h = 1e-2f32;
                let (mut up, mut down) = (d.clone(), d.clone());
                up[i] += h;
                down[i] -= h;
                let numeric = (of(form, tensor(up)) - of(form, tensor(down))) / (2.0 * h);
                assert!((numeric - gradient[i]).abs() < 2e-3 * gradient[i].abs().max(0.05), "{form:?} value {i}: {numeric} vs {}", gradient[i]);
            }
        }
        // Norm's gradient is 0 where d is 0 (the attack's start), not NaN.
        assert!(values(PenaltyForm::Norm.gradient(tensor(vec![0.0; 48]))).iter().all(|&g| g == 0.0));
    }
}
