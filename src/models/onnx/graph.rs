//! An ONNX file read into what the interpreter needs: its nodes in order, their attributes, its
//! constants (initializers and `Constant` nodes) as host values, and its one image input and
//! one output. Everything that can be refused without running the graph is refused here, with a
//! sentence: not ONNX, external data, operators a2x does not have (each named with the nodes that
//! use it), inputs that are not one image.

use super::proto::{data_type, AttributeProto, ModelProto, TensorProto};
use super::tensor::MAX_RANK;
use prost::Message;
use std::collections::{BTreeMap, HashMap};

/// A value known without the model's input: a constant of the file, or one computed from
/// constants and from shapes (the `Shape` → `Gather` → `Concat` → `Reshape` chains of exports).
#[derive(Clone, Debug, PartialEq)]
pub struct HostValue {
    pub dims: Vec<usize>,
    pub data: HostData,
}

#[derive(Clone, Debug, PartialEq)]
pub enum HostData {
    Float(Vec<f32>),
    /// Every integer and boolean type, as i64.
    Int(Vec<i64>),
}

impl HostValue {
    pub fn ints(dims: Vec<usize>, values: Vec<i64>) -> HostValue {
        HostValue { dims, data: HostData::Int(values) }
    }

    pub fn floats(dims: Vec<usize>, values: Vec<f32>) -> HostValue {
        HostValue { dims, data: HostData::Float(values) }
    }

