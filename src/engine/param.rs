//! How p is parameterised (issue #21; Lucent's `param`). Algorithm 1 as written moves p pixel by
//! pixel ([`Parameterisation::Pixels`]). Feature visualisation moves a spectrum instead, so that a
//! step is a natural-looking, mostly low-frequency image rather than per-pixel noise:
//! p = C · F⁻¹(S ⊙ θ), with F an orthonormal Fourier basis, S a per-frequency scale (a 1/f power
//! law as in Lucid/Lucent's `fft_image`, or the mean spectrum of natural photos as in MaCo), and C
//! Lucid's decorrelated-colour matrix.
//!
//! The map θ ↦ p is linear and invertible, so the run keeps p itself and applies the
//! parameterisation as a preconditioner around the moments (Algorithm 1, lines 8–10): the
//! gradient g with respect to p becomes Pᵀg, the gradient with respect to θ; the moments and ρ
//! are computed there; and the step goes back to pixels as Pρ. That is exactly optimising θ
//! with p = Pθ (the ± check, the projection and Algorithm 2 act on p, which is Pθ at all times).
//!
//! The Fourier basis is the separable Hartley transform, cas(2πkx/N)/√N with cas = cos + sin:
//! real, orthonormal and its own inverse, so F⁻¹ = F = Fᵀ and two matrix products per image do
//! it on every backend (no complex numbers, no FFT kernel). A basis function of index (k_y, k_x)
//! mixes the four Fourier frequencies (±k_y, ±k_x), which share |f|, so a scale that depends only
//! on |f_y| and |f_x| is the same filter as in the Fourier basis.

use burn::tensor::{Device, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// Lucid's `color_correlation_svd_sqrt` (ImageNet's colour covariance, square root): rows are
/// R, G, B, columns the decorrelated channels. Divided by its largest column norm when used.
pub const COLOUR_CORRELATION: [[f32; 3]; 3] = [[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]];

/// The per-frequency scale S of a Fourier parameterisation.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Spectrum {
    /// 1 / max(|f|, 1/max(h, w))^decay (Lucent `param/spatial.py`, decay 1), |f| in cycles per
    /// pixel.
    PowerLaw { decay: f32 },
    /// The mean amplitude spectrum of the bundled photos (MaCo's magnitude prior, Fel et al.
    /// 2023), [`NATURAL_SPECTRUM`]: as a fixed per-frequency scale, with θ free (MaCo instead
    /// fixes the magnitude of p itself and moves only the phase).
    Natural,
}

/// How p is represented while Algorithm 1 moves it.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Parameterisation {
    /// p itself, pixel by pixel: the paper as written.
    Pixels,
    /// p = C · F⁻¹(S ⊙ θ) (see the module notes); `decorrelate: false` leaves C out.
    Fourier { spectrum: Spectrum, decorrelate: bool },
}

impl Parameterisation {
    pub fn is_pixels(&self) -> bool {
        matches!(self, Parameterisation::Pixels)
    }

    /// Lucent's default image parameterisation: a 1/f spectrum in decorrelated colour.
    pub fn lucent() -> Self {
        Parameterisation::Fourier { spectrum: Spectrum::PowerLaw { decay: 1.0 }, decorrelate: true }
    }

    /// The named parameterisations the page and the CLI offer: `pixels`, `fourier` (Lucent's)
    /// and `natural` (the bundled photos' spectrum, in decorrelated colour).
    pub fn named(name: &str) -> Option<Parameterisation> {
        match name {
            "pixels" => Some(Parameterisation::Pixels),
            "fourier" => Some(Parameterisation::lucent()),
            "natural" => Some(Parameterisation::Fourier { spectrum: Spectrum::Natural, decorrelate: true }),
            _ => None,
        }
    }

    /// The name [`Parameterisation::named`] reads for this one, or `custom`.
    pub fn name(&self) -> &'static str {
        ["pixels", "fourier", "natural"].into_iter().find(|n| Parameterisation::named(n).as_ref() == Some(self)).unwrap_or("custom")
    }

    pub fn check(&self) -> Result<(), String> {
        match self {
            Parameterisation::Fourier { spectrum: Spectrum::PowerLaw { decay }, .. } if !(decay.is_finite() && (0.0..=4.0).contains(decay)) => {
                Err(format!("a spectrum decay of {decay} (within [0, 4])"))
            }
            _ => Ok(()),
        }
    }
}

