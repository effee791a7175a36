//! The study's contact sheet: one row per (setting, model), one column per target, each cell the
//! visualised perturbations of the target's seeds stacked (the stretched view where a run saved
//! one), framed by the judge of another family's verdict on the picture shown (green: it ranks the
//! target in its top 5, p resized to its input; amber: in its top 20; grey: lower, or not judged). Labels are drawn with a 5×7 bitmap font, so no font file is needed.

use super::grid::{Grid, Row, TOP_K};
use a2x::models::labels;
use image::{Rgb, RgbImage};
use std::path::Path;

pub(crate) const BACKGROUND: Rgb<u8> = Rgb([255, 255, 255]);
pub(crate) const INK: Rgb<u8> = Rgb([20, 20, 20]);
pub(crate) const PASS: Rgb<u8> = Rgb([0, 160, 60]);
pub(crate) const SOME: Rgb<u8> = Rgb([235, 160, 0]);
pub(crate) const NONE: Rgb<u8> = Rgb([190, 190, 190]);
/// Pixels per font dot.
const SCALE: u32 = 2;
pub(crate) const CHAR_W: u32 = 6 * SCALE;
pub(crate) const LINE_H: u32 = 9 * SCALE;
pub(crate) const FRAME: u32 = 3;
pub(crate) const GAP: u32 = 6;

/// 5×7 glyphs, one byte per row (bit 4 = leftmost dot). Lower case is drawn as upper case; a
/// character without a glyph is drawn as `?`.
fn glyph(c: char) -> [u8; 7] {
    match c.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        ' ' => [0; 7],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        ',' => [0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '=' => [0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '(' => [0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02],
        ')' => [0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08],
        '+' => [0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '\'' => [0x0C, 0x04, 0x08, 0x00, 0x00, 0x00, 0x00],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        _ => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04],
    }
}

/// Draws `text` with its top-left corner at (x, y), clipped to the image.
pub(crate) fn draw_text(image: &mut RgbImage, text: &str, x: u32, y: u32, colour: Rgb<u8>) {
    for (i, c) in text.chars().enumerate() {
        for (row, bits) in glyph(c).iter().enumerate() {
            for col in 0..5u32 {
                if bits & (0x10 >> col) == 0 {
                    continue;
                }
                for dy in 0..SCALE {
                    for dx in 0..SCALE {
                        let (px, py) = (x + i as u32 * CHAR_W + col * SCALE + dx, y + row as u32 * SCALE + dy);
                        if px < image.width() && py < image.height() {
                            image.put_pixel(px, py, colour);
                        }
                    }
                }
            }
        }
    }
}

/// Breaks `text` into lines of at most `width` characters (at spaces where possible).
pub(crate) fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split_whitespace() {
        let mut word: String = word.into();
        while word.chars().count() > width {
            let head: String = word.chars().take(width).collect();
            lines.push(head);
            word = word.chars().skip(width).collect();
        }
        match lines.last_mut() {
            Some(line) if !line.is_empty() && line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(&word);
            }
            _ => lines.push(word),
        }
    }
    lines
}

pub(crate) fn fill(image: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, colour: Rgb<u8>) {
    for py in y..(y + h).min(image.height()) {
        for px in x..(x + w).min(image.width()) {
            image.put_pixel(px, py, colour);
        }
    }
}

