//! `a2x study`: a measured grid of explanation runs on the shipped models (issue #8).
//!
//! A grid file (JSON, see `static/study/grid.json`) names the seeds, the targets and the settings;
//! every (setting, model, target, seed) is one run of the engine. Each run is a child process
//! (`a2x study --run-one …`) that appends its result as one JSON line to `results.jsonl` under a
//! file lock the moment it finishes, so a stopped study loses only the runs in flight: started
//! again, it skips every run whose line is there. After every run the coordinator rewrites the
//! tables (`results.md`, `results.csv`) and the contact sheet (`contact-sheet.png`).
//!
//! The photos (`../shared/data/imagenet-samples`, one per class) are split once, by sorted file
//! name, into a sample half (even positions) and a held-out half (odd positions); the target's
//! own photo is left out of both. D̄ is the sample half; the held-out half only measures.

pub mod grid;
mod judge;
mod report;
pub(crate) mod sheet;

use crate::common::open_device;
use crate::images;
use crate::common::default_models_dir;
use a2x::clock::now_ms;
use a2x::device::BackendKind;
use a2x::engine::evaluate::transfer;
use a2x::engine::schedule::Run;
use a2x::engine::{read_values, Classifier};
use a2x::imaging;
use a2x::models::labels;
use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use a2x::bundled::PhotoSet;
use grid::{expand, read_grid, read_results, split_photos, Distribution, EarlyLook, RunResult, RunSpec, View, LAST_ITERATIONS};
use judge::{cross_checks, judge_of, load_zoo, robust_checks};
use report::report;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

#[derive(Args, Debug)]
pub struct StudyArgs {
    /// The grid: seeds, targets, settings (JSON; paths in it are relative to the current folder).
    #[arg(long, default_value = "static/study/grid.json")]
    pub grid: PathBuf,
    /// Photos named `<wnid>_….JPEG`, one per class (split into a sample and a held-out half).
    #[arg(long, default_value = "../shared/data/imagenet-samples")]
    pub photos: PathBuf,
    /// Output folder: results.jsonl (appended as runs finish), results.md, results.csv,
    /// contact-sheet.png, and runs/ (every run's perturbation and log).
    #[arg(long, default_value = "static/study")]
    pub out: PathBuf,
    /// Runs at a time, each its own process on one core (`RAYON_NUM_THREADS=1`).
    #[arg(long, default_value_t = 1)]
    pub workers: usize,
    /// Backend of every run (`flex` is the fastest CPU backend here).
    #[arg(long, default_value = "flex")]
    pub backend: BackendKind,
    /// Only these settings (names, comma-separated); all when absent.
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// Only runs from these seeds (ids, comma-separated); all when absent.
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<String>,
    /// Only runs for these targets (ImageNet class indices, comma-separated); all when absent.
    #[arg(long, value_delimiter = ',')]
    pub targets: Vec<usize>,
    /// Do not run anything: rewrite the tables and the contact sheet from results.jsonl.
    #[arg(long)]
    pub report_only: bool,
    /// Do not run anything: redo every recorded run's cross-model check from its PNG (only
    /// the settings of `--only`, when given), then rewrite the tables and the contact sheet. A
    /// run recorded before the stretched view existed gets one made from its PNG
    /// ([`stretched_from_png`]).
    #[arg(long)]
    pub recheck: bool,
    /// List the runs still to do and exit.
    #[arg(long)]
    pub dry_run: bool,
    /// Also draw `side-by-side.png`: the contact sheet of only these settings, in this order
    /// (comma-separated; e.g. the paper, the first defaults and the new ones).
    #[arg(long, value_delimiter = ',')]
    pub side_by_side: Vec<String>,
    /// Side of one perturbation in the contact sheet, in pixels.
    #[arg(long, default_value_t = 112)]
    pub cell: u32,
    /// The models folder holding manifest.json.
    #[arg(long, default_value_os_t = default_models_dir())]
    pub models_dir: PathBuf,
    /// Internal: run the one run this JSON describes (the coordinator's child processes).
    #[arg(long, hide = true)]
    pub run_one: Option<String>,
}

