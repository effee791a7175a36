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

use crate::explain::open_device;
use crate::images;
use crate::sheet;
use crate::zoo::{default_models_dir, load_model, ModelArgs};
use a2x::clock::now_ms;
use a2x::device::BackendKind;
use a2x::engine::evaluate::{transfer, Transfer};
use a2x::engine::schedule::Run;
use a2x::engine::{read_values, Classifier, RunConfig};
use a2x::imaging;
use a2x::models::efficientnet::{EfficientNetLite, Variant};
use a2x::models::{self, labels, CrossCheck};
use burn::tensor::{Device, Tensor, TensorData};
use clap::Args;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Iterations at the end of a run over which ℘ on the batch is averaged (one batch is only
/// b − 1 = 31 photos, so a single iteration's value is noisy).
const LAST_ITERATIONS: usize = 10;
/// A cross-model check passes when the target is in this many of the model's top classes.
pub const TOP_K: usize = 5;

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
    /// Do not run anything: redo every recorded run's cross-model check from its PNG, then
    /// rewrite the tables and the contact sheet.
    #[arg(long)]
    pub recheck: bool,
    /// List the runs still to do and exit.
    #[arg(long)]
    pub dry_run: bool,
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

/// A seed image d of the grid.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SeedSpec {
    pub id: String,
    pub file: PathBuf,
    /// The run's RNG seed (O8) when this image is the seed.
    pub rng_seed: u64,
}

/// One setting: engine settings and the models, targets and seeds it runs on.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettingSpec {
    pub name: String,
    /// Why this setting is in the grid (shown in results.md).
    #[serde(default)]
    pub why: String,
    pub models: Vec<String>,
    /// A subset of the grid's targets; all when absent.
    #[serde(default)]
    pub targets: Option<Vec<usize>>,
    /// A subset of the grid's seed ids; all when absent.
    #[serde(default)]
    pub seeds: Option<Vec<String>>,
    /// Engine settings over the paper's (`RunConfig::paper`). `target` and `rng_seed` are the grid's.
    pub config: serde_json::Value,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grid {
    #[serde(default)]
    pub description: String,
    pub seeds: Vec<SeedSpec>,
    pub targets: Vec<usize>,
    pub settings: Vec<SettingSpec>,
}

/// Everything one run needs; also what identifies it in results.jsonl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunSpec {
    pub setting: String,
    pub model: String,
    pub target: usize,
    pub seed: String,
    pub seed_file: PathBuf,
    pub config: RunConfig,
}

impl RunSpec {
    /// File stem of this run's outputs under runs/<setting>/.
    fn stem(&self) -> String {
        format!("{}-t{}-{}", self.model, self.target, self.seed)
    }
}

/// One finished run: a line of results.jsonl.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunResult {
    pub spec: RunSpec,
    pub target_name: String,
    pub backend: String,
    pub seconds: f64,
    /// ℘ on the b − 1 samples of the batch (seed excluded), mean of the last iterations.
    pub batch_probability: f32,
    /// ℘ of line 22 (seed included) at the last iteration.
    pub final_probability: f32,
    /// First iteration with ℘ ≥ γ.
    pub gamma_reached_at: Option<usize>,
    pub refinements: usize,
    /// Mean over the refinements of the fraction of the feature map the mask kept (O6), and of
    /// the fraction of p's entries the clip to [−1, 1] changed (O5).
    pub mask_coverage: Option<f32>,
    pub clipped_fraction: Option<f32>,
    /// The direction each iteration took: `-` for p − ρ (descent on J), `+` for p + ρ.
    pub signs: String,
    pub perturbation_norm: f32,
    /// The target's probability for Clip(d̄ + p).
    pub seed_probability: f32,
    /// Clip(x + p) over the whole sample half D̄.
    pub samples: Transfer,
    /// Clip(x + p) over the held-out half.
    pub held_out: Transfer,
    /// The visualised p classified alone by every model of the zoo (resized to its input).
    pub cross: Vec<CrossCheck>,
    /// ℘ on the batch without the seed, per iteration.
    pub curve: Vec<f32>,
    /// The visualised p, relative to the output folder.
    pub image: String,
}

