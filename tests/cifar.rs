//! a2x's own CIFAR-10 models (issue #6): the shipped files match the manifest, load, and classify
//! a sample of the CIFAR-10 test images as well as their recorded accuracy says; the Gaussians
//! load and their samples have the recorded class means. Needs `../shared/data/cifar10` for the
//! accuracy check (skips with a message when absent).

#[macro_use]
mod common;
use common::{skip, Need};
use a2x::engine::gaussian;
use a2x::engine::sampling::Rng;
use a2x::engine::Classifier;
use a2x::models::format;
use a2x::models::manifest::Manifest;
use a2x::models::resnet;
use a2x::engine::pgd::PgdConfig;
use a2x::train::accuracy_of;
use a2x::train::data::{Dataset, Split};
use burn::tensor::{Tensor, TensorData};
use std::path::PathBuf;

fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn manifest() -> Manifest {
    Manifest::parse(&std::fs::read_to_string(root().join("models/manifest.json")).unwrap()).unwrap()
}

#[test]
fn shipped_cifar_models_match_their_manifest_and_recorded_accuracy() {
    let manifest = manifest();
    // flex, the backend the accuracies were recorded on (ndarray takes tens of minutes for the
    // attack's 4,200 passes).
    let device = a2x::device::flex_device();
    let data = root().join("../shared/data/cifar10");
    let test = data.is_dir().then(|| Dataset::load(&data, Split::Test).unwrap());
    for id in ["cifar-robust", "cifar-standard"] {
        let entry = manifest.trained(id).unwrap_or_else(|| panic!("{id} is not in the manifest"));
        let bytes = std::fs::read(root().join("models").join(&entry.file)).unwrap();
        assert_eq!(bytes.len(), entry.file_bytes);
        assert_eq!(format::sha256_hex(&bytes), entry.sha256);
        let model = resnet::load(&bytes, Some(&entry.sha256), &device).unwrap();
        // A tampered byte is refused with an error, not a panic.
        let mut tampered = bytes.clone();
        tampered[bytes.len() / 2] ^= 1;
        assert!(resnet::load(&tampered, None, &device).is_err());
        let metrics = entry.metrics.as_ref().expect("measured by eval-cifar --record");
        let Some(test) = &test else {
            skip(Need::Shared, &format!("{id}'s accuracy check: ../shared/data/cifar10 is absent"));
            continue;
        };
        let forward = |x| model.logits(x);
        // 50 images per class (the test set's first): top-1 within 6 points of the recorded
        // top-1 on all 5,000 (binomial sd at n = 500 is about 2 points).
        let clean = test.first_per_class(50);
        let top1 = 100.0 * accuracy_of(&forward, &clean, None, &device, 100).unwrap() as f64;
        say!("{id}: top-1 {top1:.1} % on {} test images (recorded on 5,000: {:.2} %)", clean.len(), metrics.clean_top1);
        assert!((top1 - metrics.clean_top1).abs() <= 6.0, "{id}: {top1} vs recorded {}", metrics.clean_top1);
        // Under the recorded attack, on the first 20 test images of each class: issue #6 promised
        // the robust model keeps ≥ 45 % top-1, and the standard model must fall to about its
        // recorded number (an attack that did nothing would leave it at its clean top-1). The
        // binomial sd at n = 200 is at most 3.5 points; the tolerance is 3 of them.
        let attack = PgdConfig { epsilon: 0.5, steps: 20, step_size: 0.1, random_start: false };
        assert_eq!(metrics.attack, attack.untargeted_description());
        let subset = test.first_per_class(20);
        let started = std::time::Instant::now();
        let attacked = 100.0 * accuracy_of(&forward, &subset, Some(&attack), &device, 50).unwrap() as f64;
        say!("{id}: the attack on {} images took {:.0} s", subset.len(), started.elapsed().as_secs_f64());
        say!("{id}: top-1 {attacked:.1} % under the attack on {} test images (recorded on 5,000: {:.2} %)", subset.len(), metrics.attacked_top1);
        assert!((attacked - metrics.attacked_top1).abs() <= 10.5, "{id}: {attacked} under attack vs recorded {}", metrics.attacked_top1);
        if id == "cifar-robust" {
            assert!(attacked >= 45.0, "the robust model keeps {attacked} % under attack, below #6's 45 %");
        }
    }
}

