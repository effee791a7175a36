//! Editing a seed by hand (the page's seed editor): round-brush strokes and flood fill on an RGB
//! image. Plain Rust on the image itself, so the page's canvas only displays the result and the
//! operations are tested natively.

use image::{Rgb, RgbImage};

/// Paints every pixel whose centre lies within `radius` of the segment `from`–`to` (coordinates in
/// pixels: pixel (x, y) covers [x, x+1) × [y, y+1), so its centre is (x + ½, y + ½)). A click is a
/// segment of length zero. Returns how many pixels were painted.
pub fn stroke(image: &mut RgbImage, from: (f32, f32), to: (f32, f32), radius: f32, color: [u8; 3]) -> usize {
    let (w, h) = image.dimensions();
    if w == 0 || h == 0 || !(radius > 0.0) || ![from.0, from.1, to.0, to.1].iter().all(|v| v.is_finite()) {
        return 0;
    }
    let clamp = |v: f32, hi: u32| (v.max(0.0) as u32).min(hi - 1);
    let (x0, x1) = (clamp(from.0.min(to.0) - radius, w), clamp(from.0.max(to.0) + radius, w));
    let (y0, y1) = (clamp(from.1.min(to.1) - radius, h), clamp(from.1.max(to.1) + radius, h));
    let (dx, dy) = (to.0 - from.0, to.1 - from.1);
    let length_sq = dx * dx + dy * dy;
    let mut painted = 0;
    for y in y0..=y1 {
        for x in x0..=x1 {
            let (px, py) = (x as f32 + 0.5, y as f32 + 0.5);
            // Nearest point of the segment to the pixel centre.
            let t = if length_sq > 0.0 { (((px - from.0) * dx + (py - from.1) * dy) / length_sq).clamp(0.0, 1.0) } else { 0.0 };
            let (nx, ny) = (from.0 + t * dx, from.1 + t * dy);
            if (px - nx).powi(2) + (py - ny).powi(2) <= radius * radius {
                image.put_pixel(x, y, Rgb(color));
                painted += 1;
            }
        }
    }
    painted
}

/// The image shrunk by an integer `factor` with a box filter: each output pixel is the rounded
/// mean of its `factor`² block (the sketch canvas, drawn at 8× for a steady hand, becomes the
/// 32×32 seed). The sides must be multiples of `factor`.
pub fn box_downscale(image: &RgbImage, factor: u32) -> RgbImage {
    let (w, h) = image.dimensions();
    assert!(factor > 0 && w % factor == 0 && h % factor == 0, "{w}×{h} is not a multiple of {factor}");
    let count = factor * factor;
    RgbImage::from_fn(w / factor, h / factor, |x, y| {
        let mut sum = [0u32; 3];
        for dy in 0..factor {
            for dx in 0..factor {
                let pixel = image.get_pixel(x * factor + dx, y * factor + dy);
                for c in 0..3 {
                    sum[c] += pixel[c] as u32;
                }
            }
        }
        Rgb(sum.map(|s| ((s + count / 2) / count) as u8))
    })
}

/// Fills the 4-connected region of pixels that have exactly the colour of pixel `at` with `color`
/// (the paint bucket). Returns how many pixels changed.
pub fn flood_fill(image: &mut RgbImage, at: (u32, u32), color: [u8; 3]) -> usize {
    let (w, h) = image.dimensions();
    if at.0 >= w || at.1 >= h {
        return 0;
    }
    let old = *image.get_pixel(at.0, at.1);
    if old == Rgb(color) {
        return 0;
    }
    let mut stack = vec![at];
    let mut filled = 0;
    while let Some((x, y)) = stack.pop() {
        if *image.get_pixel(x, y) != old {
            continue;
        }
        image.put_pixel(x, y, Rgb(color));
        filled += 1;
        if x > 0 {
            stack.push((x - 1, y));
        }
        if x + 1 < w {
            stack.push((x + 1, y));
        }
        if y > 0 {
            stack.push((x, y - 1));
        }
        if y + 1 < h {
            stack.push((x, y + 1));
        }
    }
    filled
}

