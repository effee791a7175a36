//! The engine against independent numbers: hand-computed vectors, finite differences, one-at-a-time
//! gradients, and end-to-end behaviour on a small convolutional classifier.

#[macro_use]
mod common;
use common::{skip, Need};
use a2x::device;
use a2x::engine::estimate::{
    fuse_gradients, input_gradients, project, target_probabilities, unit_max_norm, Moments,
};
use a2x::engine::schedule::Run;
use a2x::engine::{Classifier, Fusion, RefineInput, RefineStart, Region, RunConfig, SignCheck, SignProbe};
use a2x::models::tiny::TinyCnn;
use burn::tensor::activation::log_softmax;
use burn::tensor::{Device, Tensor, TensorData};
use pollster::block_on;



fn values(t: Tensor<4>) -> Vec<f32> {
    t.into_data().try_into_vec::<f32>().unwrap()
}

fn tensor(v: &[f32], shape: [usize; 4], device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(v.to_vec(), shape), device)
}

/// Smooth random-looking images in [0, 1]: sums of a few sinusoids per image.
fn images(n: usize, size: usize, salt: u64, device: &Device) -> Tensor<4> {
    let mut rng = a2x::engine::sampling::Rng::new(salt);
    let mut v = Vec::with_capacity(n * 3 * size * size);
    for _ in 0..n {
        let params: Vec<f64> = (0..12).map(|_| rng.unit()).collect();
        for c in 0..3 {
            for y in 0..size {
                for x in 0..size {
                    let (fy, fx) = (y as f64 / size as f64, x as f64 / size as f64);
                    let p = &params[c * 4..c * 4 + 4];
                    let value = 0.5
                        + 0.25 * (6.0 * p[0] * fx + 5.0 * p[1] * fy + 6.28 * p[2]).sin()
                        + 0.2 * (9.0 * p[3] * (fx - fy)).cos();
                    v.push(value.clamp(0.0, 1.0) as f32);
                }
            }
        }
    }
    Tensor::from_data(TensorData::new(v, [n, 3, size, size]), device)
}

#[test]
fn projection_matches_hand_computation() {
    let device = device::cpu_device();
    // ‖(3, 4, 0, 0)‖ = 5: projected to η = 2.5 it halves; η = 10 leaves it.
    let p = tensor(&[3.0, 4.0, 0.0, 0.0], [1, 1, 2, 2], &device);
    assert_eq!(values(project(p.clone(), 2.5)), [1.5, 2.0, 0.0, 0.0]);
    assert_eq!(values(project(p, 10.0)), [3.0, 4.0, 0.0, 0.0]);
    let zero = tensor(&[0.0; 4], [1, 1, 2, 2], &device);
    assert_eq!(values(project(zero, 1.0)), [0.0; 4]);
    let step = tensor(&[-2.0, 1.0, 0.5, 0.0], [1, 1, 2, 2], &device);
    assert_eq!(values(unit_max_norm(step)), [-1.0, 0.5, 0.25, 0.0]);
}

#[test]
fn moments_and_step_match_hand_computation() {
    let device = device::cpu_device();
    let zeros = tensor(&[0.0; 2], [1, 1, 1, 2], &device);
    let mut moments = Moments::new(zeros, 0.9, 0.999, 0.0);
    // t = 1, g = (2, −1): μ = 0.1 g, σ = 0.001 g², μ̂ = g, σ̂ = g²: ρ = g / |g| = (1, −1).
    let rho = values(moments.update(tensor(&[2.0, -1.0], [1, 1, 1, 2], &device)));
    assert!((rho[0] - 1.0).abs() < 1e-5 && (rho[1] + 1.0).abs() < 1e-5, "{rho:?}");
    // t = 2, g = (1, 1): μ = 0.9·(0.2, −0.1) + 0.1·(1, 1) = (0.28, 0.01);
    // σ = 0.999·(0.004, 0.001) + 0.001·(1, 1) = (0.004996, 0.001999);
    // ρ = μ/(1 − 0.81) / √(σ/(1 − 0.998001)).
    let rho = values(moments.update(tensor(&[1.0, 1.0], [1, 1, 1, 2], &device)));
    let expected = |m: f64, s: f64| (m / 0.19) / (s / (1.0 - 0.999f64 * 0.999)).sqrt();
    assert!((rho[0] as f64 - expected(0.28, 0.004996)).abs() < 1e-4, "{rho:?}");
    assert!((rho[1] as f64 - expected(0.01, 0.001999)).abs() < 1e-4, "{rho:?}");
}

#[test]
fn fused_gradient_matches_hand_computation() {
    let device = device::cpu_device();
    // Seed gradient (3, 4): norm 5. Samples (1, 0) and (0, 3): norms 1 and 3, mean 2, so ξ = 2.5;
    // mean sample gradient (0.5, 1.5); g = ½ (3, 4) + 1.25 (0.5, 1.5) = (2.125, 3.875).
    let seed = tensor(&[3.0, 4.0], [1, 1, 1, 2], &device);
    let samples = tensor(&[1.0, 0.0, 0.0, 3.0], [2, 1, 1, 2], &device);
    let (fused, xi) = fuse_gradients(seed.clone(), samples.clone(), Fusion::AsWritten);
    assert!((xi.into_data().try_into_vec::<f32>().unwrap()[0] - 2.5).abs() < 1e-6);
    let fused = values(fused);
    assert!((fused[0] - 2.125).abs() < 1e-6 && (fused[1] - 3.875).abs() < 1e-6, "{fused:?}");
    // Balanced: ξ = 5 / ‖(0.5, 1.5)‖ = 5 / √2.5 = √10; g = ½ (3, 4) + ½ √10 (0.5, 1.5), whose
    // second half has length 2.5 like the first.
    let (fused, xi) = fuse_gradients(seed, samples, Fusion::Balanced);
    let root10 = 10f32.sqrt();
    assert!((xi.into_data().try_into_vec::<f32>().unwrap()[0] - root10).abs() < 1e-5);
    let fused = values(fused);
    let expected = [1.5 + 0.25 * root10, 2.0 + 0.75 * root10];
    assert!((fused[0] - expected[0]).abs() < 1e-5 && (fused[1] - expected[1]).abs() < 1e-5, "{fused:?}");
}

