//! Training a2x's own CIFAR-10 classifiers (issue #6): the robust one by ℓ2 adversarial training
//! (Madry et al. 2018: PGD inside the training loop), and a standard one that only evaluates.
//!
//! Recipe (decisions, each a default of `a2x train-cifar`):
//! - SGD with Nesterov momentum 0.9, weight decay 5e-4 on convolution and linear weights, batch
//!   512, a one-cycle learning rate: linear from 0 to the peak (0.4) over the first 25 % of the
//!   steps, then linear down to 0. Standard for ResNet-9 on CIFAR-10 (Page 2018).
//! - Augmentation: random crop from the 4-pixel reflected padding, horizontal flip.
//! - Adversarial: each batch is replaced by its ℓ2 PGD attack (ε 0.5, the threat model the issue
//!   evaluates), a few steps of α = 2.5 ε / steps (Madry et al.'s rule), no random start (the
//!   robustness library's default for ℓ2), batch norm on batch statistics during the attack (the
//!   network is in training mode, as in Madry et al.'s code) but the attack's batches do not move
//!   the running statistics — only the training batch itself does.
//! - Resumable: a checkpoint (all parameters, momentum, running statistics, and where in which
//!   epoch) is written atomically after every epoch and when the time budget runs out; the data
//!   order and augmentation of a step are drawn from (seed, epoch, step), so a resumed run does
//!   exactly what an uninterrupted one would.

pub mod data;
pub mod net;

use crate::engine::pgd::{cross_entropy_sum, pgd_l2, Goal, PgdConfig};
use crate::engine::sampling::Rng;
use crate::models::format::{self, Precision};
use crate::models::resnet::{ARCHITECTURE, CLASSES, INPUT_SIZE};
use burn::tensor::{Device, Tensor, TensorData};
use data::Dataset;
use net::{Mode, TrainingNet};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::time::Instant;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub peak_learning_rate: f32,
    /// Fraction of the steps spent warming the learning rate up.
    pub warmup: f32,
    pub momentum: f32,
    pub weight_decay: f32,
    /// `Some`: adversarial training against this attack.
    pub attack: Option<AttackConfig>,
    pub seed: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct AttackConfig {
    pub epsilon: f32,
    pub steps: usize,
    pub step_size: f32,
}

impl AttackConfig {
    /// ε with `steps` steps of Madry et al.'s α = 2.5 ε / steps.
    pub fn madry(epsilon: f32, steps: usize) -> Self {
        AttackConfig { epsilon, steps, step_size: 2.5 * epsilon / steps as f32 }
    }

    pub fn pgd(&self) -> PgdConfig {
        PgdConfig { epsilon: self.epsilon, steps: self.steps, step_size: self.step_size, random_start: false }
    }
}

impl TrainConfig {
    /// The learning rate at `step` of `total` (one cycle).
    pub fn learning_rate(&self, step: usize, total: usize) -> f32 {
        let t = step as f32 / total.max(1) as f32;
        if t < self.warmup {
            self.peak_learning_rate * t / self.warmup
        } else {
            self.peak_learning_rate * (1.0 - t).max(0.0) / (1.0 - self.warmup)
        }
    }
}

/// Where a run is: the next step to take.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub epoch: usize,
    pub step: usize,
    /// One line per finished epoch.
    pub history: Vec<EpochReport>,
    /// Seconds spent training so far (all sessions).
    pub seconds: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EpochReport {
    pub epoch: usize,
    pub mean_loss: f32,
    pub test_accuracy: f32,
    pub seconds: f64,
}

const STATE_FILE: &str = "state.a2xm";
const PROGRESS_FILE: &str = "progress.json";

fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let temporary = path.with_extension("partial");
    std::fs::write(&temporary, bytes).map_err(|e| format!("{}: {e}", temporary.display()))?;
    std::fs::rename(&temporary, path).map_err(|e| format!("{}: {e}", path.display()))
}

/// The training order of one epoch: a permutation drawn from (seed, epoch).
fn epoch_order(seed: u64, epoch: usize, n: usize) -> Vec<usize> {
    Rng::new(seed ^ (0xA5A5_0000_0000 + epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)).distinct(n, n)
}

fn to_device(values: Vec<f32>, n: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, [n, 3, INPUT_SIZE, INPUT_SIZE]), device)
}

