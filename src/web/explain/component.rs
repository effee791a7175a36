//! The explanation page as a yew component: creating it, hearing the app's inputs change, and
//! turning each message into a change of state (the work is in `actions`, `editing` and
//! `restore`; what it shows is `view`'s).

use super::models::ModelSlot;
use super::run::{RunState, RunView};
use super::seed::{bundled, SeedSnapshot, Tool, MAX_OWN_PHOTOS, PHOTO_SIDE};
use super::settings::preset_settings;
use super::state::{Explain, Msg, Props};
use crate::bundled::PhotoSet;
use crate::drawing::{self, Edit};
use crate::engine::Preset;
use crate::imaging;
use crate::models::{self, labels};
use crate::session::RunEvent;
use crate::web::browser;
use crate::web::now_ms;
use crate::web::page::{new_inputs, Share};
use std::collections::HashMap;
use yew::prelude::*;

impl Component for Explain {
    type Message = Msg;
    type Properties = Props;

    fn create(ctx: &Context<Self>) -> Self {
        // All photos are requested at once; each is decoded as it arrives, so the page answers
        // between them and a sample can be picked before the last one is there.
        for (index, (_, url)) in bundled().into_iter().enumerate() {
            ctx.link().send_future(async move { Msg::SampleLoaded(index, browser::fetch_image(url).await) });
        }
        let (config, num_samples) = preset_settings(Preset::A2x);
        let props = ctx.props();
        let mut explain = Explain {
            device: props.device.clone(),
            manifest: props.manifest.clone(),
            // The manifest's `default_model` replaces it as soon as the manifest is read.
            model_id: models::squeezenet::ID.into(),
            models: HashMap::new(),
            seed_top5: None,
            seed_asked: 0,
            query: String::new(),
            target: 1,
            bundled: None,
            bundled_arrived: vec![None; bundled().len()],
            pending_pick: None,
            photo_set: PhotoSet::Wide,
            view: imaging::PerturbationView::default(),
            seed: None,
            seed_error: None,
            tool: Tool::Brush,
            brush: 6.0,
            colour: [220, 40, 40],
            last_point: None,
            region: None,
            region_size: 64,
            own_photos: Vec::new(),
            own_files: Vec::new(),
            photo_errors: Vec::new(),
            decoding_photos: false,
            preset: Preset::A2x,
            config,
            num_samples,
            form_error: None,
            run: None,
            next_run: 0,
            worker: props.worker.clone(),
            seed_canvas: NodeRef::default(),
            p_canvas: NodeRef::default(),
            perturbed_canvas: NodeRef::default(),
            link_pending: props.shared.clone(),
            link_notices: Vec::new(),
            pending_supplied: None,
            auto_run_pending: false,
            share_auto_run: true,
            share: None,
            interrupted: None,
            saved_read: false,
            model_restored: false,
        };
        if let Some(manifest) = &explain.manifest {
            explain.model_id = manifest.default_model.clone();
        }
        explain.auto_load(ctx);
        explain.read_saved(ctx);
        // The engine's worker starts now, so that its module downloads and compiles while the
        // visitor picks a class and a seed, not after Run (a failure is said when Run is pressed).
        let _ = explain.worker.get();
        explain
    }

