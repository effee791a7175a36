//! What the explanation page does: load models, classify the seed, start a run (a request sent
//! to the session, its events turned into messages), the cross-model check, export names.

use super::models::{load_model, ModelSlot};
use super::run::{CrossRow, RunState, RunView};
use super::state::{Explain, Msg};
use crate::engine::RunConfig;
use crate::imaging;
use crate::models::{self, labels, ImageNetModel};
use crate::session::transport::ModelFiles;
use crate::session::{ExplainRequest, Outcome, Photo, RunEvent, RunRequest};
use crate::web::engine_worker::{run_in_worker, Control, EngineWorker, Heard};
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

    pub(super) fn ready_model(&self, id: &str) -> Option<Rc<ImageNetModel>> {
        match self.models.get(id) {
            Some(ModelSlot::Ready(model, _)) => Some(model.clone()),
            _ => None,
        }
    }

    pub(super) fn busy(&self) -> bool {
        self.run.as_ref().is_some_and(|r| r.state.active())
    }

    pub(super) fn load(&mut self, ctx: &Context<Self>, id: String) {
        let (Some(entry), Some(device)) = (self.entry(&id), self.device.clone()) else { return };
        if matches!(self.models.get(&id), Some(ModelSlot::Ready(..) | ModelSlot::Downloading { .. } | ModelSlot::Loading)) {
            return;
        }
        self.models.insert(id.clone(), ModelSlot::Downloading { received: 0, total: entry.file_bytes as u64 });
        let link = ctx.link().clone();
        let generation = device.generation;
        ctx.link().send_future(async move {
            let progress = {
                let (link, id) = (link.clone(), id.clone());
                move |received, total| link.send_message(Msg::ModelProgress(generation, id.clone(), received, total))
            };
            let result = load_model(entry, device.device, progress).await;
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
        let (Some(model), Some(device), Some(seed)) = (self.ready_model(&self.model_id), self.device.clone(), self.seed.as_ref()) else {
            return;
        };
        let image = seed.image.clone();
        let generation = device.generation;
        self.seed_top5 = None;
        ctx.link().send_future(async move {
            let result = models::logits_of(&*model, &image, &device.device).await.map(|l| models::top_k(&l, 5)).map_err(|e| e.to_string());
            Msg::SeedTop5(generation, result)
        });
    }

    /// A new seed from a photo: a bundled one (`bundled`), or the visitor's (embedded in a share
    /// link if it fits, otherwise named so the recipient is asked for it).
    pub(super) fn start(&mut self, ctx: &Context<Self>) -> Result<(), String> {
        let device = self.device.clone().ok_or("the backend is still starting")?;
        // The page's copy of the model is loaded (so its file is in Cache Storage, checked): the
        // worker loads its own from there.
        self.ready_model(&self.model_id).ok_or("the model is not loaded yet")?;
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
        let photo_names: Vec<String> = photos.iter().map(|p| p.name.clone()).collect();
        let size = self.input_size();
        if self.num_samples + 1 < self.config.batch {
            return Err(format!("|D̄| = {} cannot fill a mini-batch of b − 1 = {}", self.num_samples, self.config.batch.saturating_sub(1)));
        }
        if self.num_samples == 0 || self.num_samples > 4096 {
            return Err("|D̄| must lie between 1 and 4096".into());
        }
        crate::link::check_sample_bytes(self.num_samples, size).map_err(|e| e.to_string())?;
        let config = RunConfig { target: self.target, region: self.region, ..self.config.clone() };
        let seed_values = imaging::to_chw(&seed.image);
        let request = ExplainRequest { model: self.model_id.clone(), config: config.clone(), seed: Photo::new(&seed.name(), &seed.image), photos, samples: self.num_samples };
        let worker = EngineWorker::in_slot(&mut self.worker)?;
        let stopped = ctx.link().clone();
        worker.on_stopped(move |what| stopped.send_message(Msg::EngineStopped(what)));
        self.next_run += 1;
        let id = self.next_run;
        self.share = None;
        let control = Control::new(worker, id);
        self.run = Some(RunView {
            id,
            state: RunState::Preparing,
            error: None,
            model_id: self.model_id.clone(),
            backend: device.label,
            config: config.clone(),
            num_samples: self.num_samples,
            seed_name: seed.name(),
            seed_recipe: seed.recipe.clone(),
            own_photos: self.own_photos.len(),
            backend_id: backend_id(&device),
            distribution: photo_names,
            photo_set: self.photo_set,
            seed_fingerprint: crate::web::page::fingerprint(&seed_values),
            p_fingerprint: None,
            seed_values: seed_values.clone(),
            size,
            events: Vec::new(),
            perturbation: None,
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
            let finished = run_in_worker(control, device.backend, files, RunRequest::Explain(request), None, |heard| match heard {
                Heard::Event(RunEvent::Started { seed, .. }) => link.send_message(Msg::RunStarted(id, seed)),
                Heard::Event(RunEvent::Explained { event, perturbation }) => link.send_message(Msg::Iteration(id, event, perturbation)),
                Heard::Event(RunEvent::Finished(Outcome::Explanation { top5, .. })) => {
                    link.send_message(Msg::ResultTop5(id, Ok(top5)));
                    link.send_message(Msg::RunEnded(id, Ok(true)));
                }
                Heard::Event(RunEvent::Failed { message }) => link.send_message(Msg::RunEnded(id, Err(message))),
                Heard::Event(other) => link.send_message(Msg::RunEnded(id, Err(format!("an explanation does not send {other:?}")))),
                Heard::Checkpoint(_) => {}
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
        let (Some(model), Some(device), Some(picture)) = (self.ready_model(&run.model_id), self.device.clone(), run.perturbed_seed_image()) else {
            return;
        };
        let id = run.id;
        ctx.link().send_future(async move {
            let result = models::logits_of(&*model, &picture, &device.device).await.map(|l| models::top_k(&l, 5)).map_err(|e| e.to_string());
            Msg::ResultTop5(id, result)
        });
    }

    /// The paper's cross-model check on every model of the zoo (loading the others first).
    pub(super) fn cross_check(&mut self, ctx: &Context<Self>) {
        let Some(manifest) = self.manifest.clone() else { return };
        let ids: Vec<String> = manifest.models.iter().map(|m| m.id.clone()).collect();
        let missing: Vec<String> = ids.iter().filter(|id| self.ready_model(id).is_none()).cloned().collect();
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
        let zoo: Vec<(String, Rc<ImageNetModel>)> =
            ids.iter().filter_map(|id| self.models.get(id).and_then(|s| if let ModelSlot::Ready(m, _) = s { Some((id.clone(), m.clone())) } else { None })).collect();
        let (id, target, own) = (run.id, run.config.target, run.model_id.clone());
        ctx.link().send_future(async move {
            let mut rows = Vec::new();
            for (model_id, model) in zoo {
                let check = async {
                    Ok::<_, String>(CrossRow {
                        computed_p: model_id == own,
                        perturbation: models::cross_check(&*model, &model_id, &picture, target, &device.device).await.map_err(|e| e.to_string())?,
                        perturbed_seed: models::cross_check(&*model, &model_id, &perturbed, target, &device.device).await.map_err(|e| e.to_string())?,
                        model: model_id.clone(),
                    })
                };
                match check.await {
                    Ok(row) => rows.push(row),
                    Err(e) => return Msg::CrossChecked(id, Err(e)),
                }
            }
            Msg::CrossChecked(id, Ok(rows))
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


