//! From a share link to a [`RunRequest`]: the pictures made from their recipes as the pages make
//! them, D̄ as the explanation page draws it. One path for the pages and `a2x replay`.

use super::{ExplainRequest, Photo, RunRequest, TaskRequest};
use crate::bundled;
use crate::engine::tasks::{self, Task};
use crate::imaging;
use crate::link::{PictureBase, SharedPage, SharedPicture, SharedState};
use image::{imageops, DynamicImage, RgbImage};

/// A link's picture, made as the page makes it: the start (a bundled photo, an embedded or a
/// supplied image cropped to the recipe's side, or a built-in picture), then the edits.
/// `bundled` holds the bundled photos by id; `supplied` is the sender's own image, for a link
/// that names one instead of carrying it.
pub fn render_picture(recipe: &SharedPicture, bundled: &[(String, RgbImage)], supplied: Option<&RgbImage>) -> Result<RgbImage, String> {
    let photo = match &recipe.base {
        PictureBase::Bundled { id } => bundled_photo(bundled, id)?,
        PictureBase::Image { .. } => imaging::decode(&recipe.embedded_png().ok_or("the embedded image is not base64")?)?.to_rgb8(),
        PictureBase::Supplied { name } => supplied.ok_or(format!("the link names the sender's own image “{name}”, which it does not carry"))?.clone(),
        PictureBase::BuiltIn { id } => {
            let start = bundled::built_in(id).or_else(|| bundled::built_in_at(id, recipe.side)).ok_or(format!("no built-in picture `{id}`"))?;
            if start.width() != recipe.side {
                return Err(format!("the starting picture is {}² but the link says {}²", start.width(), recipe.side));
            }
            return Ok(recipe.render(start));
        }
    };
    Ok(render_from_photo(recipe, &photo))
}

/// A recipe whose start is `photo`: the photo's ImageNet centre crop at the recipe's side, then
/// the edits (what a page does with a photo a link names, once it has the photo).
pub fn render_from_photo(recipe: &SharedPicture, photo: &RgbImage) -> RgbImage {
    recipe.render(imaging::center_crop(&DynamicImage::ImageRgb8(photo.clone()), recipe.side as usize))
}

fn bundled_photo(bundled: &[(String, RgbImage)], id: &str) -> Result<RgbImage, String> {
    bundled.iter().find(|(name, _)| name == id).map(|(_, photo)| photo.clone()).ok_or(format!("no bundled photo `{id}`"))
}

/// The bundled photos of D̄ for a run from the seed named `seed` to `target`, as the page draws
/// them (`PhotoSet::distribution`), as plain data.
pub fn distribution_photos(set: bundled::PhotoSet, seed: &str, target: usize, bundled: &[(String, RgbImage)]) -> Result<Vec<Photo>, String> {
    set.distribution(seed, target).iter().map(|(id, _)| Ok(Photo::new(id, &bundled_photo(bundled, id)?))).collect()
}

pub use crate::link::CIFAR_TASK_MODEL;

fn task_name(task: Task) -> &'static str {
    match task {
        Task::Generate => "generation",
        Task::Sketch => "sketch",
        Task::Inpaint => "inpainting",
    }
}

/// The hole mask F of a picture (white = hole).
pub fn hole_of(picture: &RgbImage) -> Vec<f32> {
    picture.pixels().map(|p| if p[0] > 127 { 1.0 } else { 0.0 }).collect()
}

