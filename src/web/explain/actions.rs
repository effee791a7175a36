//! What the explanation page does: load models, classify the seed, start a run (a request sent
//! to the session, its events turned into messages), the cross-model check, export names.

use super::models::{load_model, ModelSlot};
use super::run::{CrossRow, ExplainInputs, Resumed, RunState, RunView};
use super::state::{Explain, Msg};
use crate::engine::RunConfig;
use crate::models::labels;
use crate::session::transport::{Answer, Job, ModelFiles};
use crate::session::{ExplainRequest, Outcome, Photo, RunEvent, RunRequest};
use crate::web::engine_worker::{run_in_worker, Control, EngineWorker, Heard};
use crate::web::browser;
use crate::web::now_ms;
use crate::web::page::backend_id;
use std::rc::Rc;
use yew::prelude::*;

impl Explain {
    pub(super) fn entry(&self, id: &str) -> Option<crate::models::manifest::ModelEntry> {
        self.manifest.as_ref()?.model(id).cloned()
    }

    pub(super) fn input_size(&self) -> usize {
        self.entry(&self.model_id).map(|e| e.input_size).unwrap_or(224)
    }

    /// Whether model `id` is ready in the engine's worker.
    pub(super) fn model_ready(&self, id: &str) -> bool {
        matches!(self.models.get(id), Some(ModelSlot::Ready(_)))
    }

    /// The page's engine worker (started again if the last one died).
    pub(super) fn worker(&self) -> Result<Rc<EngineWorker>, String> {
        self.worker.get()
    }

