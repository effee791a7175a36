//! Editing a seed by hand (the page's seed editor): round-brush strokes and flood fill on an RGB
//! image. Plain Rust on the image itself, so the page's canvas only displays the result and the
//! operations are tested natively.

use image::{imageops, Rgb, RgbImage};
use serde::{Deserialize, Serialize};

/// Stroke points are kept in quarter pixels: the page rounds the pointer to a quarter pixel
/// before it paints, so a stroke replayed from a share link paints exactly the same pixels.
pub const POINT_UNITS: f32 = 4.0;

/// One edit of a picture, as the pages record it and a share link carries it (`src/link.rs`).
/// Replaying the edits in order on the same starting picture gives the same pixels.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "kebab-case")]
pub enum Edit {
    /// A round brush of `radius` pixels through `points`, in quarter pixels: the first point
    /// absolute, every next one as its difference from the one before (a hand's small moves
    /// compress well). Painted as the page paints it: a dot at the first point, then one
    /// segment per move.
    Stroke { colour: [u8; 3], radius: f32, points: Vec<[i32; 2]> },
    /// The paint bucket at pixel `at`.
    Fill { colour: [u8; 3], at: [u32; 2] },
    /// Every pixel set to `colour`.
    Clear { colour: [u8; 3] },
    /// The picture scaled to `side`² (Catmull-Rom), as the explanation page does when the
    /// model changes under an edited seed.
    Resize { side: u32 },
}

/// A pointer position rounded to a quarter pixel and kept within half a canvas of the canvas
/// (`side`), in quarter-pixel units.
fn quantize(at: (f32, f32), side: u32) -> [i32; 2] {
    let limit = 2.0 * side as f32 * POINT_UNITS;
    let q = |v: f32| if v.is_finite() { (v * POINT_UNITS).round().clamp(-limit / 4.0, limit * 3.0 / 4.0) as i32 } else { 0 };
    [q(at.0), q(at.1)]
}

fn from_units(p: [i32; 2]) -> (f32, f32) {
    (p[0] as f32 / POINT_UNITS, p[1] as f32 / POINT_UNITS)
}

impl Edit {
    /// A stroke that starts at `at` (the pointer went down) on a canvas of `side` pixels.
    pub fn stroke_at(colour: [u8; 3], radius: f32, at: (f32, f32), side: u32) -> Edit {
        Edit::Stroke { colour, radius, points: vec![quantize(at, side)] }
    }

    /// The stroke's points in pixels, absolute.
    pub fn stroke_points(&self) -> Vec<(f32, f32)> {
        let Edit::Stroke { points, .. } = self else { return Vec::new() };
        let mut at = [0i64; 2];
        points
            .iter()
            .map(|d| {
                at = [at[0] + d[0] as i64, at[1] + d[1] as i64];
                (at[0] as f32 / POINT_UNITS, at[1] as f32 / POINT_UNITS)
            })
            .collect()
    }

    /// The pointer moved to `to`: the stroke goes on, and the segment to paint now is returned
    /// (`None` for anything but a stroke).
    pub fn extend(&mut self, to: (f32, f32), side: u32) -> Option<((f32, f32), (f32, f32))> {
        let last = *self.stroke_points().last()?;
        let Edit::Stroke { points, .. } = self else { return None };
        let last_units = [(last.0 * POINT_UNITS).round() as i32, (last.1 * POINT_UNITS).round() as i32];
        let next = quantize(to, side);
        points.push([next[0] - last_units[0], next[1] - last_units[1]]);
        Some((last, from_units(next)))
    }

    /// The pointer moved to `to` during this stroke: records the move and paints its segment on
    /// `image` (the page's live drawing). Returns the pixels painted.
    pub fn continue_on(&mut self, image: &mut RgbImage, to: (f32, f32)) -> usize {
        let Some((from, to)) = self.extend(to, image.width()) else { return 0 };
        match self {
            Edit::Stroke { colour, radius, .. } => stroke(image, from, to, *radius, *colour),
            _ => 0,
        }
    }

    /// Applies the edit; returns how many pixels it changed or painted (a resize counts all).
    pub fn apply(&self, image: &mut RgbImage) -> usize {
        match self {
            Edit::Stroke { colour, radius, .. } => {
                let points = self.stroke_points();
                let Some(&first) = points.first() else { return 0 };
                let mut painted = stroke(image, first, first, *radius, *colour);
                for pair in points.windows(2) {
                    painted += stroke(image, pair[0], pair[1], *radius, *colour);
                }
                painted
            }
            Edit::Fill { colour, at } => flood_fill(image, (at[0], at[1]), *colour),
            Edit::Clear { colour } => {
                let changed = image.pixels().filter(|p| p.0 != *colour).count();
                image.pixels_mut().for_each(|p| p.0 = *colour);
                changed
            }
            Edit::Resize { side } => {
                if image.width() == *side && image.height() == *side {
                    return 0;
                }
                *image = imageops::resize(image, *side, *side, imageops::FilterType::CatmullRom);
                (*side * *side) as usize
            }
        }
    }
}

