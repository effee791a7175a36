//! Proof of life for the whole chain: a small convolutional network, its output and the gradient of
//! that output with respect to the input, computed by burn with autodiff on whatever device it is
//! given (WebGPU in the browser, Vulkan natively, ndarray on the CPU), and read back asynchronously.
//!
//! [`reference()`] computes the same numbers independently of burn — a hand-written f64 forward pass
//! differentiated by central finite differences — so the browser, the tests and the CLI can check
//! any backend against it.
//!
//! The network: `x (1×3×8×8) → conv 3→4, 3×3, pad 1 → tanh → conv 4→2, 3×3, stride 2 → tanh → mean`.
//! tanh rather than ReLU keeps the function smooth, so finite differences are exact to ~1e-9.

use crate::engine::read_values;
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Input shape, NCHW.
pub const INPUT_SHAPE: [usize; 4] = [1, 3, 8, 8];
const CONV1: [usize; 4] = [4, 3, 3, 3];
const CONV2: [usize; 4] = [2, 4, 3, 3];

/// What the probe computes: the scalar output and d(output)/d(input), flattened in NCHW order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbeResult {
    pub output: f64,
    pub gradient: Vec<f64>,
}

impl ProbeResult {
    /// Euclidean norm of the gradient.
    pub fn gradient_norm(&self) -> f64 {
        self.gradient.iter().map(|g| g * g).sum::<f64>().sqrt()
    }

    /// Largest absolute difference to `other` over the output and every gradient entry.
    pub fn max_abs_diff(&self, other: &ProbeResult) -> f64 {
        let mut worst = (self.output - other.output).abs();
        for (a, b) in self.gradient.iter().zip(&other.gradient) {
            worst = worst.max((a - b).abs());
        }
        if self.gradient.len() != other.gradient.len() {
            return f64::INFINITY;
        }
        worst
    }
}

/// Deterministic, well-spread values in [-scale, scale] (no RNG: every platform gets the same).
fn pattern(len: usize, phase: f64, scale: f64) -> Vec<f64> {
    (0..len).map(|i| scale * (1.7 * i as f64 + phase).sin()).collect()
}

fn input_values() -> Vec<f64> {
    pattern(INPUT_SHAPE.iter().product(), 0.3, 1.0)
}
fn conv1_weight() -> Vec<f64> {
    pattern(CONV1.iter().product(), 1.1, 0.4)
}
fn conv1_bias() -> Vec<f64> {
    pattern(CONV1[0], 2.3, 0.1)
}
fn conv2_weight() -> Vec<f64> {
    pattern(CONV2.iter().product(), 0.7, 0.3)
}
fn conv2_bias() -> Vec<f64> {
    pattern(CONV2[0], 0.2, 0.1)
}

fn tensor<const D: usize>(values: &[f64], shape: [usize; D], device: &Device) -> Tensor<D> {
    let values: Vec<f32> = values.iter().map(|&v| v as f32).collect();
    Tensor::from_data(TensorData::new(values, shape), device)
}

/// Runs the probe network on `device` (which must have autodiff enabled: `device.autodiff()`)
/// and reads the output and the input gradient back asynchronously.
pub async fn run(device: &Device) -> Result<ProbeResult, String> {
    let input = tensor(&input_values(), INPUT_SHAPE, device).require_grad();
    let hidden = conv2d(
        input.clone(),
        tensor(&conv1_weight(), CONV1, device),
        Some(tensor(&conv1_bias(), [CONV1[0]], device)),
        ConvOptions::new([1, 1], [1, 1], [1, 1], 1),
    )
    .tanh();
    let output = conv2d(
        hidden,
        tensor(&conv2_weight(), CONV2, device),
        Some(tensor(&conv2_bias(), [CONV2[0]], device)),
        ConvOptions::new([2, 2], [0, 0], [1, 1], 1),
    )
    .tanh()
    .mean();
    let gradients = output.backward();
    let gradient = read_values(input.grad(&gradients).ok_or("the input has no gradient")?)
        .await
        .map_err(|e| format!("the gradient: {e}"))?;
    let output = read_values(output).await.map_err(|e| format!("the output: {e}"))?;
    Ok(ProbeResult {
        output: output[0] as f64,
        gradient: gradient.into_iter().map(f64::from).collect(),
    })
}

/// Direct f64 convolution of one NCHW image (batch 1), zero padding.
fn conv_f64(
    x: &[f64],
    [c_in, h, w]: [usize; 3],
    weight: &[f64],
    bias: &[f64],
    [c_out, _, k, _]: [usize; 4],
    stride: usize,
    pad: usize,
) -> (Vec<f64>, [usize; 3]) {
    let h_out = (h + 2 * pad - k) / stride + 1;
    let w_out = (w + 2 * pad - k) / stride + 1;
    let mut out = vec![0.0; c_out * h_out * w_out];
    for o in 0..c_out {
        for y in 0..h_out {
            for xo in 0..w_out {
                let mut sum = bias[o];
                for c in 0..c_in {
                    for ky in 0..k {
                        for kx in 0..k {
                            let iy = (y * stride + ky) as isize - pad as isize;
                            let ix = (xo * stride + kx) as isize - pad as isize;
                            if iy < 0 || ix < 0 || iy >= h as isize || ix >= w as isize {
                                continue;
                            }
                            sum += weight[((o * c_in + c) * k + ky) * k + kx]
                                * x[(c * h + iy as usize) * w + ix as usize];
                        }
                    }
                }
                out[(o * h_out + y) * w_out + xo] = sum;
            }
        }
    }
    (out, [c_out, h_out, w_out])
}

/// The probe network's forward pass in f64, written without burn.
pub fn forward_f64(x: &[f64]) -> f64 {
    let [_, c, h, w] = INPUT_SHAPE;
    let (mut hidden, shape) = conv_f64(x, [c, h, w], &conv1_weight(), &conv1_bias(), CONV1, 1, 1);
    hidden.iter_mut().for_each(|v| *v = v.tanh());
    let (out, _) = conv_f64(&hidden, shape, &conv2_weight(), &conv2_bias(), CONV2, 2, 0);
    out.iter().map(|v| v.tanh()).sum::<f64>() / out.len() as f64
}

/// The independent reference: f64 forward pass, gradient by central finite differences.
pub fn reference() -> ProbeResult {
    const STEP: f64 = 1e-5;
    let x = input_values();
    let gradient = (0..x.len())
        .map(|i| {
            let mut plus = x.clone();
            plus[i] += STEP;
            let mut minus = x.clone();
            minus[i] -= STEP;
            (forward_f64(&plus) - forward_f64(&minus)) / (2.0 * STEP)
        })
        .collect();
    ProbeResult { output: forward_f64(&x), gradient }
}

/// Tolerance for comparing a float32 backend with the f64 reference (absolute, per entry).
pub const TOLERANCE: f64 = 1e-5;
