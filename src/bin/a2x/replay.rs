//! `a2x replay`: computes what a share link describes (issue #7), natively, with the page's own
//! recipe: the same bundled photos, the same seed edits, the same D̄ and RNG streams, the same
//! engine. The gallery's thumbnails are made with it (`make gallery`).

use crate::common::open_device;
use a2x::bundled;
use a2x::device::BackendKind;
use a2x::engine::schedule::Run;
use a2x::engine::tasks::{self, Task};
use a2x::engine::{read_values, Classifier, Event};
use a2x::imaging;
use a2x::link::{self, PictureBase, SharedPage, SharedPicture, SharedState};
use burn::tensor::{Tensor, TensorData};
use clap::Args;
use image::{imageops, DynamicImage, RgbImage};
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct ReplayArgs {
    /// The link: a page address ending in `#a2x=1.…`, the fragment alone, or `@FILE` holding one.
    pub link: String,
    /// `flex` or `ndarray` (CPU), or `wgpu`. The page computes on WebGPU or its CPU backend, so
    /// the last digits may differ from the browser's.
    #[arg(long, default_value_t = BackendKind::Flex)]
    pub backend: BackendKind,
    /// The sender's own image, for a link that names one instead of carrying it.
    #[arg(long)]
    pub image: Option<PathBuf>,
    /// Folder for the pictures and the JSON report.
    #[arg(long, default_value = "target/replay")]
    pub out: PathBuf,
    /// Start of the files' names.
    #[arg(long, default_value = "replay")]
    pub name: String,
}

/// The state in `text` (a URL, a fragment or `@FILE`).
pub fn read_link(text: &str) -> Result<SharedState, String> {
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?,
        None => text.to_string(),
    };
    let text = text.trim();
    let fragment = text.split_once('#').map(|(_, f)| f).unwrap_or(text);
    let part = fragment.split('&').find(|p| p.starts_with(link::PREFIX)).ok_or("no `a2x=` link in it")?;
    link::decode(part).map_err(|e| e.to_string())
}

fn static_dir() -> PathBuf {
    let here = PathBuf::from("static");
    if here.join("samples").is_dir() {
        here
    } else {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("static")
    }
}

fn read_photo(path: &Path) -> Result<RgbImage, String> {
    let bytes = crate::images::read_image_file(path)?;
    imaging::decode(&bytes).map(|i| i.to_rgb8()).map_err(|e| format!("{}: {e}", path.display()))
}

/// The bundled photos of both sets, in the page's order.
fn bundled_photos() -> Result<Vec<(String, RgbImage)>, String> {
    let dir = static_dir();
    bundled::PhotoSet::Wide.photos().iter().map(|(id, path)| Ok((id.to_string(), read_photo(&dir.join(path))?))).collect()
}

/// A link's picture, made as the page makes it: the start (a bundled photo, an embedded or a
/// supplied image cropped to the side, or a built-in picture), then the edits.
fn picture(recipe: &SharedPicture, photos: &[(String, RgbImage)], supplied: Option<&Path>) -> Result<RgbImage, String> {
    let crop = |photo: RgbImage| imaging::center_crop(&DynamicImage::ImageRgb8(photo), recipe.side as usize);
    let start = match &recipe.base {
        PictureBase::Bundled { id } => crop(photos.iter().find(|(name, _)| name == id).ok_or(format!("no bundled photo `{id}`"))?.1.clone()),
        PictureBase::Image { .. } => crop(imaging::decode(&recipe.embedded_png().ok_or("the embedded image is not base64")?)?.to_rgb8()),
        PictureBase::Supplied { name } => {
            let path = supplied.ok_or(format!("the link names the sender's own image “{name}”: give it with --image"))?;
            crop(read_photo(path)?)
        }
        PictureBase::BuiltIn { id } => bundled::built_in(id).ok_or(format!("no built-in picture `{id}`"))?,
    };
    if start.width() != recipe.side {
        return Err(format!("the starting picture is {}² but the link says {}²", start.width(), recipe.side));
    }
    Ok(recipe.render(start))
}

