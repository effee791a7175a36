//! Editing the explanation page's seed and settings: a photo or a link's recipe becomes the seed,
//! an edit is one undo step, the region, D̄'s photos, the form's fields.

use super::seed::{Seed, SeedSnapshot, UNDO_DEPTH};
use super::settings::{apply_field, Field};
use super::state::Explain;
use crate::drawing::Edit;
use crate::imaging;
use crate::link::{self, PictureBase, SharedPicture};
use crate::session::from_link::render_from_photo;
use image::{DynamicImage, RgbImage};

impl Explain {
    pub(super) fn set_seed_from_photo(&mut self, name: String, photo: RgbImage, bundled: bool) {
        let side = self.input_size();
        let image = imaging::center_crop(&DynamicImage::ImageRgb8(photo.clone()), side);
        let base = if bundled {
            PictureBase::Bundled { id: name }
        } else {
            link::embed_image(&name, &image).unwrap_or_else(|| PictureBase::Supplied { name: link::plain_file_name(&name) })
        };
        let recipe = SharedPicture { base, side: side as u32, edits: Vec::new() };
        let undo = self.seed.take().map(|s| {
            let mut undo = s.undo;
            undo.push(SeedSnapshot { image: s.image, recipe: s.recipe });
            undo
        });
        self.seed = Some(Seed { image, source: Some(photo), recipe, undo: undo.unwrap_or_default(), redo: Vec::new() });
        self.seed_error = None;
    }

    /// The seed a link describes, from its starting photo.
    pub(super) fn restore_seed(&mut self, picture: SharedPicture, photo: RgbImage) {
        let image = render_from_photo(&picture, &photo);
        let source = picture.edits.is_empty().then_some(photo);
        self.seed = Some(Seed { image, source, recipe: picture, undo: Vec::new(), redo: Vec::new() });
        self.seed_error = None;
        self.fit_seed();
    }

    /// After the model changes: the seed at the new input size (a photo is cropped again).
    pub(super) fn fit_seed(&mut self) {
        let size = self.input_size() as u32;
        if let Some(seed) = self.seed.as_mut() {
            if seed.image.width() != size {
                match &seed.source {
                    Some(photo) => {
                        seed.image = imaging::center_crop(&DynamicImage::ImageRgb8(photo.clone()), size as usize);
                        seed.recipe.side = size;
                    }
                    None => {
                        let resize = Edit::Resize { side: size };
                        resize.apply(&mut seed.image);
                        seed.recipe.edits.push(resize);
                    }
                }
                seed.undo.clear();
                seed.redo.clear();
            }
        }
        if let Some(region) = self.region.as_mut() {
            let size = size as usize;
            region.height = region.height.min(size);
            region.width = region.width.min(size);
            region.top = region.top.min(size - region.height);
            region.left = region.left.min(size - region.width);
        }
    }

    /// Applies and records one edit of the seed (one undo step); false if it changed nothing.
    pub(super) fn edit_seed(&mut self, edit: Edit) -> bool {
        let Some(seed) = self.seed.as_mut() else { return false };
        let before = SeedSnapshot { image: seed.image.clone(), recipe: seed.recipe.clone() };
        if edit.apply(&mut seed.image) == 0 {
            return false;
        }
        seed.undo.push(before);
        if seed.undo.len() > UNDO_DEPTH {
            seed.undo.remove(0);
        }
        seed.redo.clear();
        seed.source = None;
        seed.recipe.edits.push(edit);
        true
    }

    pub(super) fn place_region(&mut self, x: f32, y: f32) {
        let size = self.input_size();
        let side = self.region_size.clamp(1, size);
        let clamp = |c: f32| ((c - side as f32 / 2.0).round().max(0.0) as usize).min(size - side);
        self.region = Some(crate::engine::Region { top: clamp(y), left: clamp(x), height: side, width: side });
    }

    /// The photos D̄ is drawn from: the bundled ones except the seed's own, and the visitor's
    /// (borrowed: the view asks for them at every render).
    pub(super) fn distribution_photos(&self) -> Vec<(&str, &RgbImage)> {
        let seed_name = self.seed.as_ref().map(Seed::name).unwrap_or_default();
        let bundled = match &self.bundled {
            Some(Ok(bundled)) => bundled.as_slice(),
            _ => &[],
        };
        // The photo set's photos, in its order, but the seed (and, with the wide set, those that
        // show the target), then the visitor's.
        self.photo_set
            .photos()
            .into_iter()
            .filter(|(id, _)| self.photo_set.in_distribution(id, &seed_name, self.target))
            .filter_map(|(id, _)| bundled.iter().find(|(name, _)| name == id))
            .map(|(name, photo)| (name.as_str(), photo))
            .chain(self.own_photos.iter().map(|(name, photo, _)| (name.as_str(), photo)))
            .collect()
    }

    /// Sets one field of the form: |D̄| here, every other through the engine's override path.
    pub(super) fn set_field(&mut self, field: Field, value: &str) -> Result<(), String> {
        if field == Field::NumSamples {
            self.num_samples = value.trim().parse().map_err(|_| format!("|D̄|: “{value}” is not a valid number"))?;
        } else if let Some(config) = apply_field(&self.config, field, value)? {
            self.config = config;
        }
        Ok(())
    }
}