/// Paints every pixel whose centre lies within `radius` of the segment `from`–`to` (coordinates in
/// pixels: pixel (x, y) covers [x, x+1) × [y, y+1), so its centre is (x + ½, y + ½)). A click is a
/// segment of length zero. Returns how many pixels were painted.
pub fn stroke(image: &mut RgbImage, from: (f32, f32), to: (f32, f32), radius: f32, color: [u8; 3]) -> usize {
    let (w, h) = image.dimensions();
    let Some((x0, x1, y0, y1)) = segment_box(w, h, from, to, radius) else { return 0 };
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

/// The pixels [`stroke`] tests for one segment: the segment's bounding box grown by the radius and
/// clipped to the `w`×`h` canvas, as inclusive `(x0, x1, y0, y1)`; `None` when nothing is painted.
fn segment_box(w: u32, h: u32, from: (f32, f32), to: (f32, f32), radius: f32) -> Option<(u32, u32, u32, u32)> {
    if w == 0 || h == 0 || !(radius > 0.0) || ![from.0, from.1, to.0, to.1].iter().all(|v| v.is_finite()) {
        return None;
    }
    let clamp = |v: f32, hi: u32| (v.max(0.0) as u32).min(hi - 1);
    let (x0, x1) = (clamp(from.0.min(to.0) - radius, w), clamp(from.0.max(to.0) + radius, w));
    let (y0, y1) = (clamp(from.1.min(to.1) - radius, h), clamp(from.1.max(to.1) + radius, h));
    Some((x0, x1, y0, y1))
}

/// How many pixel tests replaying `edit` on a `side`² canvas costs (a stroke: one box per dot and
/// segment, as [`stroke`] paints them), so a link can be refused before it is painted.
pub fn replay_cost(edit: &Edit, side: u32) -> u64 {
    let area = |from, to, radius| segment_box(side, side, from, to, radius).map_or(0, |(x0, x1, y0, y1)| (x1 - x0 + 1) as u64 * (y1 - y0 + 1) as u64);
    match edit {
        Edit::Stroke { radius, .. } => {
            let points = edit.stroke_points();
            let dot = points.first().map_or(0, |&p| area(p, p, *radius));
            dot + points.windows(2).map(|pair| area(pair[0], pair[1], *radius)).sum::<u64>()
        }
        Edit::Fill { .. } | Edit::Clear { .. } | Edit::Resize { .. } => side as u64 * side as u64,
    }
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
    fn replay_cost_counts_the_pixels_stroke_tests() {
        // A dot of radius 1 at (5, 5): columns and rows 4..=6, 9 tests; a move from (5, 5) to
        // (8, 5) adds columns 4..=9 by rows 4..=6, 18; a fill or a clear of 10² costs 100.
        let mut edit = Edit::stroke_at([0, 0, 0], 1.0, (5.0, 5.0), 10);
        assert_eq!(replay_cost(&edit, 10), 9);
        edit.extend((8.0, 5.0), 10);
        assert_eq!(replay_cost(&edit, 10), 9 + 18);
        assert_eq!(replay_cost(&Edit::Fill { colour: [0, 0, 0], at: [1, 1] }, 10), 100);
        // A brush larger than the canvas tests the whole canvas, once per dot and segment.
        let huge = Edit::Stroke { colour: [0, 0, 0], radius: 64.0, points: vec![[0, 0]; 5] };
        assert_eq!(replay_cost(&huge, 10), 5 * 100);
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
    fn a_recorded_stroke_replays_to_the_same_pixels() {
        // Paint as the page does (a dot where the pointer went down, a segment per move), record
        // the stroke, replay it on a fresh canvas: the same pixels. Sub-quarter-pixel pointer
        // positions are rounded before painting, so nothing is lost in the link.
        let moves = [(10.3, 12.9), (11.07, 13.4), (15.6, 13.2), (20.01, 25.5), (19.2, 30.77), (-3.0, 31.0)];
        let mut painted = white(32, 32);
        let mut edit = Edit::stroke_at([200, 10, 10], 1.5, moves[0], 32);
        edit.apply(&mut painted);
        for &to in &moves[1..3] {
            let (from, to) = edit.extend(to, 32).unwrap();
            stroke(&mut painted, from, to, 1.5, [200, 10, 10]);
        }
        for &to in &moves[3..] {
            edit.continue_on(&mut painted, to);
        }
        let mut replayed = white(32, 32);
        assert!(edit.apply(&mut replayed) > 0);
        assert_eq!(painted, replayed);
        // The stored points: the first absolute, then differences, in quarter pixels.
        let Edit::Stroke { points, .. } = &edit else { unreachable!() };
        assert_eq!(points[0], [41, 52]); // (10.25, 13.0)
        assert_eq!(points[1], [44 - 41, 54 - 52]); // (11.0, 13.5)
        assert_eq!(edit.stroke_points()[5], (-3.0, 31.0));
    }

    #[test]
    fn fill_clear_and_resize_edits() {
        let mut image = white(8, 8);
        assert_eq!(Edit::Clear { colour: [1, 2, 3] }.apply(&mut image), 64);
        assert_eq!(Edit::Fill { colour: [9, 9, 9], at: [0, 0] }.apply(&mut image), 64);
        assert_eq!(Edit::Resize { side: 4 }.apply(&mut image), 16);
        assert_eq!(image.dimensions(), (4, 4));
        assert!(image.pixels().all(|p| p.0 == [9, 9, 9]), "a flat picture stays flat");
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
