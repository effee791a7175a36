//! `a2x generate | sketch | inpaint --model squeezenet …`: the image tasks on an ImageNet model of
//! the zoo at its own input size, for any of the 1000 classes (issue #33), through the same
//! session as the page. A2X beside the fair PGD baseline, both judged by the attacked model and by
//! a model of another family (`models::judge_of`).

use crate::common::{load_model, open_device, ModelArgs};
use crate::tasks::TaskArgs;
use a2x::bundled::PhotoSet;
use a2x::engine::imagenet_tasks;
use a2x::engine::tasks::{hole_mask, Task, TaskSettings};
use a2x::engine::Classifier;
use a2x::measure;
use a2x::models::{self, ImageNetModel};
use a2x::session::{Outcome, Photo, RunEvent, Session, TaskModels, TaskRequest, Verdicts};
use burn::tensor::Device;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// What the seed of an ImageNet task is made from.
pub enum Start {
    /// Generation: mid-grey (128), the built-in uniform noise, or a picture file.
    Grey,
    Noise,
    Picture(PathBuf),
}

impl Start {
    pub fn parse(text: &str) -> Start {
        match text {
            "grey" | "gray" => Start::Grey,
            "noise" => Start::Noise,
            path => Start::Picture(PathBuf::from(path)),
        }
    }
}

/// An ImageNet class by index or by name (the first match of `labels::search`).
pub fn parse_class(name: &str) -> Result<usize, String> {
    if let Ok(index) = name.trim().parse::<usize>() {
        return if index < 1000 { Ok(index) } else { Err(format!("class {index} is not one of ImageNet's 1000 (0 to 999)")) };
    }
    models::labels::search(name, 1).first().copied().ok_or_else(|| format!("`{name}` names no ImageNet class"))
}

/// A picture file at the model's `size`², CHW in [0, 1]: a square one (a sketch canvas, a mask)
/// scaled whole, any other the ImageNet centre crop.
pub fn read_picture(path: &Path, size: usize) -> Result<Vec<f32>, String> {
    let bytes = crate::images::read_image_file(path)?;
    let image = a2x::imaging::decode(&bytes).map_err(|e| format!("{}: {e}", path.display()))?;
    let picture = if image.width() == image.height() {
        image::imageops::resize(&image.to_rgb8(), size as u32, size as u32, image::imageops::FilterType::CatmullRom)
    } else {
        a2x::imaging::center_crop(&image, size)
    };
    Ok(a2x::imaging::to_chw(&picture))
}

/// The seed of generation from `start` at `size`².
pub fn start_picture(start: &Start, size: usize) -> Result<Vec<f32>, String> {
    Ok(match start {
        // The page's and the links' built-in pictures, so a run from the CLI and its link agree.
        Start::Grey => a2x::imaging::to_chw(&a2x::bundled::built_in_at(a2x::bundled::GREY, size as u32).expect("built in")),
        Start::Noise => a2x::imaging::to_chw(&a2x::bundled::built_in_at(a2x::bundled::NOISE, size as u32).expect("built in")),
        Start::Picture(path) => read_picture(path, size)?,
    })
}

/// The mask of inpainting at `size`²: a PNG (white = hole, scaled to the model's size) or a
/// rectangle `top,left,height,width`; by default the central 64×64 square.
pub fn read_mask(hole: Option<&str>, mask: Option<&Path>, size: usize) -> Result<Vec<f32>, String> {
    if let Some(path) = mask {
        let values = read_picture(path, size)?;
        return Ok(measure::grey(&values).into_iter().map(|g| if g >= 0.5 { 1.0 } else { 0.0 }).collect());
    }
    let Some(text) = hole else {
        let side = 64.min(size);
        let start = (size - side) / 2;
        return Ok(hole_mask(size, start, start, side, side));
    };
    let parts: Vec<usize> = text.split(',').map(|p| p.trim().parse::<usize>()).collect::<Result<_, _>>().map_err(|_| format!("--hole {text}: expected top,left,height,width"))?;
    match parts[..] {
        [top, left, height, width] if height > 0 && width > 0 && top + height <= size && left + width <= size => Ok(hole_mask(size, top, left, height, width)),
        _ => Err(format!("--hole {text}: four numbers, a rectangle inside {size}×{size}")),
    }
}

/// The bundled photos of the page's D̄ (issue #21's wide set, less the photos that show the
/// target), read from `static/`.
pub fn bundled_distribution(target: usize) -> Result<Vec<Photo>, String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    PhotoSet::Wide
        .distribution("", target)
        .into_iter()
        .map(|(id, path)| {
            let bytes = std::fs::read(root.join(path)).map_err(|e| format!("{path}: {e}"))?;
            let image = a2x::imaging::decode(&bytes).map_err(|e| format!("{path}: {e}"))?.to_rgb8();
            Ok(Photo::new(id, &image))
        })
        .collect()
}