/// The orthonormal Hartley matrix of size n (symmetric: it is its own transpose and inverse).
pub fn hartley(n: usize) -> Vec<f32> {
    let scale = 1.0 / (n as f64).sqrt();
    let mut m = Vec::with_capacity(n * n);
    for k in 0..n {
        for x in 0..n {
            let angle = 2.0 * std::f64::consts::PI * ((k * x) % n) as f64 / n as f64;
            m.push(((angle.cos() + angle.sin()) * scale) as f32);
        }
    }
    m
}

/// |frequency| of basis index k of n, in cycles per pixel (0 … ½).
fn frequency(k: usize, n: usize) -> f64 {
    k.min(n - k) as f64 / n as f64
}

/// The side of the photos [`NATURAL_SPECTRUM`] was measured on: the table holds frequencies
/// 0 … ½ cycles per pixel in steps of 1 / this.
pub const SPECTRUM_SIDE: usize = 256;
/// log₁₀ of the mean amplitude of the bundled photos' luminance at (|k_y|, |k_x|) =
/// 0 … 128 each, row-major, relative to |f| = 1/256 — written by `a2x natural-spectrum`
/// ([`measure_spectrum`] on the wide set of `static/samples`).
pub const NATURAL_SPECTRUM: &str = include_str!("natural_spectrum.txt");

/// The table of [`NATURAL_SPECTRUM`], as amplitudes.
fn natural_table() -> &'static [f64] {
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| {
        let values: Vec<f64> = NATURAL_SPECTRUM
            .lines()
            .filter(|line| !line.starts_with('#'))
            .flat_map(str::split_whitespace)
            .map(|v| 10f64.powf(v.parse::<f64>().expect("natural_spectrum.txt holds numbers")))
            .collect();
        let side = SPECTRUM_SIDE / 2 + 1;
        assert_eq!(values.len(), side * side, "natural_spectrum.txt holds a {side}×{side} table");
        values
    })
}

/// The natural amplitude at (f_y, f_x) cycles per pixel (each 0 … ½), bilinear in the table.
fn natural_amplitude(fy: f64, fx: f64) -> f64 {
    let table = natural_table();
    let side = SPECTRUM_SIDE / 2 + 1;
    let (y, x) = (fy * SPECTRUM_SIDE as f64, fx * SPECTRUM_SIDE as f64);
    let (y0, x0) = ((y.floor() as usize).min(side - 2), (x.floor() as usize).min(side - 2));
    let (ty, tx) = (y - y0 as f64, x - x0 as f64);
    let at = |r: usize, c: usize| table[r * side + c];
    (1.0 - ty) * ((1.0 - tx) * at(y0, x0) + tx * at(y0, x0 + 1)) + ty * ((1.0 - tx) * at(y0 + 1, x0) + tx * at(y0 + 1, x0 + 1))
}

/// The table [`NATURAL_SPECTRUM`] holds, measured from `photos` (`SPECTRUM_SIDE`² luminance
/// images, row-major, any range): the mean DFT amplitude of each photo minus its mean, under a 2-D
/// Hann window, over the photos and the four sign pairs (±k_y, ±k_x), relative to |f| = 1/side
/// (the mean of (0, 1) and (1, 0)); the DC, which a photo minus its mean lacks, set to that same
/// value. The window is the usual one for measuring natural images' spectra: without it the jump
/// between a photo's opposite edges (the DFT treats the photo as periodic) adds power along the
/// two frequency axes, and p moved with that spectrum shows horizontal and vertical streaks.
pub fn measure_spectrum(photos: &[Vec<f32>]) -> Vec<f64> {
    let n = SPECTRUM_SIDE;
    let hann: Vec<f64> = (0..n).map(|i| 0.5 - 0.5 * (2.0 * std::f64::consts::PI * i as f64 / n as f64).cos()).collect();
    let (cos, sin): (Vec<f64>, Vec<f64>) = (0..n * n)
        .map(|i| {
            let angle = 2.0 * std::f64::consts::PI * ((i / n * (i % n)) % n) as f64 / n as f64;
            (angle.cos(), angle.sin())
        })
        .unzip();
    let mut total = vec![0f64; n * n];
    for photo in photos {
        assert_eq!(photo.len(), n * n, "a {n}×{n} photo");
        let mean = photo.iter().map(|&v| v as f64).sum::<f64>() / (n * n) as f64;
        // Rows first: R[y][kx] = Σ_x f(y, x) e^{−2πi kx x / n}.
        let mut rows = vec![(0f64, 0f64); n * n];
        for y in 0..n {
            for k in 0..n {
                let (mut re, mut im) = (0.0, 0.0);
                for x in 0..n {
                    let v = (photo[y * n + x] as f64 - mean) * hann[y] * hann[x];
                    re += v * cos[k * n + x];
                    im -= v * sin[k * n + x];
                }
                rows[y * n + k] = (re, im);
            }
        }
        // Then columns: X[ky][kx] = Σ_y R[y][kx] e^{−2πi ky y / n}.
        for kx in 0..n {
            for ky in 0..n {
                let (mut re, mut im) = (0.0, 0.0);
                for y in 0..n {
                    let (a, b) = rows[y * n + kx];
                    let (c, s) = (cos[ky * n + y], sin[ky * n + y]);
                    re += a * c + b * s;
                    im += b * c - a * s;
                }
                total[ky * n + kx] += re.hypot(im) / photos.len() as f64;
            }
        }
    }
    let side = n / 2 + 1;
    let mut table = vec![0f64; side * side];
    for ky in 0..side {
        for kx in 0..side {
            let pairs = [(ky, kx), ((n - ky) % n, kx), (ky, (n - kx) % n), ((n - ky) % n, (n - kx) % n)];
            table[ky * side + kx] = pairs.iter().map(|&(a, b)| total[a * n + b]).sum::<f64>() / 4.0;
        }
    }
    let reference = (table[1] + table[side]) / 2.0;
    table[0] = reference;
    table.iter().map(|v| v / reference).collect()
}