    fn changed(&mut self, ctx: &Context<Self>, old: &Self::Properties) -> bool {
        let props = ctx.props().clone();
        let (link, new_backend) = new_inputs((&old.shared, &props.shared), (&self.device, &props.device));
        if link.is_some() {
            self.link_pending = link;
        }
        if self.manifest.is_none() && !self.model_restored {
            if let Some(manifest) = &props.manifest {
                self.model_id = manifest.default_model.clone();
            }
        }
        let manifest_arrived = self.manifest.is_none() && props.manifest.is_some();
        self.manifest = props.manifest;
        self.device = props.device;
        if manifest_arrived {
            // A seed made before the model's input size was known (a kept one, the first photo).
            self.fit_seed();
        }
        if new_backend {
            // Models live on one device: load again on the new one, and stop a run on the old one.
            if let Some(run) = self.run.as_mut() {
                if run.state.active() {
                    run.control.cancel();
                }
            }
            self.models.clear();
            self.seed_top5 = None;
        }
        self.auto_load(ctx);
        self.apply_link(ctx);
        true
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        // What changes the page's inputs is kept for a reload once handled (a stroke when the
        // pointer lifts).
        let draft_changes = matches!(
            msg,
            Msg::SelectModel(_) | Msg::SetTarget(_) | Msg::RandomClass | Msg::SetView(_) | Msg::PickSample(_) | Msg::SeedDecoded(Ok(_))
                | Msg::Undo | Msg::Redo | Msg::ClearSeed | Msg::PointerDown(..) | Msg::PointerUp | Msg::RegionOn(_) | Msg::RegionSize(_)
                | Msg::Preset(_) | Msg::SetField(..)
        );
        let changed = self.handle(ctx, msg);
        if changed && draft_changes {
            self.save_draft();
        }
        changed
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        super::view::view(self, ctx)
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first_render: bool) {
        // Each picture is computed and drawn again only when it changed (a run's p changes with its
        // events, the view with the visitor's choice).
        if let Some(seed) = &self.seed {
            browser::draw_once(&self.seed_canvas, &browser::picture_key(&seed.image), || Some(seed.image.clone()));
        }
        if let Some(run) = &self.run {
            let shown = format!("{}:{}:{}", run.id, run.events.len(), run.perturbation.is_some());
            // Drawn in the worker: here only put on the canvases.
            if let Some(pictures) = &run.pictures {
                browser::draw_rgba_once(&self.p_canvas, &format!("{shown}:{:?}", self.view), pictures.perturbation(self.view));
                browser::draw_rgba_once(&self.perturbed_canvas, &shown, &pictures.perturbed_seed);
            }
        }
    }
}