/// Trains (or resumes from `checkpoint_dir`) until `config.epochs` are done or `budget_seconds`
/// of this call have passed; checkpoints after each epoch and at the end. Returns the progress.
pub fn train(
    config: &TrainConfig,
    train_set: &Dataset,
    test_set: &Dataset,
    device: &Device,
    checkpoint_dir: &Path,
    budget_seconds: f64,
    log: &mut dyn FnMut(&str),
) -> Result<(TrainingNet, Progress), String> {
    std::fs::create_dir_all(checkpoint_dir).map_err(|e| format!("{}: {e}", checkpoint_dir.display()))?;
    let config_path = checkpoint_dir.join("config.json");
    let mut net = TrainingNet::init(config.seed, device);
    let mut progress = Progress::default();
    if checkpoint_dir.join(PROGRESS_FILE).is_file() {
        let saved: TrainConfig = serde_json::from_slice(&std::fs::read(&config_path).map_err(|e| e.to_string())?)
            .map_err(|e| format!("{}: {e}", config_path.display()))?;
        if &saved != config {
            return Err(format!(
                "{} holds a run with other settings ({}); use another --checkpoint folder or the same settings",
                checkpoint_dir.display(),
                serde_json::to_string(&saved).unwrap_or_default()
            ));
        }
        let state = format::read(&std::fs::read(checkpoint_dir.join(STATE_FILE)).map_err(|e| e.to_string())?).map_err(|e| e.to_string())?;
        net.restore(state.tensors, device)?;
        progress = serde_json::from_slice(&std::fs::read(checkpoint_dir.join(PROGRESS_FILE)).map_err(|e| e.to_string())?)
            .map_err(|e| e.to_string())?;
        log(&format!("resumed at epoch {} step {}", progress.epoch + 1, progress.step));
    } else {
        write_atomically(&config_path, serde_json::to_string_pretty(config).expect("serializes").as_bytes())?;
    }
    let save = |net: &TrainingNet, progress: &Progress| -> Result<(), String> {
        let state = format::write("resnet9-cifar-training-state", INPUT_SIZE, CLASSES, Precision::Float32, &net.state());
        write_atomically(&checkpoint_dir.join(STATE_FILE), &state)?;
        write_atomically(&checkpoint_dir.join(PROGRESS_FILE), serde_json::to_string_pretty(progress).expect("serializes").as_bytes())
    };
    let steps_per_epoch = train_set.len() / config.batch_size;
    if steps_per_epoch == 0 {
        return Err(format!("{} training images are fewer than one batch of {}", train_set.len(), config.batch_size));
    }
    let total_steps = steps_per_epoch * config.epochs;
    let started = Instant::now();
    // Training seconds of earlier calls (a resumed run); this call's are added at every save.
    let earlier_seconds = progress.seconds;
    while progress.epoch < config.epochs {
        let order = epoch_order(config.seed, progress.epoch, train_set.len());
        let epoch_started = Instant::now();
        let mut loss_sum = 0f32;
        let mut loss_count = 0usize;
        let first_step = progress.step;
        while progress.step < steps_per_epoch {
            if started.elapsed().as_secs_f64() >= budget_seconds {
                progress.seconds = earlier_seconds + started.elapsed().as_secs_f64();
                save(&net, &progress)?;
                log(&format!("time budget spent: stopped at epoch {} step {} (checkpoint written)", progress.epoch + 1, progress.step));
                return Ok((net, progress));
            }
            let step = progress.step;
            let report_loss = step % 20 == 0 || step + 1 == steps_per_epoch;
            let learning_rate = config.learning_rate(progress.epoch * steps_per_epoch + step, total_steps);
            let loss_value = training_step(&mut net, config, train_set, &order, progress.epoch, step, learning_rate, device, report_loss);
            if let Some(value) = loss_value {
                let value = value.into_data().convert::<f32>().try_to_vec::<f32>().map_err(|e| format!("{e:?}"))?[0];
                if !value.is_finite() {
                    return Err(format!("the loss became {value} at epoch {} step {step}: lower --lr", progress.epoch + 1));
                }
                loss_sum += value;
                loss_count += 1;
                log(&format!(
                    "epoch {}/{} step {}/{} loss {value:.4} lr {learning_rate:.4} ({:.2} s/step)",
                    progress.epoch + 1,
                    config.epochs,
                    step + 1,
                    steps_per_epoch,
                    epoch_started.elapsed().as_secs_f64() / (step + 1 - first_step) as f64
                ));
            }
            progress.step += 1;
        }
        let test_accuracy = accuracy(&net, test_set, None, device, 500)?;
        let seconds = epoch_started.elapsed().as_secs_f64();
        let report = EpochReport { epoch: progress.epoch + 1, mean_loss: loss_sum / loss_count.max(1) as f32, test_accuracy, seconds };
        log(&format!("epoch {} done: mean sampled loss {:.4}, clean test accuracy {:.2} %, {:.0} s", report.epoch, report.mean_loss, 100.0 * test_accuracy, seconds));
        progress.history.push(report);
        progress.epoch += 1;
        progress.step = 0;
        progress.seconds = earlier_seconds + started.elapsed().as_secs_f64();
        save(&net, &progress)?;
    }
    progress.seconds = earlier_seconds + started.elapsed().as_secs_f64();
    save(&net, &progress)?;
    Ok((net, progress))
}