pub fn study(args: StudyArgs) -> Result<(), String> {
    if let Some(spec) = &args.run_one {
        let spec: RunSpec = serde_json::from_str(spec).map_err(|e| format!("--run-one: {e}"))?;
        return run_one(&args, spec);
    }
    let grid = read_grid(&args.grid)?;
    let results_path = args.out.join("results.jsonl");
    if args.recheck {
        recheck(&args)?;
        return report(&grid, &read_results(&results_path)?, &args);
    }
    if args.report_only {
        return report(&grid, &read_results(&results_path)?, &args);
    }
    for name in &args.only {
        if !grid.settings.iter().any(|s| &s.name == name) {
            return Err(format!("--only: no setting named `{name}` in {}", args.grid.display()));
        }
    }
    if !args.photos.is_dir() {
        return Err(format!("{}: no such folder (the ImageNet sample photos; see ../shared/data/README.md)", args.photos.display()));
    }
    for id in &args.seeds {
        if !grid.seeds.iter().any(|s| &s.id == id) {
            return Err(format!("--seeds: no seed named `{id}` in {}", args.grid.display()));
        }
    }
    let done = read_results(&results_path)?;
    let pending: Vec<RunSpec> = expand(&grid)?
        .into_iter()
        .filter(|run| args.only.is_empty() || args.only.contains(&run.setting))
        .filter(|run| args.seeds.is_empty() || args.seeds.contains(&run.seed))
        .filter(|run| args.targets.is_empty() || args.targets.contains(&run.target))
        .filter(|run| !done.iter().any(|r| &r.spec == run))
        .collect();
    eprintln!("{} runs in results.jsonl, {} to do", done.len(), pending.len());
    if args.dry_run {
        for run in &pending {
            println!("{} {} target {} seed {}", run.setting, run.model, run.target, run.seed);
        }
        return Ok(());
    }
    std::fs::create_dir_all(args.out.join("runs")).map_err(|e| format!("{}: {e}", args.out.display()))?;
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this program: {e}"))?;
    let mut queue = pending.into_iter();
    let mut running: Vec<(RunSpec, Child)> = Vec::new();
    let mut failures = 0;
    loop {
        while running.len() < args.workers.max(1) {
            let Some(run) = queue.next() else { break };
            let dir = args.out.join("runs").join(&run.setting);
            std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
            // Appended, never truncated: a run left in flight by a stopped coordinator may still
            // be writing to it (its child then declines this second start, see `run_one`).
            let log_path = dir.join(format!("{}.log", run.stem()));
            let log = OpenOptions::new().create(true).append(true).open(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
            let mut command = Command::new(&exe);
            command
                .arg("study")
                .arg("--grid").arg(&args.grid)
                .arg("--photos").arg(&args.photos)
                .arg("--out").arg(&args.out)
                .arg("--backend").arg(args.backend.to_string())
                .arg("--models-dir").arg(&args.models_dir)
                .arg("--run-one").arg(serde_json::to_string(&run).expect("serialisable"))
                .stdin(Stdio::null())
                .stdout(log.try_clone().map_err(|e| e.to_string())?)
                .stderr(log);
            if args.workers > 1 {
                command.env("RAYON_NUM_THREADS", "1");
            }
            eprintln!("start: {} {} target {} seed {}", run.setting, run.model, run.target, run.seed);
            let child = command.spawn().map_err(|e| format!("cannot start a run: {e}"))?;
            running.push((run, child));
        }
        if running.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
        let mut finished = false;
        let mut i = 0;
        while i < running.len() {
            match running[i].1.try_wait().map_err(|e| e.to_string())? {
                None => i += 1,
                Some(status) => {
                    let (run, _) = running.swap_remove(i);
                    if !status.success() {
                        failures += 1;
                        eprintln!(
                            "FAILED ({status}): {} {} target {} seed {} — see {}",
                            run.setting, run.model, run.target, run.seed,
                            args.out.join("runs").join(&run.setting).join(format!("{}.log", run.stem())).display()
                        );
                    }
                    finished = true;
                }
            }
        }
        if finished {
            report(&grid, &read_results(&results_path)?, &args)?;
        }
    }
    report(&grid, &read_results(&results_path)?, &args)?;
    if failures > 0 {
        return Err(format!("{failures} runs failed (their logs say why); run the study again to retry them"));
    }
    Ok(())
}

fn chw_tensor(values: Vec<f32>, n: usize, size: usize, device: &Device) -> Tensor<4> {
    Tensor::from_data(TensorData::new(values, [n, 3, size, size]), device)
}

fn load_photos(files: &[PathBuf], size: usize, device: &Device) -> Result<Tensor<4>, String> {
    let mut values = Vec::with_capacity(files.len() * 3 * size * size);
    for file in files {
        values.extend(images::load_for_model(file, size)?);
    }
    Ok(chw_tensor(values, files.len(), size, device))
}

/// The iterations at which a run also asks its judge about the stretched view of p so far.
pub const EARLY_LOOKS: [usize; 3] = [25, 50, 75];

/// |D̄| of the page: what it stretches its photos to.
pub const PAGE_SAMPLES: usize = 256;

/// D̄ as the page draws it (issue #21: what a visitor gets is what is measured): the bundled
/// photos of `set` but the seed (and, with the wide set, the photos that show the target),
/// stretched to [`PAGE_SAMPLES`] samples by the run's RNG seed.
fn page_samples(spec: &RunSpec, set: PhotoSet, size: usize, device: &Device) -> Result<Tensor<4>, String> {
    let static_dir = PathBuf::from("static");
    let mut photos = Vec::new();
    for (_, path) in set.distribution(&spec.seed, spec.target) {
        let bytes = images::read_image_file(&static_dir.join(path))?;
        photos.push(imaging::decode(&bytes).map_err(|e| format!("{path}: {e}"))?.to_rgb8());
    }
    eprintln!("D̄: {} bundled photos stretched to {PAGE_SAMPLES} samples", photos.len());
    let values = a2x::distribution::stretch(&photos, PAGE_SAMPLES, size, spec.config.rng_seed)?;
    Ok(chw_tensor(values, PAGE_SAMPLES, size, device))
}

/// The child process: one run, then its line appended to results.jsonl. It holds a lock on
/// `runs/<setting>/<run>.lock` throughout, so a restarted coordinator cannot start the same run
/// twice while a child of a stopped one is still computing it.
fn run_one(args: &StudyArgs, spec: RunSpec) -> Result<(), String> {
    let lock_path = args.out.join("runs").join(&spec.setting).join(format!("{}.lock", spec.stem()));
    let lock = std::fs::File::create(&lock_path).map_err(|e| format!("{}: {e}", lock_path.display()))?;
    match lock.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            eprintln!("already running in another process; not started twice");
            return Ok(());
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(format!("{}: cannot lock: {e}", lock_path.display())),
    }
    if read_results(&args.out.join("results.jsonl"))?.iter().any(|r| r.spec == spec) {
        eprintln!("already in results.jsonl; nothing to do");
        return Ok(());
    }
    let device = open_device(args.backend)?;
    let zoo = load_zoo(args, &device)?;
    let model = zoo
        .iter()
        .find(|m| m.id() == spec.model)
        .ok_or_else(|| format!("unknown model `{}`", spec.model))?;
    let [_, size, _] = model.input_shape();
    let label = labels::imagenet().get(spec.target).ok_or_else(|| format!("target {} is not an ImageNet class", spec.target))?;
    let (sample_files, held_out_files) = split_photos(&images::list_images(&args.photos)?, label.wnid);
    eprintln!("{} {} target {} ({}) seed {}: {} samples, {} held out", spec.setting, spec.model, spec.target, label.name(), spec.seed, sample_files.len(), held_out_files.len());
    let seed = chw_tensor(images::load_for_model(&spec.seed_file, size)?, 1, size, &device);
    let samples = match spec.distribution {
        Distribution::Imagenet => load_photos(&sample_files, size, &device)?,
        Distribution::Bundled => page_samples(&spec, PhotoSet::Wide, size, &device)?,
        Distribution::BundledFirst => page_samples(&spec, PhotoSet::First, size, &device)?,
    };
    let held_out = load_photos(&held_out_files, size, &device)?;

    let config = spec.config.clone();
    let mut run = Run::new(model, seed.clone(), samples.clone(), config.clone()).map_err(|e| e.to_string())?;
    let start = now_ms();
    let mut curve = Vec::new();
    let mut early = Vec::new();
    let (mut gamma_reached_at, mut refinements, mut last) = (None, 0, None);
    let (mut signs, mut coverage, mut clipped) = (String::new(), Vec::new(), Vec::new());
    while !run.is_finished() {
        let event = pollster::block_on(run.step()).map_err(|e| e.to_string())?;
        curve.push(event.samples_probability);
        signs.push(if event.sign > 0 { '+' } else { '-' });
        if event.gamma_reached && gamma_reached_at.is_none() {
            gamma_reached_at = Some(event.iteration);
        }
        if event.refined {
            refinements += 1;
            if let Some(refinement) = run.last_refinement() {
                let kept = refinement.mask.iter().filter(|&&m| m > 0.0).count();
                coverage.push(kept as f32 / refinement.mask.len().max(1) as f32);
                clipped.push(refinement.clipped_fraction);
            }
        }
        if event.iteration % 10 == 0 || event.iteration == 1 || event.refined {
            eprintln!("t {:>4}  ℘ {:.4} (samples {:.4}, seed {:.4})  ‖p‖ {:.2}{}", event.iteration, event.target_probability, event.samples_probability, event.seed_probability, event.perturbation_norm, if event.refined { "  refined" } else { "" });
        }
        // How the judge sees p part of the way (how many iterations a setting needs).
        if EARLY_LOOKS.contains(&event.iteration) && !run.is_finished() {
            let p = pollster::block_on(read_values(run.perturbation())).map_err(|e| e.to_string())?;
            let picture = imaging::from_chw(&imaging::visualize_stretched(&p), [size, size]);
            let judge = zoo.iter().find(|m| m.id() == judge_of(&spec.model)).ok_or("the judge is not in the zoo")?;
            let check = pollster::block_on(a2x::models::cross_check(judge, judge.id(), &picture, spec.target, &device)).map_err(|e| e.to_string())?;
            early.push(EarlyLook { iteration: event.iteration, judge_rank: check.resized_rank });
        }
        last = Some(event);
    }
    let seconds = (now_ms() - start) / 1e3;
    let last = last.ok_or("the run has no iterations")?;
    let perturbation = run.perturbation();
    let chunk = config.chunk;
    let measure = |images: Tensor<4>| pollster::block_on(transfer(model, images, perturbation.clone(), spec.target, chunk)).map_err(|e| e.to_string());
    let seed_probability = measure(seed)?.target_probability;
    let samples_transfer = measure(samples)?;
    let held_out_transfer = measure(held_out)?;

    // The visualised perturbation, as the PNG a user would download, classified alone by every
    // model of the zoo (resized to each model's input with Catmull–Rom; no crop).
    let p = pollster::block_on(read_values(perturbation)).map_err(|e| e.to_string())?;
    let picture = imaging::from_chw(&imaging::visualize_perturbation(&p), [size, size]);
    let image = format!("runs/{}/{}.png", spec.setting, spec.stem());
    let image_path = args.out.join(&image);
    picture.save(&image_path).map_err(|e| format!("{}: {e}", image_path.display()))?;
    let cross = cross_checks(&zoo, &picture, spec.target, &device)?;
    let robust = robust_checks(&zoo, &picture, spec.target, spec.config.rng_seed, &device)?;
    // p itself, for views decided later (not committed: 0.6 MB a run).
    let raw_path = args.out.join(format!("runs/{}/{}.p32", spec.setting, spec.stem()));
    std::fs::write(&raw_path, p.iter().flat_map(|v| v.to_le_bytes()).collect::<Vec<u8>>()).map_err(|e| format!("{}: {e}", raw_path.display()))?;
    let stretched_picture = imaging::from_chw(&imaging::visualize_stretched(&p), [size, size]);
    let stretched_image = format!("runs/{}/{}-stretched.png", spec.setting, spec.stem());
    let stretched_path = args.out.join(&stretched_image);
    stretched_picture.save(&stretched_path).map_err(|e| format!("{}: {e}", stretched_path.display()))?;
    let stretched = View {
        image: stretched_image,
        cross: cross_checks(&zoo, &stretched_picture, spec.target, &device)?,
        robust: robust_checks(&zoo, &stretched_picture, spec.target, spec.config.rng_seed, &device)?,
    };
    let tail = curve.len().saturating_sub(LAST_ITERATIONS);
    let result = RunResult {
        target_name: label.name().into(),
        backend: args.backend.to_string(),
        seconds,
        batch_probability: curve[tail..].iter().sum::<f32>() / (curve.len() - tail) as f32,
        final_probability: last.target_probability,
        gamma_reached_at,
        refinements,
        mask_coverage: (!coverage.is_empty()).then(|| coverage.iter().sum::<f32>() / coverage.len() as f32),
        clipped_fraction: (!clipped.is_empty()).then(|| clipped.iter().sum::<f32>() / clipped.len() as f32),
        signs,
        perturbation_norm: last.perturbation_norm,
        seed_probability,
        samples: samples_transfer,
        held_out: held_out_transfer,
        cross,
        robust,
        stretched: Some(stretched),
        early,
        curve: curve.iter().map(|v| (v * 1e5).round() / 1e5).collect(),
        image,
        spec,
    };
    eprintln!("done in {seconds:.0} s: held-out target probability {:.4}, top-1 {:.3}; cross {:?}", result.held_out.target_probability, result.held_out.top1_rate, result.cross);
    append_result(&args.out.join("results.jsonl"), &result)
}

