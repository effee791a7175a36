//! The graph made ready to run many times: shapes and constants resolved once, when the model
//! loads, so that an iteration runs only the operations that depend on the image.
//!
//! Exports compute shapes at run time (`Shape` → `Gather` → `Unsqueeze` → `Concat` → `Reshape`,
//! a ViT's `Expand` of its class token to the batch). Rather than infer every operator's output
//! shape, the loader runs the graph twice, on batches of 1 and of 2: every value known on the
//! host in both runs is folded into a constant, and a host value that differs between them is a
//! linear function of the batch size (`v(n) = v(1) + (n − 1)·(v(2) − v(1))`), resolved per call
//! with integer arithmetic only. Both runs also prove that the graph runs at all, before anything
//! else uses the model.

use super::eval::{eval, host_inputs, upload, Value};
use super::graph::{Graph, HostData, HostValue, Node};
use super::tensor::DynTensor;
use burn::tensor::{Device, Tensor};
use std::collections::HashMap;

/// Where a step's input comes from at run time.
#[derive(Clone, Debug)]
enum Source {
    /// A value computed from the image in this call.
    Slot(usize),
    /// A constant: a host value, or a tensor uploaded once.
    Constant(Value),
    /// A host value that depends on the batch size (its values at batches 1 and 2).
    Batch(HostValue, HostValue),
}

#[derive(Clone, Debug)]
struct Step {
    node: Node,
    inputs: Vec<Option<Source>>,
    outputs: Vec<Option<usize>>,
}

/// A graph ready to run.
#[derive(Debug)]
pub struct Plan {
    steps: Vec<Step>,
    input: usize,
    logits: usize,
    /// The last four-dimensional value with a spatial extent: the convolutional base's output.
    features: Option<usize>,
    /// For each slot, the last step that reads it (after it the value is dropped).
    last_use: Vec<usize>,
    opset: i64,
    device: Device,
    /// Host operations folded away, and operations left to run per call.
    pub folded: usize,
    pub classes: usize,
}

/// The values of one run of the whole graph, by name.
fn run_all(graph: &Graph, image: DynTensor, device: &Device) -> Result<HashMap<String, Value>, String> {
    let mut values: HashMap<String, Value> = graph.constants.iter().map(|(k, v)| (k.clone(), Value::Host(v.clone()))).collect();
    values.insert(graph.input.name.clone(), Value::Device(image));
    for node in &graph.nodes {
        let inputs: Vec<Option<Value>> = node
            .inputs
            .iter()
            .map(|name| if name.is_empty() { Ok(None) } else { values.get(name).cloned().map(Some).ok_or_else(|| format!("{}: input “{name}” is not computed before it", node.label())) })
            .collect::<Result<_, String>>()?;
        let outputs = eval(node, &inputs, graph.opset, device)?;
        for (name, value) in node.outputs.iter().zip(outputs) {
            if let (false, Some(value)) = (name.is_empty(), value) {
                values.insert(name.clone(), value);
            }
        }
    }
    Ok(values)
}

/// The name of the logits: the graph's output, or the input of a final Softmax (its logarithm
/// differs from the logits by a constant per image, so softmax of the logits is the same).
fn logits_name(graph: &Graph) -> String {
    match graph.nodes.iter().find(|n| n.outputs.first() == Some(&graph.output)) {
        Some(node) if node.op == "Softmax" && !node.inputs.is_empty() => node.inputs[0].clone(),
        _ => graph.output.clone(),
    }
}

