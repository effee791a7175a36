//! The image tasks page as a yew component: creating it, hearing the app's inputs change, and
//! turning each message into a change of state (the work is in `actions` and `restore`; what it
//! shows is `view`'s).

use super::inputs::{default_hole, Inpainting, Sketch, Start, INPAINT_START};
use super::set::TaskSet;
use super::models::Loading;
use super::run::{Outcome, RunState};
use super::state::{index, ImageTasks, Msg, Props};
use crate::bundled::PHOTOS as BUNDLED;
use crate::drawing::{self, Edit};
use crate::engine::tasks::Task;
use crate::imaging;
use crate::link::{self, PictureBase, SharedPicture};
use crate::session::from_link::render_from_photo;
use crate::web::browser;
use crate::web::now_ms;
use crate::web::page::{new_inputs, Share};
use image::{DynamicImage, RgbImage};
use yew::prelude::*;

impl Component for ImageTasks {
    type Message = Msg;
    type Properties = Props;

    fn create(ctx: &Context<Self>) -> Self {
        let props = ctx.props().clone();
        let set = props.set.clone();
        let side = set.side();
        let mut page = ImageTasks {
            set: set.clone(),
            device: props.device,
            manifest: props.manifest,
            task: props.task,
            loading: Loading::Idle,
            load_generation: 0,
            targets: match set {
                // Horse, cat (the bundled cat photo), ship (the starting sketch).
                TaskSet::Cifar => [7, 3, 8],
                // Golden retriever, tabby (until the model has seen the picture: its top-1), container ship.
                TaskSet::ImageNet(_) => [207, 281, 510],
            },
            class_query: String::new(),
            settings: [set.defaults(Task::Generate), set.defaults(Task::Inpaint), set.defaults(Task::Sketch)],
            setting_error: None,
            sketch: Sketch::starting(&set),
            brush: 16.0,
            colour: [40, 120, 40],
            eraser: false,
            fill: false,
            last_point: None,
            inpainting: {
                let (hole, hole_recipe) = default_hole(&set);
                let picture_recipe = SharedPicture { base: PictureBase::Bundled { id: BUNDLED[INPAINT_START].0.into() }, side: side as u32, edits: Vec::new() };
                Inpainting { name: String::new(), picture: RgbImage::new(side as u32, side as u32), picture_recipe, hole, hole_recipe }
            },
            start: Start::grey(side),
            inpaint_target_chosen: false,
            picture_top5: None,
            mask_brush: if set.is_imagenet() { 24.0 } else { 3.0 },
            mask_erase: false,
            picture_error: None,
            runs: [None, None, None],
            next_run: 0,
            worker: Default::default(),
            sketch_canvas: NodeRef::default(),
            mask_canvas: NodeRef::default(),
            pictures: Default::default(),
            smooth_pictures: Default::default(),
            link_pending: props.shared.clone(),
            link_notices: Vec::new(),
            pending_picture: None,
            picture_request: 0,
            auto_run_pending: false,
            share_auto_run: true,
            share: None,
            interrupted: None,
            saved_read: false,
        };
        page.request_bundled(ctx, INPAINT_START);
        page.load(ctx);
        page.apply_link(ctx);
        // On an ImageNet model what was kept may start from any bundled photo: it is read back
        // once the photos are loaded.
        if !page.set.is_imagenet() {
            page.read_saved(ctx);
        }
        page
    }