/// S for an h × w image, normalised to mean square 1 over the coefficients.
pub fn spectrum_scale(spectrum: Spectrum, h: usize, w: usize) -> Vec<f32> {
    let floor = 1.0 / h.max(w) as f64;
    let raw: Vec<f64> = (0..h * w)
        .map(|i| {
            let (fy, fx) = (frequency(i / w, h), frequency(i % w, w));
            match spectrum {
                Spectrum::PowerLaw { decay } => 1.0 / fy.hypot(fx).max(floor).powf(decay as f64),
                // Below the table's first step (a model wider than 256 px) the DC's value holds.
                Spectrum::Natural => natural_amplitude(fy, fx),
            }
        })
        .collect();
    let rms = (raw.iter().map(|v| v * v).sum::<f64>() / raw.len() as f64).sqrt();
    raw.iter().map(|v| (v / rms) as f32).collect()
}

/// [`COLOUR_CORRELATION`] divided by its largest column norm.
pub fn colour_matrix() -> [[f32; 3]; 3] {
    let c = COLOUR_CORRELATION;
    let largest = (0..3).map(|j| (0..3).map(|i| c[i][j] * c[i][j]).sum::<f32>().sqrt()).fold(0.0f32, f32::max);
    c.map(|row| row.map(|v| v / largest))
}

/// A parameterisation made concrete for images of `[c, h, w]` on a device.
pub enum Basis {
    Pixels,
    Fourier {
        /// Hartley matrices for rows and columns, `[h, h]` and `[w, w]`.
        rows: Tensor<2>,
        columns: Tensor<2>,
        /// S, `[1, 1, h, w]`.
        scale: Tensor<4>,
        /// C and Cᵀ, `[3, 3]`, when the colour is decorrelated.
        colour: Option<(Tensor<2>, Tensor<2>)>,
    },
}

impl Basis {
    pub fn new(param: Parameterisation, [c, h, w]: [usize; 3], device: &Device) -> Result<Basis, String> {
        let Parameterisation::Fourier { spectrum, decorrelate } = param else { return Ok(Basis::Pixels) };
        param.check()?;
        if decorrelate && c != 3 {
            return Err(format!("decorrelated colour needs 3 channels, the model takes {c}"));
        }
        let matrix = |v: Vec<f32>, n: usize| Tensor::<2>::from_data(TensorData::new(v, [n, n]), device);
        let colour = decorrelate.then(|| {
            let m = colour_matrix();
            let forward: Vec<f32> = m.iter().flatten().copied().collect();
            let transposed: Vec<f32> = (0..9).map(|i| m[i % 3][i / 3]).collect();
            (matrix(forward, 3), matrix(transposed, 3))
        });
        Ok(Basis::Fourier {
            rows: matrix(hartley(h), h),
            columns: matrix(hartley(w), w),
            scale: Tensor::<4>::from_data(TensorData::new(spectrum_scale(spectrum, h, w), [1, 1, h, w]), device),
            colour,
        })
    }

