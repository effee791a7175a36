//! What the app ships to start from, shared by the pages and the CLI (a share link names these
//! by id, and `a2x replay` rebuilds a link's pictures from them): the bundled photos
//! (`static/samples`, CC0 / public domain, see its README) and the pictures the image tasks
//! draw themselves.

use crate::drawing;
use crate::engine::tasks;
use image::{Rgb, RgbImage};
use serde::{Deserialize, Serialize};

/// The bundled photos of the first set (issue #5): id and path under `static/`.
pub const PHOTOS: [(&str, &str); 7] = [
    ("chelsea", "samples/chelsea.png"),
    ("coffee", "samples/coffee.png"),
    ("rocket", "samples/rocket.jpg"),
    ("astronaut", "samples/astronaut.png"),
    ("camera", "samples/camera.png"),
    ("hubble", "samples/hubble_deep_field.jpg"),
    ("coins", "samples/coins.png"),
];

/// Issue #21's wider set (static/samples/wide, 256 px on the shorter side; authors and licences
/// in static/samples/README.md): id and path under `static/`.
pub const WIDE_PHOTOS: [(&str, &str); 29] = [
    ("brick", "samples/wide/brick.jpg"),
    ("grass", "samples/wide/grass.jpg"),
    ("gravel", "samples/wide/gravel.jpg"),
    ("china", "samples/wide/china.jpg"),
    ("flower", "samples/wide/flower.jpg"),
    ("grace-hopper", "samples/wide/grace-hopper.jpg"),
    ("aqua", "samples/wide/aqua.jpg"),
    ("blinds", "samples/wide/blinds.jpg"),
    ("dune", "samples/wide/dune.jpg"),
    ("freshflower", "samples/wide/freshflower.jpg"),
    ("garden", "samples/wide/garden.jpg"),
    ("greenmeadow", "samples/wide/greenmeadow.jpg"),
    ("ladybird", "samples/wide/ladybird.jpg"),
    ("raindrops", "samples/wide/raindrops.jpg"),
    ("storm", "samples/wide/storm.jpg"),
    ("twowings", "samples/wide/twowings.jpg"),
    ("wood", "samples/wide/wood.jpg"),
    ("yellowflower", "samples/wide/yellowflower.jpg"),
    ("bythewater", "samples/wide/bythewater.jpg"),
    ("coldripple", "samples/wide/coldripple.jpg"),
    ("darkesthour", "samples/wide/darkesthour.jpg"),
    ("eveningglow", "samples/wide/eveningglow.jpg"),
    ("fallenleaf", "samples/wide/fallenleaf.jpg"),
    ("grey", "samples/wide/grey.jpg"),
    ("kite", "samples/wide/kite.jpg"),
    ("onestandsout", "samples/wide/onestandsout.jpg"),
    ("path", "samples/wide/path.jpg"),
    ("summer-1am", "samples/wide/summer-1am.jpg"),
    ("colorfulcups", "samples/wide/colorfulcups.jpg"),
];

/// The ImageNet classes a bundled photo plainly shows (by eye; only the obvious ones). With the
/// wide set, a photo that shows the target is left out of D̄, as the paper leaves the target
/// class out of its 256 photos.
pub fn classes_shown(id: &str) -> &'static [usize] {
    match id {
        "chelsea" => &[281, 282, 285],       // tabby, tiger cat, Egyptian cat
        "coffee" => &[504, 967, 968],        // coffee mug, espresso, cup
        "rocket" => &[657, 744, 812],        // missile, projectile, space shuttle
        "china" => &[698],                   // palace
        "grace-hopper" => &[652, 906],       // military uniform, Windsor tie
        "ladybird" => &[301],                // ladybug
        "yellowflower" | "freshflower" => &[985], // daisy
        "bythewater" | "coldripple" => &[718], // pier
        "eveningglow" => &[472, 975],        // canoe, lakeside
        "darkesthour" | "summer-1am" => &[975], // lakeside
        "dune" => &[978],                    // seashore
        "colorfulcups" => &[968],            // cup
        _ => &[],
    }
}

