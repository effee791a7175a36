//! What each supported operator computes (ONNX's operator specifications, opsets 7–23): on the
//! host for shape arithmetic (values known without the image), with burn's tensor operations for
//! everything that depends on the image, so gradients flow through them.

use super::graph::{Attribute, HostData, HostValue, Node};
use super::tensor::{map_same_rank, Binary, DynTensor};
use burn::tensor::activation;
use burn::tensor::module::{avg_pool2d, conv2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, ConvOptions, MaxPoolOptions};
use burn::tensor::{Device, Tensor};

/// A value of the graph while it runs.
#[derive(Clone, Debug)]
pub enum Value {
    Host(HostValue),
    Device(DynTensor),
}

impl Value {
    pub fn is_host(&self) -> bool {
        matches!(self, Value::Host(_))
    }
}

/// The operators whose every input may be known on the host, computed there.
const HOST_OPS: &[&str] = &[
    "Constant", "Shape", "Gather", "Unsqueeze", "Squeeze", "Concat", "Slice", "Cast", "Add", "Sub", "Mul", "Div", "Reshape",
    "Identity", "ConstantOfShape", "Equal", "Where", "Flatten", "Dropout", "Expand", "Neg", "Sqrt", "Reciprocal", "Pow", "Mod",
];

/// Which inputs of `op` are read on the host (shapes, axes, bounds): a graph that computes one
/// of them from the image is refused.
pub fn host_inputs(op: &str) -> &'static [usize] {
    match op {
        "Reshape" | "Expand" | "Squeeze" | "Unsqueeze" | "ReduceMean" | "Split" | "Gather" => &[1],
        "Slice" => &[1, 2, 3, 4],
        "Pad" => &[1, 2, 3],
        "Clip" => &[1, 2],
        "ConstantOfShape" => &[0],
        _ => &[],
    }
}

fn to_device(value: &Value, device: &Device) -> DynTensor {
    match value {
        Value::Device(t) => t.clone(),
        Value::Host(h) => upload(h, device),
    }
}

/// Axis `axis` (negative counts from the end) of a rank-`rank` value.
fn axis_of(axis: i64, rank: usize) -> Result<usize, String> {
    let a = if axis < 0 { axis + rank as i64 } else { axis };
    if a < 0 || a >= rank as i64 {
        return Err(format!("axis {axis} of a rank {rank} value"));
    }
    Ok(a as usize)
}

/// Runs `node` on `inputs` (`None`: an input left out). Returns one value per output (`None`
/// for outputs a2x does not compute, such as Dropout's mask).
pub fn eval(node: &Node, inputs: &[Option<Value>], opset: i64, device: &Device) -> Result<Vec<Option<Value>>, String> {
    let present: Vec<&Value> = inputs.iter().flatten().collect();
    // A float Expand is a tensor broadcast to the batch (a ViT's class token), not shape
    // arithmetic: it runs on the device, where its result may depend on the batch size.
    let float_expand = node.op == "Expand" && matches!(present.first(), Some(Value::Host(HostValue { data: HostData::Float(_), .. })));
    let on_host = node.op == "Constant"
        || node.op == "Shape"
        || (HOST_OPS.contains(&node.op.as_str()) && !float_expand && !present.is_empty() && present.iter().all(|v| v.is_host()));
    let result = if on_host { eval_host(node, inputs, opset) } else { eval_device(node, inputs, opset, device) };
    result.map_err(|e| format!("{}: {e}", node.label()))
}

fn input(inputs: &[Option<Value>], i: usize) -> Result<&Value, String> {
    inputs.get(i).and_then(Option::as_ref).ok_or_else(|| format!("input {} is missing", i + 1))
}

fn host(inputs: &[Option<Value>], i: usize) -> Result<Option<&HostValue>, String> {
    match inputs.get(i).and_then(Option::as_ref) {
        None => Ok(None),
        Some(Value::Host(h)) => Ok(Some(h)),
        Some(Value::Device(_)) => Err(format!("input {} is computed from the image; a2x needs it known when the model loads", i + 1)),
    }
}

/// Axes given as an attribute (older opsets) or as input `i` (newer ones).
fn axes(node: &Node, inputs: &[Option<Value>], i: usize) -> Result<Option<Vec<i64>>, String> {
    match host(inputs, i)? {
        Some(h) => Ok(Some(h.as_ints())),
        None => Ok(node.ints("axes")),
    }
}

/// The shape a Reshape makes of `dims`: 0 copies the input's size (unless `allowzero`), one −1
/// takes what is left.
fn reshape_dims(dims: &[usize], target: &[i64], allow_zero: bool) -> Result<Vec<usize>, String> {
    let total: usize = dims.iter().product();
    let mut out: Vec<usize> = Vec::with_capacity(target.len());
    let mut infer = None;
    for (i, &t) in target.iter().enumerate() {
        match t {
            -1 if infer.is_none() => {
                infer = Some(i);
                out.push(1);
            }
            0 if !allow_zero => out.push(*dims.get(i).ok_or("a 0 in Reshape's shape beyond the input's rank")?),
            t if t >= 0 => out.push(t as usize),
            _ => return Err(format!("Reshape to {target:?}")),
        }
    }
    if let Some(i) = infer {
        let known: usize = out.iter().product();
        if known == 0 || !total.is_multiple_of(known) {
            return Err(format!("cannot reshape {dims:?} to {target:?}"));
        }
        out[i] = total / known;
    }
    if out.iter().product::<usize>() != total {
        return Err(format!("cannot reshape {dims:?} ({total} values) to {target:?}"));
    }
    Ok(out)
}

