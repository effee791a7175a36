//! The study's tables: `results.md` (one line per setting and model), `results.csv` (one line per
//! run), and the contact sheet.

use super::grid::{rows, Grid, Row, RunResult, LAST_ITERATIONS, TOP_K};
use super::sheet;
use super::StudyArgs;
use std::collections::BTreeSet;

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

pub fn report(grid: &Grid, results: &[RunResult], args: &StudyArgs) -> Result<(), String> {
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
    if !args.side_by_side.is_empty() {
        let mut chosen = Vec::new();
        for name in &args.side_by_side {
            let of_setting: Vec<&Row> = rows.iter().filter(|r| &r.setting.name == name).collect();
            if of_setting.is_empty() {
                return Err(format!("--side-by-side: no results of a setting `{name}`"));
            }
            chosen.extend(of_setting.into_iter().map(|r| Row { setting: r.setting, model: r.model.clone(), runs: r.runs.clone() }));
        }
        let path = args.out.join("side-by-side.png");
        sheet::contact_sheet(grid, &chosen, &args.out, args.cell).save(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// The summary table, one line per (setting, model, D̄), then what each setting is for.
pub fn markdown(grid: &Grid, rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str(&format!(
        "| # | setting | model | D̄ | runs | judge | judge: runs with the target top-{TOP_K} | judge: targets, all seeds / any seed | judge: target rank (median) | judge, p moved: variants top-{TOP_K} | stretched view: judge top-{TOP_K} runs / rank (median) / moved variants top-{TOP_K} | stretched, part of the way: judge top-{TOP_K} runs at 25 / 50 / 75 it. | held-out + p: target prob. | held-out top-1 = target | ℘ batch w/o seed (last {LAST_ITERATIONS} it.) | siblings: runs both top-{TOP_K} (issue #8) | own model: rank (median) | s/iteration |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|\n"
    ));
    for (i, row) in rows.iter().enumerate() {
        let runs = &row.runs;
        let m = |f: &dyn Fn(&RunResult) -> f32| mean(runs.iter().map(|r| f(r) as f64));
        let judges: BTreeSet<&str> = runs.iter().filter_map(|r| r.judge().map(|c| c.model.as_str())).collect();
        let judged = runs.iter().filter(|r| r.judge().is_some()).count();
        let passing = runs.iter().filter(|r| r.judge_pass()).count();
        let (all, any, targets) = target_passes(runs, RunResult::judge_pass);
        let judge_ranks: Vec<usize> = runs.iter().filter_map(|r| r.judge().map(|c| c.resized_rank)).collect();
        let (robust_top, robust_all) = runs
            .iter()
            .filter_map(|r| r.judge_robust())
            .fold((0, 0), |(t, a), c| (t + c.ranks.iter().filter(|&&k| k <= TOP_K).count(), a + c.ranks.len()));
        let robust = if robust_all > 0 { format!("{:.0}% of {robust_all}", 100.0 * robust_top as f64 / robust_all as f64) } else { "—".into() };
        let stretched_runs = runs.iter().filter(|r| r.judge_stretched().is_some()).count();
        let stretched = if stretched_runs == 0 {
            "—".into()
        } else {
            let pass = runs.iter().filter(|r| r.judge_stretched_pass()).count();
            let ranks: Vec<usize> = runs.iter().filter_map(|r| r.judge_stretched().map(|c| c.resized_rank)).collect();
            let (top, all) = runs
                .iter()
                .filter_map(|r| r.judge_stretched_robust())
                .fold((0, 0), |(t, a), c| (t + c.ranks.iter().filter(|&&k| k <= TOP_K).count(), a + c.ranks.len()));
            format!("{pass}/{stretched_runs} / {} / {:.0}%", median(ranks), 100.0 * top as f64 / all.max(1) as f64)
        };
        let early = if runs.iter().any(|r| !r.early.is_empty()) {
            super::EARLY_LOOKS
                .iter()
                .map(|&t| {
                    let looks: Vec<usize> = runs.iter().filter_map(|r| r.early.iter().find(|e| e.iteration == t).map(|e| e.judge_rank)).collect();
                    format!("{}/{}", looks.iter().filter(|&&k| (1..=TOP_K).contains(&k)).count(), looks.len())
                })
                .collect::<Vec<_>>()
                .join(" / ")
        } else {
            "—".into()
        };
        let with_siblings: Vec<&&RunResult> = runs.iter().filter(|r| r.siblings().count() > 0).collect();
        let siblings = if with_siblings.is_empty() {
            "—".into()
        } else {
            format!("{}/{}", with_siblings.iter().filter(|r| r.siblings_pass()).count(), with_siblings.len())
        };
        let own: Vec<usize> = runs.iter().flat_map(|r| r.cross.iter().filter(|c| c.model == r.spec.model).map(|c| c.rank)).collect();
        let per_iteration = mean(runs.iter().map(|r| r.seconds / r.curve.len().max(1) as f64));
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {passing}/{judged} | {all}/{targets} / {any}/{targets} | {} | {robust} | {stretched} | {early} | {:.3} | {:.1}% | {:.3} | {siblings} | {} | {:.1} |\n",
            i + 1, row.setting.name, row.model, super::grid::distribution_name(row.setting.distribution), runs.len(),
            judges.into_iter().collect::<Vec<_>>().join(", "), median(judge_ranks),
            m(&|r| r.held_out.target_probability), 100.0 * m(&|r| r.held_out.top1_rate), m(&|r| r.batch_probability),
            median(own), per_iteration,
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
    let ids = a2x::models::IMAGENET_IDS;
    let mut out = String::from("setting,model,distribution,target,target_name,seed,iterations,seconds,batch_probability,final_probability,gamma_reached_at,refinements,perturbation_norm,seed_probability,samples_probability,samples_top1,held_out_probability,held_out_top1,held_out_images");
    for id in ids {
        out.push_str(&format!(",rank_{id},probability_{id},resized_rank_{id},robust_top5_{id}"));
    }
    out.push_str(",judge,judge_top5,judge_stretched_rank,judge_stretched_top5,siblings_top5,signs_plus,mask_coverage,clipped_fraction,image\n");
    for row in rows {
        for r in &row.runs {
            let optional = |v: Option<f32>| v.map_or(String::new(), |v| format!("{v:.4}"));
            out.push_str(&format!(
                "{},{},{},{},\"{}\",{},{},{:.1},{:.5},{:.5},{},{},{:.3},{:.5},{:.5},{:.4},{:.5},{:.4},{}",
                r.spec.setting, r.spec.model, super::grid::distribution_name(r.spec.distribution), r.spec.target, r.target_name.replace('"', "'"), r.spec.seed,
                r.curve.len(), r.seconds, r.batch_probability, r.final_probability, r.gamma_reached_at.map_or(String::new(), |t| t.to_string()),
                r.refinements, r.perturbation_norm, r.seed_probability, r.samples.target_probability, r.samples.top1_rate,
                r.held_out.target_probability, r.held_out.top1_rate, r.held_out.images,
            ));
            for id in ids {
                let cross = r.cross.iter().find(|c| c.model == id);
                let robust = r.robust.iter().find(|c| c.model == id);
                out.push_str(&format!(
                    ",{},{},{},{}",
                    cross.map_or(String::new(), |c| c.rank.to_string()),
                    cross.map_or(String::new(), |c| format!("{:.5}", c.probability)),
                    cross.map_or(String::new(), |c| c.resized_rank.to_string()),
                    robust.map_or(String::new(), |c| format!("{}/{}", c.ranks.iter().filter(|&&k| k <= TOP_K).count(), c.ranks.len())),
                ));
            }
            out.push_str(&format!(
                ",{},{},{},{},{},{},{},{},{}\n",
                r.judge().map_or(String::new(), |c| c.model.clone()), r.judge_pass(),
                r.judge_stretched().map_or(String::new(), |c| c.resized_rank.to_string()), r.judge_stretched_pass(),
                r.siblings_pass(), r.signs.matches('+').count(),
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
    fn median_and_passes() {
        assert_eq!(median(vec![5, 1, 3]), 3.0);
        assert_eq!(median(vec![4, 1, 3, 10]), 3.5);
        assert!(median(vec![]).is_nan());
    }
}