/// The task's settings on an ImageNet model: the defaults ([`imagenet_tasks::defaults`]) with the
/// CLI's overrides.
pub fn settings_for(task: Task, overrides: serde_json::Map<String, serde_json::Value>) -> Result<TaskSettings, String> {
    imagenet_tasks::defaults(task).with_overrides(&serde_json::Value::Object(overrides))
}

/// The attacked model and its judge of another family, loaded on one device.
pub struct Pair {
    pub model: ImageNetModel,
    pub judge: ImageNetModel,
}

pub fn load_pair(id: &str, device: &Device) -> Result<Pair, String> {
    let args = |model: &str| ModelArgs::of(model, crate::common::default_models_dir(), a2x::device::BackendKind::Flex);
    let (model, _) = load_model(&args(id), device)?;
    let (judge, _) = load_model(&args(models::judge_of(id)), device)?;
    Ok(Pair { model, judge })
}

/// What one ImageNet task produced: the seed as both methods start from it and both pictures,
/// each with both verdicts, and A2X's iterations.
pub struct Ran {
    pub seed: (Vec<f32>, Verdicts),
    pub a2x: (Vec<f32>, Verdicts),
    pub pgd: (Vec<f32>, Verdicts),
    pub iterations: usize,
    pub seconds: f64,
}

/// One request through the session, to its end. `on_step` sees A2X's events.
pub fn run_session(pair: &Pair, request: TaskRequest, device: &Device, mut on_step: impl FnMut(&a2x::engine::Event)) -> Result<Ran, String> {
    let models = TaskModels { robust: &pair.model, standard: &pair.judge, gaussians: &[] };
    let started = Instant::now();
    let mut session = Session::task(request, models, device);
    let mut seed = None;
    while let Some(event) = pollster::block_on(session.next()) {
        match event {
            RunEvent::Started { seed: values, verdicts } => seed = Some((values, verdicts.ok_or("the seed was not judged")?)),
            RunEvent::TaskStep { a2x: Some((event, _)), .. } => on_step(&event),
            RunEvent::Finished(Outcome::Task { a2x_image, pgd_image, a2x, pgd }) => {
                let seed = seed.ok_or("the run finished before it started")?;
                return Ok(Ran { seed, a2x: (a2x_image, a2x), pgd: (pgd_image, pgd), iterations: session.iterations(), seconds: started.elapsed().as_secs_f64() });
            }
            RunEvent::Failed { message } => return Err(message),
            _ => {}
        }
    }
    Err("the run ended without a result".into())
}

/// The request of an ImageNet task on `model`: the task's defaults with the flags' changes, the
/// target and the RNG seed; D̄ the page's (the bundled photos, less those showing the target).
pub fn request_of(task: Task, model: &str, flags: &crate::tasks::SettingsArgs, target: usize, rng: u64, seed: Vec<f32>, hole: Option<Vec<f32>>) -> Result<TaskRequest, String> {
    let mut overrides = crate::tasks::overrides_of(flags)?;
    overrides.insert("target".into(), target.into());
    overrides.insert("rng_seed".into(), rng.into());
    let settings = settings_for(task, overrides)?;
    Ok(TaskRequest { task, settings, seed: Some(seed), hole, model: Some(model.into()), photos: bundled_distribution(target)? })
}

/// One picture of a finished task as a report or a study record keeps it: written to `png`, both
/// verdicts, and what it kept of `original` (the picture as read, before any fill): the SSIM of
/// grey levels for a sketch, the error inside the hole for inpainting.
pub fn picture_entry(task: Task, image: &[f32], verdicts: &Verdicts, original: &[f32], hole: Option<&[f32]>, size: usize, png: &Path) -> Result<serde_json::Value, String> {
    std::fs::write(png, a2x::imaging::encode_png(&a2x::imaging::from_chw(image, [size, size]))?).map_err(|e| format!("{}: {e}", png.display()))?;
    let mut entry = serde_json::json!({ "png": png, "verdicts": verdicts });
    if task == Task::Sketch {
        entry["ssim_to_sketch"] = measure::ssim_of_grey(original, image, size).into();
    }
    if let Some(hole) = hole {
        entry["hole_mse"] = measure::hole_mse(image, original, hole).into();
    }
    Ok(entry)
}

