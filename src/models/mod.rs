//! Classifiers that implement the engine's [`Classifier`](crate::engine::Classifier) trait, and
//! the model zoo: EfficientNet-Lite0/1/2 and SqueezeNet 1.1 loaded from a2x model files (see
//! `models/README.md`).

pub mod efficientnet;
pub mod format;
pub mod gaussians;
#[cfg(not(target_arch = "wasm32"))]
pub mod import;
pub mod labels;
pub mod manifest;
pub mod onnx;
#[cfg(not(target_arch = "wasm32"))]
pub mod pickle;
pub mod resnet;
pub mod squeezenet;
pub mod tiny;

use crate::engine::Classifier;
use burn::tensor::{Device, Tensor};
use efficientnet::{EfficientNetLite, Variant};
use squeezenet::SqueezeNet;

/// Why a model file could not be used. Every failure of loading is one of these, never a panic.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ModelError {
    #[error("the model file is truncated: {expected} bytes expected, {actual} present (an interrupted download?)")]
    Truncated { expected: usize, actual: usize },
    #[error("not an a2x model file: it does not start with \"A2XMODEL\"")]
    BadMagic,
    #[error("model file format version {found} is not supported; this build of a2x reads version {supported}")]
    UnsupportedVersion { found: u32, supported: u32 },
    #[error("the model file is corrupted: its contents do not match its checksum")]
    Corrupted,
    #[error("sha256 mismatch: the manifest says {expected}, the file's is {actual}")]
    Sha256Mismatch { expected: String, actual: String },
    #[error("malformed model file header: {0}")]
    Header(String),
    #[error("unknown architecture \"{0}\"")]
    UnknownArchitecture(String),
    #[error("tensor {name} has shape {found:?}, but {architecture} needs {expected:?}")]
    ShapeMismatch { architecture: String, name: String, expected: Vec<usize>, found: Vec<usize> },
    #[error("tensor {0} is missing from the model file")]
    MissingTensor(String),
    #[error("{architecture} has no tensor named {name}")]
    UnexpectedTensor { architecture: String, name: String },
}

/// The ids of the ImageNet-1k models of the zoo, in the order the page and the CLI list them.
pub const IMAGENET_IDS: [&str; 4] = ["lite0", "lite1", "lite2", squeezenet::ID];

/// The input size of the ImageNet model `id` (one of [`IMAGENET_IDS`]).
pub fn imagenet_input_size(id: &str) -> Option<usize> {
    match Variant::from_id(id) {
        Some(variant) => Some(variant.input_size()),
        None => (id == squeezenet::ID).then_some(squeezenet::INPUT_SIZE),
    }
}

/// The judge of an explanation computed on `model`: a model of another family. The EfficientNet-
/// Lite models are one family trained one way, so their agreement rewards what the family shares;
/// SqueezeNet 1.1 (Caffe, no depthwise convolutions) judges them, and Lite0 judges SqueezeNet.
pub fn judge_of(model: &str) -> &'static str {
    if model == squeezenet::ID { "lite0" } else { squeezenet::ID }
}

/// An ImageNet-1k classifier of the zoo: one of the EfficientNet-Lite family or SqueezeNet 1.1
/// (another family, trained another way: the judge of the Lite models' explanations).
pub enum ImageNetModel {
    Lite(EfficientNetLite),
    SqueezeNet(SqueezeNet),
    /// A visitor's own classifier from an ONNX file (issue #34).
    Onnx(Box<onnx::OnnxModel>),
}

impl ImageNetModel {
    /// The id of the manifest, the CLI and links: `lite0`, …, `squeezenet`.
    pub fn id(&self) -> &'static str {
        match self {
            ImageNetModel::Lite(model) => model.variant().id(),
            ImageNetModel::SqueezeNet(_) => squeezenet::ID,
            ImageNetModel::Onnx(_) => onnx::ID,
        }
    }

    pub fn display_name(&self) -> &'static str {
        match self {
            ImageNetModel::Lite(model) => model.variant().display_name(),
            ImageNetModel::SqueezeNet(_) => squeezenet::DISPLAY_NAME,
            ImageNetModel::Onnx(_) => onnx::DISPLAY_NAME,
        }
    }

    /// Input side in pixels.
    pub fn input_size(&self) -> usize {
        self.input_shape()[1]
    }
}

