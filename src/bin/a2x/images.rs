//! Files for the native CLI: reading photos from disk and listing folders. The decoding and
//! preprocessing are the library's ([`a2x::imaging`]), shared with the browser.

use std::path::{Path, PathBuf};

/// Reads `path` and prepares it for a `size`×`size` model (see [`a2x::imaging::center_crop`]).
pub fn load_for_model(path: &Path, size: usize) -> Result<Vec<f32>, String> {
    let bytes = read_image_file(path)?;
    a2x::imaging::decode_for_model(&bytes, size).map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads an image file, refusing files too large to be a photo before reading them.
pub fn read_image_file(path: &Path) -> Result<Vec<u8>, String> {
    const MAX_FILE: u64 = 512 << 20;
    let meta = std::fs::metadata(path).map_err(|e| format!("{}: cannot open: {e}", path.display()))?;
    if meta.len() > MAX_FILE {
        return Err(format!("{}: {} bytes is too large for an image file", path.display(), meta.len()));
    }
    std::fs::read(path).map_err(|e| format!("{}: cannot read: {e}", path.display()))
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