    /// F x for every channel of every image of `x` (`[n, c, h, w]`).
    fn hartley(rows: &Tensor<2>, columns: &Tensor<2>, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let flat = x.reshape([n * c, h, w]);
        let left = rows.clone().unsqueeze::<3>().expand([n * c, h, h]).matmul(flat);
        left.matmul(columns.clone().unsqueeze::<3>().expand([n * c, w, w])).reshape([n, c, h, w])
    }

    /// `matrix` applied to the channel vector of every pixel.
    fn mix(matrix: &Tensor<2>, x: Tensor<4>) -> Tensor<4> {
        let [n, c, h, w] = x.dims();
        let channels_last = x.permute([0, 2, 3, 1]).reshape([n * h * w, c]);
        channels_last.matmul(matrix.clone().transpose()).reshape([n, h, w, c]).permute([0, 3, 1, 2])
    }

    pub fn is_pixels(&self) -> bool {
        matches!(self, Basis::Pixels)
    }

    /// p = P θ: a step in θ as a change of the pixels.
    pub fn to_pixels(&self, theta: Tensor<4>) -> Tensor<4> {
        match self {
            Basis::Pixels => theta,
            Basis::Fourier { rows, columns, scale, colour } => {
                let dims = theta.dims();
                let spatial = Self::hartley(rows, columns, theta * scale.clone().expand(dims));
                match colour {
                    Some((forward, _)) => Self::mix(forward, spatial),
                    None => spatial,
                }
            }
        }
    }

