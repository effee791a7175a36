//! `a2x natural-spectrum`: the mean amplitude spectrum of the bundled photos (issue #21), the
//! table behind the engine's natural-spectrum parameterisation (`engine::param::Spectrum::Natural`),
//! written to `src/engine/natural_spectrum.txt`.

use a2x::bundled::PhotoSet;
use a2x::engine::param::{measure_spectrum, SPECTRUM_SIDE};
use clap::Args;
use image::imageops::{self, FilterType};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SpectrumArgs {
    /// The folder the bundled photos' paths are relative to.
    #[arg(long, default_value = "static")]
    pub static_dir: PathBuf,
    /// Where to write the table.
    #[arg(long, default_value = "src/engine/natural_spectrum.txt")]
    pub out: PathBuf,
}

pub fn natural_spectrum(args: SpectrumArgs) -> Result<(), String> {
    let n = SPECTRUM_SIDE as u32;
    let mut photos = Vec::new();
    let mut names = Vec::new();
    for (id, path) in PhotoSet::Wide.photos() {
        let bytes = crate::images::read_image_file(&args.static_dir.join(path))?;
        let rgb = a2x::imaging::decode(&bytes).map_err(|e| format!("{path}: {e}"))?.to_rgb8();
        // The shorter side to 256 px (never enlarged), then the central 256×256.
        let (w, h) = rgb.dimensions();
        let scale = n as f64 / w.min(h) as f64;
        let rgb = if scale < 1.0 {
            imageops::resize(&rgb, (w as f64 * scale).round() as u32, (h as f64 * scale).round() as u32, FilterType::Lanczos3)
        } else {
            rgb
        };
        let (w, h) = rgb.dimensions();
        if w < n || h < n {
            return Err(format!("{path}: {w}×{h} is smaller than {n}×{n}"));
        }
        let crop = imageops::crop_imm(&rgb, (w - n) / 2, (h - n) / 2, n, n).to_image();
        photos.push(crop.pixels().map(|p| (p.0[0] as f32 + p.0[1] as f32 + p.0[2] as f32) / (3.0 * 255.0)).collect());
        names.push(id);
    }
    let table = measure_spectrum(&photos);
    let side = SPECTRUM_SIDE / 2 + 1;
    let mut text = format!(
        "# log10 of the mean amplitude spectrum of the luminance of the {} bundled photos of the wide set\n\
         # (static/samples; the central {n}x{n} after the shorter side was brought to {n} px), relative to |f| = 1/{n};\n\
         # row k_y = 0..{m}, column k_x = 0..{m} (cycles per {n} px); written by `a2x natural-spectrum`.\n\
         # photos: {}\n",
        photos.len(),
        names.join(" "),
        m = side - 1
    );
    for row in table.chunks(side) {
        text.push_str(&row.iter().map(|v| format!("{:.3}", v.log10())).collect::<Vec<_>>().join(" "));
        text.push('\n');
    }
    std::fs::write(&args.out, text).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let at = |k: usize| table[k];
    println!(
        "{}: {} photos; amplitude at |f| = 1, 4, 16, 64, 128 / {n}: {:.3} {:.3} {:.3} {:.4} {:.4}",
        args.out.display(),
        photos.len(),
        at(1),
        at(4),
        at(16),
        at(64),
        at(128)
    );
    Ok(())
}
