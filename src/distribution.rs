//! D̄ from a handful of photos: the page ships three photos (more may be added by the visitor),
//! while the paper's D̄ holds 256. The photos are stretched to |D̄| samples by random square crops
//! and mirror flips, drawn from the run's seeded RNG so a link replays the same D̄. The page says
//! so wherever it shows the distribution. (The native CLI and `a2x study` use folders of real
//! photos instead.)

use crate::engine::sampling::Rng;
use crate::imaging;
use image::imageops::{self, FilterType};
use image::RgbImage;

/// Smallest crop side, as a fraction of the photo's shorter side.
pub const MIN_CROP: f64 = 0.4;

/// One sample drawn from a photo: a square crop, possibly mirrored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Crop {
    pub photo: usize,
    pub left: u32,
    pub top: u32,
    pub side: u32,
    pub mirrored: bool,
}

/// How `count` samples are drawn from photos of the given sizes: the first min(count, photos)
/// samples are the photos themselves (the ImageNet centre crop, see [`draw`]), the rest random crops
/// with sides uniform in [MIN_CROP, 1] × the shorter side, anywhere in the photo, mirrored with
/// probability ½.
pub fn plan(sizes: &[(u32, u32)], count: usize, rng: &mut Rng) -> Vec<Option<Crop>> {
    (0..count)
        .map(|i| {
            if i < sizes.len() || sizes.is_empty() {
                return None;
            }
            let photo = rng.below(sizes.len());
            let (w, h) = sizes[photo];
            let short = w.min(h).max(1);
            let side = ((MIN_CROP + (1.0 - MIN_CROP) * rng.unit()) * short as f64).round().clamp(1.0, short as f64) as u32;
            let left = rng.below((w - side + 1) as usize) as u32;
            let top = rng.below((h - side + 1) as usize) as u32;
            let mirrored = rng.unit() < 0.5;
            Some(Crop { photo, left, top, side, mirrored })
        })
        .collect()
}

/// One sample as an RGB image of `size`×`size`: `crop` of the photo resized (Catmull–Rom), or,
/// for `None`, photo `index`'s ImageNet centre crop.
pub fn draw(photos: &[RgbImage], index: usize, crop: Option<Crop>, size: usize) -> RgbImage {
    match crop {
        None => imaging::center_crop(&image::DynamicImage::ImageRgb8(photos[index % photos.len()].clone()), size),
        Some(c) => {
            let part = imageops::crop_imm(&photos[c.photo], c.left, c.top, c.side, c.side).to_image();
            let resized = if c.side as usize == size { part } else { imageops::resize(&part, size as u32, size as u32, FilterType::CatmullRom) };
            if c.mirrored {
                imageops::flip_horizontal(&resized)
            } else {
                resized
            }
        }
    }
}

/// |D̄| = `count` samples of `size`×`size` from `photos`, CHW in [0, 1], one after the other.
pub fn stretch(photos: &[RgbImage], count: usize, size: usize, rng_seed: u64) -> Result<Vec<f32>, String> {
    if photos.is_empty() {
        return Err("the distribution has no photos".into());
    }
    // A stream of its own, so D̄ does not shift the run's mini-batch draws.
    let mut rng = Rng::new(rng_seed ^ 0xD157_D157_D157_D157);
    let sizes: Vec<(u32, u32)> = photos.iter().map(RgbImage::dimensions).collect();
    let mut values = Vec::with_capacity(count * 3 * size * size);
    for (i, crop) in plan(&sizes, count, &mut rng).into_iter().enumerate() {
        values.extend(imaging::to_chw(&draw(photos, i, crop, size)));
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    /// A photo whose every pixel says where it is: R = x, G = y, B = 7.
    fn coordinates(w: u32, h: u32) -> RgbImage {
        RgbImage::from_fn(w, h, |x, y| Rgb([x as u8, y as u8, 7]))
    }

    #[test]
    fn plans_are_deterministic_and_stay_inside_the_photos() {
        let sizes = [(300, 200), (64, 640)];
        let a = plan(&sizes, 500, &mut Rng::new(3));
        assert_eq!(a, plan(&sizes, 500, &mut Rng::new(3)));
        assert_ne!(a, plan(&sizes, 500, &mut Rng::new(4)));
        assert_eq!(a[..2], [None, None], "the photos themselves come first");
        let crops: Vec<Crop> = a.iter().skip(2).map(|c| c.expect("random crops after the photos")).collect();
        for c in &crops {
            let (w, h) = sizes[c.photo];
            let short = w.min(h);
            assert!(c.left + c.side <= w && c.top + c.side <= h, "{c:?} outside {w}×{h}");
            assert!(c.side as f64 >= (MIN_CROP * short as f64).floor() && c.side <= short, "{c:?}");
        }
        // Both photos used, both orientations, about half mirrored.
        assert!(crops.iter().any(|c| c.photo == 0) && crops.iter().any(|c| c.photo == 1));
        let mirrored = crops.iter().filter(|c| c.mirrored).count() as f64 / crops.len() as f64;
        assert!((0.4..0.6).contains(&mirrored), "{mirrored}");
    }

    #[test]
    fn a_crop_at_the_output_size_is_the_photo_pixels_and_a_mirror_reverses_them() {
        let photos = [coordinates(40, 30)];
        let crop = Crop { photo: 0, left: 5, top: 3, side: 16, mirrored: false };
        let sample = draw(&photos, 9, Some(crop), 16);
        assert_eq!(sample.get_pixel(0, 0).0, [5, 3, 7]);
        assert_eq!(sample.get_pixel(15, 2).0, [20, 5, 7]);
        let mirrored = draw(&photos, 9, Some(Crop { mirrored: true, ..crop }), 16);
        assert_eq!(mirrored.get_pixel(0, 0).0, [20, 3, 7]);
        assert_eq!(mirrored.get_pixel(15, 2).0, [5, 5, 7]);
    }

    #[test]
    fn the_first_samples_are_the_centre_crops() {
        let photos = [coordinates(60, 40), coordinates(50, 50)];
        let values = stretch(&photos, 5, 16, 1).unwrap();
        assert_eq!(values.len(), 5 * 3 * 16 * 16);
        for (i, photo) in photos.iter().enumerate() {
            let expected = imaging::to_chw(&imaging::center_crop(&image::DynamicImage::ImageRgb8(photo.clone()), 16));
            assert_eq!(&values[i * 768..(i + 1) * 768], &expected[..]);
        }
        assert!(values.iter().all(|v| (0.0..=1.0).contains(v)));
        assert_eq!(values, stretch(&photos, 5, 16, 1).unwrap());
        assert!(stretch(&[], 5, 16, 1).is_err());
    }
}
