//! CIFAR-10 in memory: read from the standard binary release (`data_batch_{1..5}.bin`,
//! `test_batch.bin`, records of 1 label byte + 3072 pixel bytes, R, G then B planes of 32×32) or
//! from folders of images, one per class (`<root>/{train,test}/<class>/*.jpg`, the layout of
//! ../shared/data/cifar10). Training batches are augmented the usual way: a random 32×32 crop of
//! the image padded by 4 pixels (reflected), and a horizontal flip half of the time.

use crate::engine::sampling::Rng;
use crate::models::resnet::{CLASSES, INPUT_SIZE, LABELS};
use std::path::Path;

/// Bytes of one image: 3 planes of 32×32.
pub const IMAGE_BYTES: usize = 3 * INPUT_SIZE * INPUT_SIZE;
/// Bytes of one record of the binary release: the label, then the image.
pub const RECORD_BYTES: usize = 1 + IMAGE_BYTES;
/// Padding of the random-crop augmentation.
pub const CROP_PADDING: usize = 4;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Split {
    Train,
    Test,
}

impl Split {
    fn folder(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Test => "test",
        }
    }

    fn binary_files(self) -> Vec<String> {
        match self {
            Split::Train => (1..=5).map(|i| format!("data_batch_{i}.bin")).collect(),
            Split::Test => vec!["test_batch.bin".into()],
        }
    }
}

/// Images as CHW bytes (the binary release's own layout) and their labels.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Dataset {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The first `per_class` images of each class, in the set's order.
    pub fn first_per_class(&self, per_class: usize) -> Dataset {
        let mut taken = [0usize; 10];
        let mut out = Dataset::default();
        for i in 0..self.len() {
            let label = self.labels[i] as usize;
            if taken[label] < per_class {
                taken[label] += 1;
                out.labels.push(self.labels[i]);
                out.images.extend_from_slice(self.image(i));
            }
        }
        out
    }

    /// Image `i` as CHW bytes.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * IMAGE_BYTES..(i + 1) * IMAGE_BYTES]
    }

    /// Parses records of the binary release, refusing a length that is not a whole number of
    /// records and labels outside 0..10.
    pub fn from_binary(bytes: &[u8]) -> Result<Dataset, String> {
        if bytes.is_empty() || bytes.len() % RECORD_BYTES != 0 {
            return Err(format!(
                "{} bytes is not a whole number of CIFAR-10 records ({RECORD_BYTES} bytes each): truncated or not CIFAR-10",
                bytes.len()
            ));
        }
        let mut dataset = Dataset::default();
        for (i, record) in bytes.chunks(RECORD_BYTES).enumerate() {
            if record[0] as usize >= CLASSES {
                return Err(format!("record {i} has label {}, not a CIFAR-10 class (0–9)", record[0]));
            }
            dataset.labels.push(record[0]);
            dataset.images.extend_from_slice(&record[1..]);
        }
        Ok(dataset)
    }

    /// The records of the binary release for these images (the inverse of [`from_binary`]).
    pub fn to_binary(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.len() * RECORD_BYTES);
        for i in 0..self.len() {
            out.push(self.labels[i]);
            out.extend_from_slice(self.image(i));
        }
        out
    }

    fn extend(&mut self, other: Dataset) {
        self.images.extend(other.images);
        self.labels.extend(other.labels);
    }

    /// Loads a split from `root`: the binary release's files when `root` holds them, otherwise
    /// `root/<train|test>/<class>/` folders of 32×32 images (decoded on every core).
    pub fn load(root: &Path, split: Split) -> Result<Dataset, String> {
        let binaries = split.binary_files();
        if binaries.iter().all(|name| root.join(name).is_file()) {
            let mut dataset = Dataset::default();
            for name in binaries {
                let path = root.join(&name);
                let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
                dataset.extend(Dataset::from_binary(&bytes).map_err(|e| format!("{}: {e}", path.display()))?);
            }
            return Ok(dataset);
        }
        let folder = root.join(split.folder());
        if !folder.is_dir() {
            return Err(format!(
                "{} holds neither the CIFAR-10 binary release ({}) nor a {}/ folder of class folders",
                root.display(),
                split.binary_files().join(", "),
                split.folder()
            ));
        }
        let mut files = Vec::new();
        for (label, class) in LABELS.iter().enumerate() {
            let dir = folder.join(class);
            let mut names: Vec<_> = std::fs::read_dir(&dir)
                .map_err(|e| format!("{}: {e}", dir.display()))?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|path| path.is_file())
                .collect();
            names.sort();
            files.extend(names.into_iter().map(|path| (path, label as u8)));
        }
        decode_all(&files)
    }
}

