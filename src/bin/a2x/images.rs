//! Reading and writing images for the native CLI (the browser decodes through the same `image`
//! crate in its own module later). Errors are sentences naming the file.

use image::imageops::FilterType;
use image::{DynamicImage, RgbImage};
use std::path::{Path, PathBuf};

/// Largest image side accepted, to refuse decompression bombs before decoding them fully.
pub const MAX_SIDE: u32 = 16_384;

/// Decodes `path` and prepares it for a `size`×`size` model: shorter side resized to
/// round(size / 0.875) with bicubic (Catmull–Rom) filtering, then the centre crop, as CHW in [0, 1].
pub fn load_for_model(path: &Path, size: usize) -> Result<Vec<f32>, String> {
    let reader = image::ImageReader::open(path)
        .map_err(|e| format!("{}: cannot open: {e}", path.display()))?
        .with_guessed_format()
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    let (w, h) = reader
        .into_dimensions()
        .map_err(|e| format!("{}: not an image we can read: {e}", path.display()))?;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!("{}: {w}×{h} is larger than {MAX_SIDE} pixels on a side", path.display()));
    }
    let decoded = image::ImageReader::open(path)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?
        .decode()
        .map_err(|e| format!("{}: cannot decode: {e}", path.display()))?;
    Ok(to_chw(&center_crop(&decoded, size)))
}

/// Resize the shorter side to round(size / 0.875), keep the aspect ratio, crop the centre.
pub fn center_crop(image: &DynamicImage, size: usize) -> RgbImage {
    let rgb = image.to_rgb8();
    let (w, h) = rgb.dimensions();
    let short = (size as f64 / 0.875).round() as u32;
    let (nw, nh) = if w <= h {
        (short, ((h as f64 * short as f64 / w as f64).round() as u32).max(short))
    } else {
        (((w as f64 * short as f64 / h as f64).round() as u32).max(short), short)
    };
    let resized = image::imageops::resize(&rgb, nw, nh, FilterType::CatmullRom);
    let (left, top) = ((nw - size as u32) / 2, (nh - size as u32) / 2);
    image::imageops::crop_imm(&resized, left, top, size as u32, size as u32).to_image()
}

/// HWC u8 → CHW f32 in [0, 1].
pub fn to_chw(image: &RgbImage) -> Vec<f32> {
    let (w, h) = image.dimensions();
    let (w, h) = (w as usize, h as usize);
    let mut out = vec![0f32; 3 * h * w];
    for (x, y, pixel) in image.enumerate_pixels() {
        for c in 0..3 {
            out[(c * h + y as usize) * w + x as usize] = pixel[c] as f32 / 255.0;
        }
    }
    out
}

/// CHW f32 in [0, 1] → an RGB image (values clamped).
pub fn from_chw(values: &[f32], [h, w]: [usize; 2]) -> RgbImage {
    RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let at = |c: usize| (values[(c * h + y as usize) * w + x as usize].clamp(0.0, 1.0) * 255.0).round() as u8;
        image::Rgb([at(0), at(1), at(2)])
    })
}

/// The paper's visualisation of a perturbation (after Szegedy et al.): scaled into [0, 1] around
/// mid-grey, 0.5 + p / (2 · max|p|).
pub fn visualize_perturbation(p: &[f32]) -> Vec<f32> {
    let max = p.iter().fold(0f32, |m, v| m.max(v.abs())).max(1e-12);
    p.iter().map(|v| 0.5 + v / (2.0 * max)).collect()
}

/// The image files of `dir` (by extension), sorted by name.
pub fn list_images(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| matches!(e.to_ascii_lowercase().as_str(), "jpg" | "jpeg" | "png"))
        })
        .collect();
    files.sort();
    Ok(files)
}
