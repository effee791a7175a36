//! The explanation page's settings: the engine's presets as the page offers them, and the form's
//! fields, each set through the engine's one override path ([`RunConfig::with_overrides`]).

use crate::engine::{name_of, Preset, RunConfig};

/// The preset's id in the form (its engine name).
pub fn preset_id(preset: Preset) -> String {
    name_of(preset)
}

pub fn preset_label(preset: Preset) -> &'static str {
    match preset {
        Preset::A2x => "a2x defaults (transforms, natural spectrum, 50 it.; judged by another model family, see “Does it work?”)",
        Preset::Paper => "the paper as written (η 10, 300 it., ± check on all of D̄)",
        Preset::A2xV1 => "a2x's first defaults (issue #8: σ 2 smoothing, no transforms, 100 it.)",
        Preset::Preview => "fast preview (b 8, |D̄| 16, 20 it.): a quick look, not the measured setting",
    }
}

/// The settings and |D̄| of a preset on the page, which computes in chunks of 8 images (bounds
/// GPU memory; the result does not depend on it, O3).
pub fn preset_settings(preset: Preset) -> (RunConfig, usize) {
    (RunConfig { chunk: 8, ..preset.config() }, preset.samples())
}

/// A setting the form edits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Eta,
    Gamma,
    Batch,
    NumSamples,
    Iterations,
    RefineEvery,
    Lambda,
    Alpha,
    Beta,
    RngSeed,
    Chunk,
    StepSize,
    Smoothing,
    SignCheck,
    RefineStart,
    RefineInput,
    SignProbe,
    Fusion,
    Transforms,
    Param,
}

impl Field {
    /// The setting's name in the engine (and in links, grid files and `--set`); `None` for
    /// |D̄|, which is the page's.
    pub fn engine_name(self) -> Option<&'static str> {
        Some(match self {
            Field::Eta => "eta",
            Field::Gamma => "gamma",
            Field::Batch => "batch",
            Field::NumSamples => return None,
            Field::Iterations => "iterations",
            Field::RefineEvery => "refine_every",
            Field::Lambda => "lambda",
            Field::Alpha => "alpha",
            Field::Beta => "beta",
            Field::RngSeed => "rng_seed",
            Field::Chunk => "chunk",
            Field::StepSize => "step_size",
            Field::Smoothing => "smoothing",
            Field::SignCheck => "sign_check",
            Field::RefineStart => "refine_start",
            Field::RefineInput => "refine_input",
            Field::SignProbe => "sign_probe",
            Field::Fusion => "fusion",
            Field::Transforms => "transforms",
            Field::Param => "param",
        })
    }
}

/// `config` with the form's `field` set to the text `value` ([`RunConfig::with_text`]); `None`
/// for |D̄| (the page's own) and for a choice that leaves the setting as it is (a link's custom
/// transforms or parameterisation, shown as such).
pub fn apply_field(config: &RunConfig, field: Field, value: &str) -> Result<Option<RunConfig>, String> {
    match field.engine_name() {
        Some(_) if value == "custom" => Ok(None),
        Some(name) => config.with_text(name, value).map(Some),
        None => Ok(None),
    }
}
