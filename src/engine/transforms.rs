//! Transformation robustness (issue #21): p is placed on every image of an iteration with a small
//! random geometric change — shift, scale, rotation — as Lucid/Lucent's `transforms` do to the
//! image they optimise, and the gradient is carried back through that change exactly. The paper
//! broadens the domain of p over images; this broadens it over placements as well, so what
//! survives is a pattern that works wherever it lands, not one tied to pixel positions.
//!
//! The listed [`Transform`]s are drawn per image and composed, in order, into one affine map of
//! the plane, so p is resampled once (bilinear, zero outside p: no perturbation there), not once
//! per transform. [`Placements::place`] is that resampling for a batch; [`Placements::carry_back`]
//! is its exact adjoint (the transpose of the resampling matrix), which turns each image's input
//! gradient into a gradient with respect to p. Both are gathers on the device, deterministic on
//! every backend (no scatter-add, whose order a GPU does not fix).

use super::sampling::Rng;
use burn::tensor::{Device, Int, Tensor, TensorData};
use serde::{Deserialize, Serialize};

/// One random geometric change of p, drawn anew for every image.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Transform {
    /// A shift by a whole number of pixels, uniform in −pixels…pixels, drawn for x and y apart
    /// (Lucent's `jitter`, centred).
    Jitter { pixels: u32 },
    /// A scaling about the centre by a factor uniform in [min, max] (Lucent's `random_scale`).
    Scale { min: f32, max: f32 },
    /// A rotation about the centre by an angle uniform in [−degrees, degrees] (`random_rotate`).
    Rotate { degrees: f32 },
}

impl Transform {
    /// Lucent's `standard_transforms` at the scale of a perturbation: jitter 8, scale 0.90–1.10,
    /// rotate ±10°, jitter 4 (Lucent's first step, a pad of 12 with grey, is what zero outside p
    /// already is for a perturbation).
    pub fn lucent_standard() -> Vec<Transform> {
        vec![
            Transform::Jitter { pixels: 8 },
            Transform::Scale { min: 0.9, max: 1.1 },
            Transform::Rotate { degrees: 10.0 },
            Transform::Jitter { pixels: 4 },
        ]
    }

    /// The named lists the page and the CLI offer: `none` and `lucent` ([`Transform::lucent_standard`]).
    pub fn named(name: &str) -> Option<Vec<Transform>> {
        match name {
            "none" => Some(Vec::new()),
            "lucent" => Some(Transform::lucent_standard()),
            _ => None,
        }
    }

    /// The name [`Transform::named`] reads for `transforms`, or `custom`.
    pub fn name_of(transforms: &[Transform]) -> &'static str {
        if transforms.is_empty() {
            "none"
        } else if transforms == Transform::lucent_standard().as_slice() {
            "lucent"
        } else {
            "custom"
        }
    }

    /// The value is usable: finite, positive scales, and at most a quarter turn.
    pub fn check(&self) -> Result<(), String> {
        match *self {
            Transform::Jitter { pixels } if pixels > 64 => Err(format!("a jitter of {pixels} px (at most 64)")),
            Transform::Scale { min, max } if !(min.is_finite() && max.is_finite() && 0.5 <= min && min <= max && max <= 2.0) => {
                Err(format!("a scale range [{min}, {max}] (within [0.5, 2])"))
            }
            Transform::Rotate { degrees } if !(degrees.is_finite() && (0.0..=45.0).contains(&degrees)) => {
                Err(format!("a rotation of ±{degrees}° (at most 45°)"))
            }
            _ => Ok(()),
        }
    }
}

/// Where p lands on one image: the point x of p moves to `linear · (x − centre) + centre + shift`
/// (row, column coordinates, in pixels).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Placement {
    pub linear: [f64; 4],
    pub shift: [f64; 2],
}

impl Placement {
    pub const IDENTITY: Placement = Placement { linear: [1.0, 0.0, 0.0, 1.0], shift: [0.0, 0.0] };