/// Numpy's broadcast of two shapes.
fn broadcast(a: &[usize], b: &[usize]) -> Result<Vec<usize>, String> {
    let rank = a.len().max(b.len());
    let pad = |d: &[usize]| [vec![1; rank - d.len()], d.to_vec()].concat();
    let (a, b) = (pad(a), pad(b));
    a.iter().zip(&b).map(|(&x, &y)| if x == y || y == 1 { Ok(x) } else if x == 1 { Ok(y) } else { Err(format!("shapes {a:?} and {b:?} do not broadcast")) }).collect()
}

/// The flat index in `dims` of the broadcast index `index` of `out`.
fn broadcast_index(out: &[usize], dims: &[usize], mut flat: usize) -> usize {
    let offset = out.len() - dims.len();
    let mut index = 0;
    let mut stride = 1;
    for axis in (0..out.len()).rev() {
        let i = flat % out[axis];
        flat /= out[axis];
        if axis >= offset {
            let d = dims[axis - offset];
            if d != 1 {
                index += i * stride;
            }
            stride *= d;
        }
    }
    index
}

fn host_binary(a: &HostValue, b: &HostValue, op: &str) -> Result<HostValue, String> {
    let dims = broadcast(&a.dims, &b.dims)?;
    let n: usize = dims.iter().product();
    Ok(match (&a.data, &b.data) {
        (HostData::Int(x), HostData::Int(y)) => {
            let f = |p: i64, q: i64| -> Result<i64, String> {
                Ok(match op {
                    "Add" => p.wrapping_add(q),
                    "Sub" => p.wrapping_sub(q),
                    "Mul" => p.wrapping_mul(q),
                    "Div" if q != 0 => p.div_euclid(q) + if p.rem_euclid(q) != 0 && (p < 0) != (q < 0) { 1 } else { 0 },
                    "Div" => return Err("integer division by zero".into()),
                    "Equal" => (p == q) as i64,
                    "Pow" => p.pow(q.clamp(0, 62) as u32),
                    // Integer Mod takes the divisor's sign (Python's %).
                    "Mod" if q != 0 => ((p % q) + q) % q,
                    "Mod" => return Err("integer Mod by zero".into()),
                    _ => unreachable!(),
                })
            };
            let values = (0..n).map(|i| f(x[broadcast_index(&dims, &a.dims, i)], y[broadcast_index(&dims, &b.dims, i)])).collect::<Result<_, _>>()?;
            HostValue::ints(dims, values)
        }
        _ => {
            let (x, y) = (a.as_floats(), b.as_floats());
            let values: Vec<f32> = (0..n)
                .map(|i| {
                    let (p, q) = (x[broadcast_index(&dims, &a.dims, i)], y[broadcast_index(&dims, &b.dims, i)]);
                    match op {
                        "Add" => p + q,
                        "Sub" => p - q,
                        "Mul" => p * q,
                        "Div" => p / q,
                        "Pow" => p.powf(q),
                        "Mod" => p % q,
                        _ => (p == q) as i64 as f32,
                    }
                })
                .collect();
            if op == "Equal" {
                HostValue::ints(dims, values.iter().map(|&v| v as i64).collect())
            } else {
                HostValue::floats(dims, values)
            }
        }
    })
}

/// The values of `value` taken along `axis` at `indices` (Gather).
fn host_gather(value: &HostValue, indices: &HostValue, axis: usize) -> Result<HostValue, String> {
    let dims = &value.dims;
    let size = dims[axis] as i64;
    let outer: usize = dims[..axis].iter().product();
    let inner: usize = dims[axis + 1..].iter().product();
    let picks: Vec<usize> = indices
        .as_ints()
        .iter()
        .map(|&i| {
            let j = if i < 0 { i + size } else { i };
            if j < 0 || j >= size { Err(format!("index {i} of a dimension of {size}")) } else { Ok(j as usize) }
        })
        .collect::<Result<_, _>>()?;
    let mut out_dims = dims[..axis].to_vec();
    out_dims.extend(&indices.dims);
    out_dims.extend(&dims[axis + 1..]);
    let take = |o: usize, p: usize, k: usize| (o * size as usize + p) * inner + k;
    let order: Vec<usize> = (0..outer).flat_map(|o| picks.iter().flat_map(move |&p| (0..inner).map(move |k| take(o, p, k)))).collect();
    Ok(HostValue {
        dims: out_dims,
        data: match &value.data {
            HostData::Int(v) => HostData::Int(order.iter().map(|&i| v[i]).collect()),
            HostData::Float(v) => HostData::Float(order.iter().map(|&i| v[i]).collect()),
        },
    })
}

