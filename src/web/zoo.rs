//! The model zoo in the browser: fetch `models/manifest.json` and a model file, check its sha256,
//! have the engine's worker load it on the active backend and classify a bundled photo. Every
//! step is async and every failure is a message for the page, never a panic.

use super::browser::fetch_bytes;
use super::engine_worker::EngineWorker;
use super::now_ms;
use crate::imaging;
use super::page::fetch_model_file;
use crate::models::{labels, manifest::Manifest, Prediction};
use crate::session::transport::{Answer, Backend, Job};
use crate::session::Photo;
use serde::Serialize;
use std::rc::Rc;
use yew::prelude::*;

/// The photo the zoo card classifies (CC0, static/samples/README.md).
pub const SAMPLE_PHOTO: &str = "samples/chelsea.png";

pub async fn fetch_manifest() -> Result<Manifest, String> {
    let bytes = fetch_bytes("models/manifest.json").await?;
    Manifest::parse(&String::from_utf8_lossy(&bytes))
}

/// One classification of the sample photo, as shown and as written into `#zoo-json-<id>`.
#[derive(Clone, Debug, Serialize)]
pub struct ZooResult {
    pub model: String,
    pub backend: &'static str,
    pub photo: &'static str,
    pub top: Vec<Prediction>,
    pub names: Vec<&'static str>,
    /// The model's file (from Cache Storage or the network, sha256-checked) and the photo.
    pub download_ms: f64,
    /// The photo decoded and cropped, and the model loaded and warmed up in the worker (0 when it
    /// was loaded already).
    pub load_ms: f64,
    pub classify_ms: f64,
}

/// Fetches and checks model `id`, has the engine's worker load it on `backend`, and classifies
/// the sample photo there.
pub async fn classify_sample(manifest: Manifest, id: String, worker: Result<Rc<EngineWorker>, String>, backend: Backend, label: &'static str) -> Result<ZooResult, String> {
    let entry = manifest.model(&id).ok_or_else(|| format!("the manifest has no model {id}"))?.clone();
    let worker = worker?;
    let start = now_ms();
    fetch_model_file(&entry.file, entry.file_bytes as u64, &entry.sha256, &entry.name, |_, _| {}).await?;
    let photo = fetch_bytes(SAMPLE_PHOTO).await?;
    let download_ms = now_ms() - start;
    let start = now_ms();
    let picture = imaging::decode(&photo).map(|image| imaging::center_crop(&image, entry.input_size)).map_err(|e| format!("{SAMPLE_PHOTO}: {e}"))?;
    worker.ask(backend, Job::Load { entry: entry.clone() }).await?;
    let load_ms = now_ms() - start;
    let start = now_ms();
    let top = match worker.ask(backend, Job::Top5 { entry, pictures: vec![Photo::new(SAMPLE_PHOTO, &picture)] }).await? {
        Answer::Top5 { mut top5 } if top5.len() == 1 => top5.remove(0),
        other => return Err(format!("the engine's worker answered {other:?} to a top five")),
    };
    let classify_ms = now_ms() - start;
    let names = top.iter().map(|p| labels::imagenet()[p.class].lemmas).collect();
    Ok(ZooResult { model: id, backend: label, photo: SAMPLE_PHOTO, top, names, download_ms, load_ms, classify_ms })
}

/// What one model's row shows.
#[derive(Clone, Debug)]
pub enum RowState {
    Idle,
    Running(&'static str),
    Done(ZooResult),
    Failed(String),
}

impl RowState {
    pub fn name(&self) -> &'static str {
        match self {
            RowState::Idle => "idle",
            RowState::Running(_) => "running",
            RowState::Done(_) => "done",
            RowState::Failed(_) => "failed",
        }
    }
}

/// The zoo card: one row per model with a Classify button.
pub fn view(manifest: Option<Result<&Manifest, &String>>, rows: &[(String, RowState)], on_classify: Callback<String>) -> Html {
    let body = match manifest {
        None => html! { <p>{ "Reading models/manifest.json…" }</p> },
        Some(Err(message)) => html! { <p class="error">{ message }</p> },
        Some(Ok(manifest)) => {
            let rows = manifest.models.iter().map(|entry| {
                let state = rows.iter().find(|(id, _)| id == &entry.id).map(|(_, s)| s.clone()).unwrap_or(RowState::Idle);
                let id = entry.id.clone();
                let onclick = on_classify.reform(move |_| id.clone());
                let busy = matches!(state, RowState::Running(_));
                let accuracy = entry
                    .accuracy
                    .as_ref()
                    .map(|a| format!("top-1 {:.1}% on {} ImageNet photos", a.top1, a.images))
                    .unwrap_or_default();
                html! {
                  <tr id={format!("zoo-{}", entry.id)} data-state={state.name()}>
                    <td><strong>{ &entry.name }</strong><br/>
                      <span class="muted">{ format!("{} px · {:.1} MB int8 · {accuracy}", entry.input_size, entry.file_bytes as f64 / 1e6) }</span></td>
                    <td><button id={format!("classify-{}", entry.id)} {onclick} disabled={busy}>{ "Classify" }</button></td>
                    <td>{ view_state(&entry.id, &state) }</td>
                  </tr>
                }
            });
            html! { <table class="zoo">{ for rows }</table> }
        }
    };
    html! {
      <section id="zoo" class="card">
        <h2>{ "Model zoo" }</h2>
        <p class="muted">{ "Downloads a model (or takes it from this browser's cache), checks its sha256 against the manifest, loads it on the backend above and classifies the bundled photo " }
          <a href={SAMPLE_PHOTO}>{ "chelsea.png" }</a>{ " (CC0)." }</p>
        <img class="sample" src={SAMPLE_PHOTO} alt="Chelsea the cat" />
        { body }
      </section>
    }
}

fn view_state(id: &str, state: &RowState) -> Html {
    match state {
        RowState::Idle => html! {},
        RowState::Running(backend) => html! { <span>{ format!("downloading and classifying on {backend}…") }</span> },
        RowState::Failed(message) => html! { <span class="error">{ message }</span> },
        RowState::Done(result) => {
            let lines = result.top.iter().zip(&result.names).map(|(p, name)| {
                html! { <li>{ format!("{} ({}) {:.1}%", name, p.class, 100.0 * p.probability) }</li> }
            });
            html! {
              <>
                <ol class="top5">{ for lines }</ol>
                <span class="muted">{ format!("{} · download {:.0} ms · load {:.0} ms · classify {:.0} ms",
                    result.backend, result.download_ms, result.load_ms, result.classify_ms) }</span>
                <pre id={format!("zoo-json-{id}")} hidden=true>{ serde_json::to_string(result).unwrap_or_default() }</pre>
              </>
            }
        }
    }
}