/// Which bundled photos make the page's D̄. A link records it (absent: the first set, so links
/// made before the wide set existed replay with the D̄ they had).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhotoSet {
    /// The seven photos of issue #5, every one but the seed.
    #[default]
    First,
    /// The first seven and issue #21's 29, but the seed and the photos that show the target.
    Wide,
}

impl PhotoSet {
    pub fn is_first(&self) -> bool {
        *self == PhotoSet::First
    }

    /// Every photo of the set: id and path under `static/`.
    pub fn photos(self) -> Vec<(&'static str, &'static str)> {
        match self {
            PhotoSet::First => PHOTOS.to_vec(),
            PhotoSet::Wide => PHOTOS.iter().chain(WIDE_PHOTOS.iter()).copied().collect(),
        }
    }

    /// Whether photo `id` belongs in D̄ for a run from seed `seed` to `target`.
    pub fn in_distribution(self, id: &str, seed: &str, target: usize) -> bool {
        id != seed && (self == PhotoSet::First || !classes_shown(id).contains(&target))
    }

    /// The photos of D̄ for a run from seed `seed` to `target`, in the set's order: what the page
    /// stretches to |D̄| samples (`distribution::stretch`) before any photo of the visitor's own.
    pub fn distribution(self, seed: &str, target: usize) -> Vec<(&'static str, &'static str)> {
        self.photos().into_iter().filter(|(id, _)| self.in_distribution(id, seed, target)).collect()
    }
}

/// The path under `static/` of the bundled photo `id` (of either set).
pub fn photo_path(id: &str) -> Option<&'static str> {
    PHOTOS.iter().chain(WIDE_PHOTOS.iter()).find(|(name, _)| *name == id).map(|(_, path)| *path)
}

/// The image tasks' side, and the sketch canvas's: 8× the seed (a steady hand at 32 px is
/// impossible), shrunk with a box filter.
pub const TASK_SIDE: u32 = 32;
pub const SKETCH_SCALE: u32 = 8;

/// Ids of the built-in pictures.
pub const STARTING_SKETCH: &str = "ship-sketch";
pub const CENTRAL_HOLE: &str = "central-hole";

/// Ids of the built-in pictures of any side (the ImageNet tasks, at the model's side).
pub const GREY: &str = "grey";
pub const NOISE: &str = "noise";
pub const SQUARE_HOLE: &str = "square-hole";

/// The ImageNet tasks' default hole: a central square of this side (issue #33's 64×64).
pub const SQUARE_HOLE_SIDE: u32 = 64;

/// The evaluation hole: a central 10×10 square (top, left, height, width).
pub const HOLE: (usize, usize, usize, usize) = (11, 11, 10, 10);

/// The built-in picture `id`.
pub fn built_in(id: &str) -> Option<RgbImage> {
    match id {
        STARTING_SKETCH => Some(starting_sketch()),
        CENTRAL_HOLE => Some(central_hole()),
        _ => None,
    }
}

/// The built-in picture `id` at `side`²: mid-grey (128), uniform noise (the same every time) or
/// the central 64×64 hole (white on black); `None` for another id.
pub fn built_in_at(id: &str, side: u32) -> Option<RgbImage> {
    match id {
        GREY => Some(RgbImage::from_pixel(side, side, Rgb([128; 3]))),
        NOISE => {
            let mut rng = crate::engine::sampling::Rng::new(0x0015_E000);
            Some(RgbImage::from_fn(side, side, |_, _| Rgb([0; 3].map(|_: u8| (rng.unit() * 256.0).min(255.0) as u8))))
        }
        SQUARE_HOLE => {
            let hole = SQUARE_HOLE_SIDE.min(side);
            let start = (side - hole) / 2;
            let inside = |v: u32| (start..start + hole).contains(&v);
            Some(RgbImage::from_fn(side, side, |x, y| if inside(x) && inside(y) { Rgb([255; 3]) } else { Rgb([0; 3]) }))
        }
        _ => None,
    }
}

