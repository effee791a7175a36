//! The seed d̄ as the page edits it: the picture, the recipe a link carries, the undo steps, the
//! editing tools; and the photos it is picked from.

use crate::bundled::PhotoSet;
use crate::link::SharedPicture;
use image::RgbImage;

/// The bundled photos of both sets, in order (static/samples/README.md): the seed choices, and
/// what D̄ is drawn from.
pub fn bundled() -> Vec<(&'static str, &'static str)> {
    PhotoSet::Wide.photos()
}

/// Most photos of the visitor's own in D̄ (the paper draws 256 photos in all).
pub const MAX_OWN_PHOTOS: usize = 256;

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tool {
    Brush,
    Eraser,
    Fill,
    Region,
}

/// The seed d̄, at the chosen model's input size.
pub struct Seed {
    pub image: RgbImage,
    /// The photo it was cropped from, so a model of another input size crops it again.
    pub source: Option<RgbImage>,
    /// How the seed was made (photo, then edits), for share links.
    pub recipe: SharedPicture,
    pub undo: Vec<SeedSnapshot>,
    pub redo: Vec<SeedSnapshot>,
}

impl Seed {
    /// The recipe's name: the photo's, " (edited)" once drawn on (D̄ leaves out the unedited seed
    /// photo only).
    pub fn name(&self) -> String {
        self.recipe.name()
    }
}

/// One undo step: the picture and its recipe.
pub struct SeedSnapshot {
    pub image: RgbImage,
    pub recipe: SharedPicture,
}

pub const UNDO_DEPTH: usize = 50;

/// Photos from files are scaled by the browser so the shorter side is at most this: the model
/// crops see at most 260 px, and a 12-megapixel photo would cost 36 MB of memory per copy.
pub const PHOTO_SIDE: u32 = 512;
