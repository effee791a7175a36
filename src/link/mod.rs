//! Share links (issue #7): the whole state of a result in the URL fragment, so a link re-creates
//! what its sender saw, and nothing is sent to any server (a fragment never leaves the browser).
//!
//! Format, version 1: `a2x=1.<payload>`, where payload is URL-safe base64 (no padding) of the raw
//! DEFLATE of the state as JSON ([`SharedState`]). The version comes first and in clear, so a
//! future format is told apart before anything is decoded. Decoding is strict and bounded:
//! - at most [`MAX_FRAGMENT`] characters, at most [`MAX_JSON`] bytes once inflated (a
//!   decompression bomb stops there), only URL-safe base64;
//! - the JSON must be exactly what this version writes: it is parsed, written again and the two
//!   compared, so an unknown or misspelt field, a missing one or a value in another form is a
//!   named error instead of being silently dropped;
//! - every value is checked against the range the page accepts ([`SharedState::validate`]):
//!   names are short and plain (`[a-z0-9-]`), numbers finite and bounded, strokes and embedded
//!   images limited in count and size.
//!
//! Because of that strictness, a setting added to `RunConfig`, `TaskSettings` or these types later
//! must be left out of the JSON when it has its default (`skip_serializing_if`), so version-1 links
//! stay valid and mean what they meant; a change that cannot be written so raises [`VERSION`].
//!
//! Nothing in a link is ever turned into markup or fetched by URL: model and sample names are only
//! looked up among the bundled ones by the page.

use crate::bundled::PhotoSet;
use crate::drawing::{Edit, POINT_UNITS};
use crate::engine::tasks::{Task, TaskSettings};
use crate::engine::{Region, RunConfig};
use base64::Engine;
use image::RgbImage;
use serde::{Deserialize, Serialize};

pub const VERSION: u32 = 1;
/// What a fragment starts with (after `#`).
pub const PREFIX: &str = "a2x=";
/// Longest fragment the decoder reads.
pub const MAX_FRAGMENT: usize = 64 * 1024;
/// Largest JSON it inflates.
pub const MAX_JSON: usize = 256 * 1024;
/// Limits of drawings and embedded images.
pub const MAX_EDITS: usize = 2_000;
pub const MAX_POINTS: usize = 50_000;
pub const MAX_IMAGE_SIDE: u32 = 512;
pub const MAX_IMAGE_BYTES: usize = 32 * 1024;
/// Most pixel tests replaying a picture's edits may cost (issue #23: a brush as large as the canvas
/// over 50,000 points was 10¹⁰ tests, minutes of a frozen page on load). 3·10⁸ is about a second
/// in the browser and far above what drawing by hand makes (a 48 px brush over 1,000 points of a
/// 512² canvas costs about 10⁷).
pub const MAX_PAINT_TESTS: u64 = 300_000_000;
/// Largest buffer of D̄'s samples a link or the page's form may ask for: |D̄| × 3 × side² f32
/// values. The samples live in one allocation, and wasm32's memory is at most 4 GiB in all: at
/// 224² this allows |D̄| ≤ 1,783 (the paper draws 256; above ≈ 3,500 the allocation failed).
pub const MAX_SAMPLE_BYTES: u64 = 1 << 30;
/// The work (forward-pass equivalents, [`run_work`]) up to which a link runs by itself when it
/// asks to: a little above the first defaults' (the preset `a2x-v1` on Lite0, 100 iterations of
/// b 32 with the ± check on the batch: 16,000), so links made with them run by themselves as they
/// did; the defaults of issue #21 on SqueezeNet cost 8,216. Above it the page asks the visitor first.
pub const AUTO_RUN_WORK: u64 = 20_000;

/// The model of the image tasks at 32² (every task link made before issue #33 names it); a task
/// link naming an ImageNet model of the zoo runs at that model's side.
pub const CIFAR_TASK_MODEL: &str = "cifar-robust";