impl Plan {
    /// Probes `graph` with batches of 1 and 2 of zeros of `image_dims` (batch first) and keeps
    /// what each call must compute.
    pub fn new(graph: &Graph, image_dims: [usize; 3], device: &Device) -> Result<Plan, String> {
        let probe = |batch: usize| {
            let dims = [batch, image_dims[0], image_dims[1], image_dims[2]];
            let zeros = DynTensor::R4(Tensor::<4>::zeros(dims, device));
            run_all(graph, zeros, device)
        };
        let (one, two) = (probe(1)?, probe(2)?);
        let logits = logits_name(graph);
        match one.get(&logits) {
            Some(Value::Device(t)) if t.dims()[0] == 1 => {}
            Some(Value::Device(t)) => return Err(format!("the output “{logits}” has shape {:?} for one image; a classifier's is [1, classes]", t.dims())),
            _ => return Err(format!("the output “{logits}” does not depend on the image")),
        }

        let mut slots: HashMap<String, usize> = HashMap::new();
        slots.insert(graph.input.name.clone(), 0);
        let mut next = 1;
        let mut steps = Vec::new();
        let mut folded = 0;
        let mut features = None;
        for node in &graph.nodes {
            let on_host = node.outputs.iter().filter(|n| !n.is_empty()).all(|n| matches!(one.get(n), Some(Value::Host(_)) | None));
            if on_host {
                folded += 1;
                continue;
            }
            let mut inputs = Vec::with_capacity(node.inputs.len());
            for (i, name) in node.inputs.iter().enumerate() {
                if name.is_empty() {
                    inputs.push(None);
                    continue;
                }
                if let Some(&slot) = slots.get(name) {
                    inputs.push(Some(Source::Slot(slot)));
                    continue;
                }
                let (Some(Value::Host(a)), Some(Value::Host(b))) = (one.get(name), two.get(name)) else {
                    return Err(format!("{}: input “{name}” is neither computed nor constant", node.label()));
                };
                let read_on_host = host_inputs(&node.op).contains(&i);
                inputs.push(Some(if a == b {
                    // Scalars stay on the host: the element-wise operators take them as burn's
                    // scalar operations (`eval`), and tensors are uploaded here, once.
                    Source::Constant(if read_on_host || a.len() == 1 { Value::Host(a.clone()) } else { Value::Device(upload(a, device)) })
                } else if a.dims != b.dims || !matches!((&a.data, &b.data), (HostData::Int(_), HostData::Int(_))) || !read_on_host {
                    return Err(format!("{}: input “{name}” changes with the batch size in a way a2x does not follow", node.label()));
                } else {
                    Source::Batch(a.clone(), b.clone())
                }));
            }
            let mut outputs = Vec::new();
            for name in &node.outputs {
                if name.is_empty() || !matches!(one.get(name), Some(Value::Device(_))) {
                    outputs.push(None);
                    continue;
                }
                slots.insert(name.clone(), next);
                if let Some(Value::Device(t)) = one.get(name) {
                    let d = t.dims();
                    if d.len() == 4 && d[2] > 1 && d[3] > 1 {
                        features = Some(next);
                    }
                }
                outputs.push(Some(next));
                next += 1;
            }
            steps.push(Step { node: node.clone(), inputs, outputs });
        }
        let logits_slot = *slots.get(&logits).ok_or("the logits are not computed")?;
        let mut last_use = vec![0; next];
        for (i, step) in steps.iter().enumerate() {
            for source in step.inputs.iter().flatten() {
                if let Source::Slot(s) = source {
                    last_use[*s] = i;
                }
            }
        }
        let classes = match one.get(&logits) {
            Some(Value::Device(t)) => t.dims()[1..].iter().product(),
            _ => 0,
        };
        Ok(Plan { steps, input: 0, logits: logits_slot, features, last_use, opset: graph.opset, device: device.clone(), folded, classes })
    }

    /// Operations run per call.
    pub fn operations(&self) -> usize {
        self.steps.len()
    }

    /// Runs the graph on `image` (already preprocessed, in the file's layout) up to `target`.
    fn run(&self, image: Tensor<4>, target: usize) -> Result<DynTensor, String> {
        let batch = image.dims()[0] as i64;
        let mut slots: Vec<Option<DynTensor>> = vec![None; self.last_use.len()];
        slots[self.input] = Some(DynTensor::R4(image));
        for (i, step) in self.steps.iter().enumerate() {
            let inputs: Vec<Option<Value>> = step
                .inputs
                .iter()
                .map(|source| {
                    Ok(match source {
                        None => None,
                        Some(Source::Slot(s)) => Some(Value::Device(slots[*s].clone().ok_or("a value was dropped before its last use")?)),
                        Some(Source::Constant(v)) => Some(v.clone()),
                        Some(Source::Batch(a, b)) => {
                            let (a, b) = (a.as_ints(), b.as_ints());
                            let values = a.iter().zip(&b).map(|(x, y)| x + (batch - 1) * (y - x)).collect::<Vec<_>>();
                            Some(Value::Host(HostValue::ints(vec![values.len()], values)))
                        }
                    })
                })
                .collect::<Result<_, String>>()?;
            let outputs = eval(&step.node, &inputs, self.opset, &self.device)?;
            for (slot, value) in step.outputs.iter().zip(outputs) {
                if let (Some(slot), Some(Value::Device(t))) = (slot, value) {
                    slots[*slot] = Some(t);
                }
            }
            if let Some(t) = slots.get(target).and_then(Option::clone) {
                return Ok(t);
            }
            for source in step.inputs.iter().flatten() {
                if let Source::Slot(s) = source {
                    if self.last_use[*s] == i {
                        slots[*s] = None;
                    }
                }
            }
        }
        slots[target].take().ok_or_else(|| "the graph did not compute its output".to_string())
    }

    /// Logits `[batch, classes]`.
    pub fn logits(&self, image: Tensor<4>) -> Result<Tensor<2>, String> {
        let out = self.run(image, self.logits)?;
        let dims = out.dims();
        let classes = dims[1..].iter().product();
        out.reshape(&[dims[0], classes]).into_rank2()
    }

    /// The convolutional base's output (the last four-dimensional value with a spatial extent),
    /// or the logits as a `[batch, classes, 1, 1]` map for a graph without one.
    pub fn features(&self, image: Tensor<4>) -> Result<Tensor<4>, String> {
        match self.features {
            Some(slot) => self.run(image, slot)?.into_rank4(),
            None => {
                let logits = self.logits(image)?;
                let [n, c] = logits.dims();
                Ok(logits.reshape([n, c, 1, 1]))
            }
        }
    }
}
