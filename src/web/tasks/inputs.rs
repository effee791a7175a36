//! What the image tasks start from: the sketch (drawn on a canvas, with undo), the inpainting
//! picture with its painted hole, and (on an ImageNet model) generation's starting picture, each
//! with the recipe a share link carries.

use super::set::TaskSet;
use crate::bundled::{self, CENTRAL_HOLE, GREY, SQUARE_HOLE, STARTING_SKETCH};
use crate::drawing::Edit;
use crate::engine::tasks;
use crate::imaging;
use crate::link::{PictureBase, SharedPicture};
use crate::session::from_link::{hole_of, render_picture};
use image::{Rgb, RgbImage};

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
    /// The built-in ship sketch (256²), at the set's canvas side: as it is on CIFAR-10, scaled
    /// (a `Resize` edit, which a link replays) on an ImageNet model.
    pub fn starting(set: &TaskSet) -> Sketch {
        let canvas_side = set.side() as u32 * set.sketch_scale();
        let base = SharedPicture { base: PictureBase::BuiltIn { id: STARTING_SKETCH.into() }, side: bundled::TASK_SIDE * bundled::SKETCH_SCALE, edits: Vec::new() };
        let recipe = if canvas_side == base.side { base } else { SharedPicture { edits: vec![Edit::Resize { side: canvas_side }], ..base } };
        let canvas = render_picture(&recipe, &[], None).expect("a built-in picture");
        Sketch { canvas, recipe, undo: Vec::new(), redo: Vec::new() }
    }
}

/// The inpainting input: a picture at the model's side and the hole painted on it (white =
/// hole), each with its recipe for share links.
pub struct Inpainting {
    pub name: String,
    pub picture: RgbImage,
    pub picture_recipe: SharedPicture,
    pub hole: RgbImage,
    pub hole_recipe: SharedPicture,
}

/// The hole a task starts with: the CIFAR-10 evaluation's central 10×10 square, or the central
/// 64×64 square on an ImageNet model.
pub fn default_hole(set: &TaskSet) -> (RgbImage, SharedPicture) {
    let (id, side) = match set {
        TaskSet::Cifar => (CENTRAL_HOLE, bundled::TASK_SIDE),
        TaskSet::ImageNet(_) => (SQUARE_HOLE, set.side() as u32),
    };
    let recipe = SharedPicture { base: PictureBase::BuiltIn { id: id.into() }, side, edits: Vec::new() };
    (render_picture(&recipe, &[], None).expect("a built-in picture"), recipe)
}

impl Inpainting {
    /// F: 1 inside the hole, per pixel.
    pub fn hole_mask(&self) -> Vec<f32> {
        hole_of(&self.hole)
    }

    fn side(&self) -> usize {
        self.picture.width() as usize
    }

    /// The picture with the hole filled by the mean colour of the rest: what the mask canvas
    /// shows, and the seed of a run with `InpaintSeed::MeanColour` (a run fills the hole as its
    /// settings say, see `engine::tasks::inpaint_seed`).
    pub fn seed(&self) -> Vec<f32> {
        tasks::fill_hole_with_mean(&imaging::to_chw(&self.picture), &self.hole_mask(), self.side())
    }

    /// What the mask canvas shows: the seed, the hole tinted red.
    pub fn overlay(&self) -> RgbImage {
        let side = self.side();
        let seed = imaging::from_chw(&self.seed(), [side, side]);
        RgbImage::from_fn(side as u32, side as u32, |x, y| {
            let p = seed.get_pixel(x, y);
            if self.hole.get_pixel(x, y)[0] > 127 {
                Rgb([((p[0] as u32 + 255) / 2) as u8, p[1] / 2, p[2] / 2])
            } else {
                *p
            }
        })
    }
}

/// Generation's starting picture on an ImageNet model: grey, noise or a bundled photo.
pub struct Start {
    pub picture: RgbImage,
    pub recipe: SharedPicture,
}

impl Start {
    pub fn built_in(id: &str, side: usize) -> Start {
        let recipe = SharedPicture { base: PictureBase::BuiltIn { id: id.into() }, side: side as u32, edits: Vec::new() };
        Start { picture: render_picture(&recipe, &[], None).expect("a built-in picture"), recipe }
    }

    pub fn grey(side: usize) -> Start {
        Start::built_in(GREY, side)
    }
}