    pub fn len(&self) -> usize {
        match &self.data {
            HostData::Float(v) => v.len(),
            HostData::Int(v) => v.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The values as integers (floats truncated, as ONNX's Cast does).
    pub fn as_ints(&self) -> Vec<i64> {
        match &self.data {
            HostData::Float(v) => v.iter().map(|&x| x as i64).collect(),
            HostData::Int(v) => v.clone(),
        }
    }

    pub fn as_floats(&self) -> Vec<f32> {
        match &self.data {
            HostData::Float(v) => v.clone(),
            HostData::Int(v) => v.iter().map(|&x| x as f32).collect(),
        }
    }
}

/// An attribute's value.
#[derive(Clone, Debug, PartialEq)]
pub enum Attribute {
    Float(f32),
    Int(i64),
    Text(String),
    Tensor(HostValue),
    Floats(Vec<f32>),
    Ints(Vec<i64>),
}

/// One node of the graph.
#[derive(Clone, Debug, PartialEq)]
pub struct Node {
    pub name: String,
    pub op: String,
    /// Value names; an empty name is an input left out.
    pub inputs: Vec<String>,
    pub outputs: Vec<String>,
    pub attributes: HashMap<String, Attribute>,
}

impl Node {
    /// How messages name the node: its name, or its operator and first output.
    pub fn label(&self) -> String {
        if self.name.is_empty() {
            format!("{} → {}", self.op, self.outputs.first().map(String::as_str).unwrap_or("?"))
        } else {
            format!("{} “{}”", self.op, self.name)
        }
    }

    pub fn int(&self, name: &str, default: i64) -> i64 {
        match self.attributes.get(name) {
            Some(Attribute::Int(v)) => *v,
            _ => default,
        }
    }

    pub fn float(&self, name: &str, default: f32) -> f32 {
        match self.attributes.get(name) {
            Some(Attribute::Float(v)) => *v,
            Some(Attribute::Int(v)) => *v as f32,
            _ => default,
        }
    }

    pub fn ints(&self, name: &str) -> Option<Vec<i64>> {
        match self.attributes.get(name) {
            Some(Attribute::Ints(v)) => Some(v.clone()),
            Some(Attribute::Int(v)) => Some(vec![*v]),
            _ => None,
        }
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        match self.attributes.get(name) {
            Some(Attribute::Text(v)) => Some(v),
            _ => None,
        }
    }
}

/// The graph's image input: its name and its declared shape (`None` for a symbolic size).
#[derive(Clone, Debug, PartialEq)]
pub struct Input {
    pub name: String,
    pub dims: Vec<Option<usize>>,
}

/// A file read and checked.
#[derive(Clone, Debug)]
pub struct Graph {
    pub nodes: Vec<Node>,
    pub constants: HashMap<String, HostValue>,
    pub input: Input,
    pub output: String,
    /// The default domain's operator set version.
    pub opset: i64,
    pub producer: String,
}

/// The operators the interpreter implements (issue #34's list, and the shape arithmetic that
/// exporters write around `Reshape`).
pub const SUPPORTED: &[&str] = &[
    "Conv", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "Sigmoid", "HardSigmoid", "HardSwish", "Tanh", "Erf", "Gelu",
    "Softmax", "Add", "Sub", "Mul", "Div", "Pow", "Sqrt", "Exp", "Neg", "Reciprocal", "ReduceMean", "MaxPool", "AveragePool",
    "GlobalAveragePool", "GlobalMaxPool", "Gemm", "MatMul", "Flatten", "Reshape", "Transpose", "Concat", "Split", "Slice",
    "Squeeze", "Unsqueeze", "Pad", "LayerNormalization", "Identity", "Dropout", "Constant", "Shape", "Gather", "Cast",
    "ConstantOfShape", "Expand", "Equal", "Where", "Mod",
];

fn parse_error(what: impl std::fmt::Display) -> String {
    format!("not an ONNX model a2x can read: {what}")
}

/// The values of a tensor stored in the file.
pub fn host_value(tensor: &TensorProto) -> Result<HostValue, String> {
    let name = if tensor.name.is_empty() { "a constant".to_string() } else { format!("“{}”", tensor.name) };
    if tensor.data_location == 1 {
        return Err(format!("{name} is stored outside the .onnx file (external data): export the model into one file"));
    }
    if tensor.dims.len() > MAX_RANK || tensor.dims.iter().any(|&d| d < 0) {
        return Err(format!("{name} has shape {:?}", tensor.dims));
    }
    let dims: Vec<usize> = tensor.dims.iter().map(|&d| d as usize).collect();
    let count: usize = dims.iter().try_fold(1usize, |a, &d| a.checked_mul(d)).ok_or_else(|| format!("{name} is too large"))?;
    let raw = &tensor.raw_data;
    let from_raw = |width: usize| -> Result<(), String> {
        if raw.len() != count * width {
            return Err(format!("{name}: {} bytes for {count} values of {}", raw.len(), data_type::name(tensor.data_type)));
        }
        Ok(())
    };
    let data = match tensor.data_type {
        data_type::FLOAT if !raw.is_empty() => {
            from_raw(4)?;
            HostData::Float(raw.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]])).collect())
        }
        data_type::FLOAT => HostData::Float(tensor.float_data.clone()),
        data_type::FLOAT16 if !raw.is_empty() => {
            from_raw(2)?;
            HostData::Float(raw.chunks_exact(2).map(|b| f16_to_f32(u16::from_le_bytes([b[0], b[1]]))).collect())
        }
        // float16 values in int32_data, one to an entry (onnx.proto's rule).
        data_type::FLOAT16 => HostData::Float(tensor.int32_data.iter().map(|&v| f16_to_f32(v as u16)).collect()),
        data_type::DOUBLE if !raw.is_empty() => {
            from_raw(8)?;
            HostData::Float(raw.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().expect("8 bytes")) as f32).collect())
        }
        data_type::DOUBLE => HostData::Float(tensor.double_data.iter().map(|&v| v as f32).collect()),
        data_type::INT64 if !raw.is_empty() => {
            from_raw(8)?;
            HostData::Int(raw.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().expect("8 bytes"))).collect())
        }
        data_type::INT64 => HostData::Int(tensor.int64_data.clone()),
        data_type::INT32 if !raw.is_empty() => {
            from_raw(4)?;
            HostData::Int(raw.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as i64).collect())
        }
        data_type::INT8 if !raw.is_empty() => {
            from_raw(1)?;
            HostData::Int(raw.iter().map(|&b| b as i8 as i64).collect())
        }
        data_type::UINT8 | data_type::BOOL if !raw.is_empty() => {
            from_raw(1)?;
            HostData::Int(raw.iter().map(|&b| b as i64).collect())
        }
        data_type::INT32 | data_type::INT8 | data_type::UINT8 | data_type::BOOL => HostData::Int(tensor.int32_data.iter().map(|&v| v as i64).collect()),
        data_type::UINT64 => HostData::Int(tensor.uint64_data.iter().map(|&v| v as i64).collect()),
        other => return Err(format!("{name} holds {}, which a2x does not read", data_type::name(other))),
    };
    let value = HostValue { dims, data };
    if value.len() != count {
        return Err(format!("{name}: {} values for shape {:?}", value.len(), tensor.dims));
    }
    Ok(value)
}

/// IEEE 754 half precision to single.
pub fn f16_to_f32(bits: u16) -> f32 {
    let sign = ((bits >> 15) as u32) << 31;
    let exponent = ((bits >> 10) & 0x1f) as u32;
    let mantissa = (bits & 0x3ff) as u32;
    let value = match (exponent, mantissa) {
        (0, 0) => sign,
        (0, m) => {
            // Subnormal: m · 2^-24.
            return f32::from_bits(sign) + (if sign != 0 { -1.0 } else { 1.0 }) * m as f32 * 2f32.powi(-24);
        }
        (0x1f, m) => sign | 0x7f80_0000 | (m << 13),
        (e, m) => sign | ((e + 112) << 23) | (m << 13),
    };
    f32::from_bits(value)
}

fn attribute(attribute: &AttributeProto) -> Result<Option<Attribute>, String> {
    // AttributeProto.AttributeType: FLOAT 1, INT 2, STRING 3, TENSOR 4, FLOATS 6, INTS 7.
    Ok(Some(match attribute.r#type {
        1 => Attribute::Float(attribute.f),
        2 => Attribute::Int(attribute.i),
        3 => Attribute::Text(String::from_utf8_lossy(&attribute.s).into_owned()),
        4 => Attribute::Tensor(host_value(attribute.t.as_ref().ok_or("a tensor attribute without its tensor")?)?),
        6 => Attribute::Floats(attribute.floats.clone()),
        7 => Attribute::Ints(attribute.ints.clone()),
        // Graphs, strings lists, sparse tensors, type protos: no supported operator reads them.
        _ => return Ok(None),
    }))
}