    fn changed(&mut self, ctx: &Context<Self>, old: &Self::Properties) -> bool {
        let props = ctx.props().clone();
        let (link, new_backend) = new_inputs((&old.shared, &props.shared), (&self.device, &props.device));
        if link.is_some() {
            self.link_pending = link;
        }
        self.device = props.device;
        self.manifest = props.manifest;
        self.task = props.task;
        if new_backend {
            // Models live on one device: stop runs on the old one and load again on the new one.
            for run in self.runs.iter_mut().flatten() {
                run.control.cancel();
            }
            self.loading = Loading::Idle;
        }
        self.load(ctx);
        self.apply_link(ctx);
        true
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        // What changes the drawings or settings is kept for a reload (strokes when they end).
        let keep = matches!(msg, Msg::SetTarget(_) | Msg::Set(..) | Msg::Reset(_) | Msg::Undo | Msg::Redo | Msg::ClearSketch | Msg::ResetHole | Msg::Picture(..) | Msg::PickStart(_));
        match msg {
            Msg::Progress(generation, received, total) => {
                if generation != self.load_generation || !matches!(self.loading, Loading::Downloading { .. }) {
                    return false;
                }
                self.loading = Loading::Downloading { received, total };
            }
            Msg::Loaded(generation, result) => {
                if generation != self.load_generation {
                    return false;
                }
                self.loading = match result {
                    Ok(models) => Loading::Ready(models),
                    Err(e) => Loading::Failed(e),
                };
                if self.set.is_imagenet() && matches!(self.loading, Loading::Ready(_)) {
                    if !self.saved_read {
                        self.read_saved(ctx);
                    }
                    self.apply_link(ctx);
                    self.classify_picture(ctx);
                }
                self.try_auto_run(ctx);
            }
            Msg::Retry => {
                self.loading = Loading::Idle;
                self.load(ctx);
            }
            Msg::SetTarget(class) => {
                if let Some(task) = self.task {
                    self.targets[index(task)] = class.min(self.set.classes() - 1);
                    self.inpaint_target_chosen |= task == Task::Inpaint;
                }
            }
            Msg::ClassQuery(text) => self.class_query = text,
            Msg::PictureTop5(request, result) => {
                if request != self.picture_request {
                    return false;
                }
                // The photo's own class is inpainting's target until the visitor picks one.
                if let (Ok(top5), false) = (&result, self.inpaint_target_chosen) {
                    if let Some(top) = top5.first() {
                        self.targets[index(Task::Inpaint)] = top.class;
                    }
                }
                self.picture_top5 = Some(result);
            }
            Msg::PickStart(id) => {
                if let Err(e) = self.pick_start(&id) {
                    self.picture_error = Some(e);
                }
            }
            Msg::Set(task, field, value) => self.setting_error = self.set_field(task, field, &value).err(),
            Msg::Reset(task) => {
                self.settings[index(task)] = self.set.defaults(task);
                self.setting_error = None;
            }
            Msg::PointerDown(x, y) if self.fill => {
                let side = self.sketch.canvas.width() as f32;
                if (0.0..side).contains(&x) && (0.0..side).contains(&y) {
                    self.edit_sketch(Edit::Fill { colour: if self.eraser { [255; 3] } else { self.colour }, at: [x as u32, y as u32] });
                    self.save_draft();
                }
            }
            Msg::PointerDown(x, y) => {
                let (radius, colour) = (self.brush / 2.0, if self.eraser { [255; 3] } else { self.colour });
                // Recorded as painted (quarter-pixel points), so a link replays the same pixels.
                self.edit_sketch(Edit::stroke_at(colour, radius, (x, y), self.sketch.canvas.width()));
                self.last_point = Some((x, y));
            }
            Msg::PointerMove(x, y) => {
                if self.last_point.is_none() {
                    return false;
                }
                // One stroke is one undo step: the move extends the stroke just recorded.
                if let Some(stroke) = self.sketch.recipe.edits.last_mut() {
                    stroke.continue_on(&mut self.sketch.canvas, (x, y));
                }
                self.last_point = Some((x, y));
            }
            Msg::PointerUp | Msg::MaskUp => {
                let drew = self.last_point.take().is_some();
                if drew {
                    self.save_draft();
                }
                return drew;
            }
            Msg::Brush(size) => self.brush = size.clamp(1.0, 96.0),
            Msg::Colour(hex) => {
                if let Some(colour) = drawing::parse_hex_color(&hex) {
                    self.colour = colour;
                    self.eraser = false;
                }
            }
            Msg::Eraser(on) => self.eraser = on,
            Msg::FillMode(on) => self.fill = on,
            Msg::SketchOnPhoto(id) => {
                let photo = match &self.loading {
                    Loading::Ready(models) => models.photos.iter().find(|(name, _)| *name == id).map(|(_, photo)| photo.clone()),
                    _ => None,
                };
                let Some(photo) = photo else {
                    self.picture_error = Some(format!("the photo “{id}” is not loaded yet"));
                    return true;
                };
                let side = self.sketch.canvas.width();
                let recipe = SharedPicture { base: PictureBase::Bundled { id }, side, edits: Vec::new() };
                let before = (std::mem::replace(&mut self.sketch.canvas, render_from_photo(&recipe, &photo)), std::mem::replace(&mut self.sketch.recipe, recipe));
                self.sketch.undo.push(before);
                self.sketch.redo.clear();
                self.save_draft();
            }
            Msg::Undo | Msg::Redo => {
                let sketch = &mut self.sketch;
                let (from, to) = if matches!(msg, Msg::Undo) { (&mut sketch.undo, &mut sketch.redo) } else { (&mut sketch.redo, &mut sketch.undo) };
                if let Some((canvas, recipe)) = from.pop() {
                    to.push((std::mem::replace(&mut sketch.canvas, canvas), std::mem::replace(&mut sketch.recipe, recipe)));
                }
            }
            Msg::ClearSketch => self.edit_sketch(Edit::Clear { colour: [255; 3] }),
            Msg::PickPicture(i) => {
                // The visitor's choice replaces a link's picture still waiting for its file.
                self.pending_picture = None;
                self.request_bundled(ctx, i);
            }
            Msg::PictureFile(files) => {
                let Some(file) = files.into_iter().next() else { return false };
                self.picture_request += 1;
                let request = self.picture_request;
                ctx.link().send_future(async move {
                    let name = file.name();
                    Msg::Picture(request, name.clone(), false, browser::decode_blob(&file, &name, 256).await)
                });
            }
            Msg::Picture(request, _, _, _) if request != self.picture_request => return false,
            Msg::Picture(_, name, bundled, result) => match result {
                Ok(photo) => {
                    let recipe = match self.pending_picture.take() {
                        // The picture a link asked for, with its edits.
                        Some(recipe) => recipe,
                        None => {
                            let base = if bundled {
                                PictureBase::Bundled { id: name.clone() }
                            } else {
                                // A 32×32 PNG always fits in a link; a larger one may not, and the
                                // link then names the file.
                                link::embed_image(&name, &imaging::center_crop(&DynamicImage::ImageRgb8(photo.clone()), self.set.side())).unwrap_or_else(|| PictureBase::Supplied { name: link::plain_file_name(&name) })
                            };
                            SharedPicture { base, side: self.set.side() as u32, edits: Vec::new() }
                        }
                    };
                    self.inpainting.picture = render_from_photo(&recipe, &photo);
                    self.inpainting.picture_recipe = recipe;
                    self.inpainting.name = name;
                    self.picture_error = None;
                    self.classify_picture(ctx);
                    self.try_auto_run(ctx);
                }
                Err(e) => self.picture_error = Some(e),
            },
            Msg::MaskDown(x, y) => {
                let colour = if self.mask_erase { [0; 3] } else { [255; 3] };
                let edit = Edit::stroke_at(colour, self.mask_brush / 2.0, (x, y), self.set.side() as u32);
                edit.apply(&mut self.inpainting.hole);
                self.inpainting.hole_recipe.edits.push(edit);
                self.last_point = Some((x, y));
            }
            Msg::MaskMove(x, y) => {
                if self.last_point.is_none() {
                    return false;
                }
                if let Some(stroke) = self.inpainting.hole_recipe.edits.last_mut() {
                    stroke.continue_on(&mut self.inpainting.hole, (x, y));
                }
                self.last_point = Some((x, y));
            }
            Msg::MaskBrush(size) => self.mask_brush = size.clamp(1.0, self.max_mask_brush()),
            Msg::MaskErase(on) => self.mask_erase = on,
            Msg::ResetHole => (self.inpainting.hole, self.inpainting.hole_recipe) = default_hole(&self.set),
            Msg::Run => {
                if let Err(e) = self.start(ctx) {
                    self.setting_error = Some(e);
                }
            }
            Msg::Pause(on) => {
                for run in self.runs.iter_mut().flatten().filter(|r| r.state == RunState::Running) {
                    run.control.pause(on);
                    run.paused = on;
                }
            }
            Msg::SaveJson => {
                if let Err(e) = self.save_json() {
                    self.setting_error = Some(e);
                }
            }
            Msg::Cancel => {
                for run in self.runs.iter_mut().flatten() {
                    run.control.cancel();
                }
            }
            Msg::Checkpoint(id, checkpoint) => {
                self.save_run(id, checkpoint);
                return false;
            }
            Msg::SavedRead(drafts, run) => {
                self.restore_drafts(ctx, drafts);
                self.saved_read = true;
                // Not offered again while this page runs it already (a link's auto-run).
                self.interrupted = run.filter(|_| !self.busy());
            }
            Msg::ResumeInterrupted => {
                if let Err(e) = self.resume_interrupted(ctx) {
                    self.setting_error = Some(e);
                }
            }
            Msg::DiscardInterrupted => {
                self.interrupted = None;
                self.forget_run();
            }
            Msg::Recovering(id, what) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.recovered.push(what);
            }
            Msg::Started(id, seed, verdicts) => {
                let Some(run) = self.run_mut(id) else { return false };
                run.seed = seed;
                run.seed_verdicts = Some(verdicts);
            }
            Msg::Step(id, a2x, pgd) => {
                let Some(run) = self.run_mut(id) else { return false };
                if let Some((event, image)) = a2x {
                    run.events.push(event);
                    run.a2x = image;
                }
                if let Some(step) = pgd {
                    run.pgd = step.image;
                    run.pgd_probability.push(step.target_probability);
                }
            }
            Msg::Ended(id, result) => {
                if self.run_mut(id).is_none() {
                    return false;
                }
                self.forget_run();
                let Some(run) = self.run_mut(id) else { return false };
                run.ended_ms = Some(now_ms());
                match result {
                    Outcome::Done(a2x, pgd) => {
                        run.a2x_verdicts = Some(a2x);
                        run.pgd_verdicts = Some(pgd);
                        run.state = RunState::Done;
                    }
                    Outcome::Cancelled => run.state = RunState::Cancelled,
                    Outcome::Failed(e) => {
                        run.state = RunState::Failed;
                        run.error = Some(e);
                    }
                }
            }
            Msg::Save(which) => {
                if let Err(e) = self.save(which) {
                    self.setting_error = Some(e);
                }
            }
            Msg::ShareAutoRun(on) => {
                self.share_auto_run = on;
                self.share = None;
            }
            Msg::CopyLink => {
                let Some(run) = self.task.and_then(|t| self.run_of(t)) else { return false };
                let Some(state) = self.share_state(run) else { return false };
                let (link, id) = (ctx.link().clone(), run.id);
                self.share = Some(Share::copy(&state, id, move |result| link.send_message(Msg::Copied(id, result))));
            }
            Msg::Copied(id, result) => return Share::record(&mut self.share, id, result),
        }
        if keep {
            self.save_draft();
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        super::view::view(self, ctx)
    }

    fn rendered(&mut self, _ctx: &Context<Self>, _first_render: bool) {
        let draw = |node: &NodeRef, image: Option<RgbImage>| browser::draw_on(node, image.as_ref());
        let Some(task) = self.task else { return };
        let side = self.set.side();
        let picture = |values: &[f32]| imaging::from_chw(values, [side, side]);
        draw(&self.sketch_canvas, (task == Task::Sketch).then(|| self.sketch.canvas.clone()));
        draw(&self.mask_canvas, (task == Task::Inpaint).then(|| self.inpainting.overlay()));
        let run = self.run_of(task);
        let seed = run.map(|r| r.seed.clone()).or_else(|| self.seed_of(task));
        let shown = [seed.as_deref().map(picture), run.map(|r| picture(&r.a2x)), run.map(|r| picture(&r.pgd))];
        for (i, image) in shown.into_iter().enumerate() {
            draw(&self.pictures[i], image.clone());
            draw(&self.smooth_pictures[i], image);
        }
    }
}
