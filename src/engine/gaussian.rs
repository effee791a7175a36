//! Class-conditional Gaussians (the paper's section 5.2, after Santurkar et al. 2019): the
//! distribution D̄ of the image tasks on the robust model is N(μ_I, Σ_I) fitted to the training
//! images of one class at 4× downsampled resolution (8×8×3 = 192 dimensions for CIFAR-10).
//!
//! Choices, as in Santurkar et al.'s code (robustness library, generation notebook):
//! - downsampling averages each 4×4 block; upsampling repeats each value over its 4×4 block
//!   (nearest neighbour); samples are clipped to [0, 1] after upsampling;
//! - Σ is the biased (1/n) covariance; sampling takes the Cholesky factor of Σ + ridge·I
//!   (ridge 1e-4, enough to make the factorization succeed on any class's Σ, whose smallest
//!   eigenvalues are near 0), and x = μ + L z with z ~ N(0, I) from the run's seeded RNG (O8).

use crate::engine::sampling::{gaussian, Rng};

/// Downsampling factor.
pub const GRAIN: usize = 4;
/// Added to Σ's diagonal before the Cholesky factorization.
pub const RIDGE: f64 = 1e-4;

/// CHW image of `size`² → CHW of (size / GRAIN)², each value the mean of its block.
pub fn downsample(image: &[f32], size: usize) -> Vec<f32> {
    let small = size / GRAIN;
    let mut out = vec![0f32; 3 * small * small];
    for c in 0..3 {
        for y in 0..size {
            for x in 0..size {
                out[(c * small + y / GRAIN) * small + x / GRAIN] += image[(c * size + y) * size + x];
            }
        }
    }
    let area = (GRAIN * GRAIN) as f32;
    out.iter_mut().for_each(|v| *v /= area);
    out
}

/// CHW of `small`² → CHW of (small·GRAIN)², each value repeated over its block, clipped to [0, 1].
pub fn upsample(small_image: &[f32], small: usize) -> Vec<f32> {
    let size = small * GRAIN;
    let mut out = vec![0f32; 3 * size * size];
    for c in 0..3 {
        for y in 0..size {
            for x in 0..size {
                out[(c * size + y) * size + x] = small_image[(c * small + y / GRAIN) * small + x / GRAIN].clamp(0.0, 1.0);
            }
        }
    }
    out
}

/// Lower-triangular L with L Lᵀ = A (row-major `n`×`n`), or an error when A is not positive
/// definite.
pub fn cholesky(a: &[f64], n: usize) -> Result<Vec<f64>, String> {
    let mut l = vec![0f64; n * n];
    for i in 0..n {
        for j in 0..=i {
            let dot: f64 = (0..j).map(|k| l[i * n + k] * l[j * n + k]).sum();
            if i == j {
                let d = a[i * n + i] - dot;
                if !(d > 0.0) {
                    return Err(format!("the covariance is not positive definite (pivot {i} is {d:e})"));
                }
                l[i * n + i] = d.sqrt();
            } else {
                l[i * n + j] = (a[i * n + j] - dot) / l[j * n + j];
            }
        }
    }
    Ok(l)
}

/// One class's Gaussian, ready to sample.
#[derive(Clone, Debug, PartialEq)]
pub struct ClassGaussian {
    /// μ at the downsampled resolution, CHW.
    pub mean: Vec<f32>,
    /// Σ, row-major, dims × dims.
    pub covariance: Vec<f32>,
    /// Cholesky factor of Σ + ridge·I.
    factor: Vec<f64>,
    /// Side of the downsampled image.
    pub small: usize,
}

impl ClassGaussian {
    pub fn new(mean: Vec<f32>, covariance: Vec<f32>, small: usize) -> Result<Self, String> {
        let dims = 3 * small * small;
        if mean.len() != dims || covariance.len() != dims * dims {
            return Err(format!("a {small}×{small}×3 Gaussian needs {dims} means and {dims}² covariances"));
        }
        let mut ridged: Vec<f64> = covariance.iter().map(|&v| v as f64).collect();
        for i in 0..dims {
            ridged[i * dims + i] += RIDGE;
        }
        let factor = cholesky(&ridged, dims)?;
        Ok(ClassGaussian { mean, covariance, factor, small })
    }

