//! The ONNX interpreter (issue #34) against onnxruntime and PyTorch: each architecture family
//! exported by `scripts/onnx_testdata.py` (random weights, small widths, `tests/data/onnx`) gives
//! onnxruntime's logits within 1e-4 of the largest logit, and PyTorch's input gradient of one
//! class within 1e-3 relative ℓ2, on flex.

use a2x::device;
use a2x::engine::Classifier;
use a2x::models::onnx::{OnnxModel, Preprocess};
use burn::tensor::{Device, Tensor, TensorData};
use std::path::PathBuf;

fn data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/onnx")
}

/// No preprocessing: the exports take a2x's images as they are.
fn identity() -> Preprocess {
    Preprocess { range: 1.0, mean: [0.0; 3], std: [1.0; 3], bgr: false, size: None }
}

/// Little-endian float32 values of `file` in tests/data/onnx.
fn floats(file: &str) -> Vec<f32> {
    let raw = std::fs::read(data().join(file)).unwrap();
    raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect()
}

/// The `logits` list of a JSON record.
fn logits_of(json: &serde_json::Value) -> Vec<f32> {
    json["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect()
}

struct Case {
    side: usize,
    images: usize,
    classes: usize,
    target: usize,
    logits: Vec<f32>,
    inputs: Vec<f32>,
    gradient: Vec<f32>,
}

fn case(name: &str) -> Case {
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(data().join(format!("{name}.json"))).unwrap()).unwrap();
    let get = |k: &str| json[k].as_u64().unwrap() as usize;
    let (side, images, classes, target) = (get("side"), get("images"), get("classes"), get("target"));
    let logits = logits_of(&json);
    let floats = floats(&format!("{name}.f32"));
    let n = images * 3 * side * side;
    assert_eq!(floats.len(), 2 * n, "{name}.f32 holds the images and the gradient");
    Case { side, images, classes, target, logits, inputs: floats[..n].to_vec(), gradient: floats[n..].to_vec() }
}

fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
}

/// (largest |ours − onnxruntime| / largest |logit|, relative ℓ2 error of the gradient).
fn errors(name: &str, device: &Device) -> (f32, f32, OnnxModel) {
    let case = case(name);
    let bytes = std::fs::read(data().join(format!("{name}.onnx"))).unwrap();
    let model = OnnxModel::load(&bytes, identity(), device).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(model.input_shape(), [3, case.side, case.side], "{name}");
    assert_eq!(model.num_classes(), case.classes, "{name}");
    let shape = [case.images, 3, case.side, case.side];
    let images = Tensor::<4>::from_data(TensorData::new(case.inputs.clone(), shape), device);
    let logits = values(model.logits(images.clone()));
    let largest = case.logits.iter().fold(0f32, |m, v| m.max(v.abs()));
    let logit_error = logits.iter().zip(&case.logits).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max) / largest;

    let tracked = images.require_grad();
    let logits = model.logits(tracked.clone());
    let [n, _] = logits.dims();
    let grads = logits.slice([0..n, case.target..case.target + 1]).sum().backward();
    let gradient = values(tracked.grad(&grads).unwrap());
    let norm = |v: &[f32]| v.iter().map(|x| (*x as f64).powi(2)).sum::<f64>().sqrt();
    let difference: Vec<f32> = gradient.iter().zip(&case.gradient).map(|(a, b)| a - b).collect();
    let gradient_error = (norm(&difference) / norm(&case.gradient)) as f32;
    (logit_error, gradient_error, model)
}

fn check(name: &str) {
    let device = device::flex_device();
    let (logit_error, gradient_error, model) = errors(name, &device);
    let (runs, folded) = model.operations();
    eprintln!("{name}: logits within {logit_error:.2e} of the largest, gradient within {gradient_error:.2e} relative ℓ2 ({runs} operations a call, {folded} folded at load)");
    assert!(logit_error <= 1e-4, "{name}: logits differ from onnxruntime's by {logit_error:.2e} of the largest");
    assert!(gradient_error <= 1e-3, "{name}: the input gradient differs from PyTorch's by {gradient_error:.2e} relative ℓ2");
}

#[test]
fn resnet_matches_onnxruntime_and_pytorch() {
    check("resnet");
}

#[test]
fn mobilenet_v2_matches_onnxruntime_and_pytorch() {
    check("mobilenet-v2");
}

#[test]
fn mobilenet_v3_matches_onnxruntime_and_pytorch() {
    check("mobilenet-v3");
}

#[test]
fn efficientnet_matches_onnxruntime_and_pytorch() {
    check("efficientnet");
}

#[test]
fn densenet_matches_onnxruntime_and_pytorch() {
    check("densenet");
}

#[test]
fn squeezenet_matches_onnxruntime_and_pytorch() {
    check("squeezenet");
}

#[test]
fn regnet_matches_onnxruntime_and_pytorch() {
    check("regnet");
}

#[test]
fn convnext_matches_onnxruntime_and_pytorch() {
    check("convnext");
}

#[test]
fn vgg_matches_onnxruntime_and_pytorch() {
    check("vgg");
}

#[test]
fn vit_matches_onnxruntime_and_pytorch() {
    check("vit");
}

#[test]
fn a_file_with_an_unsupported_operator_is_refused_naming_it() {
    // The ViT export with "Softmax" renamed everywhere (its operator type and the names made of
    // it, so the graph stays whole) to an operator a2x lacks.
    let mut bytes = std::fs::read(data().join("vit.onnx")).unwrap();
    let mut renamed = 0;
    while let Some(at) = bytes.windows(7).position(|w| w == b"Softmax") {
        bytes[at..at + 7].copy_from_slice(b"Softmay");
        renamed += 1;
    }
    assert!(renamed > 0, "the ViT has a Softmax");
    let error = OnnxModel::load(&bytes, identity(), &device::flex_device()).unwrap_err();
    assert!(error.contains("operators a2x does not support: Softmay"), "{error}");
}

