//! The side-by-side sheet of issue #33's task study (`a2x task-study --sheet PNG`): one row a run —
//! the picture both methods start from, the robust CIFAR-10 model's result where the class is a
//! CIFAR-10 class, PGD, A2X — each framed by the judge's rank of the target (green: its top 5,
//! amber: its top 20, grey: lower). Labels are drawn with the study's 5×7 bitmap font.

use crate::study::sheet::{draw_text, fill, wrap, BACKGROUND, CHAR_W, FRAME, GAP, INK, LINE_H, NONE, PASS, SOME};
use image::RgbImage;
use std::path::{Path, PathBuf};

const CELL: u32 = 160;
const COLUMNS: [&str; 4] = ["start", "CIFAR-10", "PGD", "A2X"];

/// The CIFAR-10 class a study run's target or sketch stands for, if any: a sketch of a CIFAR-10
/// class (`static/sketches/ship.png`), or a generation target that is one of CIFAR-10's kinds.
fn cifar_class(record: &serde_json::Value) -> Option<&'static str> {
    let labels = &a2x::models::resnet::LABELS;
    match record["task"].as_str()? {
        "sketch" => {
            let stem = Path::new(record["seed"].as_str()?).file_stem()?.to_str()?;
            labels.iter().find(|l| **l == stem).copied()
        }
        "generate" => match record["target"].as_u64()? {
            207 => Some("dog"),
            130 => Some("bird"),
            _ => None,
        },
        _ => None,
    }
}

/// Where the robust CIFAR-10 model's result for the same class is: the README's sketch row
/// (`make sketches`) or a generation run of `static/task-study/cifar`.
fn cifar_picture(record: &serde_json::Value) -> Option<PathBuf> {
    let class = cifar_class(record)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let path = match record["task"].as_str()? {
        "sketch" => root.join(format!("sketches/results/sketch-{class}-0-a2x.png")),
        _ => root.join(format!("task-study/cifar/generate-{class}-0-a2x.png")),
    };
    path.is_file().then_some(path)
}

fn frame_of(rank: Option<u64>) -> image::Rgb<u8> {
    match rank {
        Some(k) if (1..=5).contains(&k) => PASS,
        Some(k) if (1..=20).contains(&k) => SOME,
        _ => NONE,
    }
}

/// The sheet of `records` (in the order given). Pictures are read from the paths the records name.
pub fn task_sheet(records: &[&serde_json::Value]) -> RgbImage {
    let label_chars = 24usize;
    let label_w = label_chars as u32 * CHAR_W + 2 * GAP;
    let column_w = CELL + 2 * FRAME + GAP;
    let header_h = LINE_H + GAP;
    let row_h = CELL + 2 * FRAME + 2 * LINE_H + GAP;
    let width = label_w + COLUMNS.len() as u32 * column_w;
    let height = header_h + records.len() as u32 * row_h;
    let mut sheet = RgbImage::from_pixel(width, height, BACKGROUND);
    for (j, title) in COLUMNS.iter().enumerate() {
        draw_text(&mut sheet, title, label_w + j as u32 * column_w, GAP, INK);
    }
    for (i, record) in records.iter().enumerate() {
        let y = header_h + i as u32 * row_h;
        let seed = record["seed"].as_str().unwrap_or("?");
        let seed = Path::new(seed).file_name().and_then(|n| n.to_str()).unwrap_or(seed);
        let mask = record["mask"].as_str().map(|m| format!(" {m}")).unwrap_or_default();
        let label = format!("{seed}{mask} to {} ({})", record["target_name"].as_str().unwrap_or("?"), record["target"]);
        for (k, line) in wrap(&label, label_chars).iter().take(5).enumerate() {
            draw_text(&mut sheet, line, GAP, y + k as u32 * LINE_H, INK);
        }
        let rank = |method: &str| record[method]["verdicts"]["standard"]["target_rank"].as_u64();
        let cells: [(Option<PathBuf>, Option<u64>, String); 4] = [
            (record["start"]["png"].as_str().map(PathBuf::from), rank("start"), rank("start").map_or(String::new(), |k| format!("judge {k}"))),
            (cifar_picture(record), None, cifar_class(record).map_or("no such class".into(), |c| c.to_string())),
            (record["pgd"]["png"].as_str().map(PathBuf::from), rank("pgd"), detail(record, "pgd")),
            (record["a2x"]["png"].as_str().map(PathBuf::from), rank("a2x"), detail(record, "a2x")),
        ];
        for (j, (path, rank, text)) in cells.into_iter().enumerate() {
            let x = label_w + j as u32 * column_w;
            fill(&mut sheet, x, y, CELL + 2 * FRAME, CELL + 2 * FRAME, frame_of(rank));
            match path.and_then(|p| image::open(p).ok()) {
                Some(picture) => {
                    let small = image::imageops::resize(&picture.to_rgb8(), CELL, CELL, image::imageops::FilterType::Triangle);
                    image::imageops::replace(&mut sheet, &small, (x + FRAME) as i64, (y + FRAME) as i64);
                }
                None => fill(&mut sheet, x + FRAME, y + FRAME, CELL, CELL, BACKGROUND),
            }
            for (k, line) in wrap(&text, (column_w / CHAR_W) as usize).iter().take(2).enumerate() {
                draw_text(&mut sheet, line, x, y + CELL + 2 * FRAME + 2 + k as u32 * LINE_H, INK);
            }
        }
    }
    sheet
}

/// Under a method's picture: the judge's rank of the target and what the picture kept (SSIM to
/// the sketch, or the in-hole error).
fn detail(record: &serde_json::Value, method: &str) -> String {
    let entry = &record[method];
    let mut text = entry["verdicts"]["standard"]["target_rank"].as_u64().map_or(String::new(), |k| format!("judge {k}"));
    if let Some(ssim) = entry["ssim_to_sketch"].as_f64() {
        text.push_str(&format!(" ssim {ssim:.2}"));
    }
    if let Some(error) = entry["hole_mse"].as_f64() {
        text.push_str(&format!(" mse {error:.4}"));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row's frames say the judge's rank: green within the top 5, amber within 20, grey else.
    #[test]
    fn frames_follow_the_judges_rank() {
        let record = serde_json::json!({
            "task": "sketch", "seed": "static/sketches/ship.png", "target": 510, "target_name": "container ship", "mask": null,
            "start": { "verdicts": { "standard": { "target_rank": 40 } } },
            "pgd": { "verdicts": { "standard": { "target_rank": 12 } } },
            "a2x": { "verdicts": { "standard": { "target_rank": 1 } }, "ssim_to_sketch": 0.6 },
        });
        let sheet = task_sheet(&[&record]);
        let column_w = CELL + 2 * FRAME + GAP;
        let label_w = 24 * CHAR_W + 2 * GAP;
        let at = |column: u32| *sheet.get_pixel(label_w + column * column_w + 1, LINE_H + GAP + 1);
        assert_eq!((at(0), at(2), at(3)), (NONE, SOME, PASS));
        assert_eq!(cifar_class(&record), Some("ship"));
        assert_eq!(detail(&record, "a2x"), "judge 1 ssim 0.60");
    }
}
