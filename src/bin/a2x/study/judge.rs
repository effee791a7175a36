//! Who judges a run, and how: the paper's cross-model check (every model of the zoo classifies the
//! visualised p alone), the judge of another family (issue #21), and robust transfer — the
//! judges' ranks after random shifts, scalings and blurs of the picture.

use super::StudyArgs;
use crate::common::{load_model, ModelArgs};
use a2x::engine::sampling::Rng;
pub use a2x::models::judge_of;
use a2x::models::{self, CrossCheck, ImageNetModel, IMAGENET_IDS};
use burn::tensor::Device;
use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

/// The paper's cross-model check: every model of the zoo classifies the visualised perturbation
/// alone, pixel for pixel and resized to its own input.
pub fn cross_checks(zoo: &[ImageNetModel], picture: &image::RgbImage, target: usize, device: &Device) -> Result<Vec<CrossCheck>, String> {
    zoo.iter()
        .map(|model| pollster::block_on(models::cross_check(model, model.id(), picture, target, device)).map_err(|e| e.to_string()))
        .collect()
}

pub fn load_zoo(args: &StudyArgs, device: &Device) -> Result<Vec<ImageNetModel>, String> {
    IMAGENET_IDS
        .iter()
        .map(|id| {
            let model_args = ModelArgs::of(id, args.models_dir.clone(), args.backend);
            load_model(&model_args, device).map(|(model, _)| model)
        })
        .collect()
}


/// How many moved copies of the picture the robust check classifies.
pub const VARIANTS: usize = 8;

/// One model's ranks of the target for [`VARIANTS`] moved copies of the visualised p, each resized
/// to the model's input: does the pattern still show the class when it is not pixel-aligned?
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RobustCheck {
    pub model: String,
    pub ranks: Vec<usize>,
}

/// A copy of `picture` shifted by up to 1/14 of its side in x and y, scaled by 0.85–1.15 about its
/// centre (bilinear; mid-grey, p = 0, where it uncovers), and blurred by a Gaussian of σ 0–1.5 px.
pub fn moved(picture: &RgbImage, rng: &mut Rng) -> RgbImage {
    let (w, h) = picture.dimensions();
    let reach = (w.min(h) / 14) as usize;
    let mut shift = || rng.below(2 * reach + 1) as f64 - reach as f64;
    let (dx, dy) = (shift(), shift());
    let scale = 0.85 + 0.3 * rng.unit();
    let sigma = 1.5 * rng.unit();
    let (cx, cy) = ((w as f64 - 1.0) / 2.0, (h as f64 - 1.0) / 2.0);
    let grey = [128.0f64; 3];
    let at = |x: i64, y: i64| -> [f64; 3] {
        if x < 0 || y < 0 || x >= w as i64 || y >= h as i64 {
            grey
        } else {
            picture.get_pixel(x as u32, y as u32).0.map(|v| v as f64)
        }
    };
    let out = RgbImage::from_fn(w, h, |x, y| {
        let sx = (x as f64 - cx - dx) / scale + cx;
        let sy = (y as f64 - cy - dy) / scale + cy;
        let (x0, y0) = (sx.floor(), sy.floor());
        let (fx, fy) = (sx - x0, sy - y0);
        let (x0, y0) = (x0 as i64, y0 as i64);
        let mut value = [0f64; 3];
        for (xx, yy, weight) in [(x0, y0, (1.0 - fx) * (1.0 - fy)), (x0 + 1, y0, fx * (1.0 - fy)), (x0, y0 + 1, (1.0 - fx) * fy), (x0 + 1, y0 + 1, fx * fy)] {
            let v = at(xx, yy);
            for c in 0..3 {
                value[c] += weight * v[c];
            }
        }
        Rgb(value.map(|v| v.round().clamp(0.0, 255.0) as u8))
    });
    if sigma > 0.1 { image::imageops::blur(&out, sigma as f32) } else { out }
}

/// Every model's [`RobustCheck`] of `picture`; the moved copies come from `seed`, the same for
/// every model.
pub fn robust_checks(zoo: &[ImageNetModel], picture: &RgbImage, target: usize, seed: u64, device: &Device) -> Result<Vec<RobustCheck>, String> {
    let mut rng = Rng::new(seed ^ 0x0B05_7F00_0021_0000);
    let copies: Vec<RgbImage> = (0..VARIANTS).map(|_| moved(picture, &mut rng)).collect();
    zoo.iter()
        .map(|model| {
            let ranks = copies
                .iter()
                .map(|copy| pollster::block_on(models::cross_check(model, model.id(), copy, target, device)).map(|c| c.resized_rank).map_err(|e| e.to_string()))
                .collect::<Result<Vec<usize>, String>>()?;
            Ok(RobustCheck { model: model.id().into(), ranks })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_judge_is_of_another_family() {
        for lite in ["lite0", "lite1", "lite2"] {
            assert_eq!(judge_of(lite), "squeezenet");
        }
        assert_eq!(judge_of("squeezenet"), "lite0");
    }

    #[test]
    fn moved_copies_stay_the_size_and_uncover_grey() {
        // A white square on black: a moved copy keeps the size, has grey where it uncovered the
        // border only when it shrank or shifted, and keeps most of the white.
        let picture = RgbImage::from_fn(56, 56, |x, y| if (14..42).contains(&x) && (14..42).contains(&y) { Rgb([255; 3]) } else { Rgb([0; 3]) });
        let mut rng = Rng::new(1);
        for _ in 0..20 {
            let copy = moved(&picture, &mut rng);
            assert_eq!(copy.dimensions(), (56, 56));
            let white = copy.pixels().filter(|p| p.0[0] > 200).count();
            assert!((400..1300).contains(&white), "{white} white pixels of 784");
        }
        // Same seed, same copies (every model sees the same variants).
        let (mut a, mut b) = (Rng::new(9), Rng::new(9));
        assert_eq!(moved(&picture, &mut a), moved(&picture, &mut b));
    }
}