impl Explain {
    /// One message into a change of state; true when the page should render again.
    fn handle(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::SampleLoaded(index, result) => {
                if matches!(self.bundled, Some(Err(_))) {
                    return false;
                }
                let photo = match result {
                    Ok(photo) => photo,
                    Err(e) => {
                        self.bundled = Some(Err(e));
                        self.pending_pick = None;
                        self.apply_link(ctx);
                        return true;
                    }
                };
                let name = bundled()[index].0.to_string();
                // The first photo is the seed until the visitor (or a link) picks another.
                let pick = self.pending_pick == Some(index) || (index == 0 && self.seed.is_none());
                if pick {
                    self.pending_pick = None;
                    self.set_seed_from_photo(name, photo.clone(), true);
                    self.classify_seed(ctx);
                }
                self.bundled_arrived[index] = Some(photo);
                if self.bundled_arrived.iter().all(Option::is_some) {
                    let names = bundled().into_iter().map(|(name, _)| name.to_string());
                    self.bundled = Some(Ok(names.zip(self.bundled_arrived.drain(..).flatten()).collect()));
                    self.apply_link(ctx);
                }
            }
            Msg::SelectModel(id) => {
                if self.busy() || id == self.model_id {
                    return false;
                }
                self.model_id = id;
                self.fit_seed();
                self.seed_top5 = None;
                self.auto_load(ctx);
                self.classify_seed(ctx);
            }
            Msg::LoadModel => {
                if matches!(self.models.get(&self.model_id), Some(ModelSlot::Failed(_))) {
                    self.models.remove(&self.model_id);
                }
                self.load(ctx, self.model_id.clone());
            }
            Msg::ModelProgress(generation, id, received, total) => {
                if Some(generation) != self.device.as_ref().map(|d| d.generation) {
                    return false;
                }
                match self.models.get_mut(&id) {
                    Some(slot @ ModelSlot::Downloading { .. }) => {
                        *slot = if received >= total { ModelSlot::Loading } else { ModelSlot::Downloading { received, total } };
                    }
                    _ => return false,
                }
            }
            Msg::ModelLoaded(generation, id, result) => {
                if Some(generation) != self.device.as_ref().map(|d| d.generation) {
                    return false;
                }
                self.models.insert(id.clone(), match result {
                    Ok(info) => ModelSlot::Ready(info),
                    Err(e) => ModelSlot::Failed(e),
                });
                if id == self.model_id {
                    self.classify_seed(ctx);
                    self.try_auto_run(ctx);
                }
                let waiting_cross = self.run.as_ref().is_some_and(|r| r.cross_running);
                if waiting_cross {
                    let all_there = self.manifest.as_ref().is_some_and(|m| m.models.iter().all(|e| !matches!(self.models.get(&e.id), None | Some(ModelSlot::Downloading { .. } | ModelSlot::Loading))));
                    if all_there {
                        let failed: Vec<String> = self.models.iter().filter_map(|(id, s)| if let ModelSlot::Failed(e) = s { Some(format!("{id}: {e}")) } else { None }).collect();
                        if failed.is_empty() {
                            self.cross_check(ctx);
                        } else if let Some(run) = self.run.as_mut() {
                            run.cross_running = false;
                            run.cross = Some(Err(failed.join("; ")));
                        }
                    }
                }
            }
            Msg::SeedTop5(generation, number, result) => {
                if Some(generation) != self.device.as_ref().map(|d| d.generation) || number != self.seed_asked {
                    return false;
                }
                self.seed_top5 = Some(result);
            }
            Msg::ClassQuery(query) => self.query = query,
            Msg::SetTarget(target) => {
                if target < labels::imagenet().len() && !self.busy() {
                    self.target = target;
                }
            }
            Msg::RandomClass => {
                if !self.busy() {
                    self.target = ((browser::random() * 1000.0) as usize).min(999);
                }
            }
            Msg::SetView(view) => {
                self.view = view;
                // The check classified the other view: drop it, a click checks this one.
                if let Some(run) = self.run.as_mut() {
                    run.cross = None;
                }
            }
            Msg::PickSample(index) => {
                let arrived = match &self.bundled {
                    Some(Ok(photos)) => photos.get(index).cloned(),
                    Some(Err(_)) => None,
                    None => self.bundled_arrived.get(index).cloned().flatten().map(|photo| (bundled()[index].0.to_string(), photo)),
                };
                match arrived {
                    Some((name, photo)) => {
                        self.pending_pick = None;
                        self.set_seed_from_photo(name, photo, true);
                        self.classify_seed(ctx);
                    }
                    // Not there yet: it becomes the seed when it arrives.
                    None if self.bundled.is_none() => self.pending_pick = Some(index),
                    None => {}
                }
            }
            Msg::SeedFiles(files) => {
                let Some(file) = files.into_iter().next() else { return false };
                ctx.link().send_future(async move {
                    let name = file.name();
                    Msg::SeedDecoded(browser::decode_blob(&file, &name, PHOTO_SIDE).await.map(|image| (name, image)))
                });
            }
            Msg::SeedDecoded(result) => match result {
                Ok((name, photo)) => {
                    match self.pending_supplied.take() {
                        // The image a link asked for: its crop and edits as the sender made them.
                        Some(recipe) => self.restore_seed(recipe, photo),
                        None => self.set_seed_from_photo(name, photo, false),
                    }
                    self.classify_seed(ctx);
                    self.try_auto_run(ctx);
                }
                Err(e) => self.seed_error = Some(e),
            },
            Msg::SetTool(tool) => self.tool = tool,
            Msg::BrushSize(size) => self.brush = size.clamp(1.0, 64.0),
            Msg::Colour(value) => {
                if let Some(colour) = drawing::parse_hex_color(&value) {
                    self.colour = colour;
                }
            }
            Msg::Undo | Msg::Redo => {
                let undo = matches!(msg, Msg::Undo);
                if let Some(seed) = self.seed.as_mut() {
                    let (from, to) = if undo { (&mut seed.undo, &mut seed.redo) } else { (&mut seed.redo, &mut seed.undo) };
                    if let Some(step) = from.pop() {
                        to.push(SeedSnapshot {
                            image: std::mem::replace(&mut seed.image, step.image),
                            recipe: std::mem::replace(&mut seed.recipe, step.recipe),
                        });
                        seed.source = None;
                    }
                }
                self.classify_seed(ctx);
            }
            Msg::ClearSeed => {
                self.edit_seed(Edit::Clear { colour: [255, 255, 255] });
                self.classify_seed(ctx);
            }
            Msg::PointerDown(x, y) => {
                let (colour, radius) = (self.colour, self.brush / 2.0);
                let side = self.input_size() as u32;
                match self.tool {
                    Tool::Brush | Tool::Eraser => {
                        let colour = if self.tool == Tool::Eraser { [255, 255, 255] } else { colour };
                        // A stroke is recorded as it is painted (quarter-pixel points), so a link
                        // replays the very same pixels.
                        if self.edit_seed(Edit::stroke_at(colour, radius, (x, y), side)) {
                            self.last_point = Some((x, y));
                        }
                    }
                    Tool::Fill => {
                        self.edit_seed(Edit::Fill { colour, at: [x.max(0.0) as u32, y.max(0.0) as u32] });
                        self.classify_seed(ctx);
                    }
                    Tool::Region => {
                        self.place_region(x, y);
                        self.last_point = Some((x, y));
                    }
                }
            }
            Msg::PointerMove(x, y) => {
                if self.last_point.is_none() {
                    return false;
                }
                match self.tool {
                    Tool::Brush | Tool::Eraser => {
                        // One stroke is one undo step: the move extends the stroke just recorded.
                        if let Some(seed) = self.seed.as_mut() {
                            if let Some(stroke) = seed.recipe.edits.last_mut() {
                                stroke.continue_on(&mut seed.image, (x, y));
                            }
                        }
                        self.last_point = Some((x, y));
                    }
                    Tool::Region => {
                        self.place_region(x, y);
                        self.last_point = Some((x, y));
                    }
                    Tool::Fill => return false,
                }
            }
            Msg::PointerUp => {
                if self.last_point.take().is_none() {
                    return false;
                }
                if matches!(self.tool, Tool::Brush | Tool::Eraser) {
                    self.classify_seed(ctx);
                }
            }
            Msg::RegionOn(on) => {
                if on {
                    let size = self.input_size() as f32;
                    self.place_region(size / 2.0, size / 2.0);
                    self.tool = Tool::Region;
                } else {
                    self.region = None;
                    if self.tool == Tool::Region {
                        self.tool = Tool::Brush;
                    }
                }
            }
            Msg::RegionSize(size) => {
                self.region_size = size.clamp(8, self.input_size());
                if let Some(region) = self.region {
                    let centre = ((region.left + region.width / 2) as f32, (region.top + region.height / 2) as f32);
                    self.place_region(centre.0, centre.1);
                }
            }
            Msg::AddPhotos(mut files) => {
                if files.is_empty() {
                    return false;
                }
                // At most MAX_OWN_PHOTOS in all (issue #23: there was no cap on their number).
                let room = MAX_OWN_PHOTOS.saturating_sub(self.own_photos.len());
                let refused = files.len().saturating_sub(room);
                files.truncate(room);
                self.decoding_photos = !files.is_empty();
                ctx.link().send_future(async move {
                    let mut decoded = Vec::new();
                    if refused > 0 {
                        decoded.push(Err(format!("{refused} of the images were not added: D̄ takes at most {MAX_OWN_PHOTOS} of your own")));
                    }
                    for file in files {
                        let name = file.name();
                        let result = browser::decode_blob(&file, &name, PHOTO_SIDE).await;
                        decoded.push(result.map(|image| (name, image, browser::object_url(&file).unwrap_or_default(), file)));
                    }
                    Msg::PhotosDecoded(decoded)
                });
            }
            Msg::PhotosDecoded(results) => {
                self.decoding_photos = false;
                self.photo_errors.clear();
                for result in results {
                    match result {
                        Ok((name, image, url, file)) => {
                            self.own_photos.push((name, image, url));
                            self.own_files.push(file);
                        }
                        Err(e) => self.photo_errors.push(e),
                    }
                }
                self.save_photos();
            }
            Msg::ClearPhotos => {
                for (_, _, url) in self.own_photos.drain(..) {
                    browser::revoke_object_url(&url);
                }
                self.own_files.clear();
                self.photo_errors.clear();
                self.save_photos();
            }
            Msg::Preset(preset) => {
                if !self.busy() {
                    self.preset = preset;
                    (self.config, self.num_samples) = preset_settings(preset);
                    self.form_error = None;
                }
            }
            Msg::SetField(field, value) => {
                if self.busy() {
                    return false;
                }
                self.form_error = self.set_field(field, &value).err();
            }
            Msg::Start => {
                if self.busy() {
                    return false;
                }
                self.form_error = self.start(ctx).err();
            }
            Msg::Pause | Msg::Resume => {
                let pause = matches!(msg, Msg::Pause);
                if let Some(run) = self.run.as_mut().filter(|r| r.state.active()) {
                    run.control.pause(pause);
                    if pause && run.paused_since.is_none() {
                        run.paused_since = Some(now_ms());
                        run.state = RunState::Paused;
                    } else if !pause {
                        if let Some(since) = run.paused_since.take() {
                            run.paused_ms += now_ms() - since;
                        }
                        run.state = RunState::Running;
                    }
                }
            }
            Msg::Cancel => {
                if let Some(run) = self.run.as_mut().filter(|r| r.state.active()) {
                    run.control.cancel();
                    // Shown at once; the worker stops after the iteration in hand.
                    if let Some(since) = run.paused_since.take() {
                        run.paused_ms += now_ms() - since;
                    }
                    run.ended_ms = Some(now_ms());
                    run.state = RunState::Cancelled;
                }
            }
            Msg::Recovering(id, what) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.recovered.push(what);
            }
            Msg::EngineStopped(stopped) => {
                let Some(run) = self.run_mut(stopped.id) else { return false };
                // The iteration the worker had in hand when the visitor cancelled: shown, since
                // the top five below are of p after it.
                run.engine_stopped = Some(stopped.late.len());
                for event in stopped.late {
                    if let RunEvent::Explained { event, perturbation, pictures } = event {
                        run.events.push(event);
                        run.set_perturbation(perturbation, pictures);
                    }
                }
                if let Some(top5) = stopped.top5 {
                    run.top5 = Some(top5);
                }
            }
            Msg::RunStarted(id, seed_values) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.set_seed(&seed_values);
                if run.state == RunState::Preparing {
                    run.state = RunState::Running;
                }
            }
            Msg::Iteration(id, event, p, pictures) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.events.push(event);
                run.set_perturbation(p, pictures);
            }
            Msg::RunEnded(id, result) => {
                let Some(run) = self.run_mut(id) else { return false };
                // Finished, cancelled or failed: nothing is left to resume after a reload.
                Self::forget_run();
                if let Some(since) = run.paused_since.take() {
                    run.paused_ms += now_ms() - since;
                }
                run.ended_ms = Some(now_ms());
                match result {
                    Ok(true) => run.state = RunState::Finished,
                    Ok(false) => run.state = RunState::Cancelled,
                    Err(e) => {
                        run.state = RunState::Failed;
                        run.error = Some(e);
                    }
                }
                // A failed run's picture is classified here (its worker may be gone); a cancelled
                // one's top five come from the worker when it stops.
                if run.perturbation.is_some() && run.state == RunState::Failed {
                    self.classify_result(ctx);
                }
            }
            Msg::ResultTop5(id, result) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.top5 = Some(result);
            }
            Msg::Checkpoint(id, checkpoint) => {
                self.save_progress(id, checkpoint);
                return false;
            }
            Msg::SavedRead(kept) => {
                self.restore_kept(ctx, *kept);
                self.auto_load(ctx);
                self.classify_seed(ctx);
            }
            Msg::ResumeInterrupted => {
                self.form_error = self.resume_interrupted(ctx).err();
            }
            Msg::DiscardInterrupted => {
                self.interrupted = None;
                Self::forget_run();
            }
            Msg::CrossCheck => {
                if self.run.as_ref().is_some_and(|r| !r.state.active() && r.perturbation.is_some() && !r.cross_running) {
                    self.cross_check(ctx);
                }
            }
            Msg::CrossChecked(id, result) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.cross_running = false;
                run.cross = Some(result);
            }
            Msg::ExportPerturbation | Msg::ExportPerturbedSeed => {
                let Some(run) = self.run.as_ref() else { return false };
                let (picture, what) = if matches!(msg, Msg::ExportPerturbation) {
                    (run.perturbation_image(self.view), "perturbation")
                } else {
                    (run.perturbed_seed_image(), "seed-plus-p")
                };
                let Some(picture) = picture else { return false };
                let name = self.export_name(what, "png");
                if let Err(e) = imaging::encode_png(&picture).and_then(|png| browser::download(&png, "image/png", &name)) {
                    self.form_error = Some(format!("export failed: {e}"));
                }
            }
            Msg::ShareAutoRun(on) => {
                self.share_auto_run = on;
                self.share = None;
            }
            Msg::CopyLink => {
                let Some(run) = self.run.as_ref() else { return false };
                let Some(state) = self.share_state(run) else { return false };
                let (link, id) = (ctx.link().clone(), run.id);
                self.share = Some(Share::copy(&state, id, move |result| link.send_message(Msg::Copied(id, result))));
            }
            Msg::Copied(id, result) => return Share::record(&mut self.share, id, result),
            Msg::ExportJson => {
                let Some(json) = self.run.as_ref().and_then(RunView::export_json) else { return false };
                let name = self.export_name("run", "json");
                if let Err(e) = browser::download(json.as_bytes(), "application/json", &name) {
                    self.form_error = Some(format!("export failed: {e}"));
                }
            }
        }
        true
    }
}
