//! The class Gaussians' file (issue #6's D̄ for the image tasks): one mean and covariance per
//! class in an a2x model file. File I/O lives here, beside the other model files; the engine's
//! `engine::gaussian` only computes with what this reads.

use super::format;
use crate::engine::gaussian::{ClassGaussian, GRAIN};

/// Architecture name of a Gaussians file (an a2x model file holding, per class k,
/// `class{k}.mean` `[3, s, s]` and `class{k}.covariance` `[3s², 3s²]`, float32).
pub const FILE_ARCHITECTURE: &str = "class-gaussians";

/// Serializes one Gaussian per class; `input_size` is the full image side.
pub fn write_file(gaussians: &[ClassGaussian], input_size: usize) -> Vec<u8> {
    let mut tensors = Vec::new();
    for (k, g) in gaussians.iter().enumerate() {
        let dims = g.mean.len();
        tensors.push((format!("class{k}.mean"), vec![3, g.small, g.small], g.mean.clone()));
        tensors.push((format!("class{k}.covariance"), vec![dims, dims], g.covariance.clone()));
    }
    format::write(FILE_ARCHITECTURE, input_size, gaussians.len(), format::Precision::Float32, &tensors)
}

/// Reads what [`write_file`] wrote (checked against `expected_sha256` first, when given) and
/// factorizes every class's Σ. Never panics on a damaged file.
pub fn read_file(bytes: &[u8], expected_sha256: Option<&str>) -> Result<Vec<ClassGaussian>, String> {
    if let Some(expected) = expected_sha256 {
        format::verify_sha256(bytes, expected).map_err(|e| e.to_string())?;
    }
    let file = format::read(bytes).map_err(|e| e.to_string())?;
    if file.header.architecture != FILE_ARCHITECTURE {
        return Err(format!("not a class-Gaussians file (architecture \"{}\")", file.header.architecture));
    }
    let small = file.header.input_size / GRAIN;
    let mut tensors: std::collections::HashMap<String, (Vec<usize>, Vec<f32>)> =
        file.tensors.into_iter().map(|(name, shape, values)| (name, (shape, values))).collect();
    (0..file.header.classes)
        .map(|k| {
            let (_, mean) = tensors.remove(&format!("class{k}.mean")).ok_or(format!("class {k}'s mean is missing"))?;
            let (_, covariance) = tensors.remove(&format!("class{k}.covariance")).ok_or(format!("class {k}'s covariance is missing"))?;
            ClassGaussian::new(mean, covariance, small).map_err(|e| format!("class {k}: {e}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_reads_back_what_was_written_and_refuses_damage() {
        // Two classes of 1×1×3 block means, each with a positive-definite Σ.
        let sigma = |a: f32| vec![0.01, a, 0.0, a, 0.02, 0.0, 0.0, 0.0, 0.03];
        let gaussians =
            vec![ClassGaussian::new(vec![0.1, 0.2, 0.3], sigma(0.005), 1).unwrap(), ClassGaussian::new(vec![0.7, 0.6, 0.5], sigma(-0.004), 1).unwrap()];
        let bytes = write_file(&gaussians, GRAIN);
        assert_eq!(read_file(&bytes, None).unwrap(), gaussians);
        let sha = format::sha256_hex(&bytes);
        assert_eq!(read_file(&bytes, Some(&sha)).unwrap().len(), 2);
        assert!(read_file(&bytes[..bytes.len() - 1], None).is_err());
        let mut flipped = bytes.clone();
        flipped[bytes.len() / 2] ^= 1;
        assert!(read_file(&flipped, Some(&sha)).is_err(), "a changed byte fails the sha256 check");
    }
}
