//! Inpainting's penalty on p outside the hole (section 5.2, Eq. 4), one piece for both methods:
//! A2X adds its gradient to the fused gradient of line 7 (and, with the loss in the ± check, its
//! value to the check's loss, `schedule.rs`); the PGD baseline adds its value to the
//! cross-entropy it differentiates (`pgd.rs`).

use crate::engine::estimate::{outside_of_hole, per_image_norms};
use burn::tensor::Tensor;

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

/// β · form(d ⊙ (1 − F)) for a hole F: what Eq. 4 adds to the attack's loss, d being the
/// difference from the seed (p for A2X, x − x₀ for PGD).
#[derive(Clone, Debug)]
pub struct HolePenalty {
    /// 1 − F broadcast to `[1, C, H, W]`: 1 outside the hole.
    outside: Tensor<4>,
    /// β.
    weight: f32,
    form: PenaltyForm,
}

impl HolePenalty {
    /// The penalty of an `H × W` hole mask `hole` (F, row-major, 1 inside) for images of
    /// `[c, h, w]`; the caller checks that the mask has h·w values.
    pub fn new(hole: &[f32], shape: [usize; 3], weight: f32, form: PenaltyForm, device: &burn::tensor::Device) -> Self {
        HolePenalty { outside: outside_of_hole(hole, shape, device), weight, form }
    }

    /// β · form(d ⊙ (1 − F)) of each image of `difference`: `[n]`.
    pub fn value(&self, difference: Tensor<4>) -> Tensor<1> {
        self.form.of(difference * self.outside.clone()) * self.weight as f64
    }

    /// β · form′(d ⊙ (1 − F)) for one image `[1, C, H, W]`, the gradient [`HolePenalty::value`]
    /// has outside the hole (inside it d ⊙ (1 − F) is 0, and so is form′ there).
    pub fn gradient(&self, difference: Tensor<4>) -> Tensor<4> {
        self.form.gradient(difference * self.outside.clone()) * self.weight as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::cpu_device;
    use crate::engine::sampling::Rng;
    use burn::tensor::TensorData;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().try_to_vec::<f32>().unwrap()
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
    fn close(got: Vec<f32>, want: [f32; 4]) {
        assert!(got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6), "{got:?} vs {want:?}");
    }

    /// The hole's part: d inside the hole counts for nothing, β scales the rest, by hand.
    #[test]
    fn hole_penalty_weighs_only_what_lies_outside_the_hole() {
        let device = cpu_device();
        // A 2 × 2 image of one channel; the hole is the left column.
        let hole = [1.0f32, 0.0, 1.0, 0.0];
        let d = Tensor::<4>::from_data(TensorData::new(vec![5.0f32, 3.0, -7.0, 4.0], [1, 1, 2, 2]), &device);
        let norm = HolePenalty::new(&hole, [1, 2, 2], 2.0, PenaltyForm::Norm, &device);
        let value = norm.value(d.clone()).into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((value - 2.0 * 5.0).abs() < 1e-5, "2 · ‖(3, 4)‖ = 10, got {value}");
        close(values(norm.gradient(d.clone())), [0.0, 2.0 * 0.6, 0.0, 2.0 * 0.8]);
        let mean_square = HolePenalty::new(&hole, [1, 2, 2], 0.5, PenaltyForm::MeanSquare, &device);
        let value = mean_square.value(d.clone()).into_data().try_to_vec::<f32>().unwrap()[0];
        assert!((value - 0.5 * 25.0 / 4.0).abs() < 1e-6, "0.5 · (9 + 16) / 4, got {value}");
        close(values(mean_square.gradient(d)), [0.0, 0.5 * 2.0 * 3.0 / 4.0, 0.0, 0.5 * 2.0 * 4.0 / 4.0]);
    }
}