pub fn replay(args: ReplayArgs) -> Result<(), String> {
    let state = read_link(&args.link)?;
    eprintln!("link made on {}; computing on {}", state.backend, args.backend);
    let photos = bundled_photos()?;
    match &state.page {
        SharedPage::Explain { .. } => explain(&state, &photos, &args),
        SharedPage::Task { task, settings, seed, hole, .. } => {
            let side = bundled::TASK_SIDE as usize;
            let (seed_image, hole_mask, truth) = match task {
                Task::Generate => (None, None, None),
                Task::Sketch => {
                    let sketch = picture(seed.as_ref().ok_or("a sketch link without its sketch")?, &photos, args.image.as_deref())?;
                    (Some(imaging::to_chw(&a2x::drawing::box_downscale(&sketch, bundled::SKETCH_SCALE))), None, None)
                }
                Task::Inpaint => {
                    let image = imaging::to_chw(&picture(seed.as_ref().ok_or("an inpainting link without its picture")?, &photos, args.image.as_deref())?);
                    let mask: Vec<f32> = picture(hole.as_ref().ok_or("an inpainting link without its hole")?, &photos, None)?
                        .pixels()
                        .map(|p| if p[0] > 127 { 1.0 } else { 0.0 })
                        .collect();
                    (Some(tasks::fill_hole_with_mean(&image, &mask, side)), Some(mask), Some(image))
                }
            };
            crate::tasks::run_with_settings(*task, settings, args.backend, &args.out, &args.name, seed_image, hole_mask, truth).map(|_| ())
        }
    }
}

