//! Decoding photos and preparing them for a model, natively and in the browser (the same `image`
//! crate code on both). Errors are sentences a person can act on.

use image::imageops::FilterType;
use image::{DynamicImage, ImageReader, Limits, RgbImage};
use std::io::Cursor;

/// Largest image side accepted, to refuse decompression bombs before decoding them fully.
pub const MAX_SIDE: u32 = 16_384;
/// Largest decoded allocation accepted, in bytes.
pub const MAX_ALLOC: u64 = 1 << 30;

/// An encoded image's width and height read from its header alone (no pixels decoded), when it
/// is a format the `image` crate knows.
pub fn header_dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    ImageReader::new(Cursor::new(bytes)).with_guessed_format().ok()?.into_dimensions().ok()
}

/// Decodes an encoded image (PNG or JPEG, format guessed from the bytes), refusing images
/// larger than [`MAX_SIDE`] on a side before decoding their pixels.
pub fn decode(bytes: &[u8]) -> Result<DynamicImage, String> {
    let reader = || {
        ImageReader::new(Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| format!("cannot read the image: {e}"))
    };
    let (w, h) = reader()?
        .into_dimensions()
        .map_err(|e| format!("not an image a2x can read (PNG or JPEG): {e}"))?;
    if w > MAX_SIDE || h > MAX_SIDE {
        return Err(format!("the image is {w}×{h}, larger than {MAX_SIDE} pixels on a side"));
    }
    let mut reader = reader()?;
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_ALLOC);
    reader.limits(limits);
    reader.decode().map_err(|e| format!("cannot decode the image: {e}"))
}

/// Decodes `bytes` and prepares the photo for a `size`×`size` model: [`center_crop`], as CHW in
/// [0, 1].
pub fn decode_for_model(bytes: &[u8], size: usize) -> Result<Vec<f32>, String> {
    Ok(to_chw(&center_crop(&decode(bytes)?, size)))
}

/// The ImageNet evaluation crop (torchvision's and the PyTorch reference's): resize the shorter
/// side to round(size / 0.875) with bicubic filtering (Catmull–Rom, Keys a = −0.5, the kernel PIL's
/// BICUBIC uses), the other side in proportion (rounded), then crop size×size at
/// ((w − size) / 2, (h − size) / 2).
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

/// How a perturbation is shown.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PerturbationView {
    /// [`visualize_stretched`]: the contrast set by the 99.5% quantile of |p|.
    #[default]
    Stretched,
    /// [`visualize_perturbation`]: the paper's, scaled by max|p|.
    MaxAbs,
}

impl PerturbationView {
    pub const ALL: [PerturbationView; 2] = [PerturbationView::Stretched, PerturbationView::MaxAbs];

    /// p (CHW) as an image in [0, 1].
    pub fn render(self, p: &[f32]) -> Vec<f32> {
        match self {
            PerturbationView::Stretched => visualize_stretched(p),
            PerturbationView::MaxAbs => visualize_perturbation(p),
        }
    }

    pub fn id(self) -> &'static str {
        match self {
            PerturbationView::Stretched => "stretched",
            PerturbationView::MaxAbs => "max-abs",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            PerturbationView::Stretched => "½ + p / 2q, q the 99.5% quantile of |p| (0.5% of values clip)",
            PerturbationView::MaxAbs => "½ + p / 2 max|p| (the paper's)",
        }
    }
}

/// The share of p's values a stretched view leaves unclipped (issue #21).
pub const STRETCH_QUANTILE: f32 = 0.995;

/// The visualisation with its contrast stretched: 0.5 + p / (2·q), clipped to [0, 1], where q is
/// the [`STRETCH_QUANTILE`] quantile of |p| (so 0.5% of the values saturate). The paper's scaling
/// by max|p| lets a few extreme pixels decide the contrast of all the others: a perturbation
/// moved in a Fourier basis concentrates its largest values in a few spots, and scaled by them
/// the rest of the picture is a nearly uniform grey.
pub fn visualize_stretched(p: &[f32]) -> Vec<f32> {
    let mut magnitudes: Vec<f32> = p.iter().map(|v| v.abs()).collect();
    let q = if magnitudes.is_empty() {
        1.0
    } else {
        let at = ((magnitudes.len() - 1) as f32 * STRETCH_QUANTILE).round() as usize;
        *magnitudes.select_nth_unstable_by(at, f32::total_cmp).1
    };
    let q = q.max(1e-12);
    p.iter().map(|v| (0.5 + v / (2.0 * q)).clamp(0.0, 1.0)).collect()
}