    /// Fits μ and Σ (1/n) to CHW images of `small·GRAIN`² in [0, 1] (`images` holds `count`).
    pub fn fit(images: &[f32], count: usize, small: usize) -> Result<Self, String> {
        let size = small * GRAIN;
        let dims = 3 * small * small;
        if count == 0 {
            return Err("no images to fit a Gaussian to".into());
        }
        let downsampled: Vec<Vec<f32>> =
            (0..count).map(|i| downsample(&images[i * 3 * size * size..(i + 1) * 3 * size * size], size)).collect();
        let mut mean = vec![0f64; dims];
        for d in &downsampled {
            mean.iter_mut().zip(d).for_each(|(m, v)| *m += *v as f64);
        }
        mean.iter_mut().for_each(|m| *m /= count as f64);
        let mut covariance = vec![0f64; dims * dims];
        for d in &downsampled {
            let centred: Vec<f64> = d.iter().zip(&mean).map(|(v, m)| *v as f64 - m).collect();
            for i in 0..dims {
                for j in 0..=i {
                    covariance[i * dims + j] += centred[i] * centred[j];
                }
            }
        }
        for i in 0..dims {
            for j in 0..=i {
                let v = covariance[i * dims + j] / count as f64;
                covariance[i * dims + j] = v;
                covariance[j * dims + i] = v;
            }
        }
        ClassGaussian::new(mean.iter().map(|&m| m as f32).collect(), covariance.iter().map(|&v| v as f32).collect(), small)
    }

    /// One sample at the downsampled resolution: μ + L z.
    pub fn sample_small(&self, rng: &mut Rng) -> Vec<f32> {
        let dims = self.mean.len();
        let z: Vec<f64> = (0..dims).map(|_| gaussian(rng) as f64).collect();
        (0..dims)
            .map(|i| self.mean[i] + (0..=i).map(|k| self.factor[i * dims + k] * z[k]).sum::<f64>() as f32)
            .collect()
    }

    /// `count` samples upsampled to full size and clipped: `[count, 3, size, size]` row-major.
    pub fn sample(&self, count: usize, rng: &mut Rng) -> Vec<f32> {
        (0..count).flat_map(|_| upsample(&self.sample_small(rng), self.small)).collect()
    }
}

/// A class's Gaussian conditioned on some of its values (inpainting's D̄ with
/// `InpaintSamples::Context`): the unobserved values U given the observed ones O = y follow
/// N(μ_U + Σ_UO Σ_OO⁻¹ (y − μ_O), Σ_UU − Σ_UO Σ_OO⁻¹ Σ_OU), with Σ + ridge·I throughout.
#[derive(Clone, Debug)]
pub struct ConditionalGaussian {
    /// The whole image at the downsampled resolution: y where observed, the conditional mean elsewhere.
    mean: Vec<f32>,
    /// Indices of the unobserved values.
    unobserved: Vec<usize>,
    /// Cholesky factor of the conditional covariance (|U| × |U|).
    factor: Vec<f64>,
}

/// Solves L Lᵀ x = b in place for a Cholesky factor `l` (`n`×`n`).
fn cholesky_solve(l: &[f64], n: usize, b: &mut [f64]) {
    for i in 0..n {
        let dot: f64 = (0..i).map(|k| l[i * n + k] * b[k]).sum();
        b[i] = (b[i] - dot) / l[i * n + i];
    }
    for i in (0..n).rev() {
        let dot: f64 = (i + 1..n).map(|k| l[k * n + i] * b[k]).sum();
        b[i] = (b[i] - dot) / l[i * n + i];
    }
}