/// `(start, end, step)` of each axis for a Slice of `dims` (ONNX's clamping rules).
fn slice_ranges(dims: &[usize], starts: &[i64], ends: &[i64], axes: Option<Vec<i64>>, steps: Option<Vec<i64>>) -> Result<Vec<(usize, i64, i64, i64)>, String> {
    let rank = dims.len();
    let axes = axes.unwrap_or_else(|| (0..starts.len() as i64).collect());
    let steps = steps.unwrap_or_else(|| vec![1; starts.len()]);
    if starts.len() != ends.len() || axes.len() != starts.len() || steps.len() != starts.len() {
        return Err("Slice's starts, ends, axes and steps differ in length".into());
    }
    let mut out = Vec::new();
    for i in 0..starts.len() {
        let axis = axis_of(axes[i], rank)?;
        let d = dims[axis] as i64;
        let step = steps[i];
        if step == 0 {
            return Err("a Slice step of 0".into());
        }
        let clamp = |v: i64, low: i64, high: i64| v.max(low).min(high);
        let norm = |v: i64| if v < 0 { v + d } else { v };
        let (start, end) = if step > 0 {
            (clamp(norm(starts[i]), 0, d), clamp(norm(ends[i]), 0, d))
        } else {
            (clamp(norm(starts[i]), 0, d - 1), clamp(norm(ends[i]), -1, d - 1))
        };
        out.push((axis, start, end, step));
    }
    Ok(out)
}