impl RunResult {
    /// The cross-model checks of the models that did not compute p.
    pub fn others(&self) -> impl Iterator<Item = &CrossCheck> {
        self.cross.iter().filter(move |c| c.model != self.spec.model)
    }
    /// Whether every other model ranks the target in its top [`TOP_K`] (pixel for pixel).
    pub fn others_pass(&self) -> bool {
        let mut others = self.others().peekable();
        others.peek().is_some() && others.all(|c| c.rank <= TOP_K)
    }
    /// The same with the perturbation resized to each model's input.
    pub fn others_pass_resized(&self) -> bool {
        let mut others = self.others().peekable();
        others.peek().is_some() && others.all(|c| c.resized_rank >= 1 && c.resized_rank <= TOP_K)
    }
}

pub fn read_grid(path: &Path) -> Result<Grid, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let grid: Grid = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let mut names = BTreeSet::new();
    for setting in &grid.settings {
        if !names.insert(&setting.name) {
            return Err(format!("{}: two settings are named `{}`", path.display(), setting.name));
        }
        if setting.name.is_empty() || !setting.name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)) {
            return Err(format!("setting name `{}`: use letters, digits, - _ . only (it names a folder)", setting.name));
        }
        for model in &setting.models {
            Variant::from_id(model).ok_or_else(|| format!("setting `{}`: unknown model `{model}`", setting.name))?;
        }
        for target in setting.targets.iter().flatten() {
            if !grid.targets.contains(target) {
                return Err(format!("setting `{}`: target {target} is not among the grid's targets", setting.name));
            }
        }
        for seed in setting.seeds.iter().flatten() {
            if !grid.seeds.iter().any(|s| &s.id == seed) {
                return Err(format!("setting `{}`: no seed `{seed}` in the grid", setting.name));
            }
        }
        config_of(setting, 0, 0)?;
    }
    if let Some(&t) = grid.targets.iter().find(|&&t| t >= labels::imagenet().len()) {
        return Err(format!("{}: target {t} is not an ImageNet class", path.display()));
    }
    Ok(grid)
}

/// The setting's engine settings over the paper's ([`RunConfig::paper`], which never changes, so
/// recorded runs stay valid when a2x's defaults move), with the run's target and RNG seed.
fn config_of(setting: &SettingSpec, target: usize, rng_seed: u64) -> Result<RunConfig, String> {
    let mut value = serde_json::to_value(RunConfig::paper()).expect("serialisable");
    let serde_json::Value::Object(overrides) = &setting.config else {
        return Err(format!("setting `{}`: config must be a JSON object", setting.name));
    };
    for (key, v) in overrides {
        if key == "target" || key == "rng_seed" {
            return Err(format!("setting `{}`: `{key}` comes from the grid, not the setting", setting.name));
        }
        if value.get(key).is_none() {
            return Err(format!("setting `{}`: unknown engine setting `{key}`", setting.name));
        }
        value[key] = v.clone();
    }
    value["target"] = target.into();
    value["rng_seed"] = rng_seed.into();
    serde_json::from_value(value).map_err(|e| format!("setting `{}`: {e}", setting.name))
}

/// Every run of the grid, in grid order (setting, model, target, seed).
pub fn expand(grid: &Grid) -> Result<Vec<RunSpec>, String> {
    let mut runs = Vec::new();
    for setting in &grid.settings {
        for model in &setting.models {
            for &target in setting.targets.as_ref().unwrap_or(&grid.targets) {
                for seed in &grid.seeds {
                    if setting.seeds.as_ref().is_some_and(|ids| !ids.contains(&seed.id)) {
                        continue;
                    }
                    runs.push(RunSpec {
                        setting: setting.name.clone(),
                        model: model.clone(),
                        target,
                        seed: seed.id.clone(),
                        seed_file: seed.file.clone(),
                        config: config_of(setting, target, seed.rng_seed)?,
                    });
                }
            }
        }
    }
    Ok(runs)
}

