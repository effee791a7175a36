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
    let logits: Vec<f32> = json["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect();
    let raw = std::fs::read(data().join(format!("{name}.f32"))).unwrap();
    let floats: Vec<f32> = raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect();
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