/// J(x, ℓ) of one image, for finite differences.
fn loss(model: &TinyCnn, image: &[f32], size: usize, target: usize, device: &Device) -> f64 {
    let logits = model.logits(tensor(image, [1, 3, size, size], device));
    let j = -log_softmax(logits, 1).slice([0..1, target..target + 1]).sum();
    j.into_data().try_into_vec::<f32>().unwrap()[0] as f64
}

#[test]
fn input_gradients_match_finite_differences() {
    let device = device::cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 10, 3, &device);
    let image = values(images(1, size, 11, &device));
    let gradient = values(input_gradients(&model, tensor(&image, [1, 3, size, size], &device), 4, 8));
    let h = 1e-2f32;
    let mut checked = 0;
    for index in (0..image.len()).step_by(37) {
        let mut plus = image.clone();
        plus[index] += h;
        let mut minus = image.clone();
        minus[index] -= h;
        let numeric =
            (loss(&model, &plus, size, 4, &device) - loss(&model, &minus, size, 4, &device)) / (2.0 * h as f64);
        let analytic = gradient[index] as f64;
        assert!(
            (numeric - analytic).abs() <= 2e-3 * (1.0 + analytic.abs().max(numeric.abs())) + 2e-4,
            "index {index}: autodiff {analytic} vs finite difference {numeric}"
        );
        checked += 1;
    }
    assert!(checked >= 20);
    assert!(gradient.iter().any(|g| g.abs() > 1e-3), "the gradient should not vanish");
}

#[test]
fn batched_per_sample_gradients_equal_one_at_a_time() {
    let device = device::cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 10, 5, &device);
    let batch = images(6, size, 21, &device);
    for chunk in [6, 4, 1] {
        let batched = values(input_gradients(&model, batch.clone(), 2, chunk));
        for i in 0..6 {
            let single = values(input_gradients(&model, batch.clone().slice([i..i + 1]), 2, 1));
            let part = &batched[i * single.len()..(i + 1) * single.len()];
            for (a, b) in part.iter().zip(&single) {
                assert!((a - b).abs() <= 1e-6 + 1e-5 * b.abs(), "chunk {chunk}, image {i}: {a} vs {b}");
            }
        }
    }
    // Probabilities too: chunked equals whole.
    let whole = target_probabilities(&model, batch.clone(), 2, 6).into_data().try_into_vec::<f32>().unwrap();
    let chunked = target_probabilities(&model, batch, 2, 4).into_data().try_into_vec::<f32>().unwrap();
    for (a, b) in whole.iter().zip(&chunked) {
        assert!((a - b).abs() < 1e-6);
    }
}

fn short_config(rng_seed: u64, chunk: usize) -> RunConfig {
    RunConfig {
        target: 3,
        eta: 6.0,
        batch: 8,
        iterations: 6,
        refine_every: 3,
        refine_start: RefineStart::EveryInterval,
        rng_seed,
        chunk,
        ..RunConfig::paper()
    }
}

fn run_to_end(model: &TinyCnn, device: &Device, config: RunConfig) -> (Vec<f32>, Vec<a2x::engine::Event>) {
    let size = model.input_shape()[1];
    let seed = images(1, size, 1, device);
    let samples = images(24, size, 2, device);
    let mut run = Run::new(model, seed, samples, config).unwrap();
    let mut events = Vec::new();
    while !run.is_finished() {
        events.push(block_on(run.step()).unwrap());
    }
    (values(run.perturbation()), events)
}

#[test]
fn chunk_size_and_rng_seed() {
    let device = device::cpu_device();
    let model = TinyCnn::random(16, 10, 7, &device);
    let (p8, _) = run_to_end(&model, &device, short_config(42, 8));
    let (p3, _) = run_to_end(&model, &device, short_config(42, 3));
    let (again, _) = run_to_end(&model, &device, short_config(42, 8));
    let (other, _) = run_to_end(&model, &device, short_config(43, 8));
    assert_eq!(p8, again, "same inputs and seed on the same backend must give the same p");
    let worst = p8.iter().zip(&p3).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "the chunk size changed p by {worst}");
    let moved = p8.iter().zip(&other).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(moved > 1e-3, "a different RNG seed should draw other mini-batches ({moved})");
}