/// The classes and the input side of a task link's model; `None` for a model a2x does not have.
pub fn task_model(model: &str) -> Option<(usize, usize)> {
    if model == CIFAR_TASK_MODEL {
        Some((crate::models::resnet::CLASSES, TASK_SIDE as usize))
    } else {
        crate::models::imagenet_input_size(model).map(|side| (1000, side))
    }
}
/// The work of the gallery's largest card (checked against `static/gallery/links.json`): an
/// explanation with the defaults on SqueezeNet (50 iterations of b 32 at 227²).
pub const GALLERY_LARGEST_WORK: u64 = 8_216;

/// Bytes of D̄'s sample buffer: `samples` images of 3 × `side`² f32.
pub fn sample_bytes(samples: usize, side: usize) -> u64 {
    samples as u64 * 3 * (side as u64).pow(2) * 4
}

/// A run's work in forward passes of one 224² image: per iteration, the mini-batch's forward and
/// backward (≈ 3 forwards each, b images) and the ± check's two forward passes over the batch or
/// over all of D̄ and the seed (`samples` + 1), as `config.sign_check` says; scaled by the input's
/// pixels (`side`²/224², so a 32² CIFAR task counts 1/49 of an ImageNet explanation per image).
pub fn run_work(config: &RunConfig, samples: usize, side: usize) -> u64 {
    let probed = match config.sign_check {
        crate::engine::SignCheck::Batch => config.batch,
        crate::engine::SignCheck::AllSamples => samples + 1,
    } as u64;
    in_224_passes(config.iterations as u64 * (3 * config.batch as u64 + 2 * probed), side)
}

/// `passes` forward passes of a `side`² image, counted as passes of a 224² one (rounded up).
fn in_224_passes(passes: u64, side: usize) -> u64 {
    (passes as u128 * (side as u128).pow(2)).div_ceil(224 * 224) as u64
}

/// Everything a link holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedState {
    pub page: SharedPage,
    /// The backend the sender computed on (`webgpu`, `cpu`): on another one the page says the
    /// numbers may differ in the last digits.
    pub backend: String,
    /// Start the run as soon as the page has loaded what it needs.
    pub auto_run: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum SharedPage {
    /// The explanation page.
    Explain {
        /// Model id (`lite0`) and the first 16 hex digits of its weights' sha256: a link made with
        /// other weights is recognised as such.
        model: String,
        weights: String,
        /// Every setting of the run: the target, the RNG seed (it also draws D̄ from the bundled
        /// photos) and the region box included.
        config: RunConfig,
        /// |D̄|.
        samples: usize,
        /// d̄: a bundled photo (or an embedded or supplied image), cropped, then edited.
        seed: SharedPicture,
        /// The visitor's own photos in D̄ cannot travel in a link; how many there were, so the
        /// page can say the result will differ.
        own_photos: usize,
        /// Which bundled photos D̄ is drawn from. Absent (links made before issue #21): the first
        /// seven, as they were.
        #[serde(default, skip_serializing_if = "PhotoSet::is_first")]
        photos: PhotoSet,
    },
    /// An image task on the robust CIFAR-10 model.
    Task {
        task: Task,
        model: String,
        weights: String,
        settings: TaskSettings,
        /// Generation: `None` (the seed is a Gaussian sample of the RNG seed); inpainting: the
        /// picture at 32²; sketch: the drawing at 256².
        seed: Option<SharedPicture>,
        /// Inpainting: the hole (white) on a black 32² mask; `None` for the other tasks.
        hole: Option<SharedPicture>,
    },
}

/// A picture as the page made it: a starting picture at `side`², then the edits in order
/// (`drawing::Edit`; a `Resize` changes the side for the edits after it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SharedPicture {
    pub base: PictureBase,
    pub side: u32,
    pub edits: Vec<Edit>,
}