    /// The transforms drawn from `rng` and composed in order (the first applied first).
    pub fn draw(transforms: &[Transform], rng: &mut Rng) -> Placement {
        let mut placed = Placement::IDENTITY;
        for transform in transforms {
            let step = match *transform {
                Transform::Jitter { pixels } => {
                    let mut shift = || rng.below(2 * pixels as usize + 1) as f64 - pixels as f64;
                    let (dy, dx) = (shift(), shift());
                    Placement { shift: [dy, dx], ..Placement::IDENTITY }
                }
                Transform::Scale { min, max } => {
                    let s = min as f64 + (max as f64 - min as f64) * rng.unit();
                    Placement { linear: [s, 0.0, 0.0, s], shift: [0.0, 0.0] }
                }
                Transform::Rotate { degrees } => {
                    let angle = (2.0 * rng.unit() - 1.0) * (degrees as f64).to_radians();
                    let (sin, cos) = angle.sin_cos();
                    // (row, column): a counter-clockwise turn on screen.
                    Placement { linear: [cos, sin, -sin, cos], shift: [0.0, 0.0] }
                }
            };
            placed = step.after(placed);
        }
        placed
    }

    /// `self ∘ first`: first, then self.
    fn after(self, first: Placement) -> Placement {
        let [a, b, c, d] = self.linear;
        let [e, f, g, h] = first.linear;
        let [s0, s1] = first.shift;
        Placement {
            linear: [a * e + b * g, a * f + b * h, c * e + d * g, c * f + d * h],
            shift: [a * s0 + b * s1 + self.shift[0], c * s0 + d * s1 + self.shift[1]],
        }
    }

    /// For the pixel k of the placed image, the point of p it shows: `source = m·k + offset`.
    /// Returns (m, offset) for an image of `h × w` (centre at ((h−1)/2, (w−1)/2)).
    fn sampling(&self, h: usize, w: usize) -> ([f64; 4], [f64; 2]) {
        let [a, b, c, d] = self.linear;
        let det = a * d - b * c;
        let m = [d / det, -b / det, -c / det, a / det];
        let centre = [(h as f64 - 1.0) / 2.0, (w as f64 - 1.0) / 2.0];
        // source = m (k − centre − shift) + centre.
        let moved = [centre[0] + self.shift[0], centre[1] + self.shift[1]];
        let offset = [centre[0] - (m[0] * moved[0] + m[1] * moved[1]), centre[1] - (m[2] * moved[0] + m[3] * moved[1])];
        (m, offset)
    }

    /// How far (max-norm) a unit step in p reaches in the placed image: the adjoint looks for the
    /// pixels that sample a point of p within this distance.
    fn reach(&self) -> f64 {
        let [a, b, c, d] = self.linear;
        (a.abs() + b.abs()).max(c.abs() + d.abs())
    }
}

/// The largest reach [`Placements::carry_back`]'s 4×4 search window covers.
const MAX_REACH: f64 = 2.0;

/// One iteration's placements of p on a batch of `n` images of `c × h × w`, with the bilinear
/// taps of the resampling computed once on the device.
pub struct Placements {
    placements: Vec<Placement>,
    shape: [usize; 3],
    /// The four taps of each output pixel: an index into p's pixels (`[n·h·w]`) and its weight
    /// (`[n·h·w, 1]`, 0 for a tap outside p).
    taps: Vec<(Tensor<1, Int>, Tensor<2>)>,
}

/// Row-major (row, column) coordinates of an `h × w` grid, each `[1, h·w]`.
fn grid(h: usize, w: usize, device: &Device) -> (Tensor<2>, Tensor<2>) {
    let rows: Vec<f32> = (0..h * w).map(|i| (i / w) as f32).collect();
    let columns: Vec<f32> = (0..h * w).map(|i| (i % w) as f32).collect();
    let t = |v: Vec<f32>| Tensor::<2>::from_data(TensorData::new(v, [1, h * w]), device);
    (t(rows), t(columns))
}

/// Per-image parameters as a `[n, 1]` column for each of `k` values.
fn columns(values: &[Vec<f64>], device: &Device) -> Vec<Tensor<2>> {
    let n = values.len();
    (0..values[0].len())
        .map(|j| Tensor::<2>::from_data(TensorData::new(values.iter().map(|v| v[j] as f32).collect::<Vec<f32>>(), [n, 1]), device))
        .collect()
}

/// 1 where `lo ≤ x ≤ hi`, else 0.
fn inside(x: Tensor<2>, lo: f32, hi: f32) -> Tensor<2> {
    x.clone().greater_equal_elem(lo).float() * x.lower_equal_elem(hi).float()
}