/// The ImageNet task behind `a2x generate|sketch|inpaint --model ID`: the seed and the mask read
/// at the model's size. Writes `{stem}-{seed,a2x,pgd}.png` and `{stem}.json` into `args.out`.
pub fn run(task: Task, args: &TaskArgs, seed: SeedSource, hole: Option<Vec<f32>>) -> Result<(), String> {
    let model = args.model.as_str();
    let device = open_device(args.backend)?;
    let pair = load_pair(model, &device)?;
    let size = pair.model.input_shape()[1];
    let seed = match seed {
        SeedSource::Start(start) => start_picture(&start, size)?,
        SeedSource::Picture(path) => read_picture(&path, size)?,
    };
    let target = match args.target.as_deref() {
        Some(name) => parse_class(name)?,
        None if task == Task::Inpaint => {
            let logits = pollster::block_on(models::classify(&pair.model, seed.clone(), &device)).map_err(|e| e.to_string())?;
            models::top_k(&logits[0], 1)[0].class
        }
        None => return Err("--target is required: an ImageNet class by index or name".into()),
    };
    let request = request_of(task, model, &args.settings, target, args.rng, seed, hole)?;
    let stem = format!("{}-{model}-{target}-{}", a2x::engine::name_of(task), args.rng);
    run_and_report(&pair, &device, request, &args.out, &stem).map(|_| ())
}

/// `a2x replay` of an ImageNet task's link: the request the link describes, on `backend`.
pub fn replay(request: TaskRequest, backend: a2x::device::BackendKind, out: &Path, stem: &str) -> Result<serde_json::Value, String> {
    let device = open_device(backend)?;
    let pair = load_pair(request.model.as_deref().ok_or("not an ImageNet task")?, &device)?;
    run_and_report(&pair, &device, request, out, stem)
}

/// Runs `request` on `pair` and writes `{stem}-{seed,a2x,pgd}.png` and `{stem}.json` into `out`:
/// both verdicts of each picture, the SSIM to the sketch, the in-hole errors against the picture
/// as it came (before its hole was filled) and the mean-colour fill's.
pub fn run_and_report(pair: &Pair, device: &Device, request: TaskRequest, out: &Path, stem: &str) -> Result<serde_json::Value, String> {
    let (task, settings, hole) = (request.task, request.settings.clone(), request.hole.clone());
    let model = request.model.clone().ok_or("not an ImageNet task")?;
    let seed = request.seed.clone().ok_or("an ImageNet task needs its seed picture")?;
    let size = pair.model.input_shape()[1];
    let target = settings.run.target;
    let name = a2x::session::class_name(1000, target);
    eprintln!("{task:?} on {model} at {size}×{size}: target {target} ({name}), judged by {}", models::judge_of(&model));
    let ran = run_session(pair, request, device, |e| {
        if e.iteration % 10 == 0 || e.iteration == 1 {
            eprintln!("A2X iteration {}: ℘ {:.3} (seed {:.3}), ‖p‖ {:.2}", e.iteration, e.target_probability, e.seed_probability, e.perturbation_norm);
        }
    })?;
    eprintln!("A2X and PGD, stepped in turn: {:.1} s", ran.seconds);
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let mut report = serde_json::json!({ "task": task, "model": model, "judge": models::judge_of(&model), "target": target, "target_name": name, "settings": settings, "iterations": ran.iterations, "seconds": ran.seconds });
    for (label, (image, verdicts)) in [("seed", &ran.seed), ("a2x", &ran.a2x), ("pgd", &ran.pgd)] {
        let path = out.join(format!("{stem}-{label}.png"));
        let entry = picture_entry(task, image, verdicts, &seed, hole.as_deref(), size, &path)?;
        let (attacked, judge) = (&verdicts.robust, &verdicts.standard);
        println!(
            "{label:>4}: {model} says {} (target {:.3}, rank {}), {} says {} (target {:.3}, rank {}) → {}",
            attacked.top1_name, attacked.target_probability, attacked.target_rank, models::judge_of(&model), judge.top1_name, judge.target_probability, judge.target_rank, path.display()
        );
        if let Some(similarity) = entry["ssim_to_sketch"].as_f64() {
            println!("      SSIM of the grey levels to the sketch: {similarity:.3}");
        }
        if let Some(error) = entry["hole_mse"].as_f64() {
            println!("      mean squared error inside the hole: {error:.5}");
        }
        report[label] = entry;
    }
    if let Some(hole) = &hole {
        let error = measure::hole_mse(&a2x::engine::tasks::fill_hole_with_mean(&seed, hole, size), &seed, hole);
        report["mean_colour_hole_mse"] = error.into();
        println!("mean-colour fill: mean squared error inside the hole {error:.5}");
    }
    let path = out.join(format!("{stem}.json"));
    std::fs::write(&path, serde_json::to_string_pretty(&report).expect("serializes")).map_err(|e| e.to_string())?;
    Ok(report)
}