/// Where a picture starts.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum PictureBase {
    /// A bundled photo (`coffee`, `crate::bundled::PHOTOS`), centre-cropped to the side.
    Bundled { id: String },
    /// A picture the page draws itself (`crate::bundled::built_in`): the starting sketch, the
    /// central hole.
    BuiltIn { id: String },
    /// A small image embedded as PNG (standard base64), centre-cropped to the side.
    Image { name: String, png: String },
    /// An image too large for a link: the page asks the visitor for the file of this name.
    Supplied { name: String },
}

impl SharedPicture {
    /// The side after the last edit.
    pub fn final_side(&self) -> u32 {
        self.edits.iter().fold(self.side, |side, e| if let Edit::Resize { side } = e { *side } else { side })
    }

    /// The edits applied in order to `start` (the base at `side`²).
    pub fn render(&self, start: RgbImage) -> RgbImage {
        let mut image = start;
        for edit in &self.edits {
            edit.apply(&mut image);
        }
        image
    }

    /// The embedded image's PNG bytes, if the base is one.
    pub fn embedded_png(&self) -> Option<Vec<u8>> {
        match &self.base {
            PictureBase::Image { png, .. } => base64::engine::general_purpose::STANDARD.decode(png).ok(),
            _ => None,
        }
    }

    /// The name the page gives the picture (a bundled id, a file name); " (edited)" once edited,
    /// as the explanation page names a seed it drew on.
    pub fn name(&self) -> String {
        let name = match &self.base {
            PictureBase::Bundled { id } | PictureBase::BuiltIn { id } => id.clone(),
            PictureBase::Image { name, .. } | PictureBase::Supplied { name } => name.clone(),
        };
        if self.edits.is_empty() {
            name
        } else {
            format!("{name} (edited)")
        }
    }
}

/// `image` as an embedded base, if its PNG fits in a link; otherwise `None` (the link then names
/// the file and the page asks for it).
pub fn embed_image(name: &str, image: &RgbImage) -> Option<PictureBase> {
    let png = crate::imaging::encode_png(image).ok()?;
    (png.len() <= MAX_IMAGE_BYTES && image.width() <= MAX_IMAGE_SIDE && image.height() <= MAX_IMAGE_SIDE)
        .then(|| PictureBase::Image { name: plain_file_name(name), png: base64::engine::general_purpose::STANDARD.encode(png) })
}

/// A file name reduced to what a link may carry (no control characters, at most 100 characters).
pub fn plain_file_name(name: &str) -> String {
    let name: String = name.chars().filter(|c| !c.is_control()).take(100).collect();
    if name.is_empty() {
        "image".into()
    } else {
        name
    }
}

/// Why a link was refused, in words for the page.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LinkError {
    #[error("this is not an a2x link (it should start with “{PREFIX}”)")]
    NotALink,
    #[error("this link was made by a newer a2x (format {0}); this page reads format {VERSION}")]
    UnknownVersion(String),
    #[error("the link is too long ({0} characters; at most {MAX_FRAGMENT})")]
    TooLong(usize),
    #[error("the link is damaged: {0}")]
    Damaged(String),
    #[error("the link holds a value this page does not accept: {0}")]
    Invalid(String),
}

fn base64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
}

/// The fragment (without `#`) for `state`.
pub fn encode(state: &SharedState) -> String {
    let json = serde_json::to_string(state).expect("the state serializes");
    let deflated = miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 9);
    format!("{PREFIX}{VERSION}.{}", base64().encode(deflated))
}