#[test]
fn end_to_end_reaches_gamma_within_the_norm_bound() {
    let device = device::cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 10, 7, &device);
    let seed = images(1, size, 1, &device);
    let samples = images(32, size, 2, &device);
    // The target: the class the model gives the least probability to on the unperturbed images.
    let all = Tensor::cat(vec![seed.clone(), samples.clone()], 0);
    let mean_probability = |class: usize| -> f32 {
        let p = target_probabilities(&model, all.clone(), class, 8).mean();
        p.into_data().try_into_vec::<f32>().unwrap()[0]
    };
    let (target, initial) = (0..10)
        .map(|class| (class, mean_probability(class)))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .unwrap();
    assert!(initial < 0.05, "class {target} starts at {initial}");
    let config = RunConfig {
        target,
        eta: ETA,
        batch: 8,
        iterations: 30,
        refine_every: 10,
        chunk: 8,
        ..RunConfig::paper()
    };
    let mut run = Run::new(&model, seed, samples, config.clone()).unwrap();
    let mut events = Vec::new();
    while !run.is_finished() {
        events.push(block_on(run.step()).unwrap());
    }
    for event in &events {
        eprintln!("{event:?}");
        assert!(
            event.perturbation_norm <= config.eta + 1e-4,
            "‖p‖ = {} at t = {}",
            event.perturbation_norm,
            event.iteration
        );
    }
    let best = events.iter().map(|e| e.target_probability).fold(0.0, f32::max);
    assert!(best >= config.gamma, "℘ peaked at {best}, below γ = {} (from {initial})", config.gamma);
    assert!(events.iter().any(|e| e.gamma_reached));
    let refinements = events.iter().filter(|e| e.refined).count();
    assert!(refinements >= 1, "a refinement should have run once γ was reached");
    let refinement = run.last_refinement().unwrap();
    assert!(refinement.threshold.is_some());
    assert!(
        refinement.mask.iter().all(|&v| v == 0.0 || v == config.lambda),
        "mask not binary: {:?}",
        refinement.mask
    );
    assert!(refinement.mask.iter().any(|&v| v == 0.0) && refinement.mask.iter().any(|&v| v == config.lambda));
}

/// η for the end-to-end test: ≈ 0.07 per pixel RMS on 16×16×3.
const ETA: f32 = 3.0;

#[test]
fn region_and_batch_sign_check_run() {
    let device = device::cpu_device();
    let model = TinyCnn::random(16, 10, 7, &device);
    let config = RunConfig {
        sign_check: SignCheck::Batch,
        region: Some(Region { top: 4, left: 4, height: 8, width: 8 }),
        ..short_config(1, 8)
    };
    let size = 16;
    let samples = images(24, size, 2, &device);
    let mut run = Run::new(&model, images(1, size, 1, &device), samples.clone(), config.clone()).unwrap();
    // The region holds the samples' mean pixel, per channel, in the seed and in every sample;
    // outside it the images are as they were.
    let mean = samples.clone().mean_dims(&[0, 2, 3]).into_data().try_into_vec::<f32>().unwrap();
    let inside = |y: usize, x: usize| (4..12).contains(&y) && (4..12).contains(&x);
    let (seed, filled, raw) = (values(run.seed()), values(run.samples()), values(samples.clone()));
    for c in 0..3 {
        for y in 0..size {
            for x in 0..size {
                let at = (c * size + y) * size + x;
                if inside(y, x) {
                    assert!((seed[at] - mean[c]).abs() < 1e-6);
                }
                for i in 0..24 {
                    let j = i * 3 * size * size + at;
                    let expected = if inside(y, x) { mean[c] } else { raw[j] };
                    assert!((filled[j] - expected).abs() < 1e-6, "sample {i} ({c}, {y}, {x})");
                }
            }
        }
    }
    // The region run itself runs to the end with the batch check, and differs from the run
    // without a region.
    let mut events = Vec::new();
    while !run.is_finished() {
        events.push(block_on(run.step()).unwrap());
    }
    assert_eq!(events.len(), 6);
    assert!(events.iter().all(|e| e.target_probability.is_finite() && e.perturbation_norm <= config.eta + 1e-3));
    let (without, _) = run_to_end(&model, &device, RunConfig { region: None, ..config });
    let moved = values(run.perturbation()).iter().zip(&without).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(moved > 1e-4, "the region should change the run ({moved})");
    let bad = Run::new(&model, images(1, size, 1, &device), samples.clone(), RunConfig { target: 10, ..short_config(1, 8) });
    assert!(bad.is_err());
    // A region whose end wraps around usize is an error, not a panic while filling it.
    let wraps = RunConfig { region: Some(Region { top: 0, left: usize::MAX, height: 1, width: 1 }), ..short_config(1, 8) };
    assert!(Run::new(&model, images(1, size, 1, &device), samples, wraps).is_err());
}

#[test]
fn wgpu_and_ndarray_agree_on_a_short_run() {
    let gpu = match block_on(device::init_wgpu()) {
        Ok((device, info)) => {
            say!("wgpu adapter: {} ({})", info.name, info.backend);
            device
        }
        Err(reason) => {
            skip(Need::Adapter, &format!("no wgpu adapter ({reason})"));
            return;
        }
    };
    let cpu = device::cpu_device();
    let config = RunConfig { iterations: 3, refine_every: 3, ..short_config(9, 8) };
    let (on_cpu, cpu_events) = run_to_end(&TinyCnn::random(16, 10, 7, &cpu), &cpu, config.clone());
    let (on_gpu, gpu_events) = run_to_end(&TinyCnn::random(16, 10, 7, &gpu), &gpu, config);
    for (a, b) in cpu_events.iter().zip(&gpu_events) {
        assert_eq!(a.sign, b.sign, "t = {}: the ± check chose differently", a.iteration);
        assert!((a.target_probability - b.target_probability).abs() < 1e-3);
    }
    // Stated tolerance: 1e-3 absolute per pixel (float32 on different kernels, three iterations).
    let worst = on_cpu.iter().zip(&on_gpu).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-3, "wgpu and ndarray differ by {worst}");
}