fn explain(state: &SharedState, photos: &[(String, RgbImage)], args: &ReplayArgs) -> Result<(), String> {
    let SharedPage::Explain { model, weights, config, samples, seed, own_photos, photos: photo_set } = &state.page else { unreachable!() };
    let models_dir = crate::common::default_models_dir();
    let manifest = crate::common::read_manifest(&models_dir)?;
    let entry = manifest.model(model).ok_or(format!("models/manifest.json has no model `{model}`"))?;
    if !entry.sha256.starts_with(weights.as_str()) {
        eprintln!("warning: the link was made with other weights of {model} ({weights}; here {}): the result will differ", &entry.sha256[..16]);
    }
    if *own_photos > 0 {
        eprintln!("warning: the sender had {own_photos} photos of their own in D̄; they are not in the link, so D̄ differs");
    }
    let device = open_device(args.backend)?;
    let zoo_args = crate::common::ModelArgs { model: model.clone(), models_dir, backend: args.backend, symmetric_padding: false };
    let (network, label) = crate::common::load_model(&zoo_args, &device)?;
    eprintln!("model: {label}");
    let size = network.input_shape()[1];
    // The seed, as the page's editor made it; at the model's side (the page resizes an edited
    // seed when the model changes).
    let mut seed_image = picture(seed, photos, args.image.as_deref())?;
    if seed_image.width() as usize != size {
        seed_image = imageops::resize(&seed_image, size as u32, size as u32, imageops::FilterType::CatmullRom);
    }
    // D̄ as the page draws it: the link's set of bundled photos but the unedited seed's own (and,
    // with the wide set, those showing the target), stretched.
    let seed_name = seed.name();
    let images: Vec<RgbImage> = photo_set
        .photos()
        .iter()
        .filter(|(id, _)| photo_set.in_distribution(id, &seed_name, config.target))
        .map(|(id, _)| photos.iter().find(|(name, _)| name == id).map(|(_, photo)| photo.clone()).ok_or(format!("no bundled photo `{id}`")))
        .collect::<Result<_, _>>()?;
    let sample_values = a2x::distribution::stretch(&images, *samples, size, config.rng_seed)?;
    let seed_values = imaging::to_chw(&seed_image);
    let seed_tensor = Tensor::<4>::from_data(TensorData::new(seed_values.clone(), [1, 3, size, size]), &device);
    let sample_tensor = Tensor::<4>::from_data(TensorData::new(sample_values, [*samples, 3, size, size]), &device);
    let mut run = Run::new(&network, seed_tensor, sample_tensor, config.clone()).map_err(|e| e.to_string())?;
    let mut events: Vec<Event> = Vec::new();
    while !run.is_finished() {
        let event = pollster::block_on(run.step()).map_err(|e| e.to_string())?;
        if event.iteration % 10 == 0 || event.iteration == 1 {
            eprintln!("t {:>4}  ℘ {:.4} (seed {:.4})  ‖p‖ {:.2}", event.iteration, event.target_probability, event.seed_probability, event.perturbation_norm);
        }
        events.push(event);
    }
    let p = pollster::block_on(read_values(run.perturbation())).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let save = |what: &str, image: RgbImage| -> Result<PathBuf, String> {
        let path = args.out.join(format!("{}-{what}.png", args.name));
        image.save(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    let p_path = save("p", imaging::from_chw(&imaging::PerturbationView::default().render(&p), [size, size]))?;
    let perturbed: Vec<f32> = seed_values.iter().zip(&p).map(|(s, p)| (s + p).clamp(0.0, 1.0)).collect();
    let seed_p_path = save("seed-p", imaging::from_chw(&perturbed, [size, size]))?;
    let top5 = {
        let logits = pollster::block_on(a2x::models::logits_of(&network, &imaging::from_chw(&perturbed, [size, size]), &device)).map_err(|e| e.to_string())?;
        a2x::models::top_k(&logits, 5)
    };
    let report = serde_json::json!({
        "model": model, "target": config.target, "target_name": a2x::models::labels::imagenet()[config.target].name(),
        "settings": config, "samples": samples, "seed": seed_name,
        "curve": events.iter().map(|e| e.target_probability).collect::<Vec<_>>(),
        "perturbed_seed_top5": top5,
        "p": p_path, "seed_p": seed_p_path,
    });
    let path = args.out.join(format!("{}.json", args.name));
    std::fs::write(&path, serde_json::to_string_pretty(&report).expect("serializes")).map_err(|e| e.to_string())?;
    let last = events.last().map(|e| e.target_probability).unwrap_or(0.0);
    println!("{} iterations, ℘ {last:.4}; wrote {}, {} and {}", events.len(), p_path.display(), seed_p_path.display(), path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use a2x::engine::RunConfig;

    fn state() -> SharedState {
        SharedState {
            page: SharedPage::Explain {
                model: "lite0".into(),
                weights: "0123456789abcdef".into(),
                config: RunConfig { target: 340, ..RunConfig::default() },
                samples: 64,
                seed: SharedPicture { base: PictureBase::Bundled { id: "coffee".into() }, side: 224, edits: vec![] },
                own_photos: 0,
                photos: bundled::PhotoSet::First,
            },
            backend: "webgpu".into(),
            auto_run: true,
        }
    }

    #[test]
    fn a_link_is_read_from_an_address_a_fragment_or_a_file() {
        let fragment = link::encode(&state());
        assert_eq!(read_link(&format!("http://127.0.0.1:8080/#backend=cpu&{fragment}")).unwrap(), state());
        assert_eq!(read_link(&fragment).unwrap(), state());
        let file = std::env::temp_dir().join(format!("a2x-link-{}.txt", std::process::id()));
        std::fs::write(&file, format!("https://example.org/a2x/#{fragment}\n")).unwrap();
        assert_eq!(read_link(&format!("@{}", file.display())).unwrap(), state());
        std::fs::remove_file(&file).unwrap();
        assert!(read_link("http://127.0.0.1:8080/#backend=cpu").unwrap_err().contains("no `a2x=` link"));
        assert!(read_link(&fragment.replacen("a2x=1.", "a2x=9.", 1)).unwrap_err().contains("newer a2x"));
    }

    #[test]
    fn a_recipe_starts_from_the_bundled_photo_cropped_then_edits() {
        // Independent reference: the crop and the stroke applied by hand.
        let photos = bundled_photos().unwrap();
        let edit = a2x::drawing::Edit::stroke_at([250, 0, 0], 3.0, (20.0, 30.0), 64);
        let recipe = SharedPicture { base: PictureBase::Bundled { id: "coins".into() }, side: 64, edits: vec![edit.clone()] };
        let coins = photos.iter().find(|(id, _)| id == "coins").unwrap().1.clone();
        let mut expected = imaging::center_crop(&DynamicImage::ImageRgb8(coins), 64);
        a2x::drawing::stroke(&mut expected, (20.0, 30.0), (20.0, 30.0), 3.0, [250, 0, 0]);
        assert_eq!(picture(&recipe, &photos, None).unwrap(), expected);
        let supplied = SharedPicture { base: PictureBase::Supplied { name: "mine.jpg".into() }, ..recipe };
        assert!(picture(&supplied, &photos, None).unwrap_err().contains("--image"));
    }
}