/// `a2x bench --tasks …`: a default explanation and each named ImageNet task on `model`, stepped
/// side by side in one process (one warm-up step each, then `timed` rounds, each round one step
/// of every session in turn), all with the page's D̄ (the bundled photos, 256 samples). Prints the
/// mean time a step and a whole run's (the step times its iterations) against the explanation's.
pub fn bench_tasks(model: &str, tasks: &[Task], backend: a2x::device::BackendKind, timed: usize) -> Result<(), String> {
    use a2x::engine::RunConfig;
    use a2x::session::ExplainRequest;
    let device = open_device(backend)?;
    let pair = load_pair(model, &device)?;
    let size = pair.model.input_shape()[1];
    let grey = Photo::new("grey", &a2x::imaging::from_chw(&vec![0.5; 3 * size * size], [size, size]));
    let explanation = ExplainRequest { model: model.into(), config: RunConfig { target: 510, ..RunConfig::default() }, seed: grey, photos: bundled_distribution(510)?, samples: 256 };
    let static_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("static");
    let mut sessions = vec![("explanation".to_string(), RunConfig::default().iterations, Session::explain(explanation, &pair.model, &device))];
    for &task in tasks {
        let (seed, hole) = match task {
            Task::Generate => (vec![0.5; 3 * size * size], None),
            Task::Sketch => (read_picture(&static_dir.join("sketches/ship.png"), size)?, None),
            Task::Inpaint => (read_picture(&static_dir.join("samples/coffee.png"), size)?, Some(read_mask(None, None, size)?)),
        };
        let mut settings = imagenet_tasks::defaults(task);
        settings.run.target = 510;
        let iterations = settings.run.iterations;
        let request = TaskRequest { task, settings, seed: Some(seed), hole, model: Some(model.into()), photos: bundled_distribution(510)? };
        let models = TaskModels { robust: &pair.model, standard: &pair.judge, gaussians: &[] };
        sessions.push((a2x::engine::name_of(task), iterations, Session::task(request, models, &device)));
    }
    let step = |session: &mut Session<'_, ImageNetModel>| -> Result<f64, String> {
        let start = Instant::now();
        match pollster::block_on(session.next()) {
            Some(RunEvent::Failed { message }) => Err(message),
            None => Err("the run ended before the timed steps".into()),
            Some(_) => Ok(start.elapsed().as_secs_f64() * 1e3),
        }
    };
    for (_, _, session) in sessions.iter_mut() {
        step(session)?; // Started: D̄ stretched, the seed judged
        step(session)?; // the warm-up iteration
    }
    let mut totals = vec![0f64; sessions.len()];
    for _ in 0..timed {
        for (i, (_, _, session)) in sessions.iter_mut().enumerate() {
            totals[i] += step(session)?;
        }
    }
    println!("| backend | model | run | steps timed | ms a step | iterations | s a run | ratio to the explanation |");
    println!("|---|---|---|---|---|---|---|---|");
    let reference = totals[0] / timed as f64 * sessions[0].1 as f64;
    for (i, (name, iterations, _)) in sessions.iter().enumerate() {
        let per_step = totals[i] / timed as f64;
        let run = per_step * *iterations as f64;
        println!("| {backend} | {model} {size}×{size} | {name} | {timed} | {per_step:.0} | {iterations} | {:.0} | {:.2} |", run / 1e3, run / reference);
    }
    Ok(())
}

/// Where an ImageNet task's seed comes from.
pub enum SeedSource {
    Start(Start),
    Picture(PathBuf),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_by_index_or_name_and_out_of_range() {
        assert_eq!(parse_class("340").unwrap(), 340);
        assert_eq!(parse_class("zebra").unwrap(), 340);
        assert!(parse_class("1000").unwrap_err().contains("0 to 999"));
        assert!(parse_class("zzzz").unwrap_err().contains("no ImageNet class"));
    }

    #[test]
    fn masks_by_rectangle_and_default() {
        let mask = read_mask(None, None, 227).unwrap();
        assert_eq!(mask.iter().filter(|&&f| f == 1.0).count(), 64 * 64);
        assert_eq!(mask[113 * 227 + 113], 1.0);
        assert_eq!(read_mask(Some("0,0,2,3"), None, 8).unwrap().iter().sum::<f32>(), 6.0);
        assert!(read_mask(Some("0,0,9,1"), None, 8).is_err());
    }
}
