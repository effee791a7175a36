//! The zoo's models written as ONNX files (issue #34): the same weights as the shipped `.a2xm`
//! (int8, dequantized), the same layout as the hand-written models, so that the same network runs
//! hand-written and interpreted, and in onnxruntime (`a2x export-onnx`):
//! - SqueezeNet 1.1 as `models/squeezenet.rs` has it (normalisation inside, conv1 unpadded, Caffe's
//!   pools rounding up, the ReLU after conv10);
//! - EfficientNet-Lite as `models/efficientnet.rs` has it (normalisation inside, batch norm folded,
//!   TensorFlow's SAME padding as `auto_pad = SAME_UPPER`, ReLU6 as Clip).

use super::proto::{data_type, AttributeProto, GraphProto, ModelProto, NodeProto, OperatorSetIdProto, TensorProto, TensorShapeProto, TensorTypeProto, TypeProto, ValueInfoProto, Dimension};
use crate::models::efficientnet::{self, Variant};
use crate::models::format::ModelFile;
use crate::models::squeezenet::{self, FIRES, MEAN_RGB};
use prost::Message;

fn ints(name: &str, values: &[i64]) -> AttributeProto {
    AttributeProto { name: name.into(), ints: values.to_vec(), r#type: 7, ..Default::default() }
}

fn text(name: &str, value: &str) -> AttributeProto {
    AttributeProto { name: name.into(), s: value.as_bytes().to_vec(), r#type: 3, ..Default::default() }
}

fn int(name: &str, value: i64) -> AttributeProto {
    AttributeProto { name: name.into(), i: value, r#type: 2, ..Default::default() }
}

fn tensor(name: &str, dims: &[usize], values: &[f32]) -> TensorProto {
    TensorProto {
        name: name.into(),
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: data_type::FLOAT,
        raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        ..Default::default()
    }
}

fn node(op: &str, inputs: &[&str], output: &str, attribute: Vec<AttributeProto>) -> NodeProto {
    NodeProto {
        name: output.into(),
        op_type: op.into(),
        input: inputs.iter().map(|s| s.to_string()).collect(),
        output: vec![output.into()],
        attribute,
        ..Default::default()
    }
}

fn image_info(name: &str, dims: &[Option<i64>]) -> ValueInfoProto {
    let dim = dims.iter().map(|d| match d {
        Some(v) => Dimension { dim_value: Some(*v), dim_param: None },
        None => Dimension { dim_value: None, dim_param: Some("batch".into()) },
    });
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto { tensor_type: Some(TensorTypeProto { elem_type: data_type::FLOAT, shape: Some(TensorShapeProto { dim: dim.collect() }) }) }),
    }
}

/// The zoo model of `file` as ONNX bytes (SqueezeNet 1.1 or an EfficientNet-Lite).
pub fn zoo_model(file: &ModelFile) -> Result<Vec<u8>, String> {
    if file.header.architecture == squeezenet::ARCHITECTURE {
        squeezenet(file)
    } else {
        lite(file)
    }
}

fn model(graph: GraphProto) -> Vec<u8> {
    ModelProto {
        ir_version: 8,
        producer_name: "a2x".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        graph: Some(graph),
        opset_import: vec![OperatorSetIdProto { domain: String::new(), version: 13 }],
    }
    .encode_to_vec()
}

/// EfficientNet-Lite of `file` as ONNX bytes (opset 13). Its input is a2x's: RGB in [0, 1],
/// `[batch, 3, side, side]`.
pub fn lite(file: &ModelFile) -> Result<Vec<u8>, String> {
    let variant = Variant::from_architecture(&file.header.architecture).ok_or_else(|| format!("{} is not a zoo architecture", file.header.architecture))?;
    let mut initializer: Vec<TensorProto> = file.tensors.iter().map(|(name, shape, values)| tensor(name, shape, values)).collect();
    // Normalisation inside the model: (255·x − 127) / 128; ReLU6's bounds.
    initializer.push(tensor("scale", &[], &[255.0 / 128.0]));
    initializer.push(tensor("shift", &[], &[127.0 / 128.0]));
    initializer.push(tensor("zero", &[], &[0.0]));
    initializer.push(tensor("six", &[], &[6.0]));
    let mut nodes = vec![node("Mul", &["image", "scale"], "scaled", vec![]), node("Sub", &["scaled", "shift"], "normalised", vec![])];
    let conv = |nodes: &mut Vec<NodeProto>, layer: &str, input: &str, stride: i64, groups: i64, relu6: bool| -> String {
        let out = format!("{layer}.out");
        nodes.push(node(
            "Conv",
            &[input, &format!("{layer}.weight"), &format!("{layer}.bias")],
            &out,
            vec![ints("strides", &[stride, stride]), int("group", groups), text("auto_pad", "SAME_UPPER")],
        ));
        if !relu6 {
            return out;
        }
        let clipped = format!("{layer}.relu6");
        nodes.push(node("Clip", &[&out, "zero", "six"], &clipped, vec![]));
        clipped
    };
    let mut x = conv(&mut nodes, "stem", "normalised", 2, 1, true);
    for (i, spec) in variant.blocks().iter().enumerate() {
        let input = x.clone();
        let mut y = x;
        if spec.expand_ratio != 1 {
            y = conv(&mut nodes, &format!("blocks.{i}.expand"), &y, 1, 1, true);
        }
        y = conv(&mut nodes, &format!("blocks.{i}.depthwise"), &y, spec.stride as i64, spec.expanded_channels() as i64, true);
        y = conv(&mut nodes, &format!("blocks.{i}.project"), &y, 1, 1, false);
        x = if spec.residual() {
            let sum = format!("blocks.{i}.sum");
            nodes.push(node("Add", &[&y, &input], &sum, vec![]));
            sum
        } else {
            y
        };
    }
    let head = conv(&mut nodes, "head", &x, 1, 1, true);
    nodes.push(node("GlobalAveragePool", &[&head], "pooled", vec![]));
    nodes.push(node("Flatten", &["pooled"], "flat", vec![int("axis", 1)]));
    nodes.push(node("Gemm", &["flat", "fc.weight", "fc.bias"], "logits", vec![int("transB", 1)]));
    let side = variant.input_size() as i64;
    Ok(model(GraphProto {
        node: nodes,
        name: variant.architecture().into(),
        initializer,
        input: vec![image_info("image", &[None, Some(3), Some(side), Some(side)])],
        output: vec![image_info("logits", &[None, Some(efficientnet::IMAGENET_CLASSES as i64)])],
        sparse_initializer: Vec::new(),
    }))
}

/// SqueezeNet 1.1 of `file` (an `.a2xm` of the zoo's architecture) as ONNX bytes (opset 13).
/// Its input is a2x's: RGB in [0, 1], `[batch, 3, 227, 227]`.
pub fn squeezenet(file: &ModelFile) -> Result<Vec<u8>, String> {
    if file.header.architecture != squeezenet::ARCHITECTURE {
        return Err(format!("{} is not {}", file.header.architecture, squeezenet::ARCHITECTURE));
    }
    let mut initializer: Vec<TensorProto> = file.tensors.iter().map(|(name, shape, values)| tensor(name, shape, values)).collect();
    initializer.push(tensor("scale", &[], &[255.0]));
    initializer.push(tensor("mean", &[1, 3, 1, 1], &MEAN_RGB));
    let mut nodes = vec![node("Mul", &["image", "scale"], "scaled", vec![]), node("Sub", &["scaled", "mean"], "normalised", vec![])];
    let conv = |nodes: &mut Vec<NodeProto>, layer: &str, input: &str, stride: i64, pad: i64| -> String {
        let out = format!("{layer}.relu");
        nodes.push(node("Conv", &[input, &format!("{layer}.weight"), &format!("{layer}.bias")], &format!("{layer}.out"), vec![ints("strides", &[stride, stride]), ints("pads", &[pad; 4])]));
        nodes.push(node("Relu", &[&format!("{layer}.out")], &out, vec![]));
        out
    };
    let pool = |nodes: &mut Vec<NodeProto>, input: &str| -> String {
        let out = format!("{input}.pool");
        nodes.push(node("MaxPool", &[input], &out, vec![ints("kernel_shape", &[3, 3]), ints("strides", &[2, 2]), int("ceil_mode", 1)]));
        out
    };
    let mut x = conv(&mut nodes, "conv1", "normalised", 2, 0);
    x = pool(&mut nodes, &x);
    for (name, ..) in FIRES {
        let squeezed = conv(&mut nodes, &format!("{name}.squeeze"), &x, 1, 0);
        let wide = conv(&mut nodes, &format!("{name}.expand1x1"), &squeezed, 1, 0);
        let local = conv(&mut nodes, &format!("{name}.expand3x3"), &squeezed, 1, 1);
        x = format!("{name}.concat");
        nodes.push(node("Concat", &[&wide, &local], &x, vec![int("axis", 1)]));
        if matches!(name, "fire3" | "fire5") {
            x = pool(&mut nodes, &x);
        }
    }
    let scores = conv(&mut nodes, "conv10", &x, 1, 0);
    nodes.push(node("GlobalAveragePool", &[&scores], "pooled", vec![]));
    nodes.push(node("Flatten", &["pooled"], "logits", vec![int("axis", 1)]));
    let side = squeezenet::INPUT_SIZE as i64;
    let graph = GraphProto {
        node: nodes,
        name: "squeezenet-1.1".into(),
        initializer,
        input: vec![image_info("image", &[None, Some(3), Some(side), Some(side)])],
        output: vec![image_info("logits", &[None, Some(squeezenet::CLASSES as i64)])],
        sparse_initializer: Vec::new(),
    };
    Ok(model(graph))
}