/// `--recheck`: the cross-model checks of every recorded run again, from its saved PNG (after
/// the check itself changed), rewriting results.jsonl under its lock.
fn recheck(args: &StudyArgs) -> Result<(), String> {
    let path = args.out.join("results.jsonl");
    let device = open_device(args.backend)?;
    let zoo = load_zoo(args, &device)?;
    let file = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.lock().map_err(|e| format!("{}: cannot lock: {e}", path.display()))?;
    let result = (|| {
        let mut results = read_results(&path)?;
        for r in results.iter_mut().filter(|r| args.only.is_empty() || args.only.contains(&r.spec.setting)) {
            let png = args.out.join(&r.image);
            let picture = image::open(&png).map_err(|e| format!("{}: {e}", png.display()))?.to_rgb8();
            r.cross = cross_checks(&zoo, &picture, r.spec.target, &device)?;
            r.robust = robust_checks(&zoo, &picture, r.spec.target, r.spec.config.rng_seed, &device)?;
            if r.stretched.is_none() {
                let image = r.image.replace(".png", "-stretched.png");
                let stretched_path = args.out.join(&image);
                stretched_from_png(&picture).save(&stretched_path).map_err(|e| format!("{}: {e}", stretched_path.display()))?;
                r.stretched = Some(View { image, cross: Vec::new(), robust: Vec::new() });
            }
            if let Some(view) = r.stretched.as_mut() {
                let png = args.out.join(&view.image);
                let picture = image::open(&png).map_err(|e| format!("{}: {e}", png.display()))?.to_rgb8();
                view.cross = cross_checks(&zoo, &picture, r.spec.target, &device)?;
                view.robust = robust_checks(&zoo, &picture, r.spec.target, r.spec.config.rng_seed, &device)?;
            }
            eprintln!("{} {} {} {}: {:?}", r.spec.setting, r.spec.model, r.spec.target, r.spec.seed, r.cross.iter().map(|c| (c.rank, c.resized_rank)).collect::<Vec<_>>());
        }
        let text: String = results.iter().map(|r| serde_json::to_string(r).expect("serialisable") + "\n").collect();
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    })();
    file.unlock().map_err(|e| e.to_string())?;
    result
}

