//! The a2x model file (`.a2xm`): folded weights, float32 or int8, with a checksum.
//!
//! Layout (little-endian):
//! ```text
//! 0   8 bytes   magic "A2XMODEL"
//! 8   u32       format version (1)
//! 12  u32       header length H
//! 16  H bytes   header, JSON (`Header`): architecture, input size, classes, precision, the
//!               tensors (name, shape, encoding, offset into the payload), payload length P
//! …   P bytes   payload: the tensors, each 4-byte aligned
//! …   32 bytes  sha256 of everything before it
//! ```
//! Quantization (decided for #4): symmetric int8 per output channel, done by a2x itself rather
//! than burn's quantized tensors. Weights are dequantized to float32 when the file is loaded,
//! so the same float kernels run on wgpu and ndarray alike and the attack's input gradients are
//! ordinary float gradients; int8 buys the download size (4× smaller), not speed. For a weight
//! tensor `[out, …]`, scale[o] = max|w[o, …]| / 127 and q = round(w / scale[o]) ∈ [−127, 127];
//! the payload holds the `out` float32 scales, then the int8 values. Biases (1-D tensors) stay
//! float32: they are few and carry the folded batch-norm shifts.

use crate::models::ModelError;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

pub const MAGIC: &[u8; 8] = b"A2XMODEL";
pub const VERSION: u32 = 1;
const PREAMBLE: usize = 16;
const CHECKSUM: usize = 32;
/// Refuse headers larger than this (a tampered length must not allocate gigabytes).
const MAX_HEADER: usize = 1 << 20;

/// How the weights are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Precision {
    Float32,
    Int8,
}

/// How one tensor is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    /// float32 values.
    F32,
    /// float32 scale per output channel (first dimension), then int8 values.
    I8PerChannel,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TensorEntry {
    pub name: String,
    pub shape: Vec<usize>,
    pub encoding: Encoding,
    /// Byte offset into the payload.
    pub offset: usize,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Header {
    pub architecture: String,
    pub input_size: usize,
    pub classes: usize,
    pub precision: Precision,
    pub payload_bytes: usize,
    pub tensors: Vec<TensorEntry>,
}

/// A decoded model file: its header and float32 tensors (dequantized).
pub struct ModelFile {
    pub header: Header,
    pub tensors: Vec<(String, Vec<usize>, Vec<f32>)>,
}

/// Lower-case hex sha256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks `bytes` against the sha256 a manifest names.
pub fn verify_sha256(bytes: &[u8], expected: &str) -> Result<(), ModelError> {
    let actual = sha256_hex(bytes);
    if actual.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(ModelError::Sha256Mismatch { expected: expected.to_string(), actual })
    }
}

/// (element count, bytes in the payload), or `None` when that overflows.
fn encoded_len(shape: &[usize], encoding: Encoding) -> Option<(usize, usize)> {
    let count = shape.iter().try_fold(1usize, |n, &d| n.checked_mul(d))?;
    let bytes = match encoding {
        Encoding::F32 => count.checked_mul(4)?,
        Encoding::I8PerChannel => shape.first()?.checked_mul(4)?.checked_add(count)?,
    };
    Some((count, bytes))
}

/// Symmetric per-output-channel int8: (scales, values).
pub fn quantize_per_channel(shape: &[usize], values: &[f32]) -> (Vec<f32>, Vec<i8>) {
    let channels = shape[0];
    let per_channel = values.len() / channels;
    let mut scales = Vec::with_capacity(channels);
    let mut quantized = Vec::with_capacity(values.len());
    for row in values.chunks(per_channel) {
        let max = row.iter().fold(0f32, |m, v| m.max(v.abs()));
        let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
        scales.push(scale);
        quantized.extend(row.iter().map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8));
    }
    (scales, quantized)
}

/// Serializes folded weights. With `Precision::Int8`, tensors of rank ≥ 2 are quantized.
pub fn write(
    architecture: &str,
    input_size: usize,
    classes: usize,
    precision: Precision,
    tensors: &[(String, Vec<usize>, Vec<f32>)],
) -> Vec<u8> {
    let mut payload = Vec::new();
    let mut entries = Vec::new();
    for (name, shape, values) in tensors {
        assert_eq!(shape.iter().product::<usize>(), values.len(), "{name}: shape and values disagree");
        while payload.len() % 4 != 0 {
            payload.push(0);
        }
        let encoding = if precision == Precision::Int8 && shape.len() >= 2 { Encoding::I8PerChannel } else { Encoding::F32 };
        entries.push(TensorEntry { name: name.clone(), shape: shape.clone(), encoding, offset: payload.len() });
        match encoding {
            Encoding::F32 => values.iter().for_each(|v| payload.extend_from_slice(&v.to_le_bytes())),
            Encoding::I8PerChannel => {
                let (scales, quantized) = quantize_per_channel(shape, values);
                scales.iter().for_each(|s| payload.extend_from_slice(&s.to_le_bytes()));
                payload.extend(quantized.iter().map(|&q| q as u8));
            }
        }
    }
    let header = Header {
        architecture: architecture.to_string(),
        input_size,
        classes,
        precision,
        payload_bytes: payload.len(),
        tensors: entries,
    };
    let header = serde_json::to_vec(&header).expect("the header serializes");
    let mut out = Vec::with_capacity(PREAMBLE + header.len() + payload.len() + CHECKSUM);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&VERSION.to_le_bytes());
    out.extend_from_slice(&(header.len() as u32).to_le_bytes());
    out.extend_from_slice(&header);
    out.extend_from_slice(&payload);
    let checksum = Sha256::digest(&out);
    out.extend_from_slice(&checksum);
    out
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(bytes[at..at + 4].try_into().expect("4 bytes"))
}