/// The photos split into (sample half, held-out half) for `target`: by sorted name, even
/// positions to the samples, odd to the held-out; the target's photos are in neither.
pub fn split_photos(files: &[PathBuf], target_wnid: &str) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let mut sorted = files.to_vec();
    sorted.sort();
    let (mut samples, mut held_out) = (Vec::new(), Vec::new());
    for (i, file) in sorted.into_iter().enumerate() {
        let name = file.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if name.split('_').next() == Some(target_wnid) {
            continue;
        }
        if i % 2 == 0 { samples.push(file) } else { held_out.push(file) }
    }
    (samples, held_out)
}

/// Every line of results.jsonl (a missing file is an empty study).
pub fn read_results(path: &Path) -> Result<Vec<RunResult>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| serde_json::from_str(line).map_err(|e| format!("{} line {}: {e}", path.display(), i + 1)))
        .collect()
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
        .find(|m| m.variant().id() == spec.model)
        .ok_or_else(|| format!("unknown model `{}`", spec.model))?;
    let [_, size, _] = model.input_shape();
    let label = labels::imagenet().get(spec.target).ok_or_else(|| format!("target {} is not an ImageNet class", spec.target))?;
    let (sample_files, held_out_files) = split_photos(&images::list_images(&args.photos)?, label.wnid);
    eprintln!("{} {} target {} ({}) seed {}: {} samples, {} held out", spec.setting, spec.model, spec.target, label.name(), spec.seed, sample_files.len(), held_out_files.len());
    let seed = chw_tensor(images::load_for_model(&spec.seed_file, size)?, 1, size, &device);
    let samples = load_photos(&sample_files, size, &device)?;
    let held_out = load_photos(&held_out_files, size, &device)?;

    let config = spec.config.clone();
    let mut run = Run::new(model, seed.clone(), samples.clone(), config.clone()).map_err(|e| e.to_string())?;
    let start = now_ms();
    let mut curve = Vec::new();
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
        curve: curve.iter().map(|v| (v * 1e5).round() / 1e5).collect(),
        image,
        spec,
    };
    eprintln!("done in {seconds:.0} s: held-out target probability {:.4}, top-1 {:.3}; cross {:?}", result.held_out.target_probability, result.held_out.top1_rate, result.cross);
    append_result(&args.out.join("results.jsonl"), &result)
}

/// The paper's cross-model check: every model of the zoo classifies the visualised perturbation
/// alone, pixel for pixel and resized to its own input.
fn cross_checks(zoo: &[EfficientNetLite], picture: &image::RgbImage, target: usize, device: &Device) -> Result<Vec<CrossCheck>, String> {
    zoo.iter()
        .map(|model| pollster::block_on(models::cross_check(model, model.variant().id(), picture, target, device)).map_err(|e| e.to_string()))
        .collect()
}

fn load_zoo(args: &StudyArgs, device: &Device) -> Result<Vec<EfficientNetLite>, String> {
    Variant::ALL
        .iter()
        .map(|v| {
            let model_args = ModelArgs { model: v.id().into(), models_dir: args.models_dir.clone(), backend: args.backend, symmetric_padding: false };
            load_model(&model_args, device).map(|(model, _)| model)
        })
        .collect()
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
        for r in &mut results {
            let png = args.out.join(&r.image);
            let picture = image::open(&png).map_err(|e| format!("{}: {e}", png.display()))?.to_rgb8();
            r.cross = cross_checks(&zoo, &picture, r.spec.target, &device)?;
            eprintln!("{} {} {} {}: {:?}", r.spec.setting, r.spec.model, r.spec.target, r.spec.seed, r.cross.iter().map(|c| (c.rank, c.resized_rank)).collect::<Vec<_>>());
        }
        let text: String = results.iter().map(|r| serde_json::to_string(r).expect("serialisable") + "\n").collect();
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    })();
    file.unlock().map_err(|e| e.to_string())?;
    result
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