#[test]
fn step_size_moves_p_by_its_fraction_of_eta() {
    // O10 with a step size: after the first iteration p₁ = ±s·η · ρ₁/‖ρ₁‖, where ρ₁ = g/(|g| + ε)
    // (bias-corrected moments of one gradient). g is recomputed here from the public pieces.
    let device = device::cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 10, 7, &device);
    let (seed, samples) = (images(1, size, 1, &device), images(24, size, 2, &device));
    let config = RunConfig { step_size: Some(0.1), iterations: 1, ..short_config(5, 8) };
    let mut run = Run::new(&model, seed.clone(), samples.clone(), config.clone()).unwrap();
    let event = block_on(run.step()).unwrap();
    let picks = a2x::engine::sampling::Rng::new(5).distinct(24, config.batch - 1);
    let picks: Vec<i64> = picks.into_iter().map(|i| i as i64).collect();
    let batch = samples.select(0, Tensor::<1, burn::tensor::Int>::from_data(TensorData::new(picks, [config.batch - 1]), &device));
    let gradients = input_gradients(&model, Tensor::cat(vec![seed, batch], 0), config.target, 8);
    let (g, _) = fuse_gradients(gradients.clone().slice([0..1]), gradients.slice([1..config.batch]), Fusion::AsWritten);
    let rho: Vec<f64> = values(g).iter().map(|&g| g as f64 / (g.abs() as f64 + 1e-8)).collect();
    let length = rho.iter().map(|r| r * r).sum::<f64>().sqrt();
    let scale = 0.1 * config.eta as f64 * event.sign as f64 / length;
    let p = values(run.perturbation());
    let worst = p.iter().zip(&rho).map(|(&a, b)| (a as f64 - scale * b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-6, "p₁ differs from ±s·η·ρ₁/‖ρ₁‖ by {worst}");
    assert!((event.perturbation_norm - 0.1 * config.eta).abs() < 1e-5, "‖p₁‖ = {}", event.perturbation_norm);
}

#[test]
fn step_probe_compares_the_moves_actually_taken() {
    // With the probe = the step and the check on the batch, ϱ of the direction taken is ℘ on the
    // b − 1 samples after the step, as long as the projection does not bind (small steps).
    let device = device::cpu_device();
    let model = TinyCnn::random(16, 10, 7, &device);
    let config = RunConfig {
        step_size: Some(0.05),
        sign_probe: SignProbe::Step,
        sign_check: SignCheck::Batch,
        iterations: 5,
        refine_every: 0,
        ..short_config(3, 8)
    };
    let (_, events) = run_to_end(&model, &device, config.clone());
    for event in &events {
        assert!(event.perturbation_norm < config.eta, "the projection bound at t = {}", event.iteration);
        let taken = if event.sign > 0 { event.rho_plus } else { event.rho_minus };
        assert_eq!(taken, event.rho_plus.max(event.rho_minus));
        assert!((taken - event.samples_probability).abs() < 1e-6, "t = {}: ϱ {taken} vs ℘ {}", event.iteration, event.samples_probability);
    }
}

#[test]
fn refinement_inputs_and_clipping() {
    let device = device::cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 10, 7, &device);
    let p = images(1, size, 4, &device) - 0.5; // entries in [−0.5, 0.5]
    let refine = |p: Tensor<4>, input| block_on(a2x::engine::refine::refine(&model, p, 5.0, 1e6, input)).unwrap();
    // O6, visualised: the base sees ½ + p/(2 max|p|), the same image for p and 7p.
    let (_, small) = refine(p.clone() * 0.1, RefineInput::Visualized);
    let (_, large) = refine(p.clone() * 0.7, RefineInput::Visualized);
    let worst = small.activation.iter().zip(&large.activation).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-5, "visualised input depends on p's amplitude ({worst})");
    assert_eq!(small.mask, large.mask);
    // Mid-grey: the base sees p + ½, so the amplitude shows.
    let (_, small) = refine(p.clone() * 0.1, RefineInput::MidGrey);
    let (_, large) = refine(p.clone() * 0.7, RefineInput::MidGrey);
    let moved = small.activation.iter().zip(&large.activation).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(moved > 1e-4, "mid-grey input should depend on p's amplitude ({moved})");
    // O5's clip: the fraction of entries of p ⊙ f beyond ±1, with f recomputed from the mask.
    let (refined, refinement) = refine(p.clone(), RefineInput::MidGrey);
    let [h, w] = refinement.map_shape;
    let f = a2x::engine::cubic::resize_bicubic(&refinement.mask, [h, w], [size, size]);
    let pv = values(p);
    let over = pv.iter().enumerate().filter(|&(i, v)| (v * f[i % (size * size)]).abs() > 1.0).count();
    let expected = over as f32 / pv.len() as f32;
    assert!(expected > 0.0, "the test needs some entries beyond ±1");
    assert!((refinement.clipped_fraction - expected).abs() < 1e-6, "{} vs {expected}", refinement.clipped_fraction);
    assert!(values(refined).iter().all(|v| v.abs() <= 1.0));
}

#[test]
fn flex_and_ndarray_agree_on_a_short_run() {
    let (ndarray, flex) = (device::cpu_device(), device::flex_device());
    let config = RunConfig { iterations: 3, refine_every: 3, refine_start: RefineStart::EveryInterval, ..short_config(9, 8) };
    let (on_ndarray, ndarray_events) = run_to_end(&TinyCnn::random(16, 10, 7, &ndarray), &ndarray, config.clone());
    let (on_flex, flex_events) = run_to_end(&TinyCnn::random(16, 10, 7, &flex), &flex, config);
    for (a, b) in ndarray_events.iter().zip(&flex_events) {
        assert_eq!(a.sign, b.sign, "t = {}: the ± check chose differently", a.iteration);
        assert!((a.target_probability - b.target_probability).abs() < 1e-4);
    }
    assert!(flex_events.last().unwrap().refined);
    let worst = on_ndarray.iter().zip(&on_flex).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "flex and ndarray differ by {worst}");
}