impl Placements {
    /// Builds the resampling for `placements` (one per image) of `[1, c, h, w]` perturbations.
    pub fn new(placements: Vec<Placement>, [c, h, w]: [usize; 3], device: &Device) -> Self {
        debug_assert!(placements.iter().all(|p| p.reach() <= MAX_REACH), "a placement beyond carry_back's window");
        let n = placements.len();
        let (rows, cols) = grid(h, w, device);
        let params: Vec<Vec<f64>> = placements
            .iter()
            .map(|p| {
                let (m, o) = p.sampling(h, w);
                vec![m[0], m[1], m[2], m[3], o[0], o[1]]
            })
            .collect();
        let [m0, m1, m2, m3, o0, o1] = <[Tensor<2>; 6]>::try_from(columns(&params, device)).ok().expect("six parameters");
        let hw = h * w;
        let expand = |t: Tensor<2>| t.expand([n, hw]);
        let source_row = expand(m0) * rows.clone().expand([n, hw]) + expand(m1) * cols.clone().expand([n, hw]) + expand(o0);
        let source_col = expand(m2) * rows.expand([n, hw]) + expand(m3) * cols.expand([n, hw]) + expand(o1);
        let (row0, col0) = (source_row.clone().floor(), source_col.clone().floor());
        let (fr, fc) = (source_row - row0.clone(), source_col - col0.clone());
        let mut taps = Vec::with_capacity(4);
        for (dr, dc) in [(0.0, 0.0), (0.0, 1.0), (1.0, 0.0), (1.0, 1.0)] {
            let (r, col) = (row0.clone() + dr, col0.clone() + dc);
            let wr = if dr == 0.0 { fr.clone().neg() + 1.0 } else { fr.clone() };
            let wc = if dc == 0.0 { fc.clone().neg() + 1.0 } else { fc.clone() };
            let valid = inside(r.clone(), 0.0, h as f32 - 1.0) * inside(col.clone(), 0.0, w as f32 - 1.0);
            let weight = (wr * wc * valid).reshape([n * hw, 1]);
            let index = r.clamp(0.0, h as f32 - 1.0) * w as f32 + col.clamp(0.0, w as f32 - 1.0);
            taps.push((index.reshape([n * hw]).int(), weight));
        }
        Placements { placements, shape: [c, h, w], taps }
    }

    /// `n` placements drawn from `rng` (the identity for every image when `transforms` is empty,
    /// drawing nothing).
    pub fn draw(transforms: &[Transform], n: usize, rng: &mut Rng, shape: [usize; 3], device: &Device) -> Self {
        let placements = (0..n).map(|_| Placement::draw(transforms, rng)).collect();
        Placements::new(placements, shape, device)
    }

    pub fn len(&self) -> usize {
        self.placements.len()
    }

    pub fn is_empty(&self) -> bool {
        self.placements.is_empty()
    }

    /// The placements of images `range` (for evaluating a batch in chunks).
    pub fn part(&self, range: std::ops::Range<usize>, device: &Device) -> Placements {
        Placements::new(self.placements[range].to_vec(), self.shape, device)
    }

    /// p (`[1, c, h, w]`) placed on each image: `[n, c, h, w]`.
    pub fn place(&self, perturbation: Tensor<4>) -> Tensor<4> {
        let [c, h, w] = self.shape;
        let n = self.len();
        // p as pixels × channels, so one index picks a pixel's c values.
        let pixels = perturbation.reshape([c, h * w]).transpose();
        let placed = self
            .taps
            .iter()
            .map(|(index, weight)| pixels.clone().select(0, index.clone()) * weight.clone().expand([n * h * w, c]))
            .reduce(|a, b| a + b)
            .expect("four taps");
        placed.reshape([n, h, w, c]).permute([0, 3, 1, 2])
    }