/// The request a link describes, and the warnings to show beside it (other weights, the sender's
/// own photos in D̄). `bundled`: every bundled photo by id; `supplied`: the sender's own image, if
/// the link names one.
pub fn request(state: &SharedState, bundled: &[(String, RgbImage)], supplied: Option<&RgbImage>) -> Result<(RunRequest, Vec<String>), String> {
    let mut warnings = Vec::new();
    match &state.page {
        SharedPage::Explain { model, config, samples, seed, own_photos, photos, .. } => {
            if model == CIFAR_TASK_MODEL {
                return Err(format!("the link asks for an explanation on {CIFAR_TASK_MODEL}, which runs the image tasks, not explanations"));
            }
            let size = crate::models::imagenet_input_size(model).ok_or(format!("the link names a model a2x does not have (“{model}”)"))?;
            // At the model's side (the page resizes an edited seed when the model changes).
            let mut seed_image = render_picture(seed, bundled, supplied)?;
            if seed_image.width() as usize != size {
                seed_image = imageops::resize(&seed_image, size as u32, size as u32, imageops::FilterType::CatmullRom);
            }
            if *own_photos > 0 {
                warnings.push(format!("the sender had {own_photos} photos of their own in D̄; they are not in the link, so D̄ differs"));
            }
            let photos = distribution_photos(*photos, &seed.name(), config.target, bundled)?;
            let request = ExplainRequest { model: model.clone(), config: config.clone(), seed: Photo::new(&seed.name(), &seed_image), photos, samples: *samples };
            Ok((RunRequest::Explain(request), warnings))
        }
        SharedPage::Task { task, model, settings, seed, hole, .. } if model != CIFAR_TASK_MODEL => {
            let size = crate::models::imagenet_input_size(model).ok_or(format!("the link's {} task names a model a2x does not have (“{model}”)", task_name(*task)))?;
            // Every picture of an ImageNet task is at the model's side: one of another side was
            // made for another model (a CIFAR-10 picture in an ImageNet link, say).
            let at_side = |recipe: &SharedPicture, what: &str, supplied: Option<&RgbImage>| -> Result<RgbImage, String> {
                let picture = render_picture(recipe, bundled, supplied)?;
                if picture.width() as usize != size || picture.height() as usize != size {
                    return Err(format!("the link's {} task runs on {model} at {size}×{size}, but its {what} is {}×{}", task_name(*task), picture.width(), picture.height()));
                }
                Ok(picture)
            };
            let seed = at_side(seed.as_ref().ok_or(format!("the link's {} task has no starting picture", task_name(*task)))?, "picture", supplied)?;
            let hole = match (task, hole) {
                (Task::Inpaint, Some(hole)) => Some(hole_of(&at_side(hole, "mask", None)?)),
                (Task::Inpaint, None) => return Err("the link's inpainting task has no mask".into()),
                (_, Some(_)) => return Err(format!("the link's {} task has a mask: only inpainting has one", task_name(*task))),
                (_, None) => None,
            };
            let photos = distribution_photos(bundled::PhotoSet::Wide, "", settings.run.target, bundled)?;
            let request = TaskRequest { task: *task, settings: settings.clone(), seed: Some(imaging::to_chw(&seed)), hole, model: Some(model.clone()), photos };
            Ok((RunRequest::Task(request), warnings))
        }
        SharedPage::Task { task, settings, seed, hole, .. } => {
            // The robust CIFAR-10 model's pictures: the sketch at 256², the rest at 32².
            let at_side = |picture: RgbImage, side: u32, what: &str| -> Result<RgbImage, String> {
                if picture.dimensions() != (side, side) {
                    return Err(format!("the link's {} task runs on {CIFAR_TASK_MODEL} at 32×32 (sketched at 256×256), but its {what} is {}×{}", task_name(*task), picture.width(), picture.height()));
                }
                Ok(picture)
            };
            let (seed, hole) = match task {
                Task::Generate => (None, None),
                Task::Sketch => {
                    let sketch = render_picture(seed.as_ref().ok_or("a sketch link without its sketch")?, bundled, supplied)?;
                    let sketch = at_side(sketch, bundled::TASK_SIDE * bundled::SKETCH_SCALE, "sketch")?;
                    (Some(imaging::to_chw(&crate::drawing::box_downscale(&sketch, bundled::SKETCH_SCALE))), None)
                }
                Task::Inpaint => {
                    let image = render_picture(seed.as_ref().ok_or("an inpainting link without its picture")?, bundled, supplied)?;
                    let image = imaging::to_chw(&at_side(image, bundled::TASK_SIDE, "picture")?);
                    let hole = render_picture(hole.as_ref().ok_or("an inpainting link without its hole")?, bundled, None)?;
                    let hole = hole_of(&at_side(hole, bundled::TASK_SIDE, "mask")?);
                    (Some(tasks::fill_hole_with_mean(&image, &hole, bundled::TASK_SIDE as usize)), Some(hole))
                }
            };
            Ok((RunRequest::Task(TaskRequest { task: *task, settings: settings.clone(), seed, hole, model: None, photos: Vec::new() }), warnings))
        }
    }
}
