//! `resnet9-cifar`: the CIFAR-10 classifier a2x trains itself (issue #6), adversarially robust or
//! standard.
//!
//! A ResNet-9 in the style of Page's DAWNBench CIFAR-10 network, at half width: eight 3×3
//! conv → batch norm → ReLU blocks, three 2×2 max pools, two residual pairs, global average
//! pooling (smoother input gradients than Page's global max pool, which matters when the model is
//! attacked to draw) and a linear layer. 1.6 M parameters, 95 M multiply-adds per 32×32 image.
//!
//! ```text
//! x ∈ [0,1] → (x − mean) / std → block0 3→32
//!   → block1 32→64 → maxpool → (+ block3(block2(·)))        16×16
//!   → block4 64→128 → maxpool                                 8×8
//!   → block5 128→256 → maxpool → (+ block7(block6(·)))         4×4   = the convolutional base
//!   → mean over 4×4 → linear 256→10 → × 0.125
//! ```
//! The topology is written once, in [`forward_base`], and shared by the trained network (batch
//! norm live, `crate::train`) and the shipped one ([`CifarResNet`], batch norm folded into each
//! convolution's weight and bias), so the two cannot drift apart.

use crate::engine::Classifier;
use crate::models::ModelError;
use burn::tensor::module::{conv2d, max_pool2d};
use burn::tensor::ops::{ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor, TensorData};
use std::collections::HashMap;

pub const ARCHITECTURE: &str = "resnet9-cifar";
pub const INPUT_SIZE: usize = 32;
pub const CLASSES: usize = 10;
/// CIFAR-10's per-channel mean and standard deviation of the training set (pixel / 255); the
/// model normalizes its input with them itself, so callers pass images in [0, 1].
pub const MEAN: [f32; 3] = [0.4914, 0.4822, 0.4465];
pub const STD: [f32; 3] = [0.2470, 0.2435, 0.2616];
/// (input channels, output channels) of the eight conv blocks, in order.
pub const BLOCKS: [(usize, usize); 8] =
    [(3, 32), (32, 64), (64, 64), (64, 64), (64, 128), (128, 256), (256, 256), (256, 256)];
/// Channels of the convolutional base's output.
pub const FEATURES: usize = 256;
/// CIFAR-10's classes, index = position.
pub const LABELS: [&str; CLASSES] =
    ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

/// Options of every convolution: 3×3, stride 1, padding 1.
pub fn conv_options() -> ConvOptions<2> {
    ConvOptions::new([1, 1], [1, 1], [1, 1], 1)
}

/// (x − mean) / std per channel.
pub fn normalize(images: Tensor<4>) -> Tensor<4> {
    let [n, c, h, w] = images.dims();
    let device = images.device();
    let mean = Tensor::<1>::from_floats(MEAN, &device).reshape([1, 3, 1, 1]).expand([n, c, h, w]);
    let inverse_std = Tensor::<1>::from_floats(STD.map(|s| 1.0 / s), &device).reshape([1, 3, 1, 1]).expand([n, c, h, w]);
    (images - mean) * inverse_std
}

/// The convolutional base: `block(i, x)` computes conv block `i` (conv → norm → ReLU). Returns
/// the `[n, 256, 4, 4]` features that Algorithm 2 averages over channels.
pub fn forward_base(images: Tensor<4>, block: impl Fn(usize, Tensor<4>) -> Tensor<4>) -> Tensor<4> {
    let pool = |x: Tensor<4>| max_pool2d(x, MaxPoolOptions::new([2, 2]));
    let x = block(0, normalize(images));
    let x = pool(block(1, x));
    let x = x.clone() + block(3, block(2, x));
    let x = pool(block(4, x));
    let x = pool(block(5, x));
    x.clone() + block(7, block(6, x))
}

/// The logits are the linear layer's output times this (Page's ResNet-9: a cooler softmax at
/// initialisation, which lets the one-cycle schedule use a high learning rate).
pub const LOGIT_SCALE: f32 = 0.125;

/// Global average pool and the linear layer, scaled by [`LOGIT_SCALE`]: `fc_weight` is
/// `[classes, 256]` (PyTorch's layout, as stored), `fc_bias` `[classes]`.
pub fn head(features: Tensor<4>, fc_weight: Tensor<2>, fc_bias: Tensor<1>) -> Tensor<2> {
    let [n, c, _, _] = features.dims();
    let [classes, _] = fc_weight.dims();
    let pooled = features.mean_dims(&[2, 3]).reshape([n, c]);
    (pooled.matmul(fc_weight.transpose()) + fc_bias.reshape([1, classes]).expand([n, classes])) * LOGIT_SCALE
}