/// A picture as a canvas takes it: RGBA bytes (alpha 255), rows top to bottom, so that drawing it
/// is one `putImageData` and costs the page's thread nothing else.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Rgba {
    pub width: u32,
    pub height: u32,
    /// Left empty in a message's JSON: the bytes travel beside it (`session::transport`).
    pub bytes: Vec<u8>,
}

impl Rgba {
    /// CHW f32 in [0, 1] (clamped), rounded to bytes as [`from_chw`] does.
    pub fn from_chw(values: &[f32], [h, w]: [usize; 2]) -> Rgba {
        let plane = h * w;
        assert_eq!(values.len(), 3 * plane, "a CHW picture of {h}×{w} has {} values", 3 * plane);
        let byte = |v: f32| (v.clamp(0.0, 1.0) * 255.0).round() as u8;
        let (red, rest) = values.split_at(plane);
        let (green, blue) = rest.split_at(plane);
        let mut bytes = vec![255u8; 4 * plane];
        for (i, pixel) in bytes.chunks_exact_mut(4).enumerate() {
            pixel[0] = byte(red[i]);
            pixel[1] = byte(green[i]);
            pixel[2] = byte(blue[i]);
        }
        Rgba { width: w as u32, height: h as u32, bytes }
    }

    pub fn from_rgb(image: &RgbImage) -> Rgba {
        let bytes = image.pixels().flat_map(|pixel| [pixel[0], pixel[1], pixel[2], 255]).collect();
        Rgba { width: image.width(), height: image.height(), bytes }
    }

    /// The same picture as an RGB image (for a PNG export or a classifier).
    pub fn to_rgb(&self) -> RgbImage {
        let rgb = self.bytes.chunks_exact(4).flat_map(|pixel| [pixel[0], pixel[1], pixel[2]]).collect();
        RgbImage::from_raw(self.width, self.height, rgb).expect("an Rgba holds width × height pixels")
    }
}

/// What a page shows of an explanation's p_t: p in both views and Clip(d̄ + p). Drawn where p is
/// (the engine's worker), so that the page's thread only puts bytes on canvases (issue #23).
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct ExplanationPictures {
    pub stretched: Rgba,
    pub max_abs: Rgba,
    pub perturbed_seed: Rgba,
}

impl ExplanationPictures {
    /// The pictures of p (CHW) on the seed d̄ (CHW, the same size), both square.
    pub fn draw(seed: &[f32], p: &[f32]) -> ExplanationPictures {
        assert_eq!(seed.len(), p.len(), "d̄ and p have the same size");
        let side = (p.len() / 3).isqrt();
        assert_eq!(3 * side * side, p.len(), "a square CHW picture");
        let perturbed: Vec<f32> = seed.iter().zip(p).map(|(s, p)| s + p).collect();
        ExplanationPictures {
            stretched: Rgba::from_chw(&visualize_stretched(p), [side, side]),
            max_abs: Rgba::from_chw(&visualize_perturbation(p), [side, side]),
            perturbed_seed: Rgba::from_chw(&perturbed, [side, side]),
        }
    }

    pub fn perturbation(&self, view: PerturbationView) -> &Rgba {
        match view {
            PerturbationView::Stretched => &self.stretched,
            PerturbationView::MaxAbs => &self.max_abs,
        }
    }

    /// Each picture's bytes, in one fixed order (for the transport).
    pub fn bytes_mut(&mut self) -> [&mut Vec<u8>; 3] {
        [&mut self.stretched.bytes, &mut self.max_abs.bytes, &mut self.perturbed_seed.bytes]
    }
}

/// A CHW `size`² image in [0, 1] as a PNG enlarged `factor`× with nearest-neighbour scaling
/// (each pixel a `factor`² block: a 32×32 result stays legible).
pub fn enlarged_png(values: &[f32], size: usize, factor: u32) -> Result<Vec<u8>, String> {
    let picture = from_chw(values, [size, size]);
    let side = size as u32 * factor;
    encode_png(&image::imageops::resize(&picture, side, side, FilterType::Nearest))
}

