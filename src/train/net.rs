//! The `resnet9-cifar` network while it trains: every parameter a flat tensor (so one SGD loop
//! updates them all), batch norm live, and its folding into the shipped model.
//!
//! Parameters and optimizer state live on the backend's plain (non-autodiff) device: a training
//! step lifts them onto the autodiff graph with `require_grad`, and the update runs without it.

use crate::engine::sampling::{gaussian, Rng};
use crate::models::resnet::{self, BLOCKS, CLASSES, FEATURES};
use burn::tensor::activation::relu;
use burn::tensor::module::{batch_norm, batch_norm_train, conv2d};
use burn::tensor::{Device, Tensor, TensorData};

/// Batch norm's ε and the weight of a new batch in the running statistics (PyTorch's defaults).
pub const BN_EPSILON: f64 = 1e-5;
pub const BN_MOMENTUM: f32 = 0.1;

/// One trainable tensor, flattened.
#[derive(Clone, Debug)]
pub struct Parameter {
    pub name: String,
    pub shape: Vec<usize>,
    pub value: Tensor<1>,
    /// SGD's momentum buffer.
    pub velocity: Tensor<1>,
    /// Whether weight decay applies (convolution and linear weights; not batch norm or biases).
    pub decays: bool,
}

/// Batch norm's running mean and (unbiased) variance of one block.
#[derive(Clone, Debug)]
pub struct RunningStats {
    pub mean: Tensor<1>,
    pub variance: Tensor<1>,
}

/// What one block's batch norm saw in a training step: the batch mean and biased variance
/// (detached), and how many values per channel they came from (n·h·w).
pub struct BatchStatistics {
    pub mean: Tensor<1>,
    pub variance: Tensor<1>,
    pub count: usize,
}

pub struct TrainingNet {
    /// Per block: conv weight, bn γ, bn β; then fc weight `[10, 256]`, fc bias.
    pub parameters: Vec<Parameter>,
    pub running: Vec<RunningStats>,
}

/// How batch norm behaves in a forward pass.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Batch statistics, returned so the step can fold them into the running ones.
    Train,
    /// Running statistics (evaluation, export).
    Eval,
}

/// A flat tensor on `device`'s plain (non-autodiff) side.
fn tensor(values: Vec<f32>, device: &Device) -> Tensor<1> {
    let n = values.len();
    Tensor::<1>::from_data(TensorData::new(values, [n]), device).inner()
}

impl TrainingNet {
    /// Fresh weights from `seed`: He-normal convolutions (fan-in, for ReLU), γ = 1, β = 0, the
    /// linear layer uniform in ±1/√256 (PyTorch's default), batch norm statistics 0 and 1.
    pub fn init(seed: u64, device: &Device) -> Self {
        let mut rng = Rng::new(seed);
        let mut parameters = Vec::new();
        let mut push = |name: String, shape: Vec<usize>, values: Vec<f32>, decays: bool| {
            let n = values.len();
            parameters.push(Parameter {
                name,
                shape,
                value: tensor(values, device),
                velocity: tensor(vec![0.0; n], device),
                decays,
            });
        };
        for (i, &(input, output)) in BLOCKS.iter().enumerate() {
            let std = (2.0 / (input * 9) as f32).sqrt();
            let weights = (0..output * input * 9).map(|_| gaussian(&mut rng) * std).collect();
            push(format!("block{i}.conv"), vec![output, input, 3, 3], weights, true);
            push(format!("block{i}.gamma"), vec![output], vec![1.0; output], false);
            push(format!("block{i}.beta"), vec![output], vec![0.0; output], false);
        }
        let bound = 1.0 / (FEATURES as f32).sqrt();
        let fc = (0..CLASSES * FEATURES).map(|_| (rng.unit() as f32 * 2.0 - 1.0) * bound).collect();
        push("fc.weight".into(), vec![CLASSES, FEATURES], fc, true);
        let bias = (0..CLASSES).map(|_| (rng.unit() as f32 * 2.0 - 1.0) * bound).collect();
        push("fc.bias".into(), vec![CLASSES], bias, false);
        let running = BLOCKS
            .iter()
            .map(|&(_, output)| RunningStats { mean: tensor(vec![0.0; output], device), variance: tensor(vec![1.0; output], device) })
            .collect();
        TrainingNet { parameters, running }
    }