    /// The adjoint of [`Placements::place`] image by image: `gradients` (`[n, c, h, w]`, one per
    /// placed image) carried back to p, `[n, c, h, w]` — ⟨place(p)ᵢ, gᵢ⟩ = ⟨p, carry_back(g)ᵢ⟩.
    ///
    /// For each pixel q of p, the placed pixels whose bilinear taps reach q lie within
    /// [`Placement::reach`] of the point u that q lands on; a 4×4 window of them around u is
    /// searched, and each contributes its gradient times its tap's weight on q,
    /// max(0, 1 − |Δrow|)·max(0, 1 − |Δcolumn|) — the same weights `place` used.
    pub fn carry_back(&self, gradients: Tensor<4>) -> Tensor<4> {
        let [c, h, w] = self.shape;
        let n = self.len();
        let hw = h * w;
        let device = gradients.device();
        let pixels = gradients.permute([0, 2, 3, 1]).reshape([n * hw, c]);
        let (rows, cols) = grid(h, w, &device);
        let (rows, cols) = (rows.expand([n, hw]), cols.expand([n, hw]));
        let params: Vec<Vec<f64>> = self
            .placements
            .iter()
            .enumerate()
            .map(|(i, p)| {
                let (m, o) = p.sampling(h, w);
                // u = m⁻¹ (q − offset): where q lands in the placed image.
                let [a, b, cc, d] = p.linear;
                vec![m[0], m[1], m[2], m[3], o[0], o[1], a, b, cc, d, (i * hw) as f64]
            })
            .collect();
        let [m0, m1, m2, m3, o0, o1, a, b, cc, d, first] = <[Tensor<2>; 11]>::try_from(columns(&params, &device)).ok().expect("eleven parameters");
        let e = |t: Tensor<2>| t.expand([n, hw]);
        let (dr, dc) = (rows.clone() - e(o0.clone()), cols.clone() - e(o1.clone()));
        let landing_row = e(a) * dr.clone() + e(b) * dc.clone();
        let landing_col = e(cc) * dr + e(d) * dc;
        let (base_row, base_col) = (landing_row.floor(), landing_col.floor());
        let mut total: Option<Tensor<2>> = None;
        for i in -1..=2 {
            for j in -1..=2 {
                let (kr, kc) = (base_row.clone() + i as f32, base_col.clone() + j as f32);
                let valid = inside(kr.clone(), 0.0, h as f32 - 1.0) * inside(kc.clone(), 0.0, w as f32 - 1.0);
                let source_row = e(m0.clone()) * kr.clone() + e(m1.clone()) * kc.clone() + e(o0.clone());
                let source_col = e(m2.clone()) * kr.clone() + e(m3.clone()) * kc.clone() + e(o1.clone());
                let weight = (source_row - rows.clone()).abs().neg().add_scalar(1.0).clamp_min(0.0)
                    * (source_col - cols.clone()).abs().neg().add_scalar(1.0).clamp_min(0.0)
                    * valid;
                let index = kr.clamp(0.0, h as f32 - 1.0) * w as f32 + kc.clamp(0.0, w as f32 - 1.0) + e(first.clone());
                let part = pixels.clone().select(0, index.reshape([n * hw]).int()) * weight.reshape([n * hw, 1]).expand([n * hw, c]);
                total = Some(match total {
                    Some(t) => t + part,
                    None => part,
                });
            }
        }
        total.expect("sixteen candidates").reshape([n, h, w, c]).permute([0, 3, 1, 2])
    }
}