/// The sketch a visitor starts from: sky over sea with a dark hull — something to run at once.
pub fn starting_sketch() -> RgbImage {
    let side = TASK_SIDE * SKETCH_SCALE;
    let mut canvas = RgbImage::from_fn(side, side, |_, y| if y < side * 11 / 20 { Rgb([150, 195, 235]) } else { Rgb([40, 90, 150]) });
    let s = SKETCH_SCALE as f32;
    // Hull, cabin and mast, in 32-px units scaled up.
    for (from, to, radius, colour) in [
        ((7.0, 19.0), (25.0, 19.0), 2.2, [60, 60, 70]),
        ((9.0, 21.0), (23.0, 21.0), 1.6, [60, 60, 70]),
        ((13.0, 15.5), (19.0, 15.5), 1.5, [235, 235, 235]),
        ((16.0, 8.0), (16.0, 14.0), 0.5, [90, 70, 50]),
    ] {
        drawing::stroke(&mut canvas, (from.0 * s, from.1 * s), (to.0 * s, to.1 * s), radius * s, colour);
    }
    canvas
}

/// The inpainting mask the page starts with: the central 10×10 hole, white on black.
pub fn central_hole() -> RgbImage {
    let (top, left, height, width) = HOLE;
    let side = TASK_SIDE as usize;
    let mask = tasks::hole_mask(side, top, left, height, width);
    RgbImage::from_fn(side as u32, side as u32, |x, y| if mask[y as usize * side + x as usize] > 0.5 { Rgb([255; 3]) } else { Rgb([0; 3]) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_pictures() {
        let hole = built_in(CENTRAL_HOLE).unwrap();
        assert_eq!(hole.pixels().filter(|p| p.0 == [255; 3]).count(), 100);
        assert_eq!(hole.get_pixel(11, 11).0, [255; 3]);
        assert_eq!(hole.get_pixel(10, 11).0, [0; 3]);
        assert_eq!(built_in(STARTING_SKETCH).unwrap().dimensions(), (256, 256));
        assert!(built_in("nothing").is_none());
        let square = built_in_at(SQUARE_HOLE, 227).unwrap();
        assert_eq!(square.pixels().filter(|p| p.0 == [255; 3]).count(), 64 * 64);
        assert_eq!(square.get_pixel(81, 81).0, [255; 3]);
        assert_eq!(square.get_pixel(80, 81).0, [0; 3]);
        assert_eq!(square.get_pixel(145, 145).0, [0; 3]);
        assert_eq!(built_in_at(GREY, 5).unwrap().get_pixel(4, 4).0, [128; 3]);
        let noise = built_in_at(NOISE, 64).unwrap();
        assert_eq!(noise, built_in_at(NOISE, 64).unwrap(), "the same every time");
        let mean = noise.as_raw().iter().map(|&v| v as f64).sum::<f64>() / noise.as_raw().len() as f64;
        assert!((mean - 127.5).abs() < 3.0, "uniform over 0..=255: mean {mean}");
        assert!(noise.as_raw().contains(&255) && noise.as_raw().contains(&0));
        assert!(built_in_at(STARTING_SKETCH, 32).is_none());
        assert_eq!(photo_path("coffee"), Some("samples/coffee.png"));
        assert_eq!(photo_path("ladybird"), Some("samples/wide/ladybird.jpg"));
    }

    #[test]
    fn photo_sets_and_the_target_rule() {
        assert_eq!(PhotoSet::First.photos().len(), 7);
        assert_eq!(PhotoSet::Wide.photos().len(), 36);
        // The first set never leaves out a photo for its class (links made with it replay).
        assert!(PhotoSet::First.in_distribution("chelsea", "coffee", 281));
        assert!(!PhotoSet::First.in_distribution("coffee", "coffee", 1));
        // The wide set leaves out the seed and a photo of the target.
        assert!(!PhotoSet::Wide.in_distribution("ladybird", "chelsea", 301));
        assert!(PhotoSet::Wide.in_distribution("ladybird", "chelsea", 1));
        assert!(!PhotoSet::Wide.in_distribution("chelsea", "chelsea", 1));
        // Every photo file is there, and every id is plain (a link names it).
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
        for (id, path) in PhotoSet::Wide.photos() {
            assert!(root.join(path).is_file(), "{path}");
            assert!(id.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'), "{id}");
        }
    }
}