    /// The parameters' values as constants (no gradient).
    pub fn values(&self) -> Vec<Tensor<1>> {
        self.parameters.iter().map(|p| p.value.clone()).collect()
    }

    /// The parameters lifted onto the autodiff graph, each requiring its gradient.
    pub fn tracked_values(&self) -> Vec<Tensor<1>> {
        self.parameters.iter().map(|p| p.value.clone().autodiff().require_grad()).collect()
    }

    /// Logits of `images` computed with `values` (the parameters, tracked or constant), and in
    /// [`Mode::Train`] each block's [`BatchStatistics`].
    pub fn forward(&self, values: &[Tensor<1>], images: Tensor<4>, mode: Mode) -> (Tensor<2>, Vec<BatchStatistics>) {
        let statistics = std::cell::RefCell::new(Vec::new());
        let features = resnet::forward_base(images, |i, x| {
            let (input, output) = BLOCKS[i];
            let weight = values[3 * i].clone().reshape([output, input, 3, 3]);
            let gamma = values[3 * i + 1].clone();
            let beta = values[3 * i + 2].clone();
            let x = conv2d(x, weight, None, resnet::conv_options());
            let normalized = match mode {
                Mode::Train => {
                    let [n, _, h, w] = x.dims();
                    let result = batch_norm_train(x, gamma, beta, BN_EPSILON);
                    statistics.borrow_mut().push(BatchStatistics { mean: result.mean, variance: result.variance, count: n * h * w });
                    result.output
                }
                Mode::Eval => {
                    let stats = &self.running[i];
                    let device = x.device();
                    batch_norm(x, gamma, beta, stats.mean.clone().to_device(&device), stats.variance.clone().to_device(&device), BN_EPSILON)
                }
            };
            relu(normalized)
        });
        let fc = 3 * BLOCKS.len();
        let logits = resnet::head(features, values[fc].clone().reshape([CLASSES, FEATURES]), values[fc + 1].clone());
        (logits, statistics.into_inner())
    }

    /// Folds a step's batch statistics into the running ones (unbiased variance, as PyTorch).
    pub fn update_running(&mut self, statistics: Vec<BatchStatistics>) {
        for (stats, batch) in self.running.iter_mut().zip(statistics) {
            let unbiased = batch.variance.inner() * (batch.count as f32 / (batch.count.max(2) - 1) as f32);
            stats.mean = stats.mean.clone() * (1.0 - BN_MOMENTUM) + batch.mean.inner() * BN_MOMENTUM;
            stats.variance = stats.variance.clone() * (1.0 - BN_MOMENTUM) + unbiased * BN_MOMENTUM;
        }
    }

    /// One step of SGD with Nesterov momentum and decoupled-from-nothing (L2) weight decay:
    /// g ← ∇ + λw; v ← μv + g; w ← w − lr (g + μv).
    pub fn sgd_step(&mut self, gradients: Vec<Tensor<1>>, learning_rate: f32, momentum: f32, weight_decay: f32) {
        for (parameter, gradient) in self.parameters.iter_mut().zip(gradients) {
            let gradient = if parameter.decays { gradient + parameter.value.clone() * weight_decay } else { gradient };
            parameter.velocity = parameter.velocity.clone() * momentum + gradient.clone();
            parameter.value = parameter.value.clone() - (gradient + parameter.velocity.clone() * momentum) * learning_rate;
        }
    }

    /// Every tensor of the training state (parameters, momentum, running statistics) for a
    /// checkpoint, read back to the host.
    pub fn state(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let read = |t: &Tensor<1>| t.clone().into_data().convert::<f32>().try_to_vec::<f32>().expect("float32 values");
        let mut out = Vec::new();
        for p in &self.parameters {
            out.push((p.name.clone(), vec![p.shape.iter().product()], read(&p.value)));
            out.push((format!("{}.velocity", p.name), vec![p.shape.iter().product()], read(&p.velocity)));
        }
        for (i, stats) in self.running.iter().enumerate() {
            out.push((format!("block{i}.running_mean"), stats.mean.dims().to_vec(), read(&stats.mean)));
            out.push((format!("block{i}.running_var"), stats.variance.dims().to_vec(), read(&stats.variance)));
        }
        out
    }