impl Classifier for ImageNetModel {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        match self {
            ImageNetModel::Lite(model) => model.logits(images),
            ImageNetModel::SqueezeNet(model) => model.logits(images),
            ImageNetModel::Onnx(model) => model.logits(images),
        }
    }
    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        match self {
            ImageNetModel::Lite(model) => model.features(images),
            ImageNetModel::SqueezeNet(model) => model.features(images),
            ImageNetModel::Onnx(model) => model.features(images),
        }
    }
    fn input_shape(&self) -> [usize; 3] {
        match self {
            ImageNetModel::Lite(model) => model.input_shape(),
            ImageNetModel::SqueezeNet(model) => model.input_shape(),
            ImageNetModel::Onnx(model) => model.input_shape(),
        }
    }
    fn num_classes(&self) -> usize {
        match self {
            ImageNetModel::Lite(model) => model.num_classes(),
            ImageNetModel::SqueezeNet(model) => model.num_classes(),
            ImageNetModel::Onnx(model) => model.num_classes(),
        }
    }
}

/// Loads any ImageNet model file of the zoo (the architecture is in its header). With
/// `expected_sha256` (from the manifest) the whole file is checked against it first. Weights are
/// dequantized to float32 on `device`.
pub fn load_imagenet(bytes: &[u8], expected_sha256: Option<&str>, device: &Device) -> Result<ImageNetModel, ModelError> {
    if let Some(expected) = expected_sha256 {
        format::verify_sha256(bytes, expected)?;
    }
    let file = format::read(bytes)?;
    if file.header.architecture != squeezenet::ARCHITECTURE {
        return load_efficientnet_file(file, device).map(ImageNetModel::Lite);
    }
    let header = &file.header;
    if header.input_size != squeezenet::INPUT_SIZE || header.classes != squeezenet::CLASSES {
        return Err(ModelError::Header(format!(
            "{} takes {}×{} px and {} classes; the header says {} px and {} classes",
            squeezenet::ARCHITECTURE,
            squeezenet::INPUT_SIZE,
            squeezenet::INPUT_SIZE,
            squeezenet::CLASSES,
            header.input_size,
            header.classes
        )));
    }
    let weights = file.tensors.into_iter().map(|(name, shape, values)| (name, (shape, values))).collect();
    SqueezeNet::from_weights(weights, device).map(ImageNetModel::SqueezeNet)
}

/// Loads an EfficientNet-Lite model file. With `expected_sha256` (from the manifest) the whole
/// file is checked against it first. Weights are dequantized to float32 on `device`.
pub fn load_efficientnet(bytes: &[u8], expected_sha256: Option<&str>, device: &Device) -> Result<EfficientNetLite, ModelError> {
    if let Some(expected) = expected_sha256 {
        format::verify_sha256(bytes, expected)?;
    }
    load_efficientnet_file(format::read(bytes)?, device)
}

fn load_efficientnet_file(file: format::ModelFile, device: &Device) -> Result<EfficientNetLite, ModelError> {
    let header = &file.header;
    let variant = Variant::from_architecture(&header.architecture)
        .ok_or_else(|| ModelError::UnknownArchitecture(header.architecture.clone()))?;
    if header.input_size != variant.input_size() || header.classes != efficientnet::IMAGENET_CLASSES {
        return Err(ModelError::Header(format!(
            "{} takes {}×{} px and {} classes; the header says {} px and {} classes",
            variant.architecture(),
            variant.input_size(),
            variant.input_size(),
            efficientnet::IMAGENET_CLASSES,
            header.input_size,
            header.classes
        )));
    }
    let weights = file.tensors.into_iter().map(|(name, shape, values)| (name, (shape, values))).collect();
    EfficientNetLite::from_weights(variant, weights, device)
}

/// One line of a top-k list.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Prediction {
    pub class: usize,
    pub probability: f32,
    pub logit: f32,
}

/// The softmax of one image's logits in f64, as (largest logit, Σ exp(logit − largest)).
fn softmax_parts(logits: &[f32]) -> (f64, f64) {
    let max = logits.iter().fold(f32::NEG_INFINITY, |m, &v| m.max(v)) as f64;
    (max, logits.iter().map(|&v| (v as f64 - max).exp()).sum())
}

/// The probability of `class` from one image's logits (softmax in f64, as in [`top_k`]).
pub fn probability_of(logits: &[f32], class: usize) -> f32 {
    let (max, total) = softmax_parts(logits);
    ((logits[class] as f64 - max).exp() / total) as f32
}

/// The `k` most probable classes of one image's logits, most probable first (softmax in f64).
pub fn top_k(logits: &[f32], k: usize) -> Vec<Prediction> {
    let (max, total) = softmax_parts(logits);
    let mut order: Vec<usize> = (0..logits.len()).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]).then(a.cmp(&b)));
    order
        .into_iter()
        .take(k)
        .map(|class| Prediction { class, probability: ((logits[class] as f64 - max).exp() / total) as f32, logit: logits[class] })
        .collect()
}