    /// Pᵀ g: a gradient with respect to p as one with respect to θ.
    pub fn to_parameters(&self, gradient: Tensor<4>) -> Tensor<4> {
        match self {
            Basis::Pixels => gradient,
            Basis::Fourier { rows, columns, scale, colour } => {
                let dims = gradient.dims();
                let mixed = match colour {
                    Some((_, transposed)) => Self::mix(transposed, gradient),
                    None => gradient,
                };
                Self::hartley(rows, columns, mixed) * scale.clone().expand(dims)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::cpu_device;
    use crate::engine::sampling::Rng;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    #[test]
    fn hartley_is_orthonormal_and_its_own_inverse() {
        for n in [1, 2, 7, 16] {
            let h = hartley(n);
            for i in 0..n {
                for j in 0..n {
                    let dot: f64 = (0..n).map(|k| h[i * n + k] as f64 * h[k * n + j] as f64).sum();
                    let expected = if i == j { 1.0 } else { 0.0 };
                    assert!((dot - expected).abs() < 1e-5, "n {n}: (H·H)[{i}][{j}] = {dot}");
                    assert_eq!(h[i * n + j], h[j * n + i], "symmetric");
                }
            }
        }
        // n = 4 by hand: cas(πkx/2)/2.
        let h = hartley(4);
        assert_eq!(h[..4], [0.5, 0.5, 0.5, 0.5]);
        let row1: Vec<f32> = h[4..8].iter().map(|v| (v * 1e6).round() / 1e6).collect();
        assert_eq!(row1, [0.5, 0.5, -0.5, -0.5]);
    }

    #[test]
    fn the_power_law_follows_one_over_f() {
        let s = spectrum_scale(Spectrum::PowerLaw { decay: 1.0 }, 8, 8);
        // |f| = 1/8 at (0, 1) and (1, 0), 2/8 at (0, 2), √2/8 at (1, 1); DC is floored at 1/8.
        assert!((s[0] - s[1]).abs() < 1e-6 && (s[1] - s[8]).abs() < 1e-6);
        assert!((s[1] / s[2] - 2.0).abs() < 1e-5);
        assert!((s[1] / s[9] - 2f32.sqrt()).abs() < 1e-5);
        // k and n − k are the same frequency.
        assert!((s[3] - s[5]).abs() < 1e-6);
        let mean_square = s.iter().map(|v| v * v).sum::<f32>() / 64.0;
        assert!((mean_square - 1.0).abs() < 1e-5);
        let flat = spectrum_scale(Spectrum::PowerLaw { decay: 0.0 }, 8, 8);
        assert!(flat.iter().all(|v| (v - 1.0).abs() < 1e-6), "decay 0 is the identity");
    }

    #[test]
    fn the_spectrum_of_one_wave_is_one_peak() {
        // A vertical cosine of 5 cycles across the photo: all its amplitude at (0, ±5).
        let n = SPECTRUM_SIDE;
        let wave: Vec<f32> = (0..n * n).map(|i| (2.0 * std::f64::consts::PI * 5.0 * (i % n) as f64 / n as f64).cos() as f32).collect();
        let noise: Vec<f32> = (0..n * n).map(|i| ((i * 7919) % 13) as f32 / 13.0).collect();
        let table = measure_spectrum(&[wave.clone(), noise]);
        let side = n / 2 + 1;
        // The wave alone would have n²/2 at (0, 5) and nothing elsewhere; the noise adds a little.
        let peak = (0..side * side).max_by(|&a, &b| table[a].total_cmp(&table[b])).unwrap();
        assert_eq!(peak, 5, "the peak at (0, 5)");
        assert!((table[0] - 1.0).abs() < 1e-12, "the DC set to the reference");
    }

    #[test]
    fn the_natural_table_falls_off_like_photos() {
        // Photos' amplitude falls roughly as 1/|f|: from |f| = 1/256 to 32/256 by 5 to 100 times.
        let s = |f: f64| natural_amplitude(0.0, f);
        let drop = s(1.0 / 256.0) / s(32.0 / 256.0);
        assert!((5.0..200.0).contains(&drop), "{drop}");
        // The table is relative to the mean of the first horizontal and vertical frequencies.
        assert!(((s(1.0 / 256.0) + natural_amplitude(1.0 / 256.0, 0.0)) / 2.0 - 1.0).abs() < 1e-3);
        let scale = spectrum_scale(Spectrum::Natural, 224, 224);
        assert!((scale.iter().map(|v| v * v).sum::<f32>() / scale.len() as f32 - 1.0).abs() < 1e-4);
    }

    #[test]
    fn to_parameters_is_the_transpose_of_to_pixels() {
        // ⟨P θ, g⟩ = ⟨θ, Pᵀ g⟩, and with decay 0 and no colour P is orthonormal (‖Pθ‖ = ‖θ‖).
        let device = cpu_device();
        let mut rng = Rng::new(11);
        let mut random = |shape: [usize; 4]| {
            let v: Vec<f32> = (0..shape.iter().product()).map(|_| rng.unit() as f32 - 0.5).collect();
            Tensor::<4>::from_data(TensorData::new(v, shape), &device)
        };
        let (theta, g) = (random([1, 3, 6, 10]), random([1, 3, 6, 10]));
        for param in [Parameterisation::lucent(), Parameterisation::Fourier { spectrum: Spectrum::PowerLaw { decay: 0.0 }, decorrelate: false }] {
            let basis = Basis::new(param, [3, 6, 10], &device).unwrap();
            let p = values(basis.to_pixels(theta.clone()));
            let back = values(basis.to_parameters(g.clone()));
            let (t, gv) = (values(theta.clone()), values(g.clone()));
            let left: f64 = p.iter().zip(&gv).map(|(a, b)| *a as f64 * *b as f64).sum();
            let right: f64 = t.iter().zip(&back).map(|(a, b)| *a as f64 * *b as f64).sum();
            assert!((left - right).abs() < 1e-4, "{param:?}: {left} vs {right}");
            if param != Parameterisation::lucent() {
                let norm = |v: &[f32]| v.iter().map(|x| *x as f64 * *x as f64).sum::<f64>().sqrt();
                assert!((norm(&p) - norm(&t)).abs() < 1e-4, "orthonormal");
            }
        }
    }

    #[test]
    fn a_step_in_the_power_law_basis_is_smooth() {
        // White noise in θ becomes an image whose neighbouring pixels are correlated.
        let device = cpu_device();
        let mut rng = Rng::new(5);
        let (h, w) = (32, 32);
        let noise: Vec<f32> = (0..h * w).map(|_| crate::engine::sampling::gaussian(&mut rng)).collect();
        let theta = Tensor::<4>::from_data(TensorData::new(noise.clone(), [1, 1, h, w]), &device);
        let param = Parameterisation::Fourier { spectrum: Spectrum::PowerLaw { decay: 1.0 }, decorrelate: false };
        let p = values(Basis::new(param, [1, h, w], &device).unwrap().to_pixels(theta));
        let correlation = |v: &[f32]| {
            let mean = v.iter().sum::<f32>() / v.len() as f32;
            let (mut num, mut den) = (0f64, 0f64);
            for r in 0..h {
                for c in 0..w - 1 {
                    num += ((v[r * w + c] - mean) * (v[r * w + c + 1] - mean)) as f64;
                }
            }
            for x in v {
                den += ((x - mean) * (x - mean)) as f64;
            }
            num / den
        };
        assert!(correlation(&noise).abs() < 0.1, "white noise");
        assert!(correlation(&p) > 0.6, "1/f noise: neighbours correlated ({})", correlation(&p));
    }
}
