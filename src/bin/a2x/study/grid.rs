//! The study's grid and records: the settings, seeds and targets of a grid file, the runs they
//! expand to, the photo split, and the results file (one JSON line per finished run).

use super::judge::{judge_of, RobustCheck};
use a2x::engine::evaluate::Transfer;
use a2x::engine::RunConfig;
use a2x::models::{labels, squeezenet, CrossCheck, IMAGENET_IDS};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

/// Iterations at the end of a run over which ℘ on the batch is averaged (one batch is only
/// b − 1 = 31 photos, so a single iteration's value is noisy).
pub const LAST_ITERATIONS: usize = 10;
/// A cross-model check passes when the target is in this many of the model's top classes.
pub const TOP_K: usize = 5;

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
    /// Where D̄ comes from (the ImageNet sample half unless told otherwise).
    #[serde(default)]
    pub distribution: Distribution,
}

/// Where a run's D̄ comes from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Distribution {
    /// The sample half of the ImageNet photos (one per class, the target's left out).
    #[default]
    Imagenet,
    /// What the page draws: the bundled photos of the wide set but the seed and those showing the
    /// target, stretched to 256 samples by the run's RNG seed (`distribution::stretch`).
    Bundled,
    /// What the page drew before issue #21: the first seven bundled photos but the seed, stretched
    /// the same way (how much D̄'s breadth matters).
    BundledFirst,
}

impl Distribution {
    pub fn is_imagenet(&self) -> bool {
        *self == Distribution::Imagenet
    }
}

/// How the tables name a distribution.
pub fn distribution_name(distribution: Distribution) -> &'static str {
    match distribution {
        Distribution::Imagenet => "ImageNet half",
        Distribution::Bundled => "bundled photos",
        Distribution::BundledFirst => "first 7 bundled photos",
    }
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
    /// Left out when it is the ImageNet half, so records written before it existed still match.
    #[serde(default, skip_serializing_if = "Distribution::is_imagenet")]
    pub distribution: Distribution,
}

impl RunSpec {
    /// File stem of this run's outputs under runs/<setting>/.
    pub fn stem(&self) -> String {
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
    /// Every model's ranks of the target for random shifts, scalings and blurs of the
    /// visualised p (absent from records written before issue #21: `--recheck` adds them).
    #[serde(default)]
    pub robust: Vec<RobustCheck>,
    /// The same two checks of the stretched view of p (`imaging::visualize_stretched`, saved
    /// beside the paper's as `…-stretched.png`), for runs that saved it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stretched: Option<View>,
    /// The judge's rank of the target in the stretched view of p part of the way
    /// (`study::EARLY_LOOKS`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub early: Vec<EarlyLook>,
}

/// The judge's rank of the target in the stretched view of p after `iteration` iterations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EarlyLook {
    pub iteration: usize,
    pub judge_rank: usize,
}

/// What the models say of one view of p.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct View {
    /// The picture, relative to the output folder.
    pub image: String,
    pub cross: Vec<CrossCheck>,
    pub robust: Vec<RobustCheck>,
}