#[test]
fn smoothing_is_a_normalised_gaussian_blur() {
    use a2x::engine::estimate::{gaussian_kernel, smooth};
    let device = device::cpu_device();
    // σ = 1: radius 3, weights e^{−x²/2} / Σ.
    let kernel = gaussian_kernel(1.0);
    let raw: Vec<f64> = (-3i32..=3).map(|x| (-(x * x) as f64 / 2.0).exp()).collect();
    let total: f64 = raw.iter().sum();
    for (k, r) in kernel.iter().zip(&raw) {
        assert!((*k as f64 - r / total).abs() < 1e-7);
    }
    // A unit impulse becomes the 2-D kernel, the same in every channel.
    let size = 11;
    let mut impulse = vec![0f32; 2 * size * size];
    impulse[5 * size + 5] = 1.0;
    impulse[size * size + 5 * size + 5] = 1.0;
    let blurred = values(smooth(tensor(&impulse, [1, 2, size, size], &device), 1.0));
    for c in 0..2 {
        for y in 0..size {
            for x in 0..size {
                let (dy, dx) = (y as i32 - 5, x as i32 - 5);
                let expected = if dy.abs() <= 3 && dx.abs() <= 3 { kernel[(dy + 3) as usize] * kernel[(dx + 3) as usize] } else { 0.0 };
                let got = blurred[(c * size + y) * size + x];
                assert!((got - expected).abs() < 1e-7, "({c}, {y}, {x}): {got} vs {expected}");
            }
        }
    }
    // A constant stays constant away from the border (the kernel sums to 1).
    let constant = values(smooth(tensor(&vec![0.25; size * size], [1, 1, size, size], &device), 1.0));
    assert!((constant[5 * size + 5] - 0.25).abs() < 1e-6);
    assert!(constant[0] < 0.25, "zeros beyond the border pull the corner down");
}

#[test]
fn stop_at_gamma_ends_the_run_where_algorithm_1_says() {
    // Algorithm 1, line 2: `while ℘ < γ`. A run without the stop, same seed, gives the ℘ of each
    // iteration; with the stop and γ set to the fourth iteration's ℘, the run must end at the first
    // iteration whose ℘ reaches it, with the same events up to there.
    let device = device::cpu_device();
    let model = TinyCnn::random(16, 10, 7, &device);
    let config = RunConfig { refine_every: 0, ..short_config(11, 8) };
    let (_, full) = run_to_end(&model, &device, config.clone());
    assert_eq!(full.len(), config.iterations);
    let gamma = full[3].target_probability;
    let first = full.iter().position(|e| e.target_probability >= gamma).unwrap();
    let (_, stopped) = run_to_end(&model, &device, RunConfig { gamma, stop_at_gamma: true, ..config.clone() });
    assert_eq!(stopped.len(), first + 1, "℘ per iteration: {:?}", full.iter().map(|e| e.target_probability).collect::<Vec<_>>());
    for (a, b) in stopped.iter().zip(&full) {
        assert_eq!((a.sign, a.target_probability), (b.sign, b.target_probability));
    }
    // γ out of reach: all iterations, as without the stop.
    let (_, unreached) = run_to_end(&model, &device, RunConfig { gamma: 1.5, stop_at_gamma: true, ..config });
    assert_eq!(unreached.len(), full.len());
}

#[test]
fn the_loss_check_keeps_the_sign_with_the_lower_eq4_loss() {
    // Inpainting with Eq. 4's loss in the ± check: at every iteration the kept p_t must have a
    // loss, mean −ln P(ℓ | D̄ + p) + β‖p ⊙ (1 − F)‖₂, no higher than the rejected 2p_{t−1} − p_t
    // (η is large, so line 20 never rescales and p_t − p_{t−1} is the signed step). The losses are
    // recomputed here from the public pieces; the probability alone must have chosen otherwise at
    // least once, or this test could not tell the two checks apart.
    let device = device::cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 10, 7, &device);
    let (seed, samples) = (images(1, size, 1, &device), images(24, size, 2, &device));
    let mut hole = vec![0f32; size * size];
    for y in 6..10 {
        hole[y * size + 6..y * size + 10].fill(1.0);
    }
    let weight = 10.0f32;
    let config = RunConfig {
        eta: 1e3,
        iterations: 8,
        refine_every: 0,
        step_size: Some(0.5 / 1e3),
        sign_check: SignCheck::AllSamples,
        sign_probe: SignProbe::Step,
        ..short_config(3, 8)
    };
    let mut run = Run::new(&model, seed, samples.clone(), config.clone()).unwrap().with_hole_penalty_in_check(&hole, weight, a2x::engine::penalty::PenaltyForm::Norm).unwrap();
    let outside = a2x::engine::estimate::outside_of_hole(&hole, [3, size, size], &device);
    let evaluate = |p: Tensor<4>| -> (f32, f32) {
        let probabilities = target_probabilities(&model, a2x::engine::estimate::perturb(samples.clone(), p.clone()), config.target, 8);
        let probability = probabilities.clone().mean().into_data().try_into_vec::<f32>().unwrap()[0];
        let cross_entropy = probabilities.clamp_min(1e-30).log().neg().mean().into_data().try_into_vec::<f32>().unwrap()[0];
        let penalty = (p * outside.clone()).square().sum().sqrt().into_data().try_into_vec::<f32>().unwrap()[0];
        (cross_entropy + weight * penalty, probability)
    };
    let mut disagreements = 0;
    for _ in 0..config.iterations {
        let previous = run.perturbation();
        let event = block_on(run.step()).unwrap();
        let kept = run.perturbation();
        let rejected = previous * 2.0 - kept.clone();
        let ((kept_loss, kept_probability), (rejected_loss, rejected_probability)) = (evaluate(kept), evaluate(rejected));
        assert!(kept_loss <= rejected_loss + 1e-4, "t = {}: kept loss {kept_loss} > rejected {rejected_loss}", event.iteration);
        disagreements += usize::from(kept_probability < rejected_probability);
    }
    assert!(disagreements > 0, "the target probability agreed with Eq. 4's loss at every iteration");
}

