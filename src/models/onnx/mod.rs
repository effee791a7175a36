//! A visitor's own classifier from an ONNX file (issue #34), interpreted at run time with burn's
//! tensor operations: on the autodiff backend the input gradient comes for free, on flex and on
//! wgpu alike, and the model is a [`Classifier`] like the zoo's, so the explanation, the tasks,
//! the benchmark and the CLI take it unchanged.
//!
//! - `proto`: the part of ONNX's protobuf schema a classifier uses, read with prost (no protoc,
//!   no generated crate: the `onnx-ir` crate would bring its own protobuf runtime and a
//!   build-time code generator, and tracks burn's main branch rather than the 0.22 pinned here).
//! - `graph`: the file read and checked, unsupported operators named with the nodes that use them.
//! - `eval`: what each operator computes.
//! - `plan`: shapes and constants resolved once at load (see its notes); what runs per call.
//! - `tensor`: burn tensors of a rank known at run time.
//!
//! The model takes a2x's images (RGB, values in [0, 1], `[batch, 3, side, side]`) and applies the
//! file's preprocessing, which the file cannot say and the visitor gives ([`Preprocess`]): the
//! value range, the mean and standard deviation per channel, the channel order; the layout
//! (channels first or last) is read from the input's declared shape.

mod eval;
pub mod export;
pub mod graph;
mod plan;
mod proto;
mod tensor;

use crate::engine::Classifier;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

/// The id the CLI and the manifest-facing code give a model read from an ONNX file.
pub const ID: &str = "onnx";
pub const DISPLAY_NAME: &str = "your ONNX model";

/// What the file's input expects of an image, given by whoever loads it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Preprocess {
    /// The value of a full-intensity channel before normalisation: 1 for inputs in [0, 1]
    /// (torchvision), 255 for inputs in [0, 255] (Keras' EfficientNet, Caffe).
    pub range: f32,
    /// Per channel, in RGB order, in the units of `range`: subtracted…
    pub mean: [f32; 3],
    /// …then divided by.
    pub std: [f32; 3],
    /// The file takes BGR (Caffe, OpenCV-trained models) rather than RGB.
    pub bgr: bool,
    /// The input's side, for files whose height and width are symbolic.
    pub size: Option<usize>,
}

impl Default for Preprocess {
    /// torchvision's ImageNet preprocessing.
    fn default() -> Preprocess {
        Preprocess { range: 1.0, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], bgr: false, size: None }
    }
}

/// A classifier read from an ONNX file.
#[derive(Debug)]
pub struct OnnxModel {
    plan: plan::Plan,
    preprocess: Preprocess,
    /// The file's input is `[batch, height, width, channels]`.
    channels_last: bool,
    side: usize,
    device: Device,
    pub producer: String,
    pub opset: i64,
}

/// The layout and side of a declared input shape.
fn layout(dims: &[Option<usize>], size: Option<usize>) -> Result<(bool, usize), String> {
    let shown = graph::show_dims(dims);
    let channels_last = match (dims[1], dims[3]) {
        (Some(3), _) => false,
        (_, Some(3)) => true,
        _ => return Err(format!("the input has shape {shown}: a2x feeds three-channel (RGB) images, channels first or last")),
    };
    let (h, w) = if channels_last { (dims[1], dims[2]) } else { (dims[2], dims[3]) };
    let side = match (h, w, size) {
        (Some(h), Some(w), _) if h == w => h,
        (Some(h), Some(w), _) => return Err(format!("the input is {h}×{w}; a2x explains square images")),
        (_, _, Some(s)) => s,
        _ => return Err(format!("the input has shape {shown}, without its height and width: give the side the model was trained at")),
    };
    if !(8..=1024).contains(&side) {
        return Err(format!("an input side of {side} px; a2x takes 8 to 1024"));
    }
    Ok((channels_last, side))
}

impl OnnxModel {
    /// Reads `bytes` and makes the model ready on `device` (two probe runs, see `plan`).
    pub fn load(bytes: &[u8], preprocess: Preprocess, device: &Device) -> Result<OnnxModel, String> {
        let graph = graph::read(bytes)?;
        if preprocess.std.iter().any(|&s| !(s.is_finite() && s > 0.0)) || !(preprocess.range.is_finite() && preprocess.range > 0.0) || preprocess.mean.iter().any(|m| !m.is_finite()) {
            return Err("the preprocessing needs a positive range, finite means and positive standard deviations".into());
        }
        let (channels_last, side) = layout(&graph.input.dims, preprocess.size)?;
        let image_dims = if channels_last { [side, side, 3] } else { [3, side, side] };
        let plan = plan::Plan::new(&graph, image_dims, device)?;
        if plan.classes < 2 {
            return Err(format!("the model gives {} outputs; a classifier gives one per class", plan.classes));
        }
        Ok(OnnxModel { plan, preprocess, channels_last, side, device: device.clone(), producer: graph.producer, opset: graph.opset })
    }

    /// a2x's images as the file takes them.
    fn prepare(&self, images: Tensor<4>) -> Tensor<4> {
        let p = &self.preprocess;
        let images = if p.bgr { images.flip([1]) } else { images };
        let order = |v: [f32; 3]| if p.bgr { [v[2], v[1], v[0]] } else { v };
        let (mean, std) = (order(p.mean), order(p.std));
        let scale = [p.range / std[0], p.range / std[1], p.range / std[2]];
        let offset = [-mean[0] / std[0], -mean[1] / std[1], -mean[2] / std[2]];
        // The identity (a file with its normalisation inside) costs nothing.
        let x = if scale == [1.0; 3] && offset == [0.0; 3] { images } else { eval::affine_channels(images, scale, offset, &self.device) };
        if self.channels_last { x.permute([0, 2, 3, 1]) } else { x }
    }

    /// Operations each call runs, and those folded away when the model loaded.
    pub fn operations(&self) -> (usize, usize) {
        (self.plan.operations(), self.plan.folded)
    }
}

impl Classifier for OnnxModel {
    fn logits(&self, images: Tensor<4>) -> Tensor<2> {
        // The plan ran on batches of 1 and 2 when the model loaded; what fails here is a bug.
        self.plan.logits(self.prepare(images)).unwrap_or_else(|e| panic!("the ONNX model failed after loading: {e}"))
    }
    fn features(&self, images: Tensor<4>) -> Tensor<4> {
        self.plan.features(self.prepare(images)).unwrap_or_else(|e| panic!("the ONNX model failed after loading: {e}"))
    }
    fn input_shape(&self) -> [usize; 3] {
        [3, self.side, self.side]
    }
    fn num_classes(&self) -> usize {
        self.plan.classes
    }
}
