//! Engine benchmarks on synthetic images, shared by `a2x bench` and the page's "Benchmark this
//! device" (issue #23): the time per iteration and per phase of a setting after one warm-up
//! iteration (kernel compilation, allocation), on whatever device the model lives on. UI-free:
//! flat numbers in and out, so the page's table and the CLI's are the same measurement.

use crate::clock::now_ms;
use crate::engine::sampling::Rng;
use crate::engine::schedule::Run;
use crate::engine::{Classifier, RunConfig};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::future::Future;

/// A seed and `n` samples of uniform noise at the model's input shape `[c, h, w]`, the same for
/// every call (RNG seed 1): what the benchmarks compute on.
pub fn synthetic_images([c, h, w]: [usize; 3], n: usize, device: &Device) -> (Tensor<4>, Tensor<4>) {
    let mut rng = Rng::new(1);
    let mut values = |n: usize| -> Tensor<4> {
        let v: Vec<f32> = (0..n * c * h * w).map(|_| rng.unit() as f32).collect();
        Tensor::from_data(TensorData::new(v, [n, c, h, w]), device)
    };
    let seed = values(1);
    (seed, values(n))
}

/// The mean time of one iteration of a setting, per phase (the engine's own `PhaseTimes`) and in
/// all (wall time around `Run::step`, read-backs included).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    pub setting: String,
    pub batch: usize,
    /// |D̄| of the synthetic samples.
    pub samples: usize,
    /// Iterations timed, after one warm-up.
    pub timed: usize,
    pub gradient_ms: f64,
    pub sign_check_ms: f64,
    pub probability_ms: f64,
    pub total_ms: f64,
}

/// Times `config` on `model`: one warm-up iteration, then `timed` iterations, awaiting `pause`
/// before each (the page yields to the browser there, so it repaints; natively nothing).
pub async fn time_setting<C, P, F>(model: &C, device: &Device, setting: &str, config: RunConfig, samples: usize, timed: usize, pause: P) -> Result<Timing, String>
where
    C: Classifier,
    P: Fn() -> F,
    F: Future<Output = ()>,
{
    let (seed, images) = synthetic_images(model.input_shape(), samples, device);
    let config = RunConfig { iterations: timed + 1, ..config };
    let batch = config.batch;
    let mut run = Run::new(model, seed, images, config).map_err(|e| e.to_string())?;
    pause().await;
    run.step().await.map_err(|e| e.to_string())?;
    let mut totals = [0f64; 4];
    for _ in 0..timed {
        pause().await;
        let start = now_ms();
        let event = run.step().await.map_err(|e| e.to_string())?;
        totals[3] += now_ms() - start;
        totals[0] += event.times.gradient_ms;
        totals[1] += event.times.sign_check_ms;
        totals[2] += event.times.probability_ms;
    }
    let n = timed.max(1) as f64;
    Ok(Timing {
        setting: setting.to_string(),
        batch,
        samples,
        timed,
        gradient_ms: totals[0] / n,
        sign_check_ms: totals[1] / n,
        probability_ms: totals[2] / n,
        total_ms: totals[3] / n,
    })
}

/// The page's benchmark: the defaults' mini-batch (b 32) and the fast preview's smaller one
/// (b 4), each on 32 synthetic samples, 2 iterations timed after a warm-up.
pub fn page_settings() -> Vec<(&'static str, RunConfig)> {
    let defaults = RunConfig { chunk: 8, ..RunConfig::default() };
    vec![("a2x defaults, b 4", RunConfig { batch: 4, ..defaults.clone() }), ("a2x defaults, b 32", defaults)]
}

/// |D̄| and the iterations timed of the page's benchmark.
pub const PAGE_SAMPLES: usize = 32;
pub const PAGE_TIMED: usize = 2;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::cpu_device;
    use crate::models::tiny::TinyCnn;

    #[test]
    fn the_same_noise_every_time_and_a_timing_per_phase() {
        let device = cpu_device();
        let (a, _) = synthetic_images([3, 8, 8], 2, &device);
        let (b, samples) = synthetic_images([3, 8, 8], 2, &device);
        assert_eq!(a.clone().into_data().try_to_vec::<f32>().unwrap(), b.into_data().try_to_vec::<f32>().unwrap());
        assert_eq!(samples.dims(), [2, 3, 8, 8]);
        let values = a.into_data().try_to_vec::<f32>().unwrap();
        assert!(values.iter().all(|v| (0.0..1.0).contains(v)) && values.iter().any(|&v| v != values[0]));

        let model = TinyCnn::random(16, 10, 0, &device);
        let config = RunConfig { batch: 4, chunk: 4, target: 3, ..RunConfig::default() };
        let paused = std::cell::Cell::new(0);
        let timing = pollster::block_on(time_setting(&model, &device, "x", config, 8, 2, || {
            paused.set(paused.get() + 1);
            async {}
        }))
        .unwrap();
        // One pause before the warm-up and one before each timed iteration.
        assert_eq!(paused.get(), 3);
        assert_eq!((timing.batch, timing.samples, timing.timed), (4, 8, 2));
        for t in [timing.gradient_ms, timing.sign_check_ms, timing.probability_ms] {
            assert!(t.is_finite() && t >= 0.0 && t <= timing.total_ms, "{timing:?}");
        }
        assert!(timing.total_ms > 0.0);
    }
}