/// The results of one (setting, model), aggregated over its targets and seeds.
pub struct Row<'a> {
    pub setting: &'a SettingSpec,
    pub model: String,
    pub runs: Vec<&'a RunResult>,
}

/// Results grouped by setting and model, in grid order; results of settings no longer in the
/// grid (or whose settings changed) are left out.
pub fn rows<'a>(grid: &'a Grid, results: &'a [RunResult]) -> Vec<Row<'a>> {
    let expected = expand(grid).unwrap_or_default();
    let mut rows = Vec::new();
    for setting in &grid.settings {
        for model in &setting.models {
            let runs: Vec<&RunResult> = results
                .iter()
                .filter(|r| r.spec.setting == setting.name && &r.spec.model == model && expected.contains(&r.spec))
                .collect();
            if !runs.is_empty() {
                rows.push(Row { setting, model: model.clone(), runs });
            }
        }
    }
    rows
}

fn mean(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, n) = values.fold((0.0, 0usize), |(s, n), v| (s + v, n + 1));
    if n == 0 { f64::NAN } else { sum / n as f64 }
}

fn median(mut values: Vec<usize>) -> f64 {
    values.sort();
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2] as f64,
        n => (values[n / 2 - 1] + values[n / 2]) as f64 / 2.0,
    }
}

/// Targets whose every run passes / with at least one passing run, and the number of targets.
fn target_passes(runs: &[&RunResult], passes: fn(&RunResult) -> bool) -> (usize, usize, usize) {
    let targets: BTreeSet<usize> = runs.iter().map(|r| r.spec.target).collect();
    let (mut all, mut any) = (0, 0);
    for &t in &targets {
        let of_target: Vec<bool> = runs.iter().filter(|r| r.spec.target == t).map(|r| passes(r)).collect();
        all += of_target.iter().all(|&p| p) as usize;
        any += of_target.iter().any(|&p| p) as usize;
    }
    (all, any, targets.len())
}

fn report(grid: &Grid, results: &[RunResult], args: &StudyArgs) -> Result<(), String> {
    let rows = rows(grid, results);
    let write = |name: &str, text: String| {
        let path = args.out.join(name);
        std::fs::write(&path, text).map_err(|e| format!("{}: {e}", path.display()))
    };
    std::fs::create_dir_all(&args.out).map_err(|e| format!("{}: {e}", args.out.display()))?;
    write("results.md", markdown(grid, &rows))?;
    write("results.csv", csv(&rows))?;
    if !rows.is_empty() {
        let sheet = sheet::contact_sheet(grid, &rows, &args.out, args.cell);
        let path = args.out.join("contact-sheet.png");
        sheet.save(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The summary table, one line per (setting, model), then what each setting is for.
pub fn markdown(grid: &Grid, rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "| # | setting | model | runs | ℘ batch w/o seed (last {LAST_ITERATIONS} it.) | D̄ + p: target prob. | held-out + p: target prob. | held-out top-1 = target | seed + p: target prob. | own model: target rank (median) | other models: target rank (median) | runs with both others top-{TOP_K} | targets, all seeds / any seed | same, p resized: runs / targets (all seeds) | min/run |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    ));
    for (i, row) in rows.iter().enumerate() {
        let runs = &row.runs;
        let m = |f: &dyn Fn(&RunResult) -> f32| mean(runs.iter().map(|r| f(r) as f64));
        let ranks: Vec<usize> = runs.iter().flat_map(|r| r.others().map(|c| c.rank)).collect();
        let own: Vec<usize> = runs.iter().flat_map(|r| r.cross.iter().filter(|c| c.model == r.spec.model).map(|c| c.rank)).collect();
        let passing = runs.iter().filter(|r| r.others_pass()).count();
        let (all, any, targets) = target_passes(runs, RunResult::others_pass);
        let passing_resized = runs.iter().filter(|r| r.others_pass_resized()).count();
        let (all_resized, _, _) = target_passes(runs, RunResult::others_pass_resized);
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.3} | {:.3} | {:.3} | {:.1}% | {:.3} | {} | {} | {passing}/{} | {all}/{targets} / {any}/{targets} | {passing_resized}/{} / {all_resized}/{targets} | {:.0} |\n",
            i + 1, row.setting.name, row.model, runs.len(),
            m(&|r| r.batch_probability), m(&|r| r.samples.target_probability), m(&|r| r.held_out.target_probability),
            100.0 * m(&|r| r.held_out.top1_rate), m(&|r| r.seed_probability),
            median(own), median(ranks), runs.len(), runs.len(),
            mean(runs.iter().map(|r| r.seconds)) / 60.0,
        ));
    }
    out.push_str("\nSettings (changes to the paper's settings as written; the grid file has the exact values):\n\n");
    for (i, row) in rows.iter().enumerate() {
        out.push_str(&format!("{}. **{}** `{}` — {}\n", i + 1, row.setting.name, row.setting.config, row.setting.why));
    }
    if !grid.description.is_empty() {
        out.push_str(&format!("\n{}\n", grid.description));
    }
    out
}