#[test]
fn shipped_gaussians_sample_their_covariance_and_the_class_means() {
    let manifest = manifest();
    let file = manifest.trained("cifar-robust").unwrap().gaussians.clone().expect("the robust model names its Gaussians");
    let bytes = std::fs::read(root().join("models").join(&file.file)).unwrap();
    let gaussians = a2x::models::gaussians::read_file(&bytes, Some(&file.sha256)).unwrap();
    assert_eq!(gaussians.len(), 10);
    let mut rng = Rng::new(3);
    for (class, g) in gaussians.iter().enumerate().take(3) {
        // 4,000 samples at 8×8×3: their mean lies within a few sd/√n of μ, and their covariance
        // within a few standard errors of Σ + ridge·I — a wrong Cholesky factor L (any L gives the
        // right mean) would fail the second.
        let (n, dims) = (4000, g.mean.len());
        let samples: Vec<Vec<f32>> = (0..n).map(|_| g.sample_small(&mut rng)).collect();
        let mean: Vec<f64> = (0..dims).map(|i| samples.iter().map(|s| s[i] as f64).sum::<f64>() / n as f64).collect();
        let sigma = |i: usize, j: usize| g.covariance[i * dims + j] as f64 + if i == j { gaussian::RIDGE } else { 0.0 };
        for i in 0..dims {
            assert!((mean[i] - g.mean[i] as f64).abs() <= 5.0 * (sigma(i, i) / n as f64).sqrt(), "class {class} dimension {i}: mean {} vs μ {}", mean[i], g.mean[i]);
        }
        let mut worst = 0f64;
        for i in (0..dims).step_by(7) {
            for j in (0..dims).step_by(5) {
                let c = samples.iter().map(|s| (s[i] as f64 - mean[i]) * (s[j] as f64 - mean[j])).sum::<f64>() / (n - 1) as f64;
                // The sample covariance's standard error for Gaussian data.
                let se = ((sigma(i, i) * sigma(j, j) + sigma(i, j).powi(2)) / n as f64).sqrt();
                worst = worst.max((c - sigma(i, j)).abs() / se);
            }
        }
        say!("class {class}: sample covariance within {worst:.1} standard errors of Σ");
        assert!(worst < 5.5, "class {class}: the sample covariance is {worst:.1} standard errors from Σ");
    }
    // μ against the class means of the real training images (box-averaged 4×4, computed here).
    let data = root().join("../shared/data/cifar10");
    if !data.is_dir() {
        skip(Need::Shared, "the class means against CIFAR-10: ../shared/data/cifar10 is absent");
        return;
    }
    let train = Dataset::load(&data, Split::Train).unwrap();
    for class in [0u8, 6, 9] {
        let indices: Vec<usize> = (0..train.labels.len()).filter(|&i| train.labels[i] == class).take(1000).collect();
        let (values, _) = train.batch(&indices, None);
        let g = &gaussians[class as usize];
        let mut mean = vec![0f64; g.mean.len()];
        for image in values.chunks(3 * 32 * 32) {
            for c in 0..3 {
                for y in 0..8 {
                    for x in 0..8 {
                        let block: f64 = (0..16).map(|k| image[(c * 32 + y * 4 + k / 4) * 32 + x * 4 + k % 4] as f64).sum::<f64>() / 16.0;
                        mean[(c * 8 + y) * 8 + x] += block / indices.len() as f64;
                    }
                }
            }
        }
        let dims = g.mean.len();
        let worst = (0..dims)
            .map(|i| (mean[i] - g.mean[i] as f64).abs() / (g.covariance[i * dims + i] as f64 / indices.len() as f64).sqrt())
            .fold(0.0, f64::max);
        say!("class {class}: μ within {worst:.1} standard errors of the mean of 1,000 training images");
        assert!(worst < 5.5, "class {class}: μ is {worst:.1} standard errors from the training images' mean");
    }
}

