//! What the app ships to start from, shared by the pages and the CLI (a share link names these
//! by id, and `a2x replay` rebuilds a link's pictures from them): the bundled photos
//! (`static/samples`, CC0 / public domain, see its README) and the pictures the image tasks
//! draw themselves.

use crate::drawing;
use crate::engine::tasks;
use image::{Rgb, RgbImage};

/// The bundled photos: id and path under `static/`.
pub const PHOTOS: [(&str, &str); 7] = [
    ("chelsea", "samples/chelsea.png"),
    ("coffee", "samples/coffee.png"),
    ("rocket", "samples/rocket.jpg"),
    ("astronaut", "samples/astronaut.png"),
    ("camera", "samples/camera.png"),
    ("hubble", "samples/hubble_deep_field.jpg"),
    ("coins", "samples/coins.png"),
];

/// The path under `static/` of the bundled photo `id`.
pub fn photo_path(id: &str) -> Option<&'static str> {
    PHOTOS.iter().find(|(name, _)| *name == id).map(|(_, path)| *path)
}

/// The image tasks' side, and the sketch canvas's: 8× the seed (a steady hand at 32 px is
/// impossible), shrunk with a box filter.
pub const TASK_SIDE: u32 = 32;
pub const SKETCH_SCALE: u32 = 8;

/// Ids of the built-in pictures.
pub const STARTING_SKETCH: &str = "ship-sketch";
pub const CENTRAL_HOLE: &str = "central-hole";

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
        assert_eq!(photo_path("coffee"), Some("samples/coffee.png"));
    }
}