impl ClassGaussian {
    /// This Gaussian given `known[i]` wherever `observed[i]` (both CHW at the downsampled size).
    pub fn conditioned(&self, known: &[f32], observed: &[bool]) -> Result<ConditionalGaussian, String> {
        let dims = self.mean.len();
        if known.len() != dims || observed.len() != dims {
            return Err(format!("conditioning needs {dims} known values and {dims} flags"));
        }
        let sigma = |i: usize, j: usize| self.covariance[i * dims + j] as f64 + if i == j { RIDGE } else { 0.0 };
        let seen: Vec<usize> = (0..dims).filter(|&i| observed[i]).collect();
        let unobserved: Vec<usize> = (0..dims).filter(|&i| !observed[i]).collect();
        let (o, u) = (seen.len(), unobserved.len());
        let mut mean: Vec<f32> = (0..dims).map(|i| if observed[i] { known[i] } else { self.mean[i] }).collect();
        let mut covariance: Vec<f64> = (0..u * u).map(|k| sigma(unobserved[k / u], unobserved[k % u])).collect();
        if o > 0 {
            let sigma_oo: Vec<f64> = (0..o * o).map(|k| sigma(seen[k / o], seen[k % o])).collect();
            let l_oo = cholesky(&sigma_oo, o)?;
            let mut residual: Vec<f64> = seen.iter().map(|&i| known[i] as f64 - self.mean[i] as f64).collect();
            cholesky_solve(&l_oo, o, &mut residual);
            // Columns of Σ_OO⁻¹ Σ_OU, one per unobserved value.
            let gains: Vec<Vec<f64>> = unobserved
                .iter()
                .map(|&j| {
                    let mut column: Vec<f64> = seen.iter().map(|&i| sigma(i, j)).collect();
                    cholesky_solve(&l_oo, o, &mut column);
                    column
                })
                .collect();
            for (a, &i) in unobserved.iter().enumerate() {
                let shift: f64 = seen.iter().zip(&residual).map(|(&s, r)| sigma(i, s) * r).sum();
                mean[i] = (self.mean[i] as f64 + shift) as f32;
                for b in 0..u {
                    let reduction: f64 = seen.iter().zip(&gains[b]).map(|(&s, g)| sigma(i, s) * g).sum();
                    covariance[a * u + b] -= reduction;
                }
            }
            // Symmetrize what rounding left, and keep the ridge so the factor exists.
            for a in 0..u {
                for b in 0..a {
                    let v = 0.5 * (covariance[a * u + b] + covariance[b * u + a]);
                    covariance[a * u + b] = v;
                    covariance[b * u + a] = v;
                }
                covariance[a * u + a] = covariance[a * u + a].max(RIDGE);
            }
        }
        let factor = cholesky(&covariance, u)?;
        Ok(ConditionalGaussian { mean, unobserved, factor })
    }
}

impl ConditionalGaussian {
    /// The conditional mean at the downsampled resolution (the observed values as given).
    pub fn mean_small(&self) -> &[f32] {
        &self.mean
    }