/// The target's rank among one image's logits, 1 for the top class, in [`top_k`]'s order (larger
/// logit first, ties to the lower class index): `target` is in `top_k(logits, k)` iff its rank ≤ k.
pub fn rank_of(logits: &[f32], target: usize) -> usize {
    let t = logits[target];
    1 + logits.iter().enumerate().filter(|&(class, &v)| v > t || (v == t && class < target)).count()
}

/// Where one model ranks the target when it classifies an image alone (the paper's cross-model
/// check: the visualised perturbation, or the perturbed seed, shown to a model that did not compute
/// it).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct CrossCheck {
    pub model: String,
    /// The image as computed, pixel for pixel (every Lite model is fully convolutional with global
    /// pooling, so it takes any size): the paper's check, whose models all take 224².
    pub rank: usize,
    pub probability: f32,
    pub top1: usize,
    /// The image resized (Catmull–Rom) to the model's own input size first, as a photo would be.
    #[serde(default)]
    pub resized_rank: usize,
    #[serde(default)]
    pub resized_probability: f32,
}

/// Logits of one RGB picture, at whatever size it has.
pub async fn logits_of<C: crate::engine::Classifier + ?Sized>(
    model: &C,
    picture: &image::RgbImage,
    device: &Device,
) -> Result<Vec<f32>, crate::engine::EngineError> {
    let (w, h) = picture.dimensions();
    let values = crate::imaging::to_chw(picture);
    let images = burn::tensor::Tensor::<4>::from_data(burn::tensor::TensorData::new(values, [1, 3, h as usize, w as usize]), device);
    crate::engine::read_values(model.logits(images)).await
}

/// One forward pass of a mid-grey picture of the model's input size: on a GPU it compiles the
/// kernels for that size, so the first real pass is not the slow one.
pub async fn warm_up<C: crate::engine::Classifier + ?Sized>(model: &C, device: &Device) -> Result<(), String> {
    let [_, h, w] = model.input_shape();
    let grey = image::RgbImage::from_pixel(w as u32, h as u32, image::Rgb([128, 128, 128]));
    logits_of(model, &grey, device).await.map(|_| ()).map_err(|e| format!("warm-up on this backend failed: {e}"))
}

/// The cross-model check of one picture by `model` (called `id`): pixel for pixel and resized to
/// the model's input.
pub async fn cross_check<C: crate::engine::Classifier + ?Sized>(
    model: &C,
    id: &str,
    picture: &image::RgbImage,
    target: usize,
    device: &Device,
) -> Result<CrossCheck, crate::engine::EngineError> {
    let logits = logits_of(model, picture, device).await?;
    let [_, size, _] = model.input_shape();
    let resized_logits = if picture.dimensions() == (size as u32, size as u32) {
        logits.clone()
    } else {
        let resized = image::imageops::resize(picture, size as u32, size as u32, image::imageops::FilterType::CatmullRom);
        logits_of(model, &resized, device).await?
    };
    Ok(CrossCheck {
        model: id.into(),
        rank: rank_of(&logits, target),
        probability: probability_of(&logits, target),
        top1: top_k(&logits, 1)[0].class,
        resized_rank: rank_of(&resized_logits, target),
        resized_probability: probability_of(&resized_logits, target),
    })
}

/// Classifies a batch of CHW images in [0, 1] (`values` holds `n` of them): the logits of each,
/// read back asynchronously (the only way in a browser).
pub async fn classify<C: crate::engine::Classifier + ?Sized>(
    model: &C,
    values: Vec<f32>,
    device: &Device,
) -> Result<Vec<Vec<f32>>, crate::engine::EngineError> {
    let [c, h, w] = model.input_shape();
    let n = values.len() / (c * h * w);
    let images = burn::tensor::Tensor::<4>::from_data(burn::tensor::TensorData::new(values, [n, c, h, w]), device);
    let logits = crate::engine::read_values(model.logits(images)).await?;
    Ok(logits.chunks(model.num_classes()).map(<[f32]>::to_vec).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rank_agrees_with_top_k() {
        // Hand-worked: logits 0.5, 2, −1, 2, 0.1 → order 1, 3 (tie, lower index first), 0, 4, 2.
        let logits = [0.5, 2.0, -1.0, 2.0, 0.1];
        assert_eq!([0, 1, 2, 3, 4].map(|c| rank_of(&logits, c)), [3, 1, 5, 2, 4]);
        for k in 1..=5 {
            let top: Vec<usize> = top_k(&logits, k).iter().map(|p| p.class).collect();
            for class in 0..5 {
                assert_eq!(top.contains(&class), rank_of(&logits, class) <= k, "k {k} class {class}");
            }
        }
    }
}