fn eval_host(node: &Node, inputs: &[Option<Value>], opset: i64) -> Result<Vec<Option<Value>>, String> {
    let h = |i: usize| -> Result<&HostValue, String> { host(inputs, i)?.ok_or_else(|| format!("input {} is missing", i + 1)) };
    let one = |v: HostValue| Ok(vec![Some(Value::Host(v))]);
    match node.op.as_str() {
        "Constant" => match node.attributes.values().next() {
            Some(Attribute::Tensor(t)) => one(t.clone()),
            Some(Attribute::Float(f)) => one(HostValue::floats(vec![], vec![*f])),
            Some(Attribute::Int(i)) => one(HostValue::ints(vec![], vec![*i])),
            Some(Attribute::Floats(f)) => one(HostValue::floats(vec![f.len()], f.clone())),
            Some(Attribute::Ints(i)) => one(HostValue::ints(vec![i.len()], i.clone())),
            _ => Err("a Constant without a value a2x reads".into()),
        },
        "Shape" => {
            let dims = match input(inputs, 0)? {
                Value::Host(h) => h.dims.clone(),
                Value::Device(t) => t.dims(),
            };
            let rank = dims.len() as i64;
            let clampd = |v: i64| (if v < 0 { v + rank } else { v }).clamp(0, rank) as usize;
            let (start, end) = (clampd(node.int("start", 0)), clampd(node.int("end", rank)));
            let picked: Vec<i64> = dims[start..end.max(start)].iter().map(|&d| d as i64).collect();
            one(HostValue::ints(vec![picked.len()], picked))
        }
        "Identity" | "Dropout" => one(h(0)?.clone()),
        "Cast" => {
            let v = h(0)?;
            // TensorProto.DataType: FLOAT, FLOAT16, DOUBLE stay floats; the rest become integers.
            let to = node.int("to", 1);
            one(if matches!(to, 1 | 10 | 11 | 16) { HostValue::floats(v.dims.clone(), v.as_floats()) } else { HostValue::ints(v.dims.clone(), v.as_ints()) })
        }
        "Add" | "Sub" | "Mul" | "Div" | "Equal" | "Pow" | "Mod" => one(host_binary(h(0)?, h(1)?, &node.op)?),
        "Neg" | "Sqrt" | "Reciprocal" => {
            let v = h(0)?;
            one(match (&v.data, node.op.as_str()) {
                (HostData::Int(x), "Neg") => HostValue::ints(v.dims.clone(), x.iter().map(|a| -a).collect()),
                (_, op) => HostValue::floats(
                    v.dims.clone(),
                    v.as_floats().iter().map(|&a| match op { "Neg" => -a, "Sqrt" => a.sqrt(), _ => 1.0 / a }).collect(),
                ),
            })
        }
        "Where" => {
            let (c, a, b) = (h(0)?, h(1)?, h(2)?);
            let dims = broadcast(&broadcast(&c.dims, &a.dims)?, &b.dims)?;
            let n: usize = dims.iter().product();
            let cond = c.as_ints();
            let pick = |i: usize| cond[broadcast_index(&dims, &c.dims, i)] != 0;
            one(match (&a.data, &b.data) {
                (HostData::Int(x), HostData::Int(y)) => HostValue::ints(
                    dims.clone(),
                    (0..n).map(|i| if pick(i) { x[broadcast_index(&dims, &a.dims, i)] } else { y[broadcast_index(&dims, &b.dims, i)] }).collect(),
                ),
                _ => {
                    let (x, y) = (a.as_floats(), b.as_floats());
                    HostValue::floats(dims.clone(), (0..n).map(|i| if pick(i) { x[broadcast_index(&dims, &a.dims, i)] } else { y[broadcast_index(&dims, &b.dims, i)] }).collect())
                }
            })
        }
        "ConstantOfShape" => {
            let dims: Vec<usize> = h(0)?.as_ints().iter().map(|&d| d.max(0) as usize).collect();
            let n = dims.iter().product();
            one(match node.attributes.get("value") {
                Some(Attribute::Tensor(t)) if matches!(t.data, HostData::Int(_)) => HostValue::ints(dims, vec![t.as_ints().first().copied().unwrap_or(0); n]),
                Some(Attribute::Tensor(t)) => HostValue::floats(dims, vec![t.as_floats().first().copied().unwrap_or(0.0); n]),
                _ => HostValue::floats(dims, vec![0.0; n]),
            })
        }
        "Gather" => {
            let v = h(0)?;
            let axis = axis_of(node.int("axis", 0), v.dims.len())?;
            one(host_gather(v, h(1)?, axis)?)
        }
        "Unsqueeze" => {
            let v = h(0)?;
            let axes = axes(node, inputs, 1)?.ok_or("Unsqueeze without axes")?;
            let rank = v.dims.len() + axes.len();
            let mut axes: Vec<usize> = axes.iter().map(|&a| axis_of(a, rank)).collect::<Result<_, _>>()?;
            axes.sort_unstable();
            let mut dims = v.dims.clone();
            for a in axes {
                dims.insert(a, 1);
            }
            one(HostValue { dims, data: v.data.clone() })
        }
        "Squeeze" => {
            let v = h(0)?;
            let dims = squeezed(&v.dims, axes(node, inputs, 1)?)?;
            one(HostValue { dims, data: v.data.clone() })
        }
        "Flatten" => {
            let v = h(0)?;
            let axis = axis_of(node.int("axis", 1), v.dims.len() + 1)?;
            let dims = vec![v.dims[..axis].iter().product(), v.dims[axis..].iter().product()];
            one(HostValue { dims, data: v.data.clone() })
        }
        "Reshape" => {
            let v = h(0)?;
            let dims = match host(inputs, 1)? {
                Some(shape) => reshape_dims(&v.dims, &shape.as_ints(), node.int("allowzero", 0) != 0)?,
                None => reshape_dims(&v.dims, &node.ints("shape").ok_or("Reshape without a shape")?, false)?,
            };
            one(HostValue { dims, data: v.data.clone() })
        }
        "Expand" => {
            let v = h(0)?;
            let target: Vec<usize> = h(1)?.as_ints().iter().map(|&d| d.max(0) as usize).collect();
            let dims = broadcast(&v.dims, &target)?;
            let n: usize = dims.iter().product();
            let order: Vec<usize> = (0..n).map(|i| broadcast_index(&dims, &v.dims, i)).collect();
            one(HostValue {
                dims,
                data: match &v.data {
                    HostData::Int(x) => HostData::Int(order.iter().map(|&i| x[i]).collect()),
                    HostData::Float(x) => HostData::Float(order.iter().map(|&i| x[i]).collect()),
                },
            })
        }
        "Concat" => {
            let parts: Vec<&HostValue> = (0..inputs.len()).map(&h).collect::<Result<_, _>>()?;
            let rank = parts[0].dims.len();
            let axis = axis_of(node.int("axis", 0), rank)?;
            let outer: usize = parts[0].dims[..axis].iter().product();
            let mut dims = parts[0].dims.clone();
            dims[axis] = parts.iter().map(|p| p.dims[axis]).sum();
            let ints = parts.iter().all(|p| matches!(p.data, HostData::Int(_)));
            let mut fl = Vec::new();
            let mut it = Vec::new();
            for o in 0..outer {
                for p in &parts {
                    let chunk: usize = p.dims[axis..].iter().product();
                    if ints {
                        it.extend_from_slice(&p.as_ints()[o * chunk..(o + 1) * chunk]);
                    } else {
                        fl.extend_from_slice(&p.as_floats()[o * chunk..(o + 1) * chunk]);
                    }
                }
            }
            one(if ints { HostValue::ints(dims, it) } else { HostValue::floats(dims, fl) })
        }
        "Slice" => {
            let v = h(0)?;
            let (starts, ends, axes_given, steps) = if opset >= 10 {
                (h(1)?.as_ints(), h(2)?.as_ints(), host(inputs, 3)?.map(HostValue::as_ints), host(inputs, 4)?.map(HostValue::as_ints))
            } else {
                (node.ints("starts").unwrap_or_default(), node.ints("ends").unwrap_or_default(), node.ints("axes"), None)
            };
            // Host slices are of shape vectors: one axis, any step.
            if v.dims.len() != 1 {
                return Err("a Slice of a constant of rank above 1".into());
            }
            let ranges = slice_ranges(&v.dims, &starts, &ends, axes_given, steps)?;
            let (_, start, end, step) = ranges.first().copied().unwrap_or((0, 0, v.dims[0] as i64, 1));
            let mut picks = Vec::new();
            let mut i = start;
            while (step > 0 && i < end) || (step < 0 && i > end) {
                picks.push(i);
                i += step;
            }
            one(host_gather(v, &HostValue::ints(vec![picks.len()], picks), 0)?)
        }
        other => Err(format!("{other} of constants is not computed on the host")),
    }
}

fn squeezed(dims: &[usize], axes: Option<Vec<i64>>) -> Result<Vec<usize>, String> {
    Ok(match axes {
        Some(axes) => {
            let axes: Vec<usize> = axes.iter().map(|&a| axis_of(a, dims.len())).collect::<Result<_, _>>()?;
            if let Some(&a) = axes.iter().find(|&&a| dims[a] != 1) {
                return Err(format!("Squeeze of axis {a}, of size {}", dims[a]));
            }
            dims.iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect()
        }
        None => dims.iter().copied().filter(|&d| d != 1).collect(),
    })
}