/// The state in `fragment` (with or without the leading `#`), or why not. Never panics.
pub fn decode(fragment: &str) -> Result<SharedState, LinkError> {
    let fragment = fragment.strip_prefix('#').unwrap_or(fragment);
    if fragment.len() > MAX_FRAGMENT {
        return Err(LinkError::TooLong(fragment.len()));
    }
    let rest = fragment.strip_prefix(PREFIX).ok_or(LinkError::NotALink)?;
    let (version, payload) = rest.split_once('.').ok_or_else(|| LinkError::Damaged("no version".into()))?;
    if version != VERSION.to_string() {
        let shown: String = version.chars().take(12).filter(|c| c.is_ascii_alphanumeric()).collect();
        return Err(LinkError::UnknownVersion(shown));
    }
    let deflated = base64().decode(payload).map_err(|e| LinkError::Damaged(format!("not base64 ({e})")))?;
    let json = miniz_oxide::inflate::decompress_to_vec_with_limit(&deflated, MAX_JSON)
        .map_err(|e| LinkError::Damaged(format!("not compressed data, or more than {MAX_JSON} bytes of it ({:?})", e.status)))?;
    let text = std::str::from_utf8(&json).map_err(|_| LinkError::Damaged("not text".into()))?;
    let raw: serde_json::Value = serde_json::from_str(text).map_err(|e| LinkError::Damaged(format!("not JSON ({e})")))?;
    let state: SharedState = serde_json::from_value(raw.clone()).map_err(|e| LinkError::Invalid(e.to_string()))?;
    // Strict: what was read must be exactly what this version writes for it.
    let canonical: serde_json::Value = serde_json::from_str(&serde_json::to_string(&state).map_err(|e| LinkError::Invalid(e.to_string()))?)
        .map_err(|e| LinkError::Invalid(e.to_string()))?;
    if !same_json(&canonical, &raw) {
        return Err(LinkError::Invalid(format!("unexpected or missing fields ({})", first_difference(&raw, &canonical))));
    }
    state.validate()?;
    Ok(state)
}

/// JSON equality where a number is its value: `80` and `80.0` are the same (another tool may
/// write a link's floats without the `.0`); integers compare exactly.
fn same_json(a: &serde_json::Value, b: &serde_json::Value) -> bool {
    use serde_json::Value;
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => match (x.as_i128(), y.as_i128()) {
            (Some(i), Some(j)) => i == j,
            _ => x.as_f64() == y.as_f64(),
        },
        (Value::Array(x), Value::Array(y)) => x.len() == y.len() && x.iter().zip(y).all(|(u, v)| same_json(u, v)),
        (Value::Object(x), Value::Object(y)) => x.len() == y.len() && x.iter().all(|(k, u)| y.get(k).is_some_and(|v| same_json(u, v))),
        _ => a == b,
    }
}

/// Where two JSON values first differ, as a path (`page.config.eta`), for the error message.
fn first_difference(a: &serde_json::Value, b: &serde_json::Value) -> String {
    use serde_json::Value;
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            for key in x.keys().chain(y.keys()) {
                match (x.get(key), y.get(key)) {
                    (Some(u), Some(v)) if !same_json(u, v) => {
                        let inner = first_difference(u, v);
                        // "unknown field x" inside `config` reads "unknown field config.x".
                        for kind in ["unknown field ", "missing field "] {
                            if let Some(rest) = inner.strip_prefix(kind) {
                                return format!("{kind}{}.{rest}", clean(key));
                            }
                        }
                        return format!("{}.{inner}", clean(key)).trim_end_matches('.').to_string();
                    }
                    (Some(_), None) => return format!("unknown field {}", clean(key)),
                    (None, Some(_)) => return format!("missing field {}", clean(key)),
                    _ => {}
                }
            }
            String::new()
        }
        (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
            x.iter().zip(y).position(|(u, v)| !same_json(u, v)).map(|i| format!("[{i}]")).unwrap_or_default()
        }
        _ => String::new(),
    }
}

/// A key from a link, shortened and reduced to plain characters before it is shown.
fn clean(key: &str) -> String {
    key.chars().take(40).filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-').collect()
}

fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), LinkError> {
    if ok {
        Ok(())
    } else {
        Err(LinkError::Invalid(what()))
    }
}

fn check_name(name: &str, what: &str) -> Result<(), LinkError> {
    check(!name.is_empty() && name.len() <= 40 && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_'), || {
        format!("{what} must be a short plain name")
    })
}

fn check_weights(weights: &str) -> Result<(), LinkError> {
    check(weights.len() == 16 && weights.chars().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), || {
        "the weights' fingerprint must be 16 lowercase hex digits".into()
    })
}

