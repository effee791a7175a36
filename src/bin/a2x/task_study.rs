//! `a2x task-study`: the judged study of the ImageNet tasks (issue #33). Each call runs one
//! setting of one task over targets × seeds, through the same session as the page and the task
//! commands, and appends one record per run to `{out}/results.jsonl` (a run already recorded is
//! skipped, so a study stopped at any time goes on where it was); `--report` prints the tables.
//!
//! Seeds name where a run starts: `grey`, `noise`, a picture file (a sketch drawn by
//! `scripts/sketches.py`), or `photo:sample:N` / `photo:held-out:N`, the N-th photo of one half
//! of `../shared/data/imagenet-samples` (sorted by name, even positions the sample half, odd the
//! held-out half). Settings are chosen on the sample half and reported on the held-out half.
//! Each record holds the pictures (`start`, the picture both methods start from; `a2x`; `pgd`)
//! with both verdicts. Inpainting's target is the photo's own class (its WordNet id), its masks the central 64×64
//! square or a free-form brush stroke drawn from the run's RNG seed.

use crate::photo_tasks;
use crate::tasks::SettingsArgs;
use a2x::engine::sampling::Rng;
use a2x::engine::tasks::{fill_hole_with_mean, Task};
use a2x::engine::{name_of, Classifier};
use a2x::measure;
use a2x::models;
use a2x::session::class_name;
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct TaskStudyArgs {
    /// `generate`, `sketch` or `inpaint`.
    #[arg(long, value_parser = |s: &str| a2x::engine::from_name::<Task>(s).map_err(|e| e.to_string()))]
    pub task: Option<Task>,
    /// The attacked model (judged by `models::judge_of` it).
    #[arg(long, default_value = "squeezenet")]
    pub model: String,
    /// The setting's name in the records (the flags below are its changes to the task's defaults).
    #[arg(long, default_value = "default")]
    pub name: String,
    /// ImageNet classes by index or name (inpainting ignores them: the photo's own class).
    #[arg(long, value_delimiter = ',')]
    pub targets: Vec<String>,
    /// Where runs start (see the module notes).
    #[arg(long, value_delimiter = ',')]
    pub seeds: Vec<String>,
    /// Inpainting's masks: `square` (central 64×64) and/or `brush`.
    #[arg(long, value_delimiter = ',', default_value = "square")]
    pub masks: Vec<String>,
    #[arg(long, default_value_t = 0)]
    pub rng: u64,
    #[command(flatten)]
    pub settings: SettingsArgs,
    #[arg(long, default_value = "flex")]
    pub backend: a2x::device::BackendKind,
    /// The ImageNet sample photos.
    #[arg(long, default_value = "../shared/data/imagenet-samples")]
    pub photos: PathBuf,
    #[arg(long, default_value = "target/task-study")]
    pub out: PathBuf,
    /// Print the tables of `{out}/results.jsonl` instead of running.
    #[arg(long)]
    pub report: bool,
    /// Instead of running: the side-by-side sheet of the recorded runs of `--task` and `--name`
    /// (start, the CIFAR-10 robust result, PGD, A2X), written to this PNG.
    #[arg(long)]
    pub sheet: Option<PathBuf>,
}

/// The photos of one half (`sample` or `held-out`), sorted by name.
fn half(dir: &Path, which: &str) -> Result<Vec<PathBuf>, String> {
    let mut files = crate::images::list_images(dir)?;
    files.sort();
    let parity = match which {
        "sample" => 0,
        "held-out" => 1,
        other => return Err(format!("`{other}`: a half is `sample` or `held-out`")),
    };
    Ok(files.into_iter().enumerate().filter(|(i, _)| i % 2 == parity).map(|(_, f)| f).collect())
}