/// One CSV line per run.
pub fn csv(rows: &[Row]) -> String {
    let mut out = String::from(
        "setting,model,target,target_name,seed,iterations,seconds,batch_probability,final_probability,gamma_reached_at,refinements,perturbation_norm,seed_probability,samples_probability,samples_top1,held_out_probability,held_out_top1,held_out_images,rank_lite0,rank_lite1,rank_lite2,probability_lite0,probability_lite1,probability_lite2,resized_rank_lite0,resized_rank_lite1,resized_rank_lite2,others_top5,others_top5_resized,signs_plus,mask_coverage,clipped_fraction,image\n",
    );
    for row in rows {
        for r in &row.runs {
            let cross = |id: &str| r.cross.iter().find(|c| c.model == id);
            let rank = |id: &str| cross(id).map_or(String::new(), |c| c.rank.to_string());
            let probability = |id: &str| cross(id).map_or(String::new(), |c| format!("{:.5}", c.probability));
            let resized = |id: &str| cross(id).map_or(String::new(), |c| c.resized_rank.to_string());
            let optional = |v: Option<f32>| v.map_or(String::new(), |v| format!("{v:.4}"));
            out.push_str(&format!(
                "{},{},{},\"{}\",{},{},{:.1},{:.5},{:.5},{},{},{:.3},{:.5},{:.5},{:.4},{:.5},{:.4},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\n",
                r.spec.setting, r.spec.model, r.spec.target, r.target_name.replace('"', "'"), r.spec.seed, r.curve.len(), r.seconds,
                r.batch_probability, r.final_probability, r.gamma_reached_at.map_or(String::new(), |t| t.to_string()), r.refinements,
                r.perturbation_norm, r.seed_probability, r.samples.target_probability, r.samples.top1_rate,
                r.held_out.target_probability, r.held_out.top1_rate, r.held_out.images,
                rank("lite0"), rank("lite1"), rank("lite2"), probability("lite0"), probability("lite1"), probability("lite2"),
                resized("lite0"), resized("lite1"), resized("lite2"),
                r.others_pass(), r.others_pass_resized(), r.signs.matches('+').count(),
                optional(r.mask_coverage), optional(r.clipped_fraction), r.image,
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_are_disjoint_and_leave_out_the_target() {
        let files: Vec<PathBuf> = ["n3_c.JPEG", "n1_a.JPEG", "n2_b.JPEG", "n4_d.JPEG", "n5_e.JPEG"].iter().map(PathBuf::from).collect();
        let (samples, held_out) = split_photos(&files, "n2");
        // Sorted: n1 n2 n3 n4 n5 → even positions n1 n3 n5, odd n2 n4; n2 is the target.
        assert_eq!(samples, ["n1_a.JPEG", "n3_c.JPEG", "n5_e.JPEG"].map(PathBuf::from));
        assert_eq!(held_out, ["n4_d.JPEG"].map(PathBuf::from));
        // The split does not depend on the target: another target only removes its own photo.
        let (samples, held_out) = split_photos(&files, "n9");
        assert_eq!(samples.len() + held_out.len(), 5);
        assert_eq!(held_out, ["n2_b.JPEG", "n4_d.JPEG"].map(PathBuf::from));
    }

    fn grid(config: &str) -> Result<Grid, String> {
        let text = format!(
            r#"{{"seeds": [{{"id": "a", "file": "a.png", "rng_seed": 1}}, {{"id": "b", "file": "b.png", "rng_seed": 2}}],
                "targets": [1, 677],
                "settings": [{{"name": "x", "models": ["lite0", "lite1"], "seeds": ["b"], "config": {config}}},
                             {{"name": "y", "models": ["lite0"], "targets": [677], "config": {{}}}}]}}"#
        );
        let grid: Grid = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        expand(&grid)?;
        Ok(grid)
    }

    #[test]
    fn grid_expands_in_order_with_overrides() {
        let grid = grid(r#"{"eta": 40, "step_size": 0.1, "sign_check": "batch"}"#).unwrap();
        let runs = expand(&grid).unwrap();
        let ids: Vec<(String, String, usize, String)> =
            runs.iter().map(|r| (r.setting.clone(), r.model.clone(), r.target, r.seed.clone())).collect();
        let expected = [("x", "lite0", 1, "b"), ("x", "lite0", 677, "b"), ("x", "lite1", 1, "b"), ("x", "lite1", 677, "b"), ("y", "lite0", 677, "a"), ("y", "lite0", 677, "b")];
        assert_eq!(ids, expected.map(|(s, m, t, d)| (s.to_string(), m.to_string(), t, d.to_string())));
        assert_eq!(runs[0].config.eta, 40.0);
        assert_eq!(runs[0].config.step_size, Some(0.1));
        assert_eq!(runs[0].config.target, 1);
        assert_eq!(runs[0].config.rng_seed, 2);
        assert_eq!(runs[4].config, RunConfig { target: 677, rng_seed: 1, ..RunConfig::paper() });
    }

    #[test]
    fn grid_mistakes_are_named() {
        assert!(grid(r#"{"etta": 40}"#).unwrap_err().contains("unknown engine setting `etta`"));
        assert!(grid(r#"{"target": 3}"#).unwrap_err().contains("comes from the grid"));
        assert!(grid(r#"{"eta": "big"}"#).is_err());
        assert!(grid("[1]").unwrap_err().contains("must be a JSON object"));
    }

    /// The README's claims about the defaults are measured on the grid's setting `a2x`: it must
    /// be `RunConfig::default()` exactly.
    #[test]
    fn the_chosen_setting_is_the_default() {
        // The clone being tested, read when the test runs (cargo sets it): a compile-time path
        // would point at whichever clone built a shared target directory first.
        let root = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let path = root.join("static/study/grid.json");
        let grid = read_grid(&path).unwrap();
        let runs: Vec<RunSpec> = expand(&grid).unwrap().into_iter().filter(|r| r.setting == "a2x").collect();
        assert_eq!(runs.len(), grid.targets.len() * grid.seeds.len());
        for run in runs {
            assert_eq!(run.config, RunConfig { target: run.target, rng_seed: run.config.rng_seed, ..RunConfig::default() });
        }
    }

    #[test]
    fn median_and_passes() {
        assert_eq!(median(vec![5, 1, 3]), 3.0);
        assert_eq!(median(vec![4, 1, 3, 10]), 3.5);
        assert!(median(vec![]).is_nan());
    }
}