/// Renders the contact sheet of `rows`, reading each run's perturbation PNG under `out`.
pub fn contact_sheet(grid: &Grid, rows: &[Row], out: &Path, cell: u32) -> RgbImage {
    let names = labels::imagenet();
    let seeds = grid.seeds.len() as u32;
    let label_chars = rows.iter().map(|r| r.setting.name.len().max(r.model.len() + 4)).max().unwrap_or(8).min(28);
    let label_w = label_chars as u32 * CHAR_W + 2 * GAP;
    let column_w = cell + 2 * FRAME + GAP;
    let header_lines = 3;
    let header_h = header_lines * LINE_H + GAP;
    let row_h = seeds * (cell + 2 * FRAME) + (seeds - 1) * 2 + GAP;
    let width = label_w + grid.targets.len() as u32 * column_w;
    let height = header_h + rows.len() as u32 * row_h;
    let mut sheet = RgbImage::from_pixel(width, height, BACKGROUND);
    let column_chars = (column_w / CHAR_W) as usize;
    for (j, &target) in grid.targets.iter().enumerate() {
        let x = label_w + j as u32 * column_w;
        let mut lines = vec![target.to_string()];
        lines.extend(wrap(names[target].name(), column_chars));
        for (k, line) in lines.iter().take(header_lines as usize).enumerate() {
            draw_text(&mut sheet, line, x, GAP + k as u32 * LINE_H, INK);
        }
    }
    for (i, row) in rows.iter().enumerate() {
        let y = header_h + i as u32 * row_h;
        let mut label = wrap(&format!("#{} {}", i + 1, row.setting.name), label_chars);
        label.push(row.model.clone());
        match row.setting.distribution {
            super::grid::Distribution::Bundled => label.push("bundled D".into()),
            super::grid::Distribution::BundledFirst => label.push("first 7 photos".into()),
            super::grid::Distribution::Imagenet => {}
        }
        for (k, line) in label.iter().enumerate() {
            draw_text(&mut sheet, line, GAP, y + k as u32 * LINE_H, INK);
        }
        for (j, &target) in grid.targets.iter().enumerate() {
            let x = label_w + j as u32 * column_w;
            for (s, seed) in grid.seeds.iter().enumerate() {
                let Some(run) = row.runs.iter().find(|r| r.spec.target == target && r.spec.seed == seed.id) else { continue };
                // The stretched view where the run saved one (what a person reads best), framed
                // by the judge's verdict on the view shown.
                let (image, judged) = match &run.stretched {
                    Some(view) => (&view.image, run.judge_stretched()),
                    None => (&run.image, run.judge()),
                };
                let frame = match judged.map(|c| c.resized_rank) {
                    Some(rank) if (1..=TOP_K).contains(&rank) => PASS,
                    Some(rank) if (1..=20).contains(&rank) => SOME,
                    _ => NONE,
                };
                let cy = y + s as u32 * (cell + 2 * FRAME + 2);
                fill(&mut sheet, x, cy, cell + 2 * FRAME, cell + 2 * FRAME, frame);
                // A run's PNG may be absent (only some are committed): its cell stays blank.
                match image::open(out.join(image)) {
                    Ok(picture) => {
                        let small = image::imageops::resize(&picture.to_rgb8(), cell, cell, image::imageops::FilterType::Triangle);
                        image::imageops::replace(&mut sheet, &small, (x + FRAME) as i64, (cy + FRAME) as i64);
                    }
                    Err(_) => {
                        fill(&mut sheet, x + FRAME, cy + FRAME, cell, cell, BACKGROUND);
                        draw_text(&mut sheet, "no image", x + FRAME + 2, cy + FRAME + cell / 2, INK);
                    }
                }
            }
        }
    }
    sheet
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glyphs_are_distinct_and_fit_five_columns() {
        let chars = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-.,:=/()+%_'#";
        let glyphs: Vec<[u8; 7]> = chars.chars().map(glyph).collect();
        for (i, g) in glyphs.iter().enumerate() {
            assert!(g.iter().all(|&row| row < 0x20), "{} is wider than 5 dots", &chars[i..i + 1]);
            assert!(g.iter().any(|&row| row != 0), "{} is empty", &chars[i..i + 1]);
            for (j, h) in glyphs.iter().enumerate().skip(i + 1) {
                assert_ne!(g, h, "{} and {} look the same", &chars[i..i + 1], &chars[j..j + 1]);
            }
        }
        assert_eq!(glyph('a'), glyph('A'));
        assert_eq!(glyph('é'), glyph('?'));
    }

    #[test]
    fn text_is_drawn_dot_for_dot() {
        // "1" has 1 + 2 + 4×1 + 3 = 10 dots (rows 0x04, 0x0C, 0x04 ×4, 0x0E): 10·SCALE² pixels.
        let mut image = RgbImage::from_pixel(40, 40, BACKGROUND);
        draw_text(&mut image, "1", 0, 0, INK);
        let inked = image.pixels().filter(|&&p| p == INK).count() as u32;
        assert_eq!(inked, 10 * SCALE * SCALE);
    }

    #[test]
    fn wrapping_keeps_words_and_cuts_long_ones() {
        assert_eq!(wrap("school bus", 6), ["school", "bus"]);
        assert_eq!(wrap("chain mail", 10), ["chain mail"]);
        assert_eq!(wrap("honeycombs", 4), ["hone", "ycom", "bs"]);
    }
}