impl RunResult {
    /// The check of the judge of another family ([`judge_of`]), if it was made.
    pub fn judge(&self) -> Option<&CrossCheck> {
        let judge = judge_of(&self.spec.model);
        self.cross.iter().find(|c| c.model == judge)
    }
    /// Whether the judge ranks the target in its top [`TOP_K`], p resized to its input.
    pub fn judge_pass(&self) -> bool {
        self.judge().is_some_and(|c| c.resized_rank >= 1 && c.resized_rank <= TOP_K)
    }
    /// The judge's robust check, if it was made.
    pub fn judge_robust(&self) -> Option<&RobustCheck> {
        let judge = judge_of(&self.spec.model);
        self.robust.iter().find(|c| c.model == judge)
    }
    /// The judge's check of the stretched view, if it was made.
    pub fn judge_stretched(&self) -> Option<&CrossCheck> {
        let judge = judge_of(&self.spec.model);
        self.stretched.as_ref().and_then(|v| v.cross.iter().find(|c| c.model == judge))
    }
    /// Whether the judge ranks the target in its top [`TOP_K`] in the stretched view.
    pub fn judge_stretched_pass(&self) -> bool {
        self.judge_stretched().is_some_and(|c| c.resized_rank >= 1 && c.resized_rank <= TOP_K)
    }
    /// The judge's robust check of the stretched view.
    pub fn judge_stretched_robust(&self) -> Option<&RobustCheck> {
        let judge = judge_of(&self.spec.model);
        self.stretched.as_ref().and_then(|v| v.robust.iter().find(|c| c.model == judge))
    }
    /// The computing model's siblings (the same family: the other EfficientNet-Lite models).
    pub fn siblings(&self) -> impl Iterator<Item = &CrossCheck> {
        let family = |id: &str| id == squeezenet::ID;
        self.cross.iter().filter(move |c| c.model != self.spec.model && family(&c.model) == family(&self.spec.model))
    }
    /// Whether every sibling ranks the target in its top [`TOP_K`] (pixel for pixel): issue #8's
    /// pass.
    pub fn siblings_pass(&self) -> bool {
        let mut siblings = self.siblings().peekable();
        siblings.peek().is_some() && siblings.all(|c| c.rank <= TOP_K)
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
            if !IMAGENET_IDS.contains(&model.as_str()) {
                return Err(format!("setting `{}`: unknown model `{model}`", setting.name));
            }
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
pub fn config_of(setting: &SettingSpec, target: usize, rng_seed: u64) -> Result<RunConfig, String> {
    if let Some(key) = ["target", "rng_seed"].into_iter().find(|key| setting.config.get(key).is_some()) {
        return Err(format!("setting `{}`: `{key}` comes from the grid, not the setting", setting.name));
    }
    let config = RunConfig::paper().with_overrides(&setting.config).map_err(|e| format!("setting `{}`: {e}", setting.name))?;
    Ok(RunConfig { target, rng_seed, ..config })
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
                        distribution: setting.distribution,
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

    /// The grid file `file` under this clone (read when the test runs: cargo sets
    /// CARGO_MANIFEST_DIR, whereas a compile-time path would point at whichever clone built a
    /// shared target directory first), expanded, and its runs of `setting`.
    fn runs_of(file: &str, setting: &str) -> (Grid, Vec<RunSpec>) {
        let root = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let grid = read_grid(&root.join(file)).unwrap();
        let runs: Vec<RunSpec> = expand(&grid).unwrap().into_iter().filter(|r| r.setting == setting).collect();
        (grid, runs)
    }

    /// The README's claims about the defaults are measured on the judged grid's setting
    /// `f-squeeze-tf-natural-50`: it must be `RunConfig::default()` exactly, on the page's
    /// default model.
    #[test]
    fn the_chosen_setting_is_the_default() {
        let (grid, runs) = runs_of("static/judged/grid.json", "f-squeeze-tf-natural-50");
        assert_eq!(runs.len(), grid.targets.len() * grid.seeds.len());
        let root = std::env::var_os("CARGO_MANIFEST_DIR").map(std::path::PathBuf::from).unwrap_or_else(|| env!("CARGO_MANIFEST_DIR").into());
        let manifest = crate::common::read_manifest(&root.join("models")).unwrap();
        for run in runs {
            assert_eq!(run.model, manifest.default_model);
            assert_eq!(run.config, RunConfig { target: run.target, rng_seed: run.config.rng_seed, ..RunConfig::default() });
        }
    }

    /// The first defaults' numbers (issue #8's grid, setting `a2x`, and the judged grid's `v1`)
    /// are those of the preset `a2x-v1`.
    #[test]
    fn the_first_defaults_are_the_preset_a2x_v1() {
        for (file, setting) in [("static/study/grid.json", "a2x"), ("static/judged/grid.json", "v1")] {
            let (grid, runs) = runs_of(file, setting);
            assert_eq!(runs.len(), grid.targets.len() * grid.seeds.len(), "{file}");
            for run in runs {
                assert_eq!(run.config, RunConfig { target: run.target, rng_seed: run.config.rng_seed, ..RunConfig::a2x_v1() }, "{file}");
            }
        }
    }

}
