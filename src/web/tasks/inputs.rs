//! What the image tasks start from: the sketch (drawn at 8× on a canvas, with undo) and the
//! inpainting picture with its painted hole, each with the recipe a share link carries.

use crate::bundled::{self, CENTRAL_HOLE, STARTING_SKETCH};
use crate::engine::tasks;
use crate::imaging;
use crate::link::{PictureBase, SharedPicture};
use crate::session::from_link::hole_of;
use image::{Rgb, RgbImage};

/// The models' input side.
pub const SIZE: usize = 32;
/// The sketch canvas is drawn at 8× the seed's side (a steady hand at 32 px is impossible) and
/// shrunk with a box filter.
pub const SKETCH_SCALE: u32 = bundled::SKETCH_SCALE;
/// The image the inpainting panel starts with: the bundled cat photo (CIFAR-10 has cats).
pub const INPAINT_START: usize = 0;

/// The sketch: drawn on a large canvas, with undo; the recipe (starting sketch + edits) is what
/// a share link carries.
pub struct Sketch {
    pub canvas: RgbImage,
    pub recipe: SharedPicture,
    pub undo: Vec<(RgbImage, SharedPicture)>,
    pub redo: Vec<(RgbImage, SharedPicture)>,
}

impl Sketch {
    pub fn starting() -> Sketch {
        let recipe = SharedPicture { base: PictureBase::BuiltIn { id: STARTING_SKETCH.into() }, side: SIZE as u32 * SKETCH_SCALE, edits: Vec::new() };
        Sketch { canvas: bundled::starting_sketch(), recipe, undo: Vec::new(), redo: Vec::new() }
    }
}

/// The inpainting input: a picture at 32×32 and the hole painted on it (white = hole), each with
/// its recipe for share links.
pub struct Inpainting {
    pub name: String,
    pub picture: RgbImage,
    pub picture_recipe: SharedPicture,
    pub hole: RgbImage,
    pub hole_recipe: SharedPicture,
}

pub fn central_hole() -> (RgbImage, SharedPicture) {
    (bundled::central_hole(), SharedPicture { base: PictureBase::BuiltIn { id: CENTRAL_HOLE.into() }, side: SIZE as u32, edits: Vec::new() })
}

impl Inpainting {
    /// F: 1 inside the hole, per pixel.
    pub fn hole_mask(&self) -> Vec<f32> {
        hole_of(&self.hole)
    }

    /// The picture with the hole filled by the mean colour of the rest: what the mask canvas
    /// shows, and the seed of a run with `InpaintSeed::MeanColour` (a run fills the hole as its
    /// settings say, see `engine::tasks::inpaint_seed`).
    pub fn seed(&self) -> Vec<f32> {
        tasks::fill_hole_with_mean(&imaging::to_chw(&self.picture), &self.hole_mask(), SIZE)
    }

    /// What the mask canvas shows: the seed, the hole tinted red.
    pub fn overlay(&self) -> RgbImage {
        let seed = imaging::from_chw(&self.seed(), [SIZE, SIZE]);
        RgbImage::from_fn(SIZE as u32, SIZE as u32, |x, y| {
            let p = seed.get_pixel(x, y);
            if self.hole.get_pixel(x, y)[0] > 127 {
                Rgb([((p[0] as u32 + 255) / 2) as u8, p[1] / 2, p[2] / 2])
            } else {
                *p
            }
        })
    }
}