/// One SGD step on batch `step` of `order` (the epoch's permutation): augment, attack (robust
/// training), forward with batch statistics, backward, running statistics, update. Returns the
/// loss (still on the device) when `report_loss`.
#[allow(clippy::too_many_arguments)]
fn training_step(
    net: &mut TrainingNet,
    config: &TrainConfig,
    train_set: &Dataset,
    order: &[usize],
    epoch: usize,
    step: usize,
    learning_rate: f32,
    device: &Device,
    report_loss: bool,
) -> Option<Tensor<1>> {
    let indices = &order[step * config.batch_size..(step + 1) * config.batch_size];
    let mut rng = Rng::new(config.seed ^ ((epoch as u64) << 32 | step as u64).wrapping_mul(0xD1B5_4A32_D192_ED03));
    let (values, labels) = train_set.batch(indices, Some(&mut rng));
    let images = to_device(values, indices.len(), device);
    let images = match config.attack {
        Some(attack) => {
            let constants = net.values();
            let forward = |x: Tensor<4>| net.forward(&constants, x, Mode::Train).0;
            pgd_l2(&forward, images, &labels, Goal::Untargeted, &attack.pgd(), &mut rng)
        }
        None => images,
    };
    let tracked = net.tracked_values();
    let (logits, statistics) = net.forward(&tracked, images, Mode::Train);
    let loss = cross_entropy_sum(logits, &labels) / labels.len() as f32;
    let loss_value = report_loss.then(|| loss.clone().detach());
    let grads = loss.backward();
    let gradients: Vec<Tensor<1>> = tracked.iter().map(|t| t.grad(&grads).expect("every parameter takes part")).collect();
    net.update_running(statistics);
    net.sgd_step(gradients, learning_rate, config.momentum, config.weight_decay);
    loss_value
}

/// Seconds per training step of `config` on `device`, measured on a throwaway network: `warmup`
/// steps first (kernel compilation, autotuning), then `steps` timed, synchronised by reading the
/// last loss back. Used to fit the number of epochs to a time budget.
pub fn seconds_per_step(config: &TrainConfig, train_set: &Dataset, device: &Device, warmup: usize, steps: usize) -> Result<f64, String> {
    let mut net = TrainingNet::init(config.seed ^ 1, device);
    let order = epoch_order(config.seed ^ 1, 0, train_set.len());
    let available = train_set.len() / config.batch_size;
    if available < warmup + steps {
        return Err(format!("{} images are too few to time {} steps", train_set.len(), warmup + steps));
    }
    let sync = |loss: Option<Tensor<1>>| -> Result<(), String> {
        loss.expect("requested").into_data().convert::<f32>().try_to_vec::<f32>().map(|_| ()).map_err(|e| format!("{e:?}"))
    };
    for step in 0..warmup {
        sync(training_step(&mut net, config, train_set, &order, 0, step, 0.01, device, true))?;
    }
    let started = Instant::now();
    for step in warmup..warmup + steps {
        let last = step + 1 == warmup + steps;
        let loss = training_step(&mut net, config, train_set, &order, 0, step, 0.01, device, last);
        if last {
            sync(loss)?;
        }
    }
    Ok(started.elapsed().as_secs_f64() / steps as f64)
}

/// Top-1 accuracy of the network in evaluation mode on `dataset`, clean or under `attack`
/// (untargeted ℓ2 PGD on the same evaluation-mode network).
pub fn accuracy(net: &TrainingNet, dataset: &Dataset, attack: Option<&PgdConfig>, device: &Device, batch: usize) -> Result<f32, String> {
    let constants = net.values();
    let forward = |x: Tensor<4>| net.forward(&constants, x, Mode::Eval).0;
    accuracy_of(&forward, dataset, attack, device, batch)
}

