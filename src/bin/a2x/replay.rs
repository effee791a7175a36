//! `a2x replay`: computes what a share link describes (issue #7), natively, with the page's own
//! recipe: the same bundled photos, the same seed edits, the same D̄ and RNG streams, the same
//! engine. The gallery's thumbnails are made with it (`make gallery`).

use crate::common::open_device;
use a2x::bundled;
use a2x::device::BackendKind;
use a2x::engine::tasks::Task;
use a2x::engine::{Classifier, Event};
use a2x::imaging;
use a2x::link::{self, SharedPage, SharedState};
use a2x::session::{from_link, ExplainRequest, Outcome, RunEvent, RunRequest, Session};
use clap::Args;
use image::RgbImage;
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

pub fn replay(args: ReplayArgs) -> Result<(), String> {
    let state = read_link(&args.link)?;
    eprintln!("link made on {}; computing on {}", state.backend, args.backend);
    let photos = bundled_photos()?;
    let supplied = args.image.as_deref().map(read_photo).transpose()?;
    let (request, warnings) = from_link::request(&state, &photos, supplied.as_ref()).map_err(|e| match &args.image {
        None if e.contains("sender's own image") => format!("{e}: give it with --image"),
        _ => e,
    })?;
    for warning in warnings {
        eprintln!("warning: {warning}");
    }
    match (&state.page, request) {
        (SharedPage::Explain { weights, .. }, RunRequest::Explain(request)) => explain(request, weights, &args),
        // An ImageNet task: the request's seed is the picture before any fill.
        (SharedPage::Task { .. }, RunRequest::Task(request)) if request.model.is_some() => crate::photo_tasks::replay(request, args.backend, &args.out, &args.name).map(|_| ()),
        (SharedPage::Task { task, seed, .. }, RunRequest::Task(request)) => {
            // Inpainting's error inside the hole is measured against the picture before its hole was filled.
            let truth = match (task, seed) {
                (Task::Inpaint, Some(seed)) => Some(imaging::to_chw(&from_link::render_picture(seed, &photos, supplied.as_ref())?)),
                _ => None,
            };
            crate::tasks::run_request(request, args.backend, &args.out, &args.name, truth).map(|_| ())
        }
        _ => unreachable!("a request of the link's page"),
    }
}

fn explain(request: ExplainRequest, weights: &str, args: &ReplayArgs) -> Result<(), String> {
    let models_dir = crate::common::default_models_dir();
    let manifest = crate::common::read_manifest(&models_dir)?;
    let model = request.model.clone();
    let entry = manifest.model(&model).ok_or(format!("models/manifest.json has no model `{model}`"))?;
    if !entry.sha256.starts_with(weights) {
        eprintln!("warning: the link was made with other weights of {model} ({weights}; here {}): the result will differ", &entry.sha256[..16]);
    }
    let device = open_device(args.backend)?;
    let zoo_args = crate::common::ModelArgs::of(&model, models_dir, args.backend);
    let (network, label) = crate::common::load_model(&zoo_args, &device)?;
    eprintln!("model: {label}");
    let size = network.input_shape()[1];
    let (config, samples, seed_name) = (request.config.clone(), request.samples, request.seed.name.clone());
    let mut events: Vec<Event> = Vec::new();
    let mut seed_values = Vec::new();
    let mut outcome = None;
    let mut session = Session::explain(request, &network, &device);
    while let Some(event) = pollster::block_on(session.next()) {
        match event {
            RunEvent::Started { seed, .. } => seed_values = seed,
            RunEvent::Explained { event, .. } => {
                if event.iteration % 10 == 0 || event.iteration == 1 {
                    eprintln!("t {:>4}  ℘ {:.4} (seed {:.4})  ‖p‖ {:.2}", event.iteration, event.target_probability, event.seed_probability, event.perturbation_norm);
                }
                events.push(event);
            }
            RunEvent::Finished(Outcome::Explanation { perturbation, top5 }) => outcome = Some((perturbation, top5)),
            RunEvent::Failed { message } => return Err(message),
            other => return Err(format!("an explanation does not send {other:?}")),
        }
    }
    let (p, top5) = outcome.ok_or("the run ended without a result")?;
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let save = |what: &str, image: RgbImage| -> Result<PathBuf, String> {
        let path = args.out.join(format!("{}-{what}.png", args.name));
        image.save(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(path)
    };
    let p_path = save("p", imaging::from_chw(&imaging::PerturbationView::default().render(&p), [size, size]))?;
    let perturbed: Vec<f32> = seed_values.iter().zip(&p).map(|(s, p)| (s + p).clamp(0.0, 1.0)).collect();
    let seed_p_path = save("seed-p", imaging::from_chw(&perturbed, [size, size]))?;
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
    use a2x::link::{PictureBase, SharedPicture};

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
}