/// The runs whose p `tests/data/recorded-runs.json` holds, as recorded by the engine before issue
/// #21 restructured Algorithm 1 around its additions (`cargo test --test engine record_runs --
/// --ignored` writes the file; it was run on that commit and the file committed). The paper as
/// written (with Algorithm 2 every third iteration, and with the ± check on all of D̄), and a2x's
/// settings of issue #8 (step size, step probe, ξ balanced, σ 2 smoothing, batch check), which
/// version-1 links carry.
fn recorded_configs() -> Vec<(&'static str, RunConfig)> {
    let paper = RunConfig { target: 3, eta: 6.0, batch: 8, iterations: 6, refine_every: 3, refine_start: RefineStart::EveryInterval, rng_seed: 42, chunk: 5, ..RunConfig::paper() };
    vec![
        ("paper-refine", paper.clone()),
        ("paper-all-samples", RunConfig { refine_every: 0, rng_seed: 7, ..paper.clone() }),
        (
            "a2x-issue-8",
            RunConfig {
                eta: 20.0,
                iterations: 6,
                refine_every: 0,
                sign_check: SignCheck::Batch,
                step_size: Some(0.1),
                sign_probe: SignProbe::Step,
                fusion: Fusion::Balanced,
                smoothing: Some(2.0),
                ..paper
            },
        ),
    ]
}

fn recorded_path() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/recorded-runs.json")
}

#[test]
#[ignore = "writes tests/data/recorded-runs.json; run only to record a new reference"]
fn record_runs() {
    let device = device::cpu_device();
    let model = TinyCnn::random(16, 10, 7, &device);
    let mut out = serde_json::Map::new();
    for (name, config) in recorded_configs() {
        let (p, events) = run_to_end(&model, &device, config);
        let curve: Vec<f32> = events.iter().map(|e| e.target_probability).collect();
        out.insert(name.into(), serde_json::json!({"p": p, "curve": curve}));
    }
    std::fs::write(recorded_path(), serde_json::to_string(&out).unwrap() + "\n").unwrap();
}

#[test]
fn the_paper_and_old_defaults_replay_as_recorded() {
    let device = device::cpu_device();
    let model = TinyCnn::random(16, 10, 7, &device);
    let recorded: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(recorded_path()).unwrap()).unwrap();
    for (name, config) in recorded_configs() {
        let (p, events) = run_to_end(&model, &device, config);
        let floats = |v: &serde_json::Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap() as f32).collect::<Vec<f32>>();
        let (want_p, want_curve) = (floats(&recorded[name]["p"]), floats(&recorded[name]["curve"]));
        let curve: Vec<f32> = events.iter().map(|e| e.target_probability).collect();
        let worst = p.iter().zip(&want_p).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
        say!("{name}: p within {worst:.1e} of the recording, ℘ {curve:?}");
        assert_eq!(p.len(), want_p.len());
        assert!(worst <= 1e-6, "{name}: p moved by {worst} from the recording");
        assert_eq!(curve, want_curve, "{name}: ℘ per iteration");
    }
}

#[test]
fn an_identity_placement_changes_nothing() {
    // A jitter of 0 px places p exactly where it is: the run through the placements' resampling
    // and its adjoint gives the p of the run without transforms.
    let device = device::cpu_device();
    let model = TinyCnn::random(16, 10, 7, &device);
    let base = RunConfig { refine_every: 0, ..short_config(42, 8) };
    let placed = RunConfig { transforms: vec![a2x::engine::transforms::Transform::Jitter { pixels: 0 }], ..base.clone() };
    let (plain, _) = run_to_end(&model, &device, base);
    let (through, _) = run_to_end(&model, &device, placed);
    let worst = plain.iter().zip(&through).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-6, "identity placements moved p by {worst}");
}