/// Top-1 accuracy of any classifier (`forward`: images in [0, 1] → logits).
pub fn accuracy_of(
    forward: &dyn Fn(Tensor<4>) -> Tensor<2>,
    dataset: &Dataset,
    attack: Option<&PgdConfig>,
    device: &Device,
    batch: usize,
) -> Result<f32, String> {
    let mut correct = 0usize;
    let mut rng = Rng::new(0);
    let indices: Vec<usize> = (0..dataset.len()).collect();
    for chunk in indices.chunks(batch) {
        let (values, labels) = dataset.batch(chunk, None);
        let mut images = to_device(values, chunk.len(), device);
        if let Some(attack) = attack {
            images = pgd_l2(forward, images, &labels, Goal::Untargeted, attack, &mut rng);
        }
        let predicted = forward(images.detach()).argmax(1).into_data().convert::<i64>().try_to_vec::<i64>().map_err(|e| format!("{e:?}"))?;
        correct += predicted.iter().zip(&labels).filter(|(p, l)| **p as usize == **l).count();
    }
    Ok(correct as f32 / dataset.len().max(1) as f32)
}

/// The shipped model file of a trained network: batch norm folded, int8 (or float32).
pub fn export(net: &TrainingNet, precision: Precision) -> Vec<u8> {
    format::write(ARCHITECTURE, INPUT_SIZE, CLASSES, precision, &net.fold())
}

/// Reads a checkpoint folder's network (for evaluation and export).
pub fn load_checkpoint(checkpoint_dir: &Path, device: &Device) -> Result<(TrainingNet, TrainConfig, Progress), String> {
    let read = |name: &str| std::fs::read(checkpoint_dir.join(name)).map_err(|e| format!("{}: {e}", checkpoint_dir.join(name).display()));
    let config: TrainConfig = serde_json::from_slice(&read("config.json")?).map_err(|e| e.to_string())?;
    let progress: Progress = serde_json::from_slice(&read(PROGRESS_FILE)?).map_err(|e| e.to_string())?;
    let state = format::read(&read(STATE_FILE)?).map_err(|e| e.to_string())?;
    let mut net = TrainingNet::init(config.seed, device);
    net.restore(state.tensors, device)?;
    Ok((net, config, progress))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_cycle_by_hand() {
        let config = TrainConfig {
            epochs: 1,
            batch_size: 1,
            peak_learning_rate: 0.4,
            warmup: 0.25,
            momentum: 0.9,
            weight_decay: 0.0,
            attack: None,
            seed: 0,
        };
        let lr = |s| config.learning_rate(s, 100);
        assert_eq!(lr(0), 0.0);
        assert!((lr(10) - 0.16).abs() < 1e-6);
        assert!((lr(25) - 0.4).abs() < 1e-6);
        assert!((lr(70) - 0.16).abs() < 1e-6);
        assert_eq!(lr(100), 0.0);
    }

    /// Stopped by its time budget wherever that falls, then resumed, a run ends with exactly the
    /// state of the same run done in one go (data order, augmentation and attack draws come
    /// from (seed, epoch, step); the checkpoint holds momentum and running statistics).
    #[test]
    fn a_resumed_run_ends_where_an_uninterrupted_one_does() {
        // flex: ndarray's convolution backward takes ≈ 20 s per step of this network.
        let device = crate::device::flex_device();
        let mut rng = Rng::new(4);
        let mut dataset = Dataset::default();
        for i in 0..32 {
            dataset.labels.push((i % 10) as u8);
            dataset.images.extend((0..data::IMAGE_BYTES).map(|_| rng.below(256) as u8));
        }
        let config = TrainConfig {
            epochs: 2,
            batch_size: 8,
            peak_learning_rate: 0.2,
            warmup: 0.25,
            momentum: 0.9,
            weight_decay: 5e-4,
            attack: Some(AttackConfig::madry(0.5, 1)),
            seed: 3,
        };
        let dir = std::env::temp_dir().join(format!("a2x-resume-test-{}", std::process::id()));
        let (one_go, _) = train(&config, &dataset, &dataset, &device, &dir.join("a"), f64::INFINITY, &mut |_| {}).unwrap();
        // A short budget stops somewhere (possibly before the first step); resume until done.
        let mut stops = 0;
        let resumed = loop {
            let (net, progress) = train(&config, &dataset, &dataset, &device, &dir.join("b"), 0.05, &mut |_| {}).unwrap();
            if progress.epoch == config.epochs {
                break net;
            }
            stops += 1;
        };
        assert!(stops >= 1, "the budget never stopped the run");
        for ((name, _, a), (_, _, b)) in one_go.state().iter().zip(resumed.state()) {
            let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
            assert!(worst <= 1e-5, "{name}: differs by {worst} after {stops} stops");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn epoch_orders_are_permutations_that_differ_by_epoch() {
        let a = epoch_order(1, 0, 50);
        let mut sorted = a.clone();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
        assert_ne!(a, epoch_order(1, 1, 50));
        assert_eq!(a, epoch_order(1, 0, 50), "replayable");
    }
}