/// Explicit (begin, end) padding of each spatial axis: `pads` as ONNX writes it (all begins,
/// then all ends), or `auto_pad`'s SAME_UPPER / SAME_LOWER / VALID from the input's size.
fn spatial_pads(node: &Node, input: &[usize], kernel: &[usize], strides: &[usize], dilations: &[usize]) -> Result<Vec<(usize, usize)>, String> {
    let n = kernel.len();
    match node.text("auto_pad").unwrap_or("NOTSET") {
        "SAME_UPPER" | "SAME_LOWER" => Ok((0..n)
            .map(|i| {
                let out = input[i].div_ceil(strides[i]);
                let span = (kernel[i] - 1) * dilations[i] + 1;
                let total = ((out - 1) * strides[i] + span).saturating_sub(input[i]);
                if node.text("auto_pad") == Some("SAME_UPPER") { (total / 2, total - total / 2) } else { (total - total / 2, total / 2) }
            })
            .collect()),
        "VALID" => Ok(vec![(0, 0); n]),
        _ => {
            let pads = node.ints("pads").unwrap_or_else(|| vec![0; 2 * n]);
            if pads.len() != 2 * n || pads.iter().any(|&p| p < 0) {
                return Err(format!("pads {pads:?}"));
            }
            Ok((0..n).map(|i| (pads[i] as usize, pads[n + i] as usize)).collect())
        }
    }
}

fn two(values: &[usize]) -> Result<[usize; 2], String> {
    values.try_into().map_err(|_| format!("{} spatial axes; a2x runs two-dimensional convolutions and pools", values.len()))
}

fn usizes(node: &Node, name: &str, default: Vec<usize>) -> Vec<usize> {
    node.ints(name).map(|v| v.iter().map(|&x| x.max(0) as usize).collect()).unwrap_or(default)
}