/// Inpainting's three ways of keeping A2X to the hole, on the shipped robust model, two
/// iterations: with the step confined to the hole p is exactly 0 outside it (F multiplies g
/// before the moments, so the moments and ρ are 0 there); with Eq. 4's penalty it is not (the
/// first step, taken while ‖p ⊙ (1 − F)‖ = 0, goes everywhere); with Eq. 4's loss in the ± check
/// as well, the part outside is not 0 but small beside the part inside.
#[test]
fn inpainting_keeps_a2x_to_the_hole_as_its_setting_says() {
    use a2x::engine::tasks::{self, HoleConstraint, Task};
    let manifest = manifest();
    let device = a2x::device::cpu_device();
    let entry = manifest.trained("cifar-robust").unwrap();
    let model = resnet::load(&std::fs::read(root().join("models").join(&entry.file)).unwrap(), Some(&entry.sha256), &device).unwrap();
    let file = entry.gaussians.clone().unwrap();
    let gaussians = a2x::models::gaussians::read_file(&std::fs::read(root().join("models").join(&file.file)).unwrap(), Some(&file.sha256)).unwrap();
    let hole = {
        let (top, left, height, width) = a2x::bundled::HOLE;
        tasks::hole_mask(32, top, left, height, width)
    };
    let seed = gaussians[3].sample(1, &mut Rng::new(5));
    for constraint in [HoleConstraint::StepInsideHole, HoleConstraint::Penalty, HoleConstraint::PenaltyInCheck] {
        let mut settings = Task::Inpaint.defaults();
        settings.hole_constraint = constraint;
        // Eq. 4's norm: its pull of length β is what keeps p near the hole within two steps.
        settings.hole_penalty = a2x::engine::penalty::PenaltyForm::Norm;
        settings.run.target = 3;
        settings.run.iterations = 2;
        settings.samples = 16;
        settings.run.batch = 4;
        settings.run.sign_check = a2x::engine::SignCheck::Batch;
        let samples = tasks::gaussian_samples(&gaussians[3], settings.samples, &mut Rng::new(6), &device);
        let seed_tensor = Tensor::<4>::from_data(TensorData::new(seed.clone(), [1, 3, 32, 32]), &device);
        let result = pollster::block_on(tasks::run_a2x(&model, seed_tensor.clone(), samples, &settings, Some(&hole), &mut |_| true)).unwrap();
        let p: Vec<f32> = (result.image - seed_tensor).into_data().convert::<f32>().try_to_vec::<f32>().unwrap();
        let (mut inside, mut outside) = (0f64, 0f64);
        for c in 0..3 {
            for i in 0..1024 {
                let v = (p[c * 1024 + i] as f64).powi(2);
                if hole[i] == 1.0 { inside += v } else { outside += v }
            }
        }
        say!("{constraint:?}: ‖p‖ inside {:.4}, outside {:.4}", inside.sqrt(), outside.sqrt());
        assert!(inside.sqrt() > 0.01, "{constraint:?}: p did not move inside the hole");
        match constraint {
            HoleConstraint::StepInsideHole => assert_eq!(outside, 0.0),
            HoleConstraint::Penalty => assert!(outside.sqrt() > 0.01),
            // The second step undoes most of the first one's part outside the hole: with Eq. 4's
            // loss in the check the sign that shrinks ‖p ⊙ (1 − F)‖ wins.
            HoleConstraint::PenaltyInCheck => assert!(outside > 0.0 && outside.sqrt() < inside.sqrt() / 4.0),
        }
    }
}

/// Inpainting's default seed against the true pixels: on every 50th test image (100, all classes)
/// with the central 10×10 hole, the shipped Gaussian of the image's class, conditioned on the
/// blocks around the hole, fills it closer to the truth in squared error than the mean colour of
/// the rest of the image (measured: 0.040 against 0.059 on the first 90). Needs
/// `../shared/data/cifar10` (skips with a message when absent).
#[test]
fn class_mean_seed_fills_test_holes_closer_than_the_mean_colour() {
    use a2x::engine::tasks::{self, InpaintSeed};
    let data = root().join("../shared/data/cifar10");
    if !data.is_dir() {
        skip(Need::Shared, "../shared/data/cifar10 is absent");
        return;
    }
    let manifest = manifest();
    let file = manifest.trained("cifar-robust").unwrap().gaussians.clone().unwrap();
    let gaussians = a2x::models::gaussians::read_file(&std::fs::read(root().join("models").join(&file.file)).unwrap(), Some(&file.sha256)).unwrap();
    let hole = {
        let (top, left, height, width) = a2x::bundled::HOLE;
        tasks::hole_mask(32, top, left, height, width)
    };
    let in_hole_error = |image: &[f32], truth: &[f32]| -> f64 {
        let values: Vec<f64> = (0..truth.len()).filter(|i| hole[i % 1024] == 1.0).map(|i| ((image[i] - truth[i]) as f64).powi(2)).collect();
        values.iter().sum::<f64>() / values.len() as f64
    };
    let test = Dataset::load(&data, Split::Test).unwrap();
    let stride = test.len() / 100;
    let (mut mean_colour, mut class_mean, mut closer) = (0f64, 0f64, 0usize);
    for k in 0..100 {
        let (truth, labels) = test.batch(&[k * stride], None);
        let by_colour = in_hole_error(&tasks::inpaint_seed(&truth, &hole, InpaintSeed::MeanColour, Some(&gaussians[labels[0]])).unwrap(), &truth);
        let by_class = in_hole_error(&tasks::inpaint_seed(&truth, &hole, InpaintSeed::ClassMean, Some(&gaussians[labels[0]])).unwrap(), &truth);
        mean_colour += by_colour / 100.0;
        class_mean += by_class / 100.0;
        closer += usize::from(by_class < by_colour);
    }
    say!("in-hole error on 100 test images: mean colour {mean_colour:.5}, class mean {class_mean:.5} (closer on {closer})");
    assert!(class_mean < 0.8 * mean_colour, "class mean {class_mean} vs mean colour {mean_colour}");
    assert!(closer > 50, "closer on only {closer} of 100");
}