/// Reads and checks an ONNX file.
pub fn read(bytes: &[u8]) -> Result<Graph, String> {
    if bytes.is_empty() {
        return Err(parse_error("the file is empty"));
    }
    let model = ModelProto::decode(bytes).map_err(|e| parse_error(format!("its protobuf does not decode ({e}); is it an .onnx file, and whole?")))?;
    let graph = model.graph.ok_or_else(|| parse_error("it has no graph"))?;
    if graph.node.is_empty() {
        return Err(parse_error("its graph has no nodes"));
    }
    let opset = model.opset_import.iter().find(|o| o.domain.is_empty() || o.domain == "ai.onnx").map(|o| o.version).unwrap_or(0);
    if !(7..=23).contains(&opset) {
        return Err(format!("the file uses ONNX operator set {opset}; a2x reads operator sets 7 to 23"));
    }
    if !graph.sparse_initializer.is_empty() {
        return Err("the file has sparse initializers, which a2x does not read".into());
    }
    let mut constants = HashMap::new();
    for tensor in &graph.initializer {
        constants.insert(tensor.name.clone(), host_value(tensor)?);
    }
    // Unsupported operators, each with the nodes that use it (at most three named).
    let mut unsupported: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut nodes = Vec::with_capacity(graph.node.len());
    for node in &graph.node {
        let domain_ok = node.domain.is_empty() || node.domain == "ai.onnx";
        let op = if domain_ok { node.op_type.clone() } else { format!("{}.{}", node.domain, node.op_type) };
        let mut attributes = HashMap::new();
        for a in &node.attribute {
            if !a.ref_attr_name.is_empty() {
                return Err(format!("node “{}” refers to a function's attribute, which a2x does not read", node.name));
            }
            if let Some(value) = attribute(a).map_err(|e| format!("node “{}”: {e}", node.name))? {
                attributes.insert(a.name.clone(), value);
            }
        }
        let parsed = Node { name: node.name.clone(), op: op.clone(), inputs: node.input.clone(), outputs: node.output.clone(), attributes };
        if !domain_ok || !SUPPORTED.contains(&op.as_str()) {
            unsupported.entry(op).or_default().push(parsed.name.clone());
        }
        nodes.push(parsed);
    }
    if !unsupported.is_empty() {
        let list: Vec<String> = unsupported
            .iter()
            .map(|(op, names)| {
                let shown: Vec<String> = names.iter().take(3).map(|n| if n.is_empty() { "unnamed".into() } else { format!("“{n}”") }).collect();
                let more = if names.len() > 3 { format!(" and {} more", names.len() - 3) } else { String::new() };
                format!("{op} (in {}{more})", shown.join(", "))
            })
            .collect();
        return Err(format!("the model uses operators a2x does not support: {}", list.join("; ")));
    }
    let inputs: Vec<_> = graph.input.iter().filter(|i| !constants.contains_key(&i.name)).collect();
    let [input] = inputs.as_slice() else {
        let names: Vec<&str> = inputs.iter().map(|i| i.name.as_str()).collect();
        return Err(format!("a classifier takes one image; this graph takes {} inputs ({})", names.len(), names.join(", ")));
    };
    let tensor_type = input.r#type.as_ref().and_then(|t| t.tensor_type.as_ref()).ok_or_else(|| format!("input “{}” is not a tensor", input.name))?;
    if tensor_type.elem_type != data_type::FLOAT {
        return Err(format!("input “{}” is {}; a2x feeds float32 images", input.name, data_type::name(tensor_type.elem_type)));
    }
    let dims: Vec<Option<usize>> = tensor_type
        .shape
        .as_ref()
        .map(|s| s.dim.iter().map(|d| d.dim_value.filter(|&v| v > 0).map(|v| v as usize)).collect())
        .unwrap_or_default();
    if dims.len() != 4 {
        return Err(format!("input “{}” has shape {}; a2x feeds images of shape [batch, channels, height, width] or [batch, height, width, channels]", input.name, show_dims(&dims)));
    }
    // The first output is the logits (a classifier exported with auxiliary heads lists them after).
    let output = graph.output.first().ok_or_else(|| parse_error("its graph has no output"))?.name.clone();
    Ok(Graph { nodes, constants, input: Input { name: input.name.clone(), dims }, output, opset, producer: format!("{} {}", model.producer_name, model.producer_version).trim().to_string() })
}

/// `[batch, 3, 224, 224]`-style text of a declared shape.
pub fn show_dims(dims: &[Option<usize>]) -> String {
    let parts: Vec<String> = dims.iter().map(|d| d.map_or("?".to_string(), |v| v.to_string())).collect();
    format!("[{}]", parts.join(", "))
}