/// Names and shapes of the shipped (folded) tensors, in file order.
pub fn layer_shapes() -> Vec<(String, Vec<usize>)> {
    let mut shapes = Vec::new();
    for (i, (input, output)) in BLOCKS.iter().enumerate() {
        shapes.push((format!("block{i}.weight"), vec![*output, *input, 3, 3]));
        shapes.push((format!("block{i}.bias"), vec![*output]));
    }
    shapes.push(("fc.weight".into(), vec![CLASSES, FEATURES]));
    shapes.push(("fc.bias".into(), vec![CLASSES]));
    shapes
}

/// The shipped classifier: batch norm folded into each convolution. Its tensors are constants.
pub struct CifarResNet {
    blocks: Vec<(Tensor<4>, Tensor<1>)>,
    fc_weight: Tensor<2>,
    fc_bias: Tensor<1>,
}

impl CifarResNet {
    /// Builds the model from tensors named and shaped as [`layer_shapes`] says; every shape is
    /// checked, unknown and missing tensors are errors.
    pub fn from_weights(mut weights: HashMap<String, (Vec<usize>, Vec<f32>)>, device: &Device) -> Result<Self, ModelError> {
        let expected = layer_shapes();
        if let Some(name) = weights.keys().find(|name| !expected.iter().any(|(known, _)| known == *name)) {
            return Err(ModelError::UnexpectedTensor { architecture: ARCHITECTURE.into(), name: name.clone() });
        }
        let mut take = |name: &str, shape: &[usize]| -> Result<TensorData, ModelError> {
            let (found, values) = weights.remove(name).ok_or_else(|| ModelError::MissingTensor(name.into()))?;
            if found != shape {
                return Err(ModelError::ShapeMismatch {
                    architecture: ARCHITECTURE.into(),
                    name: name.into(),
                    expected: shape.to_vec(),
                    found,
                });
            }
            Ok(TensorData::new(values, shape.to_vec()))
        };
        let mut blocks = Vec::new();
        for (i, (input, output)) in BLOCKS.iter().enumerate() {
            let weight = Tensor::from_data(take(&format!("block{i}.weight"), &[*output, *input, 3, 3])?, device);
            let bias = Tensor::from_data(take(&format!("block{i}.bias"), &[*output])?, device);
            blocks.push((weight, bias));
        }
        let fc_weight = Tensor::from_data(take("fc.weight", &[CLASSES, FEATURES])?, device);
        let fc_bias = Tensor::from_data(take("fc.bias", &[CLASSES])?, device);
        Ok(CifarResNet { blocks, fc_weight, fc_bias })
    }
}

impl Classifier for CifarResNet {
    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        forward_base(images, |i, x| {
            let (weight, bias) = &self.blocks[i];
            burn::tensor::activation::relu(conv2d(x, weight.clone(), Some(bias.clone()), conv_options()))
        })
    }

    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        head(self.features(images), self.fc_weight.clone(), self.fc_bias.clone())
    }

    fn input_shape(&self) -> [usize; 3] {
        [3, INPUT_SIZE, INPUT_SIZE]
    }

    fn num_classes(&self) -> usize {
        CLASSES
    }
}

/// Loads a `resnet9-cifar` model file (checked against `expected_sha256` first, when given).
pub fn load(bytes: &[u8], expected_sha256: Option<&str>, device: &Device) -> Result<CifarResNet, ModelError> {
    if let Some(expected) = expected_sha256 {
        crate::models::format::verify_sha256(bytes, expected)?;
    }
    let file = crate::models::format::read(bytes)?;
    if file.header.architecture != ARCHITECTURE {
        return Err(ModelError::UnknownArchitecture(file.header.architecture));
    }
    if file.header.input_size != INPUT_SIZE || file.header.classes != CLASSES {
        return Err(ModelError::Header(format!(
            "{ARCHITECTURE} takes {INPUT_SIZE}×{INPUT_SIZE} px and {CLASSES} classes; the header says {} px and {} classes",
            file.header.input_size, file.header.classes
        )));
    }
    CifarResNet::from_weights(file.tensors.into_iter().map(|(name, shape, values)| (name, (shape, values))).collect(), device)
}