    /// Restores what [`state`](Self::state) wrote, checking every name and length.
    pub fn restore(&mut self, state: Vec<(String, Vec<usize>, Vec<f32>)>, device: &Device) -> Result<(), String> {
        let mut by_name: std::collections::HashMap<String, Vec<f32>> = state.into_iter().map(|(n, _, v)| (n, v)).collect();
        let mut take = |name: &str, len: usize| -> Result<Tensor<1>, String> {
            let values = by_name.remove(name).ok_or_else(|| format!("checkpoint lacks {name}"))?;
            if values.len() != len {
                return Err(format!("checkpoint's {name} has {} values, {len} expected", values.len()));
            }
            Ok(tensor(values, device))
        };
        for p in &mut self.parameters {
            let len = p.shape.iter().product();
            p.value = take(&p.name, len)?;
            p.velocity = take(&format!("{}.velocity", p.name), len)?;
        }
        for (i, stats) in self.running.iter_mut().enumerate() {
            let len = BLOCKS[i].1;
            stats.mean = take(&format!("block{i}.running_mean"), len)?;
            stats.variance = take(&format!("block{i}.running_var"), len)?;
        }
        Ok(())
    }

    /// The shipped model's tensors ([`resnet::layer_shapes`]): each block's batch norm folded into
    /// its convolution, w' = w·γ/√(var + ε), b' = β − mean·γ/√(var + ε).
    pub fn fold(&self) -> Vec<(String, Vec<usize>, Vec<f32>)> {
        let state: std::collections::HashMap<String, Vec<f32>> = self.state().into_iter().map(|(n, _, v)| (n, v)).collect();
        let mut out = Vec::new();
        for (i, &(input, output)) in BLOCKS.iter().enumerate() {
            let weight = &state[&format!("block{i}.conv")];
            let gamma = &state[&format!("block{i}.gamma")];
            let beta = &state[&format!("block{i}.beta")];
            let mean = &state[&format!("block{i}.running_mean")];
            let variance = &state[&format!("block{i}.running_var")];
            let per_output = input * 9;
            let mut folded = Vec::with_capacity(weight.len());
            let mut bias = Vec::with_capacity(output);
            for o in 0..output {
                let scale = gamma[o] / (variance[o] + BN_EPSILON as f32).sqrt();
                folded.extend(weight[o * per_output..(o + 1) * per_output].iter().map(|w| w * scale));
                bias.push(beta[o] - mean[o] * scale);
            }
            out.push((format!("block{i}.weight"), vec![output, input, 3, 3], folded));
            out.push((format!("block{i}.bias"), vec![output], bias));
        }
        out.push(("fc.weight".into(), vec![CLASSES, FEATURES], state["fc.weight"].clone()));
        out.push(("fc.bias".into(), vec![CLASSES], state["fc.bias"].clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::Classifier;
    use crate::models::resnet::CifarResNet;

    /// The folded model (conv + bias) must compute what the training network computes in
    /// evaluation mode (conv, then batch norm with running statistics): two different code paths.
    #[test]
    fn folded_model_matches_the_training_network_in_eval_mode() {
        let device = crate::device::cpu_device();
        let mut net = TrainingNet::init(7, &device);
        // Non-trivial statistics and affine parameters, as after training.
        let mut rng = Rng::new(3);
        for (i, stats) in net.running.iter_mut().enumerate() {
            let n = BLOCKS[i].1;
            stats.mean = tensor((0..n).map(|_| gaussian(&mut rng) * 0.3).collect(), &device);
            stats.variance = tensor((0..n).map(|_| 0.5 + rng.unit() as f32).collect(), &device);
        }
        for p in net.parameters.iter_mut().filter(|p| p.name.ends_with("gamma") || p.name.ends_with("beta")) {
            let n = p.shape[0];
            p.value = tensor((0..n).map(|_| 1.0 + gaussian(&mut rng) * 0.2).collect(), &device);
        }
        let images: Vec<f32> = (0..2 * 3 * 32 * 32).map(|_| rng.unit() as f32).collect();
        let images = Tensor::<4>::from_data(TensorData::new(images, [2, 3, 32, 32]), &device);
        let (expected, _) = net.forward(&net.values(), images.clone(), Mode::Eval);
        let folded = CifarResNet::from_weights(net.fold().into_iter().map(|(n, s, v)| (n, (s, v))).collect(), &device).unwrap();
        let got = folded.logits(images).into_data().try_to_vec::<f32>().unwrap();
        let expected = expected.into_data().try_to_vec::<f32>().unwrap();
        let scale = expected.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-3);
        for (a, b) in got.iter().zip(&expected) {
            assert!((a - b).abs() <= 1e-4 * scale, "folded {got:?} vs eval {expected:?}");
        }
    }

    /// The training step's parameter gradients agree with central finite differences of the
    /// same loss (batch statistics included): the linear layer, batch norm β and γ, and
    /// convolutions early and late.
    #[test]
    fn parameter_gradient_matches_finite_difference() {
        let device = crate::device::cpu_device();
        let net = TrainingNet::init(11, &device);
        let mut rng = Rng::new(5);
        let images: Vec<f32> = (0..4 * 3 * 32 * 32).map(|_| rng.unit() as f32).collect();
        let images = Tensor::<4>::from_data(TensorData::new(images, [4, 3, 32, 32]), &device);
        let labels = [1usize, 4, 7, 9];
        let loss_of = |values: &[Tensor<1>]| -> Tensor<1> {
            let (logits, _) = net.forward(values, images.clone(), Mode::Train);
            crate::engine::pgd::cross_entropy_sum(logits, &labels)
        };
        let tracked = net.tracked_values();
        let grads = loss_of(&tracked).backward();
        for param in [24usize, 21, 15, 3, 0] {
        let gradient = tracked[param].grad(&grads).unwrap().into_data().try_to_vec::<f32>().unwrap();
        let base = net.parameters[param].value.clone().into_data().try_to_vec::<f32>().unwrap();
        for index in [0usize, 13, 200] {
            let h = 1e-3f32;
            let at = |delta: f32| {
                let mut values = net.values();
                let mut changed = base.clone();
                changed[index] += delta;
                values[param] = tensor(changed, &device);
                loss_of(&values).into_data().try_to_vec::<f32>().unwrap()[0] as f64
            };
            let numeric = (at(h) - at(-h)) / (2.0 * h as f64);
            let analytic = gradient[index] as f64;
            // h = 1e-3 on a float32 loss of about 9: the difference is good to about ±5e-3.
            assert!(
                (numeric - analytic).abs() <= 6e-3 + 0.05 * analytic.abs(),
                "{} value {index}: finite difference {numeric}, autodiff {analytic}",
                net.parameters[param].name
            );
        }
        }
    }

    /// SGD with Nesterov momentum and weight decay, two steps by hand, on every kind of
    /// parameter (a decaying conv weight, a non-decaying batch-norm γ); then batch norm's
    /// running statistics after one update, by hand (unbiased variance, momentum 0.1).
    #[test]
    fn sgd_step_and_running_statistics_by_hand() {
        let device = crate::device::cpu_device();
        let mut net = TrainingNet::init(2, &device);
        let values = |t: &Tensor<1>| t.clone().into_data().try_to_vec::<f32>().unwrap();
        let (conv0, gamma0) = (values(&net.parameters[0].value), values(&net.parameters[1].value));
        let (lr, mu, wd) = (0.1f32, 0.9f32, 0.01f32);
        let gradients = |k: f32| -> Vec<Tensor<1>> {
            net_shapes(&net).iter().map(|&n| tensor((0..n).map(|i| k * (i % 7) as f32 - 1.0).collect(), &device)).collect()
        };
        fn net_shapes(net: &TrainingNet) -> Vec<usize> {
            net.parameters.iter().map(|p| p.shape.iter().product()).collect()
        }
        let g1 = gradients(0.5);
        let g2 = gradients(-0.25);
        let (g1_conv, g1_gamma) = (values(&g1[0]), values(&g1[1]));
        let (g2_conv, g2_gamma) = (values(&g2[0]), values(&g2[1]));
        net.sgd_step(g1, lr, mu, wd);
        net.sgd_step(g2, lr, mu, wd);
        // By hand: g ← ∇ + λw (weights only); v ← μv + g; w ← w − lr (g + μv).
        let by_hand = |w0: f32, d1: f32, d2: f32, decays: bool| {
            let decay = if decays { wd } else { 0.0 };
            let g = d1 + decay * w0;
            let v = g;
            let w1 = w0 - lr * (g + mu * v);
            let g = d2 + decay * w1;
            let v = mu * v + g;
            w1 - lr * (g + mu * v)
        };
        let (conv2, gamma2) = (values(&net.parameters[0].value), values(&net.parameters[1].value));
        for i in [0usize, 5, 26] {
            let expected = by_hand(conv0[i], g1_conv[i], g2_conv[i], true);
            assert!((conv2[i] - expected).abs() < 1e-6, "conv weight {i}: {} vs {expected}", conv2[i]);
        }
        for i in [0usize, 3] {
            let expected = by_hand(gamma0[i], g1_gamma[i], g2_gamma[i], false);
            assert!((gamma2[i] - expected).abs() < 1e-6, "γ {i}: {} vs {expected}", gamma2[i]);
        }
        // Running statistics: mean ← 0.9·0 + 0.1·m; variance ← 0.9·1 + 0.1·v·n/(n − 1).
        let channels = net.running[0].mean.dims()[0];
        let batch_mean: Vec<f32> = (0..channels).map(|c| c as f32 * 0.1).collect();
        let batch_var: Vec<f32> = (0..channels).map(|c| 1.0 + c as f32 * 0.01).collect();
        let count = 8;
        let mut stats = vec![BatchStatistics { mean: tensor(batch_mean.clone(), &device), variance: tensor(batch_var.clone(), &device), count }];
        for i in 1..net.running.len() {
            let n = net.running[i].mean.dims()[0];
            stats.push(BatchStatistics { mean: tensor(vec![0.0; n], &device), variance: tensor(vec![1.0; n], &device), count });
        }
        net.update_running(stats);
        let (mean, variance) = (values(&net.running[0].mean), values(&net.running[0].variance));
        for c in [0usize, 7] {
            assert!((mean[c] - 0.1 * batch_mean[c]).abs() < 1e-6);
            let expected = 0.9 + 0.1 * batch_var[c] * 8.0 / 7.0;
            assert!((variance[c] - expected).abs() < 1e-6, "{} vs {expected}", variance[c]);
        }
    }

    /// Training moves the loss down: five SGD steps on one small batch lower its cross-entropy.
    #[test]
    fn sgd_lowers_the_loss_on_a_batch() {
        let device = crate::device::cpu_device();
        let mut net = TrainingNet::init(4, &device);
        let mut rng = Rng::new(9);
        let images: Vec<f32> = (0..8 * 3 * 32 * 32).map(|_| rng.unit() as f32).collect();
        let images = Tensor::<4>::from_data(TensorData::new(images, [8, 3, 32, 32]), &device);
        let labels = [0usize, 1, 2, 3, 4, 5, 6, 7];
        let loss_of = |net: &TrainingNet| {
            let (logits, _) = net.forward(&net.values(), images.clone(), Mode::Train);
            crate::engine::pgd::cross_entropy_sum(logits, &labels).into_data().try_to_vec::<f32>().unwrap()[0]
        };
        let before = loss_of(&net);
        for _ in 0..5 {
            let tracked = net.tracked_values();
            let (logits, statistics) = net.forward(&tracked, images.clone(), Mode::Train);
            let grads = crate::engine::pgd::cross_entropy_sum(logits, &labels).backward();
            let gradients = tracked.iter().map(|t| t.grad(&grads).unwrap()).collect();
            net.sgd_step(gradients, 0.01, 0.9, 5e-4);
            net.update_running(statistics);
        }
        let after = loss_of(&net);
        assert!(after < 0.9 * before, "the loss went from {before} to {after}");
    }
}