/// Parses and checks a model file: magic, version, lengths, checksum, then every tensor's
/// extent. Never panics on any input.
pub fn read(bytes: &[u8]) -> Result<ModelFile, ModelError> {
    if bytes.len() < MAGIC.len() {
        return Err(if MAGIC.starts_with(bytes) {
            ModelError::Truncated { expected: PREAMBLE, actual: bytes.len() }
        } else {
            ModelError::BadMagic
        });
    }
    if &bytes[..MAGIC.len()] != MAGIC {
        return Err(ModelError::BadMagic);
    }
    if bytes.len() < PREAMBLE {
        return Err(ModelError::Truncated { expected: PREAMBLE, actual: bytes.len() });
    }
    let version = u32_at(bytes, 8);
    if version != VERSION {
        return Err(ModelError::UnsupportedVersion { found: version, supported: VERSION });
    }
    let header_len = u32_at(bytes, 12) as usize;
    if header_len > MAX_HEADER {
        return Err(ModelError::Header(format!("header length {header_len} is implausible")));
    }
    let header_end = PREAMBLE + header_len;
    if bytes.len() < header_end {
        return Err(ModelError::Truncated { expected: header_end + CHECKSUM, actual: bytes.len() });
    }
    let header: Header = serde_json::from_slice(&bytes[PREAMBLE..header_end])
        .map_err(|e| ModelError::Header(format!("not valid JSON: {e}")))?;
    let expected_len = header_end
        .checked_add(header.payload_bytes)
        .and_then(|n| n.checked_add(CHECKSUM))
        .ok_or_else(|| ModelError::Header("payload length overflows".into()))?;
    if bytes.len() < expected_len {
        return Err(ModelError::Truncated { expected: expected_len, actual: bytes.len() });
    }
    if bytes.len() > expected_len {
        return Err(ModelError::Header(format!(
            "the file has {} bytes after its checksum (expected {expected_len} bytes in all)",
            bytes.len() - expected_len
        )));
    }
    let body_end = expected_len - CHECKSUM;
    if Sha256::digest(&bytes[..body_end]).as_slice() != &bytes[body_end..] {
        return Err(ModelError::Corrupted);
    }
    let payload = &bytes[header_end..body_end];
    let mut tensors = Vec::with_capacity(header.tensors.len());
    for entry in &header.tensors {
        let Some((count, extent)) = encoded_len(&entry.shape, entry.encoding) else {
            return Err(ModelError::Header(format!("tensor {}: shape {:?} is not storable", entry.name, entry.shape)));
        };
        let end = entry.offset.checked_add(extent).filter(|&end| end <= payload.len());
        let Some(end) = end else {
            return Err(ModelError::Header(format!("tensor {} lies outside the payload", entry.name)));
        };
        let data = &payload[entry.offset..end];
        let values = match entry.encoding {
            Encoding::F32 => data.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect(),
            Encoding::I8PerChannel => {
                // encoded_len() returned Some, so the shape has a first dimension.
                let channels = entry.shape[0];
                let (scales, quantized) = data.split_at(4 * channels);
                let scales: Vec<f32> = scales.chunks_exact(4).map(|b| f32::from_le_bytes(b.try_into().unwrap())).collect();
                let per_channel = (count / channels.max(1)).max(1);
                quantized.iter().enumerate().map(|(i, &q)| q as i8 as f32 * scales[i / per_channel]).collect()
            }
        };
        tensors.push((entry.name.clone(), entry.shape.clone(), values));
    }
    Ok(ModelFile { header, tensors })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<(String, Vec<usize>, Vec<f32>)> {
        vec![
            // Three output channels of very different ranges, one of them all zeros.
            ("conv.weight".into(), vec![3, 2, 1, 1], vec![0.5, -0.25, 1e-3, -7e-4, 0.0, 0.0]),
            ("conv.bias".into(), vec![3], vec![0.1, -2.0, 3.5]),
        ]
    }

    #[test]
    fn float32_round_trips_exactly() {
        let bytes = write("test", 8, 3, Precision::Float32, &sample());
        let file = read(&bytes).unwrap();
        assert_eq!(file.tensors, sample());
        assert_eq!((file.header.architecture.as_str(), file.header.input_size, file.header.classes), ("test", 8, 3));
    }

    #[test]
    fn int8_is_per_output_channel_within_half_a_step() {
        let bytes = write("test", 8, 3, Precision::Int8, &sample());
        let file = read(&bytes).unwrap();
        let (original, restored) = (&sample()[0].2, &file.tensors[0].2);
        // Row maxima 0.5, 1e-3 and 0: steps 0.5/127 and 1e-3/127 (a per-tensor scale would have
        // rounded the second channel to zero).
        for (row, step) in [(0, 0.5 / 127.0), (1, 1e-3 / 127.0)] {
            for i in 0..2 {
                let (a, b) = (original[row * 2 + i], restored[row * 2 + i]);
                assert!((a - b).abs() <= step / 2.0 + 1e-9, "row {row}: {a} vs {b}");
            }
        }
        assert!(restored[2] != 0.0 && restored[3] != 0.0);
        assert_eq!(&restored[4..], &[0.0, 0.0]);
        // The channel maximum is exact; biases stay float32.
        assert_eq!(restored[0], 0.5);
        assert_eq!(file.tensors[1].2, sample()[1].2);
        assert_eq!(file.header.tensors[0].encoding, Encoding::I8PerChannel);
        assert_eq!(file.header.tensors[1].encoding, Encoding::F32);
    }
}