/// Decodes image files (each must be 32×32) on every core, keeping their order.
fn decode_all(files: &[(std::path::PathBuf, u8)]) -> Result<Dataset, String> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).max(1);
    let per_thread = files.len().div_ceil(threads).max(1);
    let parts: Vec<Result<Dataset, String>> = std::thread::scope(|scope| {
        let handles: Vec<_> = files
            .chunks(per_thread)
            .map(|chunk| {
                scope.spawn(move || {
                    let mut part = Dataset::default();
                    for (path, label) in chunk {
                        let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
                        let image = crate::imaging::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?.to_rgb8();
                        if image.dimensions() != (INPUT_SIZE as u32, INPUT_SIZE as u32) {
                            return Err(format!("{}: {}×{} px, CIFAR-10 images are 32×32", path.display(), image.width(), image.height()));
                        }
                        part.images.extend(rgb_to_chw(&image));
                        part.labels.push(*label);
                    }
                    Ok(part)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().expect("a decoding thread panicked")).collect()
    });
    let mut dataset = Dataset::default();
    for part in parts {
        dataset.extend(part?);
    }
    Ok(dataset)
}

/// Interleaved RGB pixels → CHW planes.
pub fn rgb_to_chw(image: &image::RgbImage) -> Vec<u8> {
    let pixels = (image.width() * image.height()) as usize;
    let mut planes = vec![0u8; 3 * pixels];
    for (i, pixel) in image.pixels().enumerate() {
        for c in 0..3 {
            planes[c * pixels + i] = pixel.0[c];
        }
    }
    planes
}

/// Reflect-pads index `i − padding` into `0..size` (…, 2, 1, 0, 1, 2, …).
fn reflect(i: isize, size: usize) -> usize {
    let last = size as isize - 1;
    let folded = if i < 0 { -i } else if i > last { 2 * last - i } else { i };
    folded as usize
}

/// Writes image `image` (CHW bytes) into `out` as floats in [0, 1], shifted by (`dy`, `dx`)
/// within the reflected 4-pixel padding (0..=8 each, 4 = centred) and mirrored when `flip`.
pub fn augmented_into(image: &[u8], dy: usize, dx: usize, flip: bool, out: &mut [f32]) {
    let size = INPUT_SIZE;
    for c in 0..3 {
        for y in 0..size {
            let source_y = reflect(y as isize + dy as isize - CROP_PADDING as isize, size);
            for x in 0..size {
                let shifted = reflect(x as isize + dx as isize - CROP_PADDING as isize, size);
                let source_x = if flip { size - 1 - shifted } else { shifted };
                out[(c * size + y) * size + x] = image[(c * size + source_y) * size + source_x] as f32 / 255.0;
            }
        }
    }
}

impl Dataset {
    /// The images `indices` as `[n, 3, 32, 32]` floats in [0, 1] (row-major) and their labels;
    /// augmented with draws from `rng` when given.
    pub fn batch(&self, indices: &[usize], mut augment: Option<&mut Rng>) -> (Vec<f32>, Vec<usize>) {
        let mut values = vec![0f32; indices.len() * IMAGE_BYTES];
        let mut labels = Vec::with_capacity(indices.len());
        for (slot, &i) in indices.iter().enumerate() {
            let out = &mut values[slot * IMAGE_BYTES..(slot + 1) * IMAGE_BYTES];
            let (dy, dx, flip) = match augment.as_deref_mut() {
                Some(rng) => (rng.below(2 * CROP_PADDING + 1), rng.below(2 * CROP_PADDING + 1), rng.below(2) == 1),
                None => (CROP_PADDING, CROP_PADDING, false),
            };
            augmented_into(self.image(i), dy, dx, flip, out);
            labels.push(self.labels[i] as usize);
        }
        (values, labels)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn two_images() -> Dataset {
        let mut dataset = Dataset::default();
        for label in [3u8, 9] {
            dataset.labels.push(label);
            dataset.images.extend((0..IMAGE_BYTES).map(|i| ((i * 7 + label as usize) % 251) as u8));
        }
        dataset
    }

    #[test]
    fn binary_records_round_trip_and_bad_lengths_are_refused() {
        let dataset = two_images();
        let bytes = dataset.to_binary();
        assert_eq!(bytes.len(), 2 * 3073);
        assert_eq!(bytes[0], 3, "label first");
        assert_eq!(bytes[3073], 9);
        assert_eq!(Dataset::from_binary(&bytes).unwrap(), dataset);
        assert!(Dataset::from_binary(&bytes[..3072]).unwrap_err().contains("whole number"));
        let mut bad = bytes.clone();
        bad[0] = 10;
        assert!(Dataset::from_binary(&bad).unwrap_err().contains("label 10"));
    }

    #[test]
    fn reflect_padding_by_hand() {
        assert_eq!([-4, -1, 0, 31, 32, 35].map(|i| reflect(i, 32)), [4, 1, 0, 31, 30, 27]);
    }

    #[test]
    fn centred_crop_is_the_image_and_shifts_and_flips_move_pixels() {
        let dataset = two_images();
        let image = dataset.image(0);
        let at = |values: &[f32], c: usize, y: usize, x: usize| (values[(c * 32 + y) * 32 + x] * 255.0).round() as u8;
        let px = |c: usize, y: usize, x: usize| image[(c * 32 + y) * 32 + x];
        let mut out = vec![0f32; IMAGE_BYTES];
        augmented_into(image, 4, 4, false, &mut out);
        assert!((0..IMAGE_BYTES).all(|i| (out[i] * 255.0).round() as u8 == image[i]));
        // dy = 6, dx = 1: output (y, x) shows input (y + 2, x − 3), reflected at the edges.
        augmented_into(image, 6, 1, false, &mut out);
        assert_eq!(at(&out, 1, 10, 10), px(1, 12, 7));
        assert_eq!(at(&out, 2, 0, 0), px(2, 2, 3), "x − 3 = −3 reflects to 3");
        assert_eq!(at(&out, 0, 31, 31), px(0, 29, 28), "y + 2 = 33 reflects to 29");
        augmented_into(image, 4, 4, true, &mut out);
        assert_eq!(at(&out, 0, 5, 0), px(0, 5, 31), "mirrored");
    }

    #[test]
    fn folders_and_binary_release_load_the_same_images() {
        let dir = std::env::temp_dir().join(format!("a2x-cifar-test-{}", std::process::id()));
        let dataset = two_images();
        // Binary release layout (test split).
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("test_batch.bin"), dataset.to_binary()).unwrap();
        assert_eq!(Dataset::load(&dir, Split::Test).unwrap(), dataset);
        std::fs::remove_file(dir.join("test_batch.bin")).unwrap();
        // Folder layout, PNG (lossless) so the pixels must come back exactly.
        for class in LABELS {
            std::fs::create_dir_all(dir.join("test").join(class)).unwrap();
        }
        for (i, label) in dataset.labels.iter().enumerate() {
            let class_dir = dir.join("test").join(LABELS[*label as usize]);
            std::fs::create_dir_all(&class_dir).unwrap();
            let chw = dataset.image(i);
            let rgb = image::RgbImage::from_fn(32, 32, |x, y| {
                let at = (y * 32 + x) as usize;
                image::Rgb([chw[at], chw[1024 + at], chw[2048 + at]])
            });
            rgb.save(class_dir.join("0000.png")).unwrap();
        }
        assert_eq!(Dataset::load(&dir, Split::Test).unwrap(), dataset);
        assert!(Dataset::load(&dir, Split::Train).unwrap_err().contains("neither"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