#[test]
fn gradients_carried_back_through_placements_match_finite_differences() {
    // L(p) = Σᵢ J(xᵢ + Tᵢ p): its gradient is Σᵢ Tᵢᵀ ∇J(xᵢ + Tᵢ p). Checked against central
    // differences along random directions (images in [0.2, 0.8] and p small: no clipping).
    use a2x::engine::transforms::{Placements, Transform};
    let device = device::cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 10, 3, &device);
    let mut rng = a2x::engine::sampling::Rng::new(5);
    let n = 3;
    let images = images(n, size, 9, &device).mul_scalar(0.6).add_scalar(0.2);
    let random = |rng: &mut a2x::engine::sampling::Rng, scale: f32| {
        let v: Vec<f32> = (0..3 * size * size).map(|_| (rng.unit() as f32 - 0.5) * scale).collect();
        Tensor::<4>::from_data(TensorData::new(v, [1, 3, size, size]), &device)
    };
    let p = random(&mut rng, 0.1);
    let transforms = [Transform::Jitter { pixels: 2 }, Transform::Scale { min: 0.85, max: 1.15 }, Transform::Rotate { degrees: 15.0 }];
    let placements = Placements::draw(&transforms, n, &mut rng, [3, size, size], &device);
    let target = 4;
    let loss = |p: Tensor<4>| -> f64 {
        let x = images.clone() + placements.place(p);
        let logits = model.logits(x);
        let l = -log_softmax(logits, 1).slice([0..n, target..target + 1]).sum();
        l.into_data().try_into_vec::<f32>().unwrap()[0] as f64
    };
    let at = images.clone() + placements.place(p.clone());
    let gradient = placements.carry_back(input_gradients(&model, at, target, 8)).sum_dim(0);
    let gradient = values(gradient);
    for _ in 0..3 {
        let direction = random(&mut rng, 1.0);
        let eps = 1e-2f32;
        let numeric = (loss(p.clone() + direction.clone() * eps) - loss(p.clone() - direction.clone() * eps)) / (2.0 * eps as f64);
        let analytic: f64 = gradient.iter().zip(values(direction)).map(|(g, d)| *g as f64 * d as f64).sum();
        assert!((numeric - analytic).abs() <= 2e-3 * (1.0 + numeric.abs()), "directional derivative {analytic} vs finite difference {numeric}");
    }
}

#[test]
fn lucent_transforms_and_fourier_raise_the_target_within_eta() {
    // a2x's additions of issue #21 together, on the tiny model: the run stays deterministic, ‖p‖
    // never exceeds η, and ℘ on the samples rises from its start.
    use a2x::engine::param::{Parameterisation, Spectrum};
    use a2x::engine::transforms::Transform;
    let device = device::cpu_device();
    let model = TinyCnn::random(16, 10, 7, &device);
    for param in [Parameterisation::lucent(), Parameterisation::Fourier { spectrum: Spectrum::Natural, decorrelate: true }] {
        let config = RunConfig {
            target: 3,
            eta: 8.0,
            batch: 8,
            iterations: 12,
            rng_seed: 3,
            transforms: Transform::lucent_standard(),
            param,
            ..RunConfig::a2x_v1()
        };
        let (p, events) = run_to_end(&model, &device, RunConfig { smoothing: None, ..config.clone() });
        let (again, _) = run_to_end(&model, &device, RunConfig { smoothing: None, ..config });
        assert_eq!(p, again, "deterministic");
        let norm = p.iter().map(|v| (*v as f64).powi(2)).sum::<f64>().sqrt();
        assert!(norm <= 8.0 + 1e-3, "‖p‖ = {norm}");
        let first = events[0].samples_probability;
        let last = events.iter().rev().take(3).map(|e| e.samples_probability).sum::<f32>() / 3.0;
        say!("{param:?}: ℘ on the samples {first:.4} → {last:.4}, ‖p‖ {norm:.2}");
        assert!(last > first, "{param:?}: ℘ {first} → {last}");
    }
}

/// Keys' cubic convolution (a = −0.5), written out in 2-D as a check of the separable version.
fn keys(x: f64) -> f64 {
    let (a, x) = (-0.5, x.abs());
    if x <= 1.0 {
        (a + 2.0) * x.powi(3) - (a + 3.0) * x * x + 1.0
    } else if x < 2.0 {
        a * x.powi(3) - 5.0 * a * x * x + 8.0 * a * x - 4.0 * a
    } else {
        0.0
    }
}