/// Encodes an RGB image as PNG.
pub fn encode_png(image: &RgbImage) -> Result<Vec<u8>, String> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, image::ImageFormat::Png).map_err(|e| format!("cannot encode PNG: {e}"))?;
    Ok(out.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A PNG claiming `w`×`h` RGB pixels whose data holds a single row's worth: the header, one
    /// short IDAT and IEND (CRCs by the bitwise definition of CRC-32, not by a library).
    fn png_header(w: u32, h: u32) -> Vec<u8> {
        let crc32 = |bytes: &[u8]| {
            !bytes.iter().fold(!0u32, |mut c, &b| {
                c ^= b as u32;
                for _ in 0..8 {
                    c = if c & 1 != 0 { (c >> 1) ^ 0xEDB8_8320 } else { c >> 1 };
                }
                c
            })
        };
        let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
        let mut ihdr = w.to_be_bytes().to_vec();
        ihdr.extend(h.to_be_bytes());
        ihdr.extend([8, 2, 0, 0, 0]);
        let row = miniz_oxide::deflate::compress_to_vec_zlib(&[0u8; 64], 6);
        for (kind, data) in [(b"IHDR", ihdr), (b"IDAT", row), (b"IEND", Vec::new())] {
            let mut chunk = kind.to_vec();
            chunk.extend(&data);
            png.extend((data.len() as u32).to_be_bytes());
            png.extend(&chunk);
            png.extend(crc32(&chunk).to_be_bytes());
        }
        png
    }

    #[test]
    fn header_dimensions_reads_the_size_without_the_pixels() {
        // A real 3×2 PNG, a header claiming 20000×20000 (1.6 GB of pixels that are not there),
        // and bytes that are no image.
        let mut encoded = Vec::new();
        DynamicImage::ImageRgb8(RgbImage::new(3, 2)).write_to(&mut Cursor::new(&mut encoded), image::ImageFormat::Png).unwrap();
        assert_eq!(header_dimensions(&encoded), Some((3, 2)));
        assert_eq!(header_dimensions(&png_header(20_000, 20_000)), Some((20_000, 20_000)));
        assert!(decode(&png_header(20_000, 20_000)).unwrap_err().contains("20000"));
        assert_eq!(header_dimensions(b"this is not an image"), None);
    }

    #[test]
    fn an_explanations_pictures_are_its_views_pixel_for_pixel() {
        // Checked against the RgbImage path the exports used before (from_chw of each view), and a
        // few pixels by hand: a 2×2 picture, red plane 0…3, green 4…7, blue 8…11 (scaled).
        let side = 5;
        let seed: Vec<f32> = (0..3 * side * side).map(|i| (i as f32 * 0.37).sin().abs()).collect();
        let p: Vec<f32> = (0..3 * side * side).map(|i| (i as f32 * 1.3).cos() * 0.2).collect();
        let pictures = ExplanationPictures::draw(&seed, &p);
        let perturbed: Vec<f32> = seed.iter().zip(&p).map(|(s, p)| (s + p).clamp(0.0, 1.0)).collect();
        for (rgba, reference) in [
            (&pictures.stretched, from_chw(&visualize_stretched(&p), [side, side])),
            (&pictures.max_abs, from_chw(&visualize_perturbation(&p), [side, side])),
            (&pictures.perturbed_seed, from_chw(&perturbed, [side, side])),
        ] {
            assert_eq!(rgba.to_rgb(), reference);
            assert_eq!(&Rgba::from_rgb(&reference), rgba);
            assert!(rgba.bytes.chunks_exact(4).all(|pixel| pixel[3] == 255));
        }
        assert_eq!(pictures.perturbation(PerturbationView::MaxAbs), &pictures.max_abs);
        let values: Vec<f32> = (0..12).map(|i| i as f32 / 11.0).collect();
        let small = Rgba::from_chw(&values, [2, 2]);
        assert_eq!(small.bytes[..8], [0, 93, 185, 255, 23, 116, 209, 255]);
    }

    #[test]
    fn visualisations_by_hand() {
        // The paper's: max|p| = 2 → 0.5 + p/4.
        assert_eq!(visualize_perturbation(&[2.0, -1.0, 0.0]), [1.0, 0.25, 0.5]);
        // Stretched: 1000 values −0.999 … 0 …, |p| sorted, the 99.5% quantile is the value at
        // index round(999 · 0.995) = 994 of the sorted magnitudes, 0.994; larger values clip.
        let p: Vec<f32> = (0..1000).map(|i| -(i as f32) / 1000.0).collect();
        let v = visualize_stretched(&p);
        assert!((v[497] - (0.5 - 0.497 / (2.0 * 0.994))).abs() < 1e-6);
        assert_eq!(v[994], 0.0);
        assert_eq!(v[999], 0.0, "clipped");
        assert_eq!(v[0], 0.5);
        assert_eq!(visualize_stretched(&[0.0; 4]), [0.5; 4], "p = 0 stays mid-grey");
    }
}