    pub(super) fn busy(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.state.active())
    }

    pub(super) fn load(&mut self, ctx: &Context<Self>, id: String) {
        let (Some(entry), Some(device)) = (self.entry(&id), self.device.clone()) else { return };
        if matches!(self.models.get(&id), Some(ModelSlot::Ready(..) | ModelSlot::Downloading { .. } | ModelSlot::Loading)) {
            return;
        }
        let worker = match self.worker() {
            Ok(worker) => worker,
            Err(e) => {
                self.models.insert(id, ModelSlot::Failed(e));
                return;
            }
        };
        self.models.insert(id.clone(), ModelSlot::Downloading { received: 0, total: entry.file_bytes as u64 });
        let link = ctx.link().clone();
        let generation = device.generation;
        ctx.link().send_future(async move {
            let progress = {
                let (link, id) = (link.clone(), id.clone());
                move |received, total| link.send_message(Msg::ModelProgress(generation, id.clone(), received, total))
            };
            let result = load_model(entry, worker, device.backend, progress).await;
            Msg::ModelLoaded(generation, id, result)
        });
    }

    /// The chosen model is what the page is for: it is fetched as soon as the backend is known.
    pub(super) fn auto_load(&mut self, ctx: &Context<Self>) {
        if self.device.is_some() && self.manifest.is_some() && !self.models.contains_key(&self.model_id) {
            self.load(ctx, self.model_id.clone());
        }
    }

    /// Classifies the seed with the chosen model (the page's "what the model sees now").
    pub(super) fn classify_seed(&mut self, ctx: &Context<Self>) {
        let (true, Some(entry), Some(device), Some(seed)) = (self.model_ready(&self.model_id), self.entry(&self.model_id), self.device.clone(), self.seed.as_ref()) else {
            return;
        };
        let picture = Photo::new("the seed", &seed.image);
        self.seed_top5 = None;
        self.seed_asked += 1;
        let (asked, number) = (self.worker(), self.seed_asked);
        ctx.link().send_future(async move {
            Msg::SeedTop5(device.generation, number, top5_in_worker(asked, device.backend, entry, picture).await)
        });
    }

    /// A new seed from a photo: a bundled one (`bundled`), or the visitor's (embedded in a share
    /// link if it fits, otherwise named so the recipient is asked for it).
    pub(super) fn start(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        self.device.as_ref().ok_or("the backend is still starting")?;
        // The model is loaded in the worker (its file is in Cache Storage, checked).
        if !self.model_ready(&self.model_id) {
            return Err("the model is not loaded yet".into());
        }
        let entry = self.entry(&self.model_id).ok_or("the manifest has no such model")?;
        let seed = self.seed.as_ref().ok_or("choose a seed first")?;
        match &self.bundled {
            Some(Ok(_)) => {}
            Some(Err(e)) => return Err(format!("the bundled photos of D̄ did not load ({e}); reload the page")),
            None => {
                let arrived = self.bundled_arrived.iter().filter(|p| p.is_some()).count();
                return Err(format!("the bundled photos of D̄ are still loading ({arrived} of {})", self.bundled_arrived.len()));
            }
        }
        let photos: Vec<Photo> = self.distribution_photos().into_iter().map(|(name, photo)| Photo::new(name, photo)).collect();
        if photos.is_empty() {
            return Err("D̄ has no photos: add some of your own".into());
        }
        let size = self.input_size();
        if self.num_samples + 1 < self.config.batch {
            return Err(format!("|D̄| = {} cannot fill a mini-batch of b − 1 = {}", self.num_samples, self.config.batch.saturating_sub(1)));
        }
        if self.num_samples == 0 || self.num_samples > 4096 {
            return Err("|D̄| must lie between 1 and 4096".into());
        }
        crate::link::check_sample_bytes(self.num_samples, size).map_err(|e| e.to_string())?;
        let config = RunConfig { target: self.target, region: self.region, ..self.config.clone() };
        let request = ExplainRequest { model: self.model_id.clone(), config, seed: Photo::new(&seed.name(), &seed.image), photos, samples: self.num_samples };
        let tag = format!("{}-{}", now_ms(), browser::random());
        let inputs = ExplainInputs { tag, request, entry, seed_recipe: seed.recipe.clone(), own_photos: self.own_photos.len(), photo_set: self.photo_set };
        self.launch(ctx, inputs, None)
    }

    /// Starts a run of `inputs` in the engine's worker on the page's backend: from the start (its
    /// inputs kept for a reload), or from `resumed` (an interrupted run's checkpoint, with the
    /// events the page had shown of it).
    pub(super) fn launch(&mut self, ctx: &Context<Self>, inputs: ExplainInputs, resumed: Option<Resumed>) -> Result<(), String> {
        let device = self.device.clone().ok_or("the backend is still starting")?;
        let worker = self.worker.get()?;
        let stopped = ctx.link().clone();
        worker.on_stopped(move |what| stopped.send_message(Msg::EngineStopped(what)));
        self.next_run += 1;
        let id = self.next_run;
        self.share = None;
        let control = Control::new(&self.worker, id)?;
        // A new run is kept in place of an interrupted one.
        self.interrupted = None;
        let ExplainInputs { tag, request, entry, seed_recipe, own_photos, photo_set } = inputs;
        let run_request = Rc::new(RunRequest::Explain(request));
        let (events, checkpoint) = match resumed {
            Some(resumed) => (resumed.events, Some(resumed.checkpoint)),
            None => {
                // Kept from the request the worker is sent, photo by photo, in later tasks.
                Self::save_run_inputs(&tag, &entry, &seed_recipe, own_photos, photo_set, run_request.clone());
                (Vec::new(), None)
            }
        };
        let RunRequest::Explain(request) = &*run_request else { unreachable!("made an explanation just above") };
        self.run = Some(RunView {
            id,
            tag,
            state: RunState::Preparing,
            error: None,
            model_id: request.model.clone(),
            backend: device.label,
            config: request.config.clone(),
            num_samples: request.samples,
            seed_name: request.seed.name.clone(),
            seed_recipe,
            own_photos,
            backend_id: backend_id(&device),
            distribution: request.photos.iter().map(|p| p.name.clone()).collect(),
            photo_set,
            // d̄ as the engine uses it comes with the worker's `Started`.
            seed_fingerprint: String::new(),
            p_fingerprint: None,
            resumed_from: events.len(),
            events,
            perturbation: None,
            pictures: None,
            started_ms: now_ms(),
            paused_since: None,
            paused_ms: 0.0,
            ended_ms: None,
            control: control.clone(),
            engine_stopped: None,
            recovered: Vec::new(),
            top5: None,
            cross: None,
            cross_running: false,
        });
        let link = ctx.link().clone();
        let files = ModelFiles::ImageNet { entry };
        wasm_bindgen_futures::spawn_local(async move {
            let finished = run_in_worker(control, device.backend, files, run_request, checkpoint, |heard| match heard {
                Heard::Event(RunEvent::Started { seed, .. }) => link.send_message(Msg::RunStarted(id, seed)),
                Heard::Event(RunEvent::Explained { event, perturbation, pictures }) => link.send_message(Msg::Iteration(id, event, perturbation, pictures)),
                Heard::Event(RunEvent::Finished(Outcome::Explanation { top5, .. })) => {
                    link.send_message(Msg::ResultTop5(id, Ok(top5)));
                    link.send_message(Msg::RunEnded(id, Ok(true)));
                }
                Heard::Event(RunEvent::Failed { message }) => link.send_message(Msg::RunEnded(id, Err(message))),
                Heard::Event(other) => link.send_message(Msg::RunEnded(id, Err(format!("an explanation does not send {other:?}")))),
                Heard::Checkpoint(checkpoint) => link.send_message(Msg::Checkpoint(id, checkpoint)),
                Heard::Recovering(what) => link.send_message(Msg::Recovering(id, what)),
            })
            .await;
            if !finished {
                link.send_message(Msg::RunEnded(id, Ok(false)));
            }
        });
        Ok(())
    }

    pub(super) fn run_mut(&mut self, id: u32) -> Option<&mut RunView> {
        self.run.as_mut().filter(|r| r.id == id)
    }

    /// Top-5 of the perturbed seed by the model that computed p.
    /// After a cancelled or failed run: the top five of the perturbed seed by the model that
    /// computed p (a finished run's come with its last event).
    pub(super) fn classify_result(&mut self, ctx: &Context<Self>) {
        let Some(run) = self.run.as_ref() else { return };
        let (Some(entry), Some(device), Some(picture)) = (self.entry(&run.model_id), self.device.clone(), run.perturbed_seed_image()) else {
            return;
        };
        let (id, picture) = (run.id, Photo::new("the seed + p", &picture));
        let asked = self.worker();
        ctx.link().send_future(async move { Msg::ResultTop5(id, top5_in_worker(asked, device.backend, entry, picture).await) });
    }

    /// The paper's cross-model check on every model of the zoo (loading the others first).
    pub(super) fn cross_check(&mut self, ctx: &Context<Self>) {
        let Some(manifest) = self.manifest.clone() else { return };
        let ids: Vec<String> = manifest.models.iter().map(|m| m.id.clone()).collect();
        let missing: Vec<String> = ids.iter().filter(|id| !self.model_ready(id)).cloned().collect();
        for id in &missing {
            if matches!(self.models.get(id), Some(ModelSlot::Failed(_))) {
                self.models.remove(id);
            }
            self.load(ctx, id.clone());
        }
        let Some(run) = self.run.as_mut() else { return };
        run.cross_running = true;
        if !missing.is_empty() {
            return; // ModelLoaded calls this again once every model is there.
        }
        let (Some(picture), Some(perturbed), Some(device)) = (run.perturbation_image(self.view), run.perturbed_seed_image(), self.device.clone()) else {
            return;
        };
        let pictures = vec![Photo::new("p", &picture), Photo::new("the seed + p", &perturbed)];
        let zoo: Vec<crate::models::manifest::ModelEntry> = manifest.models.clone();
        let (id, target, own) = (run.id, run.config.target, run.model_id.clone());
        let asked = self.worker();
        ctx.link().send_future(async move {
            let rows = async {
                let worker = asked?;
                let mut rows = Vec::new();
                for entry in zoo {
                    let work = Job::CrossCheck { entry: entry.clone(), pictures: pictures.clone(), target };
                    let Answer::CrossChecked { checks } = worker.ask(device.backend, work).await? else {
                        return Err("the engine's worker answered something else to a cross-model check".to_string());
                    };
                    let [perturbation, perturbed_seed]: [_; 2] = checks.try_into().map_err(|_| "a cross-model check without its two rows".to_string())?;
                    rows.push(CrossRow { computed_p: entry.id == own, perturbation, perturbed_seed, model: entry.id });
                }
                Ok(rows)
            };
            Msg::CrossChecked(id, rows.await)
        });
    }

    /// The share link of a run: everything needed to compute it again.
    pub(super) fn export_name(&self, what: &str, extension: &str) -> String {
        let run = self.run.as_ref();
        let target = run.map(|r| r.config.target).unwrap_or(self.target);
        let name: String = labels::imagenet()[target].name().chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' }).collect();
        format!("a2x-{}-{target}-{name}-{what}.{extension}", run.map(|r| r.model_id.as_str()).unwrap_or(""))
    }
}



/// The top five of `picture` by the model of `entry`, computed in the engine's worker.
async fn top5_in_worker(
    worker: Result<Rc<EngineWorker>, String>,
    backend: crate::session::transport::Backend,
    entry: crate::models::manifest::ModelEntry,
    picture: Photo,
) -> Result<Vec<crate::models::Prediction>, String> {
    match worker?.ask(backend, Job::Top5 { entry, pictures: vec![picture] }).await? {
        Answer::Top5 { mut top5 } if top5.len() == 1 => Ok(top5.remove(0)),
        other => Err(format!("the engine's worker answered {other:?} to a top five")),
    }
}