#[test]
fn algorithm_2_recomputed_by_hand() {
    // Every line of Algorithm 2 on the tiny model, recomputed here in f64 from the base's feature
    // maps: the channel mean (line 3), Otsu's split by brute force over every cut of the sorted
    // values (line 4), the mask (line 5), Keys' bicubic in 2-D (line 6), the product, the clip to
    // [−1, 1] and the projection (line 7, O5).
    let device = device::cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 10, 7, &device);
    let p = (images(1, size, 4, &device) - 0.5) * 1.5;
    let (lambda, eta) = (5.0f32, 9.0f32);
    let (refined, refinement) = block_on(a2x::engine::refine::refine(&model, p.clone(), lambda, eta, RefineInput::MidGrey)).unwrap();
    // Line 2 (O6 mid-grey): the base sees Clip(p + ½).
    let features = model.features((p.clone() + 0.5).clamp(0.0, 1.0));
    let [_, channels, mh, mw] = features.dims();
    let maps = values(features);
    let mean: Vec<f64> = (0..mh * mw).map(|i| (0..channels).map(|c| maps[c * mh * mw + i] as f64).sum::<f64>() / channels as f64).collect();
    for (ours, engine) in mean.iter().zip(&refinement.activation) {
        assert!((ours - *engine as f64).abs() < 1e-5, "line 3: {ours} vs {engine}");
    }
    // Line 4: the cut of the sorted values with the largest between-class variance.
    let mut sorted = mean.clone();
    sorted.sort_by(f64::total_cmp);
    let n = sorted.len() as f64;
    let best = (1..sorted.len())
        .filter(|&k| sorted[k] > sorted[k - 1])
        .max_by(|&a, &b| {
            let variance = |k: usize| {
                let (m0, m1) = (sorted[..k].iter().sum::<f64>() / k as f64, sorted[k..].iter().sum::<f64>() / (n - k as f64));
                (k as f64 / n) * (1.0 - k as f64 / n) * (m0 - m1).powi(2)
            };
            variance(a).total_cmp(&variance(b))
        })
        .unwrap();
    let cut = sorted[best - 1];
    // Line 5: λ above the cut, 0 below.
    let mask: Vec<f32> = mean.iter().map(|&v| if v > cut { lambda } else { 0.0 }).collect();
    assert_eq!(refinement.mask, mask, "line 5");
    assert!(mask.iter().any(|&m| m == 0.0) && mask.iter().any(|&m| m == lambda), "a real split");
    // Line 6: bicubic, pixel centres aligned, the map's border repeated.
    let f: Vec<f64> = (0..size * size)
        .map(|i| {
            let (y, x) = ((i / size) as f64, (i % size) as f64);
            let (sy, sx) = ((y + 0.5) * mh as f64 / size as f64 - 0.5, (x + 0.5) * mw as f64 / size as f64 - 0.5);
            let mut total = 0.0;
            for yi in (sy.floor() as i64 - 1)..=(sy.floor() as i64 + 2) {
                for xi in (sx.floor() as i64 - 1)..=(sx.floor() as i64 + 2) {
                    let (cy, cx) = (yi.clamp(0, mh as i64 - 1) as usize, xi.clamp(0, mw as i64 - 1) as usize);
                    total += keys(sy - yi as f64) * keys(sx - xi as f64) * mask[cy * mw + cx] as f64;
                }
            }
            total
        })
        .collect();
    // Line 7: p ⊙ f, clipped to [−1, 1], then onto the η-ball.
    let pv = values(p);
    let clipped: Vec<f64> = pv.iter().enumerate().map(|(i, &v)| (v as f64 * f[i % (size * size)]).clamp(-1.0, 1.0)).collect();
    let norm = clipped.iter().map(|v| v * v).sum::<f64>().sqrt();
    let scale = (eta as f64 / norm).min(1.0);
    let expected: Vec<f64> = clipped.iter().map(|v| v * scale).collect();
    assert!(norm > eta as f64, "the test should exercise the projection ({norm})");
    let got = values(refined);
    let worst = got.iter().zip(&expected).map(|(a, b)| (*a as f64 - b).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-5, "the refined p differs from the hand computation by {worst}");
}

#[test]
fn after_gamma_refines_at_the_first_gamma_then_every_interval() {
    let device = device::cpu_device();
    let model = TinyCnn::random(16, 10, 7, &device);
    let config = |gamma: f32| RunConfig { gamma, iterations: 7, refine_every: 3, refine_start: RefineStart::AfterGamma, ..short_config(42, 8) };
    let refined_at = |events: &[a2x::engine::Event]| events.iter().filter(|e| e.refined).map(|e| e.iteration).collect::<Vec<_>>();
    // γ 0: reached at iteration 1, refined there, then at 3 and 6.
    let (_, events) = run_to_end(&model, &device, config(0.0));
    assert_eq!(refined_at(&events), [1, 3, 6]);
    // γ above 1: never reached, never refined (the paper's rule, O9).
    let (_, events) = run_to_end(&model, &device, config(1.01));
    assert!(refined_at(&events).is_empty());
    // γ first reached later: until its first refinement the run is the unrefined one, so take
    // as γ a ℘ of that run higher than every ℘ before it; the first refinement comes there.
    let (_, probe) = run_to_end(&model, &device, config(1.01));
    let curve: Vec<f32> = probe.iter().map(|e| e.target_probability).collect();
    let k = (1..curve.len()).find(|&k| curve[..k].iter().all(|&c| c < curve[k])).expect("℘ rises above its start at some iteration");
    let (_, events) = run_to_end(&model, &device, config(curve[k]));
    let at = refined_at(&events);
    assert_eq!(at.first(), Some(&(k + 1)), "{at:?} (℘ {curve:?})");
    assert!(at[1..].iter().all(|t| t % 3 == 0 && *t > k + 1), "{at:?}");
}

#[test]
fn transfer_matches_a_per_image_computation() {
    // evaluate::transfer in chunks of 3 over 7 images against each image classified alone, with
    // the softmax done here in f64 and the top-1 by argmax.
    let device = device::cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 10, 7, &device);
    let photos = images(7, size, 6, &device);
    let p = (images(1, size, 8, &device) - 0.5) * 0.6;
    for target in [0, 3, 9] {
        let measured = block_on(a2x::engine::evaluate::transfer(&model, photos.clone(), p.clone(), target, 3)).unwrap();
        let (mut probability, mut hits) = (0f64, 0);
        for i in 0..7 {
            let x = (photos.clone().slice([i..i + 1]) + p.clone()).clamp(0.0, 1.0);
            let logits = model.logits(x).into_data().try_into_vec::<f32>().unwrap();
            let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
            let total: f64 = logits.iter().map(|&v| (v as f64 - max).exp()).sum();
            probability += (logits[target] as f64 - max).exp() / total / 7.0;
            hits += usize::from(logits.iter().all(|&v| v <= logits[target]));
        }
        assert_eq!(measured.images, 7);
        assert!((measured.target_probability as f64 - probability).abs() < 1e-5, "target {target}: {} vs {probability}", measured.target_probability);
        assert_eq!(measured.top1_rate, hits as f32 / 7.0, "target {target}");
    }
    assert!(block_on(a2x::engine::evaluate::transfer(&model, photos, p, 10, 3)).is_err(), "a target the model lacks");
}