fn eval_device(node: &Node, inputs: &[Option<Value>], opset: i64, device: &Device) -> Result<Vec<Option<Value>>, String> {
    let x = || input(inputs, 0).map(|v| to_device(v, device));
    let operand = |i: usize| input(inputs, i).map(|v| to_device(v, device));
    let one = |t: DynTensor| Ok(vec![Some(Value::Device(t))]);
    match node.op.as_str() {
        "Identity" | "Dropout" => one(x()?),
        "Relu" => one(map_same_rank!(x()?, |t| activation::relu(t))),
        "Sigmoid" => one(map_same_rank!(x()?, |t| activation::sigmoid(t))),
        "Tanh" => one(map_same_rank!(x()?, |t| t.tanh())),
        "Erf" => one(map_same_rank!(x()?, |t| t.erf())),
        "Sqrt" => one(map_same_rank!(x()?, |t| t.sqrt())),
        "Exp" => one(map_same_rank!(x()?, |t| t.exp())),
        "Neg" => one(map_same_rank!(x()?, |t| t.neg())),
        "Reciprocal" => one(map_same_rank!(x()?, |t| t.recip())),
        "LeakyRelu" => {
            let alpha = node.float("alpha", 0.01) as f64;
            one(map_same_rank!(x()?, |t| activation::leaky_relu(t, alpha)))
        }
        "HardSigmoid" => {
            let (alpha, beta) = (node.float("alpha", 0.2) as f64, node.float("beta", 0.5) as f64);
            one(map_same_rank!(x()?, |t| activation::hard_sigmoid(t, alpha, beta)))
        }
        "HardSwish" => one(map_same_rank!(x()?, |t| activation::hard_swish(t))),
        "Gelu" => {
            let tanh = node.text("approximate") == Some("tanh");
            one(map_same_rank!(x()?, |t| if tanh { activation::gelu_approximate(t) } else { activation::gelu(t) }))
        }
        "Clip" => {
            let (low, high) = if opset >= 11 {
                (host(inputs, 1)?.map(|h| h.as_floats()[0]), host(inputs, 2)?.map(|h| h.as_floats()[0]))
            } else {
                (Some(node.float("min", f32::MIN)), Some(node.float("max", f32::MAX)))
            };
            let (low, high) = (low.unwrap_or(f32::MIN) as f64, high.unwrap_or(f32::MAX) as f64);
            one(map_same_rank!(x()?, |t| t.clamp(low, high)))
        }
        "Softmax" => {
            let t = x()?;
            let axis = axis_of(node.int("axis", if opset >= 13 { -1 } else { 1 }), t.rank())?;
            if opset < 13 && axis != t.rank() - 1 {
                return Err("Softmax of opset < 13 over several axes".into());
            }
            one(map_same_rank!(t, |t| activation::softmax(t, axis)))
        }
        "Add" | "Sub" | "Mul" | "Div" => {
            // A constant scalar on the right (normalisation's 255, a layer scale of one value):
            // burn's scalar operations, without broadcasting a tensor of it.
            // (Only where it adds no dimensions: numpy's broadcasting of a [1, 1, 1] constant
            // raises a matrix's rank.)
            let t = x()?;
            if let Some(Value::Host(c)) = inputs.get(1).and_then(Option::as_ref) {
                if c.len() == 1 && c.dims.len() <= t.rank() {
                    let v = c.as_floats()[0];
                    return one(match node.op.as_str() {
                        "Add" => map_same_rank!(t, |t| t + v),
                        "Sub" => map_same_rank!(t, |t| t - v),
                        "Mul" => map_same_rank!(t, |t| t * v),
                        _ => map_same_rank!(t, |t| t / v),
                    });
                }
            }
            let op = match node.op.as_str() {
                "Add" => Binary::Add,
                "Sub" => Binary::Sub,
                "Mul" => Binary::Mul,
                _ => Binary::Div,
            };
            one(t.binary(operand(1)?, op)?)
        }
        "Pow" => {
            // A constant scalar exponent (LayerNorm's square, …): x·x for 2, since powf of a
            // negative base is NaN.
            if let Some(Value::Host(e)) = inputs.get(1).and_then(Option::as_ref) {
                if e.len() == 1 {
                    let p = e.as_floats()[0];
                    let base = x()?;
                    return one(if p == 2.0 {
                        base.clone().binary(base, Binary::Mul)?
                    } else if p == 1.0 {
                        base
                    } else if p == 0.5 {
                        map_same_rank!(base, |t| t.sqrt())
                    } else {
                        map_same_rank!(base, |t| t.powf_scalar(p))
                    });
                }
            }
            one(operand(0)?.binary(operand(1)?, Binary::Pow)?)
        }
        "ReduceMean" => {
            let t = x()?;
            let rank = t.rank();
            let given = if opset >= 18 { axes(node, inputs, 1)? } else { node.ints("axes") };
            let axes: Vec<usize> = match given {
                Some(a) if !a.is_empty() => a.iter().map(|&a| axis_of(a, rank)).collect::<Result<_, _>>()?,
                _ if node.int("noop_with_empty_axes", 0) != 0 => return one(t),
                _ => (0..rank).collect(),
            };
            let kept = t.mean_dims(&axes);
            if node.int("keepdims", 1) != 0 {
                one(kept)
            } else {
                let dims: Vec<usize> = kept.dims().iter().enumerate().filter(|(i, _)| !axes.contains(i)).map(|(_, &d)| d).collect();
                one(kept.reshape(if dims.is_empty() { &[1] } else { &dims }))
            }
        }
        "GlobalAveragePool" => {
            let t = x()?;
            let axes: Vec<usize> = (2..t.rank()).collect();
            one(t.mean_dims(&axes))
        }
        "GlobalMaxPool" => {
            let t = x()?.into_rank4()?;
            let [_, _, h, w] = t.dims();
            one(DynTensor::R4(max_pool2d(t, MaxPoolOptions::new([h, w]))))
        }
        "Conv" => {
            let t = x()?.into_rank4()?;
            let weight = operand(1)?.into_rank4()?;
            let bias = match inputs.get(2).and_then(Option::as_ref) {
                Some(b) => Some(match to_device(b, device) {
                    DynTensor::R1(b) => b,
                    other => return Err(format!("a bias of rank {}", other.rank())),
                }),
                None => None,
            };
            let [_, _, kh, kw] = weight.dims();
            let kernel = usizes(node, "kernel_shape", vec![kh, kw]);
            let strides = usizes(node, "strides", vec![1, 1]);
            let dilations = usizes(node, "dilations", vec![1, 1]);
            let dims = t.dims();
            let pads = spatial_pads(node, &dims[2..], &kernel, &strides, &dilations)?;
            let options = ConvOptions::new_with_padding(two(&strides)?, [pads[0], pads[1]], two(&dilations)?, node.int("group", 1).max(1) as usize);
            one(DynTensor::R4(conv2d(t, weight, bias, options)))
        }
        "MaxPool" | "AveragePool" => {
            let t = x()?.into_rank4()?;
            let kernel = usizes(node, "kernel_shape", vec![]);
            let strides = usizes(node, "strides", vec![1; kernel.len()]);
            let dilations = usizes(node, "dilations", vec![1; kernel.len()]);
            let dims = t.dims();
            let pads = spatial_pads(node, &dims[2..], &kernel, &strides, &dilations)?;
            let ceil = node.int("ceil_mode", 0) != 0;
            if node.op == "MaxPool" {
                let mut options = MaxPoolOptions::new(two(&kernel)?).with_stride(two(&strides)?);
                options.padding = [pads[0], pads[1]];
                options.dilation = two(&dilations)?;
                options.ceil_mode = ceil;
                one(DynTensor::R4(max_pool2d(t, options)))
            } else {
                let mut options = AvgPoolOptions::new(two(&kernel)?).with_stride(two(&strides)?);
                options.padding = [pads[0], pads[1]];
                options.count_include_pad = node.int("count_include_pad", 0) != 0;
                options.ceil_mode = ceil;
                one(DynTensor::R4(avg_pool2d(t, options)))
            }
        }
        "BatchNormalization" => {
            let t = x()?;
            let channels = t.dims()[1];
            let per_channel = |i: usize| -> Result<DynTensor, String> {
                let v = operand(i)?;
                let mut dims = vec![1; t.rank()];
                dims[1] = channels;
                Ok(v.reshape(&dims))
            };
            let epsilon = node.float("epsilon", 1e-5);
            let (scale, bias, mean, var) = (per_channel(1)?, per_channel(2)?, per_channel(3)?, per_channel(4)?);
            let std = map_same_rank!(var, |v| (v + epsilon).sqrt());
            let normalized = t.binary(mean, Binary::Sub)?.binary(std, Binary::Div)?;
            one(normalized.binary(scale, Binary::Mul)?.binary(bias, Binary::Add)?)
        }
        "LayerNormalization" => {
            let t = x()?;
            let rank = t.rank();
            let axis = axis_of(node.int("axis", -1), rank)?;
            let axes: Vec<usize> = (axis..rank).collect();
            let epsilon = node.float("epsilon", 1e-5);
            let mean = t.clone().mean_dims(&axes);
            let centred = t.binary(mean, Binary::Sub)?;
            let var = centred.clone().binary(centred.clone(), Binary::Mul)?.mean_dims(&axes);
            let std = map_same_rank!(var, |v| (v + epsilon).sqrt());
            let mut y = centred.binary(std, Binary::Div)?.binary(operand(1)?, Binary::Mul)?;
            if inputs.get(2).and_then(Option::as_ref).is_some() {
                y = y.binary(operand(2)?, Binary::Add)?;
            }
            one(y)
        }
        "Gemm" => {
            let a = operand(0)?.into_rank2()?;
            let b = operand(1)?.into_rank2()?;
            let a = if node.int("transA", 0) != 0 { a.transpose() } else { a };
            let b = if node.int("transB", 0) != 0 { b.transpose() } else { b };
            let (alpha, beta) = (node.float("alpha", 1.0), node.float("beta", 1.0));
            let mut y = DynTensor::R2(a.matmul(b));
            if alpha != 1.0 {
                y = map_same_rank!(y, |t| t * alpha);
            }
            if let Some(c) = inputs.get(2).and_then(Option::as_ref) {
                let c = to_device(c, device);
                let c = if beta != 1.0 { map_same_rank!(c, |t| t * beta) } else { c };
                y = y.binary(c, Binary::Add)?;
            }
            one(y)
        }
        "MatMul" => one(operand(0)?.matmul(operand(1)?)?),
        "Flatten" => {
            let t = x()?;
            let dims = t.dims();
            let axis = axis_of(node.int("axis", 1), dims.len() + 1)?;
            let flat = [dims[..axis].iter().product(), dims[axis..].iter().product()];
            one(t.reshape(&flat))
        }
        "Reshape" => {
            let t = x()?;
            let target = match host(inputs, 1)? {
                Some(s) => s.as_ints(),
                None => node.ints("shape").ok_or("Reshape without a shape")?,
            };
            let dims = reshape_dims(&t.dims(), &target, node.int("allowzero", 0) != 0)?;
            if dims.is_empty() || dims.len() > super::tensor::MAX_RANK {
                return Err(format!("a Reshape to rank {}", dims.len()));
            }
            one(t.reshape(&dims))
        }
        "Squeeze" => {
            let t = x()?;
            let dims = squeezed(&t.dims(), axes(node, inputs, 1)?)?;
            one(t.reshape(if dims.is_empty() { &[1] } else { &dims }))
        }
        "Unsqueeze" => {
            let t = x()?;
            let axes = axes(node, inputs, 1)?.ok_or("Unsqueeze without axes")?;
            let rank = t.rank() + axes.len();
            let mut axes: Vec<usize> = axes.iter().map(|&a| axis_of(a, rank)).collect::<Result<_, _>>()?;
            axes.sort_unstable();
            let mut dims = t.dims();
            for a in axes {
                dims.insert(a, 1);
            }
            one(t.reshape(&dims))
        }
        "Transpose" => {
            let t = x()?;
            let rank = t.rank();
            let perm: Vec<usize> = match node.ints("perm") {
                Some(p) => p.iter().map(|&a| axis_of(a, rank)).collect::<Result<_, _>>()?,
                None => (0..rank).rev().collect(),
            };
            one(t.permute(&perm))
        }
        "Concat" => {
            let parts: Vec<DynTensor> = inputs.iter().flatten().map(|v| to_device(v, device)).collect();
            let rank = parts.first().map(DynTensor::rank).ok_or("Concat of nothing")?;
            let axis = axis_of(node.int("axis", 0), rank)?;
            one(DynTensor::cat(parts, axis)?)
        }
        "Split" => {
            let t = x()?;
            let dims = t.dims();
            let axis = axis_of(node.int("axis", 0), dims.len())?;
            let size = dims[axis];
            let outputs = node.outputs.len();
            let sizes: Vec<usize> = match host(inputs, 1)?.map(HostValue::as_ints).or_else(|| node.ints("split")) {
                Some(s) => s.iter().map(|&v| v.max(0) as usize).collect(),
                None => {
                    let chunk = size.div_ceil(outputs.max(1));
                    (0..outputs).map(|i| chunk.min(size.saturating_sub(i * chunk))).collect()
                }
            };
            if sizes.iter().sum::<usize>() != size {
                return Err(format!("Split of {size} into {sizes:?}"));
            }
            let mut start = 0;
            Ok(sizes
                .iter()
                .map(|&len| {
                    let part = t.clone().narrow(axis, start, len);
                    start += len;
                    Some(Value::Device(part))
                })
                .collect())
        }
        "Slice" => {
            let t = x()?;
            let dims = t.dims();
            let (starts, ends, axes_given, steps) = if opset >= 10 {
                (host(inputs, 1)?.ok_or("Slice without starts")?.as_ints(), host(inputs, 2)?.ok_or("Slice without ends")?.as_ints(), host(inputs, 3)?.map(HostValue::as_ints), host(inputs, 4)?.map(HostValue::as_ints))
            } else {
                (node.ints("starts").unwrap_or_default(), node.ints("ends").unwrap_or_default(), node.ints("axes"), None)
            };
            let mut ranges: Vec<burn::tensor::Slice> = dims.iter().map(|&d| burn::tensor::Slice::new(0, Some(d as isize), 1)).collect();
            for (axis, start, end, step) in slice_ranges(&dims, &starts, &ends, axes_given, steps)? {
                if step < 0 {
                    return Err("a Slice with a negative step".into());
                }
                let end = end.max(start);
                ranges[axis] = burn::tensor::Slice::new(start as isize, Some(end as isize), step as isize);
            }
            one(t.slice(&ranges))
        }
        "Pad" => {
            let t = x()?;
            let rank = t.rank();
            let mode = node.text("mode").unwrap_or("constant");
            if mode != "constant" {
                return Err(format!("Pad in mode {mode}; a2x pads with a constant"));
            }
            let pads = if opset >= 11 { host(inputs, 1)?.ok_or("Pad without pads")?.as_ints() } else { node.ints("pads").unwrap_or_default() };
            let value = if opset >= 11 { host(inputs, 2)?.map(|h| h.as_floats().first().copied().unwrap_or(0.0)).unwrap_or(0.0) } else { node.float("value", 0.0) };
            let axes: Vec<usize> = match host(inputs, 3)? {
                Some(a) => a.as_ints().iter().map(|&a| axis_of(a, rank)).collect::<Result<_, _>>()?,
                None => (0..rank).collect(),
            };
            let n = axes.len();
            if pads.len() != 2 * n || pads.iter().any(|&p| p < 0) {
                return Err(format!("pads {pads:?} (a2x does not crop with negative pads)"));
            }
            let mut pairs = vec![(0, 0); rank];
            for (i, &a) in axes.iter().enumerate() {
                pairs[a] = (pads[i] as usize, pads[n + i] as usize);
            }
            one(t.pad_constant(pairs, value))
        }
        "Gather" => {
            // Of the image's values at constant indices (a ViT's class token): narrow, and
            // drop the axis for a scalar index.
            let t = x()?;
            let dims = t.dims();
            let axis = axis_of(node.int("axis", 0), dims.len())?;
            let indices = host(inputs, 1)?.ok_or("Gather without indices")?;
            let size = dims[axis] as i64;
            let picks: Vec<usize> = indices.as_ints().iter().map(|&i| if i < 0 { i + size } else { i }).map(|i| if (0..size).contains(&i) { Ok(i as usize) } else { Err(format!("index {i} of {size}")) }).collect::<Result<_, _>>()?;
            let parts: Vec<DynTensor> = picks.iter().map(|&p| t.clone().narrow(axis, p, 1)).collect();
            let joined = if parts.len() == 1 { parts.into_iter().next().expect("one") } else { DynTensor::cat(parts, axis)? };
            let mut out = dims[..axis].to_vec();
            out.extend(&indices.dims);
            out.extend(&dims[axis + 1..]);
            one(joined.reshape(if out.is_empty() { &[1] } else { &out }))
        }
        "Expand" => {
            let t = x()?;
            let target: Vec<usize> = host(inputs, 1)?.ok_or("Expand without a shape")?.as_ints().iter().map(|&d| d.max(0) as usize).collect();
            let dims = broadcast(&t.dims(), &target)?;
            one(t.with_rank(dims.len()).expand_to(&dims))
        }
        "Cast" => {
            let to = node.int("to", 1);
            if !matches!(to, 1 | 10 | 11 | 16) {
                return Err("a Cast of the image's values to integers".into());
            }
            one(x()?)
        }
        "Shape" | "Constant" | "ConstantOfShape" | "Equal" | "Where" => Err(format!("{} of values computed from the image", node.op)),
        other => Err(format!("{other} is not implemented")),
    }
}

/// A device tensor of `dims` for a host value (used when the plan is made, once).
pub fn upload(value: &HostValue, device: &Device) -> DynTensor {
    DynTensor::from_values(value.as_floats(), &value.dims, device)
}

/// `Tensor<4>` preprocessing helper: `x · scale + offset`, per channel.
pub fn affine_channels(x: Tensor<4>, scale: [f32; 3], offset: [f32; 3], device: &Device) -> Tensor<4> {
    let s = Tensor::<1>::from_floats(scale, device).reshape([1, 3, 1, 1]);
    let o = Tensor::<1>::from_floats(offset, device).reshape([1, 3, 1, 1]);
    let dims = x.dims();
    x * s.expand(dims) + o.expand(dims)
}