/// The stretched view of a run that kept only the paper's view (the max-scaled PNG, ½ + p / 2
/// max|p|, in 8 bits): p up to its scale is the PNG minus mid-grey, and the stretched view does
/// not depend on p's scale, so it is p's own up to the 8-bit rounding of the PNG.
pub fn stretched_from_png(picture: &image::RgbImage) -> image::RgbImage {
    let [w, h] = [picture.width() as usize, picture.height() as usize];
    let centred: Vec<f32> = imaging::to_chw(picture).iter().map(|v| v - 0.5).collect();
    imaging::from_chw(&imaging::visualize_stretched(&centred), [h, w])
}

/// Appends one line under an exclusive lock (several runs may finish at once).
fn append_result(path: &Path, result: &RunResult) -> Result<(), String> {
    let mut file = OpenOptions::new().create(true).append(true).open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    file.lock().map_err(|e| format!("{}: cannot lock: {e}", path.display()))?;
    let line = serde_json::to_string(result).expect("serialisable") + "\n";
    let written = file.write_all(line.as_bytes()).map_err(|e| format!("{}: {e}", path.display()));
    file.unlock().map_err(|e| format!("{}: {e}", path.display()))?;
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stretched view made from the paper's 8-bit PNG matches the one made from p itself to
    /// within the PNG's rounding, magnified by the stretch (max|p| / q levels at most).
    #[test]
    fn the_stretched_view_from_the_png_is_ps_own() {
        let [h, w] = [24, 20];
        let mut rng = a2x::engine::sampling::Rng::new(3);
        // Mostly small values and a few large ones, as a Fourier-moved p has.
        let p: Vec<f32> = (0..3 * h * w).map(|i| (rng.unit() as f32 - 0.5) * if i % 97 == 0 { 8.0 } else { 1.0 }).collect();
        let png = imaging::from_chw(&imaging::visualize_perturbation(&p), [h, w]);
        let own = imaging::from_chw(&imaging::visualize_stretched(&p), [h, w]);
        let derived = stretched_from_png(&png);
        let max = p.iter().fold(0f32, |m, v| m.max(v.abs()));
        let mut magnitudes: Vec<f32> = p.iter().map(|v| v.abs()).collect();
        magnitudes.sort_by(f32::total_cmp);
        let q = magnitudes[((magnitudes.len() - 1) as f32 * imaging::STRETCH_QUANTILE).round() as usize];
        // Half a level of the PNG is max|p|/255 in p, i.e. max|p|/(2q) levels of the stretched
        // view; plus the rounding of both pictures and the quantile's own shift.
        let bound = (max / q / 2.0).ceil() as i32 + 2;
        let worst = own.pixels().zip(derived.pixels()).flat_map(|(a, b)| (0..3).map(move |c| (a[c] as i32 - b[c] as i32).abs())).max().unwrap();
        assert!(worst <= bound, "worst difference {worst} levels, bound {bound}");
    }
}