#[test]
fn truncated_and_random_files_are_refused_with_a_message() {
    let bytes = std::fs::read(data().join("resnet.onnx")).unwrap();
    let device = device::flex_device();
    for (what, damaged) in [("truncated", bytes[..bytes.len() / 2].to_vec()), ("empty", Vec::new()), ("random", (0..5000u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect())] {
        let error = OnnxModel::load(&damaged, identity(), &device).unwrap_err();
        assert!(error.contains("ONNX") || error.contains("onnx"), "{what}: {error}");
    }
}

/// A zoo model (the shipped int8 file, dequantized) and the same network written as ONNX
/// (`models::onnx::export`) and interpreted.
fn both_ways(id: &str, device: &Device) -> (a2x::models::ImageNetModel, OnnxModel) {
    let manifest = a2x::models::manifest::Manifest::parse(&std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models/manifest.json")).unwrap()).unwrap();
    let entry = manifest.model(id).unwrap();
    let bytes = std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("models").join(&entry.file)).unwrap();
    let zoo = a2x::models::load_imagenet(&bytes, Some(&entry.sha256), device).unwrap();
    let onnx = a2x::models::onnx::export::zoo_model(&a2x::models::format::read(&bytes).unwrap()).unwrap();
    let interpreted = OnnxModel::load(&onnx, identity(), device).unwrap();
    (zoo, interpreted)
}

#[test]
fn squeezenet_exported_from_the_zoo_explains_like_the_zoo() {
    explains_like_the_zoo("squeezenet");
}

#[test]
fn lite0_exported_from_the_zoo_explains_like_the_zoo() {
    explains_like_the_zoo("lite0");
}

fn explains_like_the_zoo(id: &str) {
    use a2x::engine::schedule::Run;
    use a2x::engine::RunConfig;
    let device = device::flex_device();
    let (zoo, interpreted) = both_ways(id, &device);
    assert_eq!(interpreted.input_shape(), zoo.input_shape());
    assert_eq!(interpreted.num_classes(), 1000);
    let (seed, samples) = a2x::bench::synthetic_images(zoo.input_shape(), 16, &device);
    let (a, b) = (values(zoo.logits(seed.clone())), values(interpreted.logits(seed.clone())));
    let largest = a.iter().fold(0f32, |m, v| m.max(v.abs()));
    let worst = a.iter().zip(&b).map(|(x, y)| (x - y).abs()).fold(0f32, f32::max);
    eprintln!("{id}: interpreted logits within {:.2e} of the largest", worst / largest);
    assert!(worst <= 1e-4 * largest, "interpreted {id}: logits differ by {worst} (largest {largest})");
    // The same explanation (a2x's defaults at b 8, 4 iterations, the same RNG seed) both ways.
    let config = RunConfig { target: 340, batch: 8, iterations: 4, chunk: 8, ..RunConfig::default() };
    fn run_of<C: Classifier>(model: &C, seed: &Tensor<4>, samples: &Tensor<4>, config: &RunConfig) -> Vec<f32> {
        let mut run = Run::new(model, seed.clone(), samples.clone(), config.clone()).unwrap();
        while !run.is_finished() {
            pollster::block_on(run.step()).unwrap();
        }
        values(run.perturbation())
    }
    let (p, q) = (run_of(&zoo, &seed, &samples, &config), run_of(&interpreted, &seed, &samples, &config));
    let mean = |v: &[f32]| v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
    let (mp, mq) = (mean(&p), mean(&q));
    let cov: f64 = p.iter().zip(&q).map(|(&x, &y)| (x as f64 - mp) * (y as f64 - mq)).sum();
    let var = |v: &[f32], m: f64| v.iter().map(|&x| (x as f64 - m).powi(2)).sum::<f64>();
    let correlation = cov / (var(&p, mp) * var(&q, mq)).sqrt();
    eprintln!("{id}: p's pixel correlation, zoo vs interpreted ONNX: {correlation:.6}");
    assert!(correlation >= 0.999, "p correlates {correlation} between the zoo's {id} and its ONNX export");
}

/// The zoo's hand-written models against onnxruntime running `a2x export-onnx`'s files
/// (`scripts/onnx_testdata.py --zoo`): each export is the zoo's network, checked by an executor
/// that shares no code with a2x.
#[test]
fn the_zoo_models_match_onnxruntime_on_their_exports() {
    let device = device::flex_device();
    for id in ["squeezenet", "lite0"] {
        let (zoo, interpreted) = both_ways(id, &device);
        let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(data().join(format!("zoo-{id}.json"))).unwrap()).unwrap();
        let side = json["side"].as_u64().unwrap() as usize;
        let reference = logits_of(&json);
        let inputs = floats(&format!("zoo-{id}.f32"));
        let images = Tensor::<4>::from_data(TensorData::new(inputs, [2, 3, side, side]), &device);
        let largest = reference.iter().fold(0f32, |m, v| m.max(v.abs()));
        for (label, logits) in [("hand-written", values(zoo.logits(images.clone()))), ("interpreted", values(interpreted.logits(images.clone())))] {
            let worst = logits.iter().zip(&reference).map(|(a, b)| (a - b).abs()).fold(0f32, f32::max);
            eprintln!("zoo {id}, {label}: within {:.2e} of onnxruntime's largest logit", worst / largest);
            assert!(worst <= 1e-4 * largest, "{id}, {label}: {worst} from onnxruntime (largest logit {largest})");
        }
    }
}