fn positive(value: f32, what: &str, max: f32) -> Result<(), LinkError> {
    check(value.is_finite() && value > 0.0 && value <= max, || format!("{what} must be a number in (0, {max}]"))
}

fn check_config(c: &RunConfig, classes: usize, side: usize) -> Result<(), LinkError> {
    check(c.target < classes, || format!("target class {} (there are {classes})", c.target))?;
    positive(c.eta, "η", 1e4)?;
    check(c.gamma.is_finite() && (0.0..=1.0).contains(&c.gamma), || "γ must be in [0, 1]".into())?;
    check((2..=1024).contains(&c.batch), || "b must be between 2 and 1024".into())?;
    check((1..=100_000).contains(&c.iterations), || "iterations must be between 1 and 100000".into())?;
    check(c.refine_every <= 100_000, || "refine every: at most 100000".into())?;
    positive(c.lambda, "λ", 1e3)?;
    check(c.alpha.is_finite() && (0.0..1.0).contains(&c.alpha), || "α must be in [0, 1)".into())?;
    check(c.beta.is_finite() && (0.0..1.0).contains(&c.beta), || "β must be in [0, 1)".into())?;
    positive(c.epsilon, "ε", 1e6)?;
    check((1..=4096).contains(&c.chunk), || "images per pass must be between 1 and 4096".into())?;
    if let Some(step) = c.step_size {
        positive(step, "step size", 1e3)?;
    }
    if let Some(sigma) = c.smoothing {
        positive(sigma, "σ", 64.0)?;
    }
    check(c.transforms.len() <= 8, || "at most 8 transforms".into())?;
    c.check_additions().map_err(LinkError::Invalid)?;
    if let Some(Region { top, left, height, width }) = c.region {
        // Checked sums: a corner near usize::MAX must not wrap around into the image.
        let fits = |start: usize, extent: usize| start.checked_add(extent).is_some_and(|end| end <= side);
        check(height > 0 && width > 0 && fits(top, height) && fits(left, width), || format!("the region must lie inside the {side}² image"))?;
    }
    Ok(())
}

/// |D̄| × 3 × side² f32 within [`MAX_SAMPLE_BYTES`] (the page checks its form the same way).
pub fn check_sample_bytes(samples: usize, side: usize) -> Result<(), LinkError> {
    let most = MAX_SAMPLE_BYTES / sample_bytes(1, side).max(1);
    check(sample_bytes(samples, side) <= MAX_SAMPLE_BYTES, || {
        format!("|D̄| = {samples} at {side}² needs {:.1} GB of samples; at most {most} fit in the browser's memory", sample_bytes(samples, side) as f64 / 1e9)
    })
}