/// A seed's picture at `size`², the photo's true class (photos only) and which half it is from.
fn seed_of(spec: &str, args: &TaskStudyArgs, size: usize) -> Result<(Vec<f32>, Option<usize>, &'static str), String> {
    if let Some(rest) = spec.strip_prefix("photo:") {
        let (which, index) = rest.rsplit_once(':').ok_or(format!("`{spec}`: photo:HALF:N"))?;
        let index: usize = index.parse().map_err(|_| format!("`{spec}`: N must be a number"))?;
        let files = half(&args.photos, which)?;
        let file = files.get(index).ok_or(format!("`{spec}`: the {which} half has {} photos", files.len()))?;
        let wnid = file.file_name().and_then(|n| n.to_str()).and_then(|n| n.split('_').next()).unwrap_or_default();
        let class = models::labels::imagenet_index(wnid).ok_or(format!("{}: no ImageNet class", file.display()))?;
        let half = if which == "sample" { "sample" } else { "held-out" };
        return Ok((photo_tasks::read_picture(file, size)?, Some(class), half));
    }
    let start = photo_tasks::Start::parse(spec);
    let half = if matches!(start, photo_tasks::Start::Picture(_)) { "file" } else { "built-in" };
    Ok((photo_tasks::start_picture(&start, size)?, None, half))
}

/// A free-form mask of `size`²: a round brush (radius size/19) through five points drawn from
/// `rng` in the picture's central two thirds, about as many pixels as a 64×64 square on 227².
pub fn brush_mask(size: usize, rng: u64) -> Vec<f32> {
    let mut rng = Rng::new(rng ^ 0xB0_05_4);
    let mut canvas = image::RgbImage::new(size as u32, size as u32);
    let (low, span) = (size as f64 / 6.0, size as f64 * 2.0 / 3.0);
    let points: Vec<(f32, f32)> = (0..5).map(|_| ((low + span * rng.unit()) as f32, (low + span * rng.unit()) as f32)).collect();
    for pair in points.windows(2) {
        a2x::drawing::stroke(&mut canvas, pair[0], pair[1], size as f32 / 19.0, [255, 255, 255]);
    }
    canvas.pixels().map(|p| if p.0[0] > 127 { 1.0 } else { 0.0 }).collect()
}

/// FNV-1a of a seed's name: each photo gets its own brushed mask, the same on every rerun.
fn spec_hash(spec: &str) -> u64 {
    spec.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// The fields that say which run a record is (a resumed study skips a run whose key is recorded).
const KEY: [&str; 7] = ["setting", "task", "model", "target", "seed", "mask", "rng"];

/// Where a record keeps its pictures: none may be a field of [`KEY`], or writing the picture
/// would change the record's key and a resumed study would run it again.
const PICTURES: [&str; 3] = ["start", "a2x", "pgd"];

fn record_key(record: &serde_json::Value) -> String {
    KEY.iter().map(|k| record[*k].to_string()).collect::<Vec<_>>().join("|")
}

fn read_records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path).unwrap_or_default().lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