/// Checks a list of transforms: each usable, and together within what
/// [`Placements::carry_back`]'s window covers.
pub fn check(transforms: &[Transform]) -> Result<(), String> {
    for t in transforms {
        t.check()?;
    }
    // The largest reach: every scale at its maximum, every rotation at its worst angle (45° or
    // its limit), composed.
    let worst = transforms.iter().fold(1.0f64, |reach, t| match *t {
        Transform::Scale { max, .. } => reach * max as f64,
        Transform::Rotate { degrees } => {
            let a = (degrees as f64).min(45.0).to_radians();
            reach * (a.cos() + a.sin())
        }
        Transform::Jitter { .. } => reach,
    });
    if worst > MAX_REACH {
        return Err(format!("these transforms can stretch p by {worst:.2} (at most {MAX_REACH})"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::cpu_device;

    fn values(t: Tensor<4>) -> Vec<f32> {
        t.into_data().convert::<f32>().try_into_vec::<f32>().unwrap()
    }

    fn random(rng: &mut Rng, shape: [usize; 4], device: &Device) -> Tensor<4> {
        let v: Vec<f32> = (0..shape.iter().product()).map(|_| rng.unit() as f32 * 2.0 - 1.0).collect();
        Tensor::from_data(TensorData::new(v, shape), device)
    }

    #[test]
    fn a_whole_pixel_shift_moves_every_value_and_zero_fills() {
        let device = cpu_device();
        let (h, w) = (5, 6);
        let p: Vec<f32> = (0..2 * h * w).map(|v| v as f32 + 1.0).collect();
        let p = Tensor::<4>::from_data(TensorData::new(p.clone(), [1, 2, h, w]), &device);
        let shift = Placement { shift: [1.0, -2.0], ..Placement::IDENTITY };
        let placed = values(Placements::new(vec![Placement::IDENTITY, shift], [2, h, w], &device).place(p.clone()));
        let original = values(p);
        assert_eq!(&placed[..2 * h * w], &original[..], "the identity leaves p as it is");
        for ch in 0..2 {
            for r in 0..h {
                for c in 0..w {
                    // p's pixel (r − 1, c + 2) lands on (r, c).
                    let expected = if r >= 1 && c + 2 < w { original[(ch * h + r - 1) * w + c + 2] } else { 0.0 };
                    assert_eq!(placed[2 * h * w + (ch * h + r) * w + c], expected, "channel {ch} ({r}, {c})");
                }
            }
        }
    }

    #[test]
    fn a_quarter_turn_about_the_centre_is_exact() {
        // On a square image, rotating by 90° permutes the pixels (no interpolation).
        let device = cpu_device();
        let n = 5;
        let p: Vec<f32> = (0..n * n).map(|v| v as f32).collect();
        let turn = Placement { linear: [0.0, 1.0, -1.0, 0.0], shift: [0.0, 0.0] };
        let placed = values(Placements::new(vec![turn], [1, n, n], &device).place(Tensor::from_data(TensorData::new(p.clone(), [1, 1, n, n]), &device)));
        for r in 0..n {
            for c in 0..n {
                // The point (r, c) of p moves to (c', −r') about the centre: rows and columns swap.
                let (dr, dc) = (r as i32 - 2, c as i32 - 2);
                let (tr, tc) = ((dc + 2) as usize, (-dr + 2) as usize);
                assert!((placed[tr * n + tc] - p[r * n + c]).abs() < 1e-5, "({r}, {c}) → ({tr}, {tc})");
            }
        }
    }

    #[test]
    fn carry_back_is_the_adjoint_of_place() {
        // ⟨place(p)ᵢ, gᵢ⟩ = ⟨p, carry_back(g)ᵢ⟩ for random placements, p and g (the definition of
        // the transpose, checked numerically).
        let device = cpu_device();
        let mut rng = Rng::new(7);
        let (c, h, w, n) = (3, 17, 13, 6);
        let mut transforms = Transform::lucent_standard();
        transforms.push(Transform::Scale { min: 0.8, max: 1.25 });
        check(&transforms).unwrap();
        let placements = Placements::draw(&transforms, n, &mut rng, [c, h, w], &device);
        let p = random(&mut rng, [1, c, h, w], &device);
        let g = random(&mut rng, [n, c, h, w], &device);
        let placed = values(placements.place(p.clone()));
        let back = values(placements.carry_back(g.clone()));
        let (p, g) = (values(p), values(g));
        let size = c * h * w;
        for i in 0..n {
            let left: f64 = placed[i * size..(i + 1) * size].iter().zip(&g[i * size..(i + 1) * size]).map(|(a, b)| *a as f64 * *b as f64).sum();
            let right: f64 = p.iter().zip(&back[i * size..(i + 1) * size]).map(|(a, b)| *a as f64 * *b as f64).sum();
            assert!((left - right).abs() < 1e-4 * (1.0 + left.abs()), "image {i}: {left} vs {right}");
            assert!(left.abs() > 1e-3, "a placement that moved p out of the image");
        }
    }

    #[test]
    fn draws_follow_the_ranges_and_compose_in_order() {
        let mut rng = Rng::new(3);
        for _ in 0..200 {
            let p = Placement::draw(&[Transform::Jitter { pixels: 3 }], &mut rng);
            assert_eq!(p.linear, [1.0, 0.0, 0.0, 1.0]);
            assert!(p.shift.iter().all(|s| s.fract() == 0.0 && s.abs() <= 3.0));
            let p = Placement::draw(&[Transform::Scale { min: 0.9, max: 1.1 }, Transform::Rotate { degrees: 10.0 }], &mut rng);
            let det = p.linear[0] * p.linear[3] - p.linear[1] * p.linear[2];
            assert!((0.81..=1.21).contains(&det), "det {det} = scale²");
        }
        // Shift then scale ×2: the shift is scaled too; scale then shift: it is not.
        let shift = Placement { shift: [1.0, 0.0], ..Placement::IDENTITY };
        let double = Placement { linear: [2.0, 0.0, 0.0, 2.0], shift: [0.0, 0.0] };
        assert_eq!(double.after(shift).shift, [2.0, 0.0]);
        assert_eq!(shift.after(double).shift, [1.0, 0.0]);
        assert!(check(&[Transform::Scale { min: 1.0, max: 2.0 }, Transform::Rotate { degrees: 30.0 }]).is_err());
        assert!(Transform::Rotate { degrees: f32::NAN }.check().is_err());
    }
}