fn check_picture(picture: &SharedPicture, what: &str) -> Result<(), LinkError> {
    let sides = 8..=MAX_IMAGE_SIDE;
    check(sides.contains(&picture.side), || format!("{what}: a side between 8 and {MAX_IMAGE_SIDE}"))?;
    match &picture.base {
        PictureBase::Bundled { id } => check_name(id, "the sample photo")?,
        PictureBase::BuiltIn { id } => check_name(id, "the built-in picture")?,
        PictureBase::Image { name, png } => {
            check_file_name(name)?;
            check(png.len() <= MAX_IMAGE_BYTES * 4 / 3 + 4, || format!("an embedded image of at most {MAX_IMAGE_BYTES} bytes"))?;
            let bytes = base64::engine::general_purpose::STANDARD.decode(png).map_err(|_| LinkError::Invalid("the embedded image is not base64".into()))?;
            check(bytes.starts_with(b"\x89PNG\r\n\x1a\n") && bytes.len() >= 24, || "the embedded image is not a PNG".into())?;
            let (w, h) = (u32::from_be_bytes(bytes[16..20].try_into().unwrap()), u32::from_be_bytes(bytes[20..24].try_into().unwrap()));
            check(w > 0 && h > 0 && w <= MAX_IMAGE_SIDE && h <= MAX_IMAGE_SIDE, || format!("the embedded image is {w}×{h} (at most {MAX_IMAGE_SIDE} a side)"))?;
        }
        PictureBase::Supplied { name } => check_file_name(name)?,
    }
    check(picture.edits.len() <= MAX_EDITS, || format!("{what}: at most {MAX_EDITS} edits"))?;
    let points: usize = picture.edits.iter().map(|e| if let Edit::Stroke { points, .. } = e { points.len() } else { 1 }).sum();
    check(points <= MAX_POINTS, || format!("{what}: at most {MAX_POINTS} points in all strokes"))?;
    let mut side = picture.side;
    let mut cost = 0u64;
    for edit in &picture.edits {
        match edit {
            Edit::Stroke { radius, points, .. } => {
                positive(*radius, "a brush radius", side as f32)?;
                check(!points.is_empty(), || "a stroke without points".into())?;
                // Every point (a running sum of differences) within a canvas of the canvas.
                let limit = 2 * side as i64 * POINT_UNITS as i64;
                let mut at = [0i64; 2];
                for d in points {
                    at = [at[0] + d[0] as i64, at[1] + d[1] as i64];
                    check(at.iter().all(|v| (-limit..=limit).contains(v)), || "a stroke point far outside the canvas".into())?;
                }
            }
            Edit::Fill { at, .. } => check(at[0] < side && at[1] < side, || "a fill outside the canvas".into())?,
            Edit::Clear { .. } => {}
            Edit::Resize { side: to } => {
                check(sides.contains(to), || format!("{what}: a side between 8 and {MAX_IMAGE_SIDE}"))?;
            }
        }
        cost += crate::drawing::replay_cost(edit, side);
        check(cost <= MAX_PAINT_TESTS, || format!("{what}: its edits would take more than {MAX_PAINT_TESTS} pixel tests to replay (brushes too large for that many points)"))?;
        if let Edit::Resize { side: to } = edit {
            side = *to;
        }
    }
    Ok(())
}

/// PGD's settings and the hole's weight, as every task link has them.
fn check_baseline(settings: &TaskSettings) -> Result<(), LinkError> {
    let b = &settings.baseline;
    positive(b.epsilon, "ε", 1e4)?;
    positive(b.step_size, "the PGD step", 1e3)?;
    check((1..=100_000).contains(&b.steps), || "PGD steps must be between 1 and 100000".into())?;
    check(settings.hole_weight.is_finite() && (0.0..=1e4).contains(&settings.hole_weight), || "β must be in [0, 10000]".into())
}

fn check_file_name(name: &str) -> Result<(), LinkError> {
    check(!name.is_empty() && name.chars().count() <= 100 && !name.chars().any(char::is_control), || "the image's name is empty, too long or has control characters".into())
}

impl SharedState {
    /// The work the link's run asks for ([`run_work`]; a task adds PGD's steps, a forward and a
    /// backward of one image each): above [`AUTO_RUN_WORK`] the page asks before running it.
    pub fn work(&self) -> u64 {
        match &self.page {
            SharedPage::Explain { config, samples, seed, .. } => run_work(config, *samples, seed.final_side() as usize),
            SharedPage::Task { settings, model, .. } => {
                // PGD: a forward and a backward (≈ 3 forwards) of each of its copies per step.
                let side = task_model(model).map_or(TASK_SIDE as usize, |(_, side)| side);
                let copies = settings.baseline_copies.max(1) as u64;
                run_work(&settings.run, settings.samples, side) + in_224_passes(3 * settings.baseline.steps as u64 * copies, side)
            }
        }
    }

    /// Whether the link may start its run by itself: it asks to, and its work is within what the
    /// gallery's cards need.
    pub fn runs_by_itself(&self) -> bool {
        self.auto_run && self.work() <= AUTO_RUN_WORK
    }