/// Parses a CSS hex colour `#rrggbb` (what `<input type="color">` gives).
pub fn parse_hex_color(s: &str) -> Option<[u8; 3]> {
    let s = s.strip_prefix('#')?;
    if s.len() != 6 || !s.is_ascii() {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&s[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn white(w: u32, h: u32) -> RgbImage {
        RgbImage::from_pixel(w, h, Rgb([255, 255, 255]))
    }

    fn painted(image: &RgbImage) -> Vec<(u32, u32)> {
        image.enumerate_pixels().filter(|(_, _, p)| p.0 != [255, 255, 255]).map(|(x, y, _)| (x, y)).collect()
    }

    #[test]
    fn box_downscale_averages_each_block() {
        // A 4×2 image shrunk by 2: block (0,0) holds 0, 10, 20, 31 → mean 15.25 → 15; block (1,0)
        // holds 255 ×3 and 0 → 191.25 → 191.
        let mut image = RgbImage::new(4, 2);
        for (x, y, v) in [(0, 0, 0u8), (1, 0, 10), (0, 1, 20), (1, 1, 31), (2, 0, 255), (3, 0, 255), (2, 1, 255), (3, 1, 0)] {
            image.put_pixel(x, y, Rgb([v, 255 - v, 7]));
        }
        let small = box_downscale(&image, 2);
        assert_eq!(small.dimensions(), (2, 1));
        assert_eq!(small.get_pixel(0, 0).0, [15, 240, 7]);
        assert_eq!(small.get_pixel(1, 0).0, [191, 64, 7]);
    }

    #[test]
    fn a_click_paints_the_pixels_whose_centres_are_within_the_radius() {
        // Centres (4.5, 4.5), (5.5, 4.5), (4.5, 5.5), (5.5, 5.5) are 0.71 px from (5, 5); the next
        // nearest, e.g. (5.5, 6.5), are 1.58 px away.
        let mut image = white(10, 10);
        assert_eq!(stroke(&mut image, (5.0, 5.0), (5.0, 5.0), 1.0, [0, 0, 0]), 4);
        assert_eq!(painted(&image), vec![(4, 4), (5, 4), (4, 5), (5, 5)]);
    }

    #[test]
    fn a_horizontal_stroke_is_a_band() {
        // Segment y = 5 from x = 2 to 7, radius 1: rows 4 and 5 (centres 0.5 px away), and only
        // columns whose centres are within 1 px of the segment's ends: x = 1..=7 (centre 1.5 is
        // 0.5 px before x = 2; centre 7.5 is 0.5 px after x = 7; with the 0.5 px vertical offset
        // both are √0.5 ≈ 0.71 px away; 0.5 and 8.5 are √(1.5²+0.5²) ≈ 1.58 px away).
        let mut image = white(10, 10);
        let n = stroke(&mut image, (2.0, 5.0), (7.0, 5.0), 1.0, [9, 9, 9]);
        let expected: Vec<(u32, u32)> = (4..=5).flat_map(|y| (1..=7).map(move |x| (x, y))).collect();
        assert_eq!(n, expected.len());
        assert_eq!(painted(&image), expected);
        assert_eq!(image.get_pixel(3, 5).0, [9, 9, 9]);
    }

    #[test]
    fn strokes_off_the_image_are_clipped_and_nonsense_is_ignored() {
        let mut image = white(4, 4);
        assert_eq!(stroke(&mut image, (-10.0, -10.0), (-8.0, -8.0), 2.0, [0, 0, 0]), 0);
        assert_eq!(stroke(&mut image, (f32::NAN, 0.0), (1.0, 1.0), 2.0, [0, 0, 0]), 0);
        assert_eq!(stroke(&mut image, (1.0, 1.0), (1.0, 1.0), 0.0, [0, 0, 0]), 0);
        assert_eq!(stroke(&mut image, (-1.0, 2.0), (10.0, 2.0), 0.6, [0, 0, 0]), 8); // rows 1 and 2
    }

    #[test]
    fn flood_fill_stays_inside_a_closed_outline() {
        // An 8×8 white image with a black square outline from (1, 1) to (5, 5): its inside is 3×3.
        let mut image = white(8, 8);
        for i in 1..=5 {
            for (x, y) in [(i, 1), (i, 5), (1, i), (5, i)] {
                image.put_pixel(x, y, Rgb([0, 0, 0]));
            }
        }
        assert_eq!(flood_fill(&mut image, (3, 3), [255, 0, 0]), 9);
        assert_eq!(image.get_pixel(2, 2).0, [255, 0, 0]);
        assert_eq!(image.get_pixel(0, 0).0, [255, 255, 255]);
        // Outside: 64 pixels − 16 outline − 9 inside = 39.
        assert_eq!(flood_fill(&mut image, (0, 0), [0, 0, 255]), 39);
        assert_eq!(flood_fill(&mut image, (0, 0), [0, 0, 255]), 0, "same colour: nothing to do");
        assert_eq!(flood_fill(&mut image, (8, 0), [0, 0, 0]), 0, "outside the image");
    }

    #[test]
    fn hex_colours() {
        assert_eq!(parse_hex_color("#ff8000"), Some([255, 128, 0]));
        assert_eq!(parse_hex_color("#FF8000"), Some([255, 128, 0]));
        assert_eq!(parse_hex_color("ff8000"), None);
        assert_eq!(parse_hex_color("#ff80"), None);
        assert_eq!(parse_hex_color("#gg0000"), None);
        assert_eq!(parse_hex_color("#ﬀ000"), None);
    }
}
