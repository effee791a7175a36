//! What both pages share: the backend as the app hands it down, the comparisons that decide
//! whether their inputs changed, the notices about a restored link and the share link of a result.
//! A run itself goes to the engine's worker (`engine_worker`).

use super::browser;
use crate::link::{self, SharedState};
use crate::models::format::verify_sha256;
use crate::models::manifest::Manifest;
use crate::session::transport::Backend;
use std::rc::Rc;

/// The backend the page computes on, as the app hands it down.
#[derive(Clone)]
pub struct ActiveDevice {
    pub label: &'static str,
    pub is_cpu: bool,
    /// The same backend, as the engine's worker sets it up for a run.
    pub backend: Backend,
    /// Changes with every backend switch.
    pub generation: u32,
}

/// A model file of the manifest (`models/<file>`), from Cache Storage or downloaded (telling
/// `progress`), checked against its sha256 and kept in the cache, where the engine's worker builds
/// the model from: its size in bytes, and whether it came from the cache.
pub async fn fetch_model_file(file: &str, size: u64, sha256: &str, name: &str, progress: impl Fn(u64, u64)) -> Result<(usize, bool), String> {
    let (sha, name) = (sha256.to_string(), name.to_string());
    let check = move |bytes: &[u8]| verify_sha256(bytes, &sha).map_err(|e| format!("{name}: {e}"));
    let ((), bytes, from_cache) = browser::fetch_checked(&format!("models/{file}"), size, progress, check).await?;
    Ok((bytes, from_cache))
}

/// Whether two pages got the same share link (the same `Rc`: a link is restored once).
pub fn same_link(a: &Option<Rc<SharedState>>, b: &Option<Rc<SharedState>>) -> bool {
    match (a, b) {
        (Some(x), Some(y)) => Rc::ptr_eq(x, y),
        (None, None) => true,
        _ => false,
    }
}

/// What changed when the app handed a page new inputs: a share link to restore (a new one),
/// and whether the backend changed (models live on one device: the page loads them again and
/// stops a run on the old one). Both pages' `changed`.
pub fn new_inputs(
    link: (&Option<Rc<SharedState>>, &Option<Rc<SharedState>>),
    device: (&Option<ActiveDevice>, &Option<ActiveDevice>),
) -> (Option<Rc<SharedState>>, bool) {
    let (old_link, new_link) = link;
    let restore = (!same_link(new_link, old_link)).then(|| new_link.clone()).flatten();
    let generation = |d: &Option<ActiveDevice>| d.as_ref().map(|d| d.generation);
    (restore, generation(device.0) != generation(device.1))
}

/// The backend's name in a share link.
pub fn backend_id(device: &ActiveDevice) -> &'static str {
    if device.is_cpu { "cpu" } else { "webgpu" }
}

/// What the page says about a link made on another backend.
pub fn backend_notice(link_backend: &str, device: Option<&ActiveDevice>) -> Option<String> {
    let here = device.map(backend_id)?;
    (link_backend != here).then(|| {
        format!(
            "This link was made on the {link_backend} backend and this page computes on {here}: the same steps run, but floating-point results \
             differ in the last digits between backends, and the method's first steps (close to the sign of the gradient) can enlarge that, \
             so the ℘ curve and the picture may differ in detail from the sender's. On the same backend they are the same."
        )
    })
}

/// A short fingerprint of a vector of numbers (FNV-1a over their bits): two runs agree on it
/// only if every number is the same. The page shows it so a replayed link can be compared.
pub fn fingerprint(values: &[f32]) -> String {
    const PRIME: u64 = 0x0100_0000_01b3;
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    // The four bytes of each number, low first, written out: the page's thread runs this for
    // every picture the engine sends, and the unoptimised (test) build took ~17 ms a picture
    // through an iterator over `to_le_bytes`.
    for v in values {
        let bits = v.to_bits() as u64;
        hash = (hash ^ (bits & 0xff)).wrapping_mul(PRIME);
        hash = (hash ^ ((bits >> 8) & 0xff)).wrapping_mul(PRIME);
        hash = (hash ^ ((bits >> 16) & 0xff)).wrapping_mul(PRIME);
        hash = (hash ^ (bits >> 24)).wrapping_mul(PRIME);
    }
    format!("{hash:016x}")
}

/// Whether a page's inputs from the app are unchanged: the same backend (by its generation) and
/// the same manifest (the same `Rc`). Shared by the explanation's and the image tasks' props.
pub fn same_inputs(a: (&Option<ActiveDevice>, &Option<Rc<Manifest>>), b: (&Option<ActiveDevice>, &Option<Rc<Manifest>>)) -> bool {
    let device = |d: &Option<ActiveDevice>| d.as_ref().map(|d| (d.generation, d.label));
    let manifest = match (a.1, b.1) {
        (Some(x), Some(y)) => Rc::ptr_eq(x, y),
        (None, None) => true,
        _ => false,
    };
    device(a.0) == device(b.0) && manifest
}

/// What the page says first about a link it restored: whether its run starts by itself, and
/// when a link asks for more work than the gallery's cards need, that the visitor decides
/// (issue #23: a link could ask for 100,000 iterations and run on opening).
pub fn restored_notice(state: &crate::link::SharedState, waiting_for: &str) -> String {
    if state.runs_by_itself() {
        format!("Restored from a link; it runs as soon as {waiting_for} ready.")
    } else if state.auto_run {
        format!(
            "Restored from a link that asks to run at once, but its run is large: about {} forward passes of a 224² image, {:.0}× the gallery's largest explanation. Press Run if you want it.",
            state.work(),
            state.work() as f64 / crate::link::GALLERY_LARGEST_WORK as f64
        )
    } else {
        "Restored from a link: press Run to compute it.".to_string()
    }
}

/// The share link of the last result, once made.
pub struct Share {
    pub run_id: u32,
    pub url: String,
    pub copied: Option<Result<(), String>>,
}

impl Share {
    /// The link of `state` (the result of run `run_id`), put on the clipboard; `done` hears
    /// whether that worked. Both pages' "Copy link".
    pub fn copy(state: &SharedState, run_id: u32, done: impl FnOnce(Result<(), String>) + 'static) -> Share {
        let fragment = link::encode(state);
        // A link that would not open (too long, a drawing of too many strokes) is not offered.
        if let Err(e) = link::decode(&fragment) {
            return Share { run_id, url: String::new(), copied: Some(Err(format!("this result cannot travel in a link: {e}"))) };
        }
        let url = browser::url_with_fragment(&fragment);
        let text = url.clone();
        wasm_bindgen_futures::spawn_local(async move { done(browser::copy_text(&text).await) });
        Share { run_id, url, copied: None }
    }

    /// Records the clipboard's answer for run `run_id`; false if the link shown is another's.
    pub fn record(share: &mut Option<Share>, run_id: u32, result: Result<(), String>) -> bool {
        match share.as_mut().filter(|s| s.run_id == run_id) {
            Some(share) => {
                share.copied = Some(result);
                true
            }
            None => false,
        }
    }
}