pub fn task_study(args: TaskStudyArgs) -> Result<(), String> {
    let results = args.out.join("results.jsonl");
    if args.report {
        return report(&read_records(&results));
    }
    if let Some(png) = &args.sheet {
        let records = read_records(&results);
        let task = args.task.map(name_of);
        let rows: Vec<&serde_json::Value> = records
            .iter()
            .filter(|r| r["setting"] == args.name.as_str() && task.as_deref().is_none_or(|t| r["task"] == t))
            .collect();
        if rows.is_empty() {
            return Err(format!("no recorded run of setting `{}`{}", args.name, task.map(|t| format!(" and task {t}")).unwrap_or_default()));
        }
        let sheet = crate::task_sheet::task_sheet(&rows);
        std::fs::write(png, a2x::imaging::encode_png(&sheet)?).map_err(|e| format!("{}: {e}", png.display()))?;
        println!("{} runs → {}", rows.len(), png.display());
        return Ok(());
    }
    let task = args.task.ok_or("--task is required (generate, sketch or inpaint)")?;
    let device = crate::common::open_device(args.backend)?;
    let pair = photo_tasks::load_pair(&args.model, &device)?;
    let size = pair.model.input_shape()[1];
    std::fs::create_dir_all(args.out.join("pictures")).map_err(|e| e.to_string())?;
    let done: std::collections::HashSet<String> = read_records(&results).iter().map(record_key).collect();
    let masks: Vec<Option<&str>> = if task == Task::Inpaint { args.masks.iter().map(|m| Some(m.as_str())).collect() } else { vec![None] };
    let targets: Vec<Option<usize>> = if task == Task::Inpaint {
        vec![None]
    } else {
        args.targets.iter().map(|t| photo_tasks::parse_class(t).map(Some)).collect::<Result<_, _>>()?
    };
    for seed_spec in &args.seeds {
        let (seed, true_class, half) = seed_of(seed_spec, &args, size)?;
        for &mask_name in &masks {
            for &target in &targets {
                let target = match (target, true_class) {
                    (Some(t), _) => t,
                    (None, Some(class)) => class,
                    (None, None) => return Err("inpainting needs photo seeds (photo:HALF:N)".into()),
                };
                let mut record = serde_json::json!({
                    "setting": args.name, "task": task, "model": args.model, "target": target, "seed": seed_spec,
                    "mask": mask_name, "rng": args.rng,
                });
                if done.contains(&record_key(&record)) {
                    continue;
                }
                let hole = match mask_name {
                    None => None,
                    Some("square") => Some(photo_tasks::read_mask(None, None, size)?),
                    Some("brush") => Some(brush_mask(size, args.rng ^ spec_hash(seed_spec))),
                    Some(other) => return Err(format!("--masks {other}: `square` or `brush`")),
                };
                let request = photo_tasks::request_of(task, &args.model, &args.settings, target, args.rng, seed.clone(), hole.clone())?;
                let settings = request.settings.clone();
                eprintln!("{} {} → {target} ({}) from {seed_spec}{}", args.name, name_of(task), class_name(1000, target), mask_name.map(|m| format!(", {m} mask")).unwrap_or_default());
                let ran = photo_tasks::run_session(&pair, request, &device, |_| {})?;
                let stem = format!("{}-{}-{}-{target}-{}{}-{}", args.name, name_of(task), args.model, seed_spec.replace([':', '/', '.'], "_"), mask_name.map(|m| format!("-{m}")).unwrap_or_default(), args.rng);
                record["half"] = half.into();
                record["true_class"] = serde_json::json!(true_class);
                record["target_name"] = class_name(1000, target).into();
                record["judge"] = models::judge_of(&args.model).into();
                record["settings"] = serde_json::to_value(&settings).expect("settings serialize");
                record["iterations"] = ran.iterations.into();
                record["seconds"] = ran.seconds.into();
                // The picture both methods start from is `start` (`seed` names where it came from,
                // and is part of the record's key).
                for (label, (image, verdicts)) in PICTURES.into_iter().zip([&ran.seed, &ran.a2x, &ran.pgd]) {
                    let png = args.out.join("pictures").join(format!("{stem}-{label}.png"));
                    record[label] = photo_tasks::picture_entry(task, image, verdicts, &seed, hole.as_deref(), size, &png)?;
                }
                if let Some(hole) = &hole {
                    record["mean_colour_hole_mse"] = measure::hole_mse(&fill_hole_with_mean(&seed, hole, size), &seed, hole).into();
                    let mask_png = args.out.join("pictures").join(format!("{stem}-mask.png"));
                    let mask_rgb: Vec<f32> = (0..3).flat_map(|_| hole.iter().copied()).collect();
                    std::fs::write(&mask_png, a2x::imaging::encode_png(&a2x::imaging::from_chw(&mask_rgb, [size, size]))?).map_err(|e| e.to_string())?;
                    record["mask_png"] = mask_png.display().to_string().into();
                    // The photo before its hole was filled: the truth the classical inpaintings
                    // are measured against (scripts/inpaint_baselines.py).
                    let truth_png = args.out.join("pictures").join(format!("{stem}-truth.png"));
                    std::fs::write(&truth_png, a2x::imaging::encode_png(&a2x::imaging::from_chw(&seed, [size, size]))?).map_err(|e| e.to_string())?;
                    record["truth_png"] = truth_png.display().to_string().into();
                }
                let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&results).map_err(|e| format!("{}: {e}", results.display()))?;
                // One write of the whole line: studies of two tasks may append to one file at once.
                file.write_all(format!("{record}\n").as_bytes()).map_err(|e| e.to_string())?;
                eprintln!("  {:.0} s; judge: A2X rank {}, PGD rank {}", ran.seconds, ran.a2x.1.standard.target_rank, ran.pgd.1.standard.target_rank);
            }
        }
    }
    Ok(())
}