    /// One draw at the downsampled resolution (the observed values as given).
    pub fn sample_small(&self, rng: &mut Rng) -> Vec<f32> {
        let u = self.unobserved.len();
        let z: Vec<f64> = (0..u).map(|_| gaussian(rng) as f64).collect();
        let mut out = self.mean.clone();
        for (a, &i) in self.unobserved.iter().enumerate() {
            out[i] += (0..=a).map(|k| self.factor[a * u + k] * z[k]).sum::<f64>() as f32;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_by_hand() {
        // A = [[4, 2], [2, 3]] → L = [[2, 0], [1, √2]].
        let l = cholesky(&[4.0, 2.0, 2.0, 3.0], 2).unwrap();
        assert_eq!(l[0], 2.0);
        assert_eq!(l[1], 0.0);
        assert_eq!(l[2], 1.0);
        assert!((l[3] - 2f64.sqrt()).abs() < 1e-12);
        assert!(cholesky(&[1.0, 2.0, 2.0, 1.0], 2).is_err(), "indefinite");
    }

    #[test]
    fn down_and_up_sampling_by_hand() {
        // A 4×4 image per channel, channel c holds c·100 + index.
        let image: Vec<f32> = (0..3).flat_map(|c| (0..16).map(move |i| (c * 100 + i) as f32)).collect();
        let small = downsample(&image, 4);
        // One 4×4 block per channel: mean of 0..16 = 7.5 (+100 c).
        assert_eq!(small, vec![7.5, 107.5, 207.5]);
        let up = upsample(&[0.25, -1.0, 2.0], 1);
        assert_eq!(up.len(), 3 * 16);
        assert!(up[..16].iter().all(|&v| v == 0.25) && up[16..32].iter().all(|&v| v == 0.0) && up[32..].iter().all(|&v| v == 1.0));
    }

    /// `count` flat 4×4 training images (one block per channel, so 3 dimensions): a = 0.5 +
    /// 0.1 n, b = 0.3 + 0.8 (a − 0.5) + 0.05 n follows a, c = 0.6 + 0.07 n is independent.
    fn correlated_images(rng: &mut Rng, count: usize) -> Vec<f32> {
        let mut images = Vec::new();
        for _ in 0..count {
            let a = 0.5 + 0.1 * gaussian(rng);
            let b = 0.3 + 0.8 * (a - 0.5) + 0.05 * gaussian(rng);
            let c = 0.6 + 0.07 * gaussian(rng);
            for v in [a, b, c] {
                images.extend(std::iter::repeat_n(v, 16));
            }
        }
        images
    }

    /// Samples drawn through the Cholesky factor have the fitted mean and covariance (within the
    /// sampling error of 20 000 draws) — an independent check of fit, factor and sampler together.
    #[test]
    fn samples_reproduce_the_fitted_moments() {
        let mut rng = Rng::new(9);
        let small = 1; // 3 dimensions: one 4×4 block per channel
        let count = 4000;
        let images = correlated_images(&mut rng, count);
        let fitted = ClassGaussian::fit(&images, count, small).unwrap();
        let draws = 20_000;
        let samples: Vec<Vec<f32>> = (0..draws).map(|_| fitted.sample_small(&mut rng)).collect();
        for i in 0..3 {
            let mean = samples.iter().map(|s| s[i] as f64).sum::<f64>() / draws as f64;
            assert!((mean - fitted.mean[i] as f64).abs() < 0.004, "mean {i}: {mean} vs {}", fitted.mean[i]);
            for j in 0..3 {
                let mj = samples.iter().map(|s| s[j] as f64).sum::<f64>() / draws as f64;
                let cov = samples.iter().map(|s| (s[i] as f64 - mean) * (s[j] as f64 - mj)).sum::<f64>() / draws as f64;
                let expected = fitted.covariance[i * 3 + j] as f64 + if i == j { RIDGE } else { 0.0 };
                assert!((cov - expected).abs() < 0.0006, "cov {i}{j}: {cov} vs {expected}");
            }
        }
        // The fit itself: var(a) ≈ 0.01, cov(a, b) ≈ 0.008.
        assert!((fitted.covariance[0] - 0.01).abs() < 0.001);
        assert!((fitted.covariance[1] - 0.008).abs() < 0.001);
    }

    /// Conditioning against the generating process of the training images: given a = 0.7,
    /// b = 0.3 + 0.8 (a − 0.5) + 0.05 n is N(0.46, 0.05²) and c keeps N(0.6, 0.07²).
    #[test]
    fn conditioning_matches_the_generating_process() {
        let mut rng = Rng::new(3);
        let count = 20_000;
        let images = correlated_images(&mut rng, count);
        let fitted = ClassGaussian::fit(&images, count, 1).unwrap();
        let conditional = fitted.conditioned(&[0.7, 0.0, 0.0], &[true, false, false]).unwrap();
        let draws = 20_000;
        let samples: Vec<Vec<f32>> = (0..draws).map(|_| conditional.sample_small(&mut rng)).collect();
        assert!(samples.iter().all(|s| s[0] == 0.7), "observed values are kept");
        for (i, mean, variance) in [(1, 0.46, 0.0025 + RIDGE), (2, 0.6, 0.0049 + RIDGE)] {
            let m = samples.iter().map(|s| s[i] as f64).sum::<f64>() / draws as f64;
            let v = samples.iter().map(|s| (s[i] as f64 - m).powi(2)).sum::<f64>() / draws as f64;
            assert!((m - mean).abs() < 0.004, "mean of {i}: {m} vs {mean}");
            assert!((v / variance - 1.0).abs() < 0.08, "variance of {i}: {v} vs {variance}");
        }
        // b and c stay uncorrelated given a.
        let (m1, m2) = (0.46, 0.6);
        let cov = samples.iter().map(|s| (s[1] as f64 - m1) * (s[2] as f64 - m2)).sum::<f64>() / draws as f64;
        assert!(cov.abs() < 0.0003, "cov(b, c | a) = {cov}");
        // Nothing observed: the class Gaussian itself.
        let free = fitted.conditioned(&[0.0; 3], &[false; 3]).unwrap();
        assert_eq!(free.mean, fitted.mean);
        assert!(fitted.conditioned(&[0.0; 2], &[false; 2]).is_err());
    }
}