    /// Every value within what the page accepts (see the module notes).
    pub fn validate(&self) -> Result<(), LinkError> {
        check_name(&self.backend, "the backend")?;
        match &self.page {
            SharedPage::Explain { model, weights, config, samples, seed, own_photos, .. } => {
                check_name(model, "the model")?;
                check_weights(weights)?;
                check_config(config, 1000, seed.final_side() as usize)?;
                check((1..=4096).contains(samples), || "|D̄| must be between 1 and 4096".into())?;
                check_sample_bytes(*samples, seed.final_side() as usize)?;
                check(config.batch <= samples + 1, || "b − 1 must not exceed |D̄|".into())?;
                check(*own_photos <= 100_000, || "own photos: at most 100000".into())?;
                check(!matches!(seed.base, PictureBase::BuiltIn { .. }), || "the seed must be a photo".into())?;
                check_picture(seed, "the seed")
            }
            SharedPage::Task { task, model, weights, settings, seed, hole } if model != CIFAR_TASK_MODEL => {
                check_name(model, "the model")?;
                check_weights(weights)?;
                let (classes, side) = task_model(model).ok_or_else(|| LinkError::Invalid(format!("the task's model “{model}” is not one a2x has")))?;
                check_config(&settings.run, classes, side)?;
                check((1..=4096).contains(&settings.samples), || "|D̄| must be between 1 and 4096".into())?;
                check_sample_bytes(settings.samples, side)?;
                check(settings.run.batch <= settings.samples + 1, || "b − 1 must not exceed |D̄|".into())?;
                check_baseline(settings)?;
                check(settings.baseline_copies <= 64, || "PGD's placements a step: at most 64".into())?;
                // Every picture ends at the model's side (a sketch may be drawn larger and resized).
                let (side, ends) = (side as u32, |p: &SharedPicture| p.final_side());
                let seed = seed.as_ref().ok_or_else(|| LinkError::Invalid("an ImageNet task starts from a picture".into()))?;
                check(ends(seed) == side, || format!("this task's picture is {side}×{side} on {model}"))?;
                check_picture(seed, "the picture")?;
                match (task, hole) {
                    (Task::Inpaint, Some(hole)) => {
                        check(ends(hole) == side, || format!("the hole is {side}×{side} on {model}"))?;
                        check_picture(hole, "the hole")
                    }
                    (Task::Inpaint, None) => Err(LinkError::Invalid("an inpainting link needs its hole".into())),
                    (_, Some(_)) => Err(LinkError::Invalid("a hole belongs to an inpainting link, and only there".into())),
                    (_, None) => Ok(()),
                }
            }
            SharedPage::Task { task, model, weights, settings, seed, hole } => {
                check_name(model, "the model")?;
                check_weights(weights)?;
                check_config(&settings.run, 10, 32)?;
                check((1..=4096).contains(&settings.samples), || "|D̄| must be between 1 and 4096".into())?;
                check(settings.run.batch <= settings.samples + 1, || "b − 1 must not exceed |D̄|".into())?;
                check_baseline(settings)?;
                let (seed_side, hole_side) = match task {
                    Task::Generate => (None, None),
                    Task::Inpaint => (Some(TASK_SIDE), Some(TASK_SIDE)),
                    Task::Sketch => (Some(SKETCH_SIDE), None),
                };
                let side_of = |p: &Option<SharedPicture>| p.as_ref().map(|p| (p.side, p.final_side()));
                check(side_of(seed) == seed_side.map(|s| (s, s)), || match seed_side {
                    Some(side) => format!("this task's picture is {side}×{side}"),
                    None => "generation takes no picture".into(),
                })?;
                check(side_of(hole) == hole_side.map(|s| (s, s)), || "a hole (32×32) belongs to an inpainting link, and only there".into())?;
                for (picture, what) in [(seed, "the picture"), (hole, "the hole")] {
                    if let Some(picture) = picture {
                        check_picture(picture, what)?;
                    }
                }
                Ok(())
            }
        }
    }
}

use crate::bundled::TASK_SIDE;
const SKETCH_SIDE: u32 = TASK_SIDE * crate::bundled::SKETCH_SCALE;

#[cfg(test)]
mod tests;