/// One line per (setting, task, half): runs, the judge's target in its top 5 for A2X and PGD, the
/// median SSIM to the sketch, inpainting's in-hole error against the fills, the judge's top-1
/// still the photo's class, the mean seconds a run.
fn report(records: &[serde_json::Value]) -> Result<(), String> {
    let mut groups: std::collections::BTreeMap<(String, String, String, String), Vec<&serde_json::Value>> = Default::default();
    for r in records {
        let key = (r["task"].as_str().unwrap_or("").to_string(), r["setting"].as_str().unwrap_or("").to_string(), r["half"].as_str().unwrap_or("").to_string(), r["mask"].as_str().unwrap_or("-").to_string());
        groups.entry(key).or_default().push(r);
    }
    println!("| task | setting | seeds | mask | runs | judge top-5 A2X | judge top-5 PGD | SSIM A2X | SSIM PGD | hole MSE seed / A2X / PGD / mean colour | judge top-1 = photo's class A2X / PGD | s a run |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|");
    for ((task, setting, half, mask), runs) in groups {
        let count = |f: &dyn Fn(&serde_json::Value) -> bool| runs.iter().filter(|r| f(r)).count();
        let top5 = |method: &str| count(&|r| r[method]["verdicts"]["standard"]["target_rank"].as_u64().is_some_and(|k| (1..=5).contains(&k)));
        let median = |method: &str, field: &str| {
            let mut v: Vec<f64> = runs.iter().filter_map(|r| r[method][field].as_f64()).collect();
            v.sort_by(f64::total_cmp);
            v.get(v.len() / 2).map_or("–".to_string(), |m| format!("{m:.3}"))
        };
        let mean = |f: &dyn Fn(&serde_json::Value) -> Option<f64>| {
            let v: Vec<f64> = runs.iter().filter_map(|r| f(r)).collect();
            if v.is_empty() { "–".to_string() } else { format!("{:.5}", v.iter().sum::<f64>() / v.len() as f64) }
        };
        let holes = if task == "inpaint" {
            format!(
                "{} / {} / {} / {}",
                mean(&|r| r["start"]["hole_mse"].as_f64()),
                mean(&|r| r["a2x"]["hole_mse"].as_f64()),
                mean(&|r| r["pgd"]["hole_mse"].as_f64()),
                mean(&|r| r["mean_colour_hole_mse"].as_f64())
            )
        } else {
            "–".into()
        };
        let kept = |method: &str| count(&|r| r["true_class"].as_u64().is_some() && r[method]["verdicts"]["standard"]["top1"] == r["true_class"]);
        let kept = if task == "inpaint" { format!("{} / {}", kept("a2x"), kept("pgd")) } else { "–".into() };
        let seconds = runs.iter().filter_map(|r| r["seconds"].as_f64()).sum::<f64>() / runs.len() as f64;
        println!(
            "| {task} | {setting} | {half} | {mask} | {} | {} | {} | {} | {} | {holes} | {kept} | {seconds:.0} |",
            runs.len(), top5("a2x"), top5("pgd"), median("a2x", "ssim_to_sketch"), median("pgd", "ssim_to_sketch")
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record read back has the key of the record that was about to run, so a resumed study
    /// skips it.
    #[test]
    fn a_written_record_keeps_its_key() {
        let fresh = serde_json::json!({ "setting": "s", "task": "sketch", "model": "squeezenet", "target": 510, "seed": "grey", "mask": null, "rng": 0 });
        let mut written = fresh.clone();
        for label in PICTURES {
            written[label] = serde_json::json!({ "png": "x.png" });
        }
        written["half"] = "built-in".into();
        let read: serde_json::Value = serde_json::from_str(&written.to_string()).unwrap();
        assert_eq!(record_key(&read), record_key(&fresh));
    }

    #[test]
    fn a_brush_mask_is_one_stroke_about_a_square_s_size() {
        let mask = brush_mask(227, 3);
        let inside = mask.iter().filter(|&&f| f == 1.0).count();
        assert!((2000..9000).contains(&inside), "{inside} pixels");
        assert_eq!(mask, brush_mask(227, 3), "drawn from the seed");
        assert_ne!(mask, brush_mask(227, 4));
        a2x::engine::imagenet_tasks::check_hole(&mask).unwrap();
    }

    /// Photos whose names are equally long (photo:held-out:0 … :9) get masks of their own.
    #[test]
    fn each_photo_has_its_own_brushed_mask() {
        let masks: std::collections::HashSet<Vec<u8>> = (0..10)
            .map(|n| brush_mask(227, spec_hash(&format!("photo:held-out:{n}"))).iter().map(|&v| v as u8).collect())
            .collect();
        assert_eq!(masks.len(), 10);
    }
}
