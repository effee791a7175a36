//! What the image-task pages show (the state is `state.rs`'s, its updates `component.rs`'s).

use crate::bundled::PHOTOS as BUNDLED;
use super::models::Loading;
use super::set::TaskSet;
use super::run::{RunState, TaskRun};
use super::state::{Field, ImageTasks, Msg};
use crate::session::Verdicts;
use crate::web::page_view::{canvas_point, files_of, link_notices, mb, seconds, share_panel};
use crate::engine::name_of;
use crate::engine::tasks::Task;
use crate::models::labels;
use web_sys::{HtmlCanvasElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;

/// Colours a sketch is usually made of, one click away (the picker offers the rest).
const SWATCHES: [(&str, [u8; 3]); 9] = [
    ("sky", [150, 195, 235]),
    ("sea", [40, 90, 150]),
    ("grass", [40, 120, 40]),
    ("earth", [120, 85, 50]),
    ("sand", [220, 200, 150]),
    ("grey", [110, 110, 115]),
    ("black", [20, 20, 20]),
    ("red", [200, 40, 40]),
    ("white", [255, 255, 255]),
];

fn hex(c: [u8; 3]) -> String {
    format!("#{:02x}{:02x}{:02x}", c[0], c[1], c[2])
}

fn about(set: &TaskSet, task: Task) -> &'static str {
    if set.is_imagenet() {
        return match task {
            Task::Generate => "A2X starts from the picture you pick (grey, noise or a photo) and accumulates a perturbation over the bundled \
                photos, with random placements and a natural-spectrum Fourier basis (the explanation's settings), until the model sees \
                the class; PGD starts from the same picture with the same budget, placements and basis.",
            Task::Inpaint => "Paint the hole with the brush; it is first filled by diffusion from its edge (classical inpainting), then \
                both methods change only the hole, pulled toward the target: by default the class the model sees in the picture.",
            Task::Sketch => "Draw a crude picture of the target class: A2X uses it as the seed and pulls it toward the class over the \
                bundled photos, at a budget small enough that the sketch stays the sketch; PGD attacks the sketch alone, same budget.",
        };
    }
    match task {
        Task::Generate => "A2X starts from a random sample of the target class's Gaussian (fitted to the CIFAR-10 training images of \
            that class at 8×8 and upsampled) and accumulates a perturbation over more samples of it until the robust model sees the \
            class; targeted PGD (Santurkar et al. 2019) starts from the same sample with the same budget. No refinement.",
        Task::Inpaint => "Paint the hole; it is filled with the mean colour of the rest of the picture, and both methods may change \
            the hole freely but pay β·‖p outside the hole‖ (the paper's Eq. 4 for A2X, Santurkar et al.'s loss for PGD). The target \
            is the class the picture shows.",
        Task::Sketch => "Draw a crude picture of the target class: A2X uses it as the seed, accumulates the perturbation over samples \
            of the class's Gaussian and refines it (Algorithm 2); PGD attacks the sketch alone, same budget.",
    }
}

pub fn view(s: &ImageTasks, ctx: &Context<ImageTasks>) -> Html {
    let Some(task) = s.task else { return html! {} };
    let models = match &s.set {
        TaskSet::Cifar => " Both attack a2x's own adversarially trained CIFAR-10 model (32×32); a second, standard model judges the results.".to_string(),
        TaskSet::ImageNet(_) => {
            let (model, judge) = s.manifest.as_ref().map(|m| s.set.model_names(m)).unwrap_or_default();
            let side = s.set.side();
            format!(" Both attack {model} at {side}×{side}, for any of the 1000 ImageNet classes; {judge}, a model of another family, judges the results.")
        }
    };
    html! {
      <section id="tasks" class="card wide" data-task={name_of(task)} data-set={s.set.model().to_string()}>
        <h2>{ match task { Task::Generate => "Generate an image of a class", Task::Inpaint => "Fill a hole", Task::Sketch => "Sketch to image" } }</h2>
        <p class="muted">{ about(&s.set, task) }{ models }</p>
        { link_notices(&s.link_notices) }
        { resume_offer(s, ctx) }
        <div class="explain-grid">
          <div class="column">
            { models_panel(s, ctx) }
            { target_panel(s, task, ctx) }
            { match task {
                Task::Generate if s.set.is_imagenet() => start_panel(s, ctx),
                Task::Generate => html! {},
                Task::Inpaint => inpaint_panel(s, ctx),
                Task::Sketch => sketch_panel(s, ctx),
            } }
            { settings_panel(s, task, ctx) }
          </div>
          <div class="column">{ run_panel(s, task, ctx) }</div>
        </div>
      </section>
    }
}

/// A run interrupted by a reload or a closed tab, kept with its last checkpoint: resume or discard.
fn resume_offer(s: &ImageTasks, ctx: &Context<ImageTasks>) -> Html {
    let Some(run) = &s.interrupted else { return html! {} };
    let (done, total) = run.progress();
    let target = run.inputs.request.settings.run.target;
    let ready = matches!(s.loading, Loading::Ready(_)) && !s.busy();
    let link = ctx.link();
    html! {
      <div class="notice" id="resume-offer" data-task={name_of(run.task())} data-iteration={done.to_string()}>
        <p>{ format!("A {} run (target “{}”) was interrupted at iteration {done} of {total}, by a reload or a closed tab. Resume goes on from there, on this page's backend.", name_of(run.task()), s.set.class_name(target)) }</p>
        <button id="resume-run" class="primary" onclick={link.callback(|_| Msg::ResumeInterrupted)} disabled={!ready}>{ "Resume" }</button>
        { " " }
        <button id="discard-run" onclick={link.callback(|_| Msg::DiscardInterrupted)}>{ "Discard" }</button>
      </div>
    }
}

fn models_panel(s: &ImageTasks, ctx: &Context<ImageTasks>) -> Html {
    let metrics = s.manifest.as_ref().and_then(|m| m.trained("cifar-robust")).and_then(|e| e.metrics.clone());
    let body = match &s.loading {
        Loading::Idle => html! { <p>{ "Waiting for the backend…" }</p> },
        Loading::Downloading { received, total } => html! {
            <p><progress id="task-models-progress" value={received.to_string()} max={total.max(&1).to_string()}></progress>
              { format!(" {} / {}", mb(*received), mb(*total)) }</p>
        },
        Loading::Failed(e) => html! {
            <><p class="error">{ e }</p><button id="task-models-retry" onclick={ctx.link().callback(|_| Msg::Retry)}>{ "Retry" }</button></>
        },
        Loading::Ready(m) => html! {
            <p class="muted">{ format!("{} · {} · sha256 checked · ready in {}",
                if m.from_cache { "from this browser's cache" } else { "downloaded" }, mb(m.bytes as u64), seconds(m.load_ms)) }</p>
        },
    };
    let about = match &s.set {
        TaskSet::Cifar => html! {
            <p>{ "Robust ResNet-9 (ℓ2 adversarial training, int8)" }
              { for metrics.map(|m| format!(": {:.1} % top-1 on CIFAR-10 test images, {:.1} % under {}", m.clean_top1, m.attacked_top1, m.attack)) }
              { "; a standard ResNet-9 as the judge; class Gaussians." }</p>
        },
        TaskSet::ImageNet(_) => {
            let (model, judge) = s.manifest.as_ref().map(|m| s.set.model_names(m)).unwrap_or_default();
            html! { <p>{ format!("{model} (int8), judged by {judge}; the bundled photos (D̄ and pictures to start from).") }</p> }
        }
    };
    html! {
      <div id="task-models" class="panel" data-state={s.loading.name()}>
        <h3>{ "1 · Models" }</h3>
        { about }
        { body }
      </div>
    }
}

fn target_panel(s: &ImageTasks, task: Task, ctx: &Context<ImageTasks>) -> Html {
    let busy = s.busy();
    let target = s.target_of(task);
    if s.set.is_imagenet() {
        let oninput = ctx.link().callback(|e: InputEvent| Msg::ClassQuery(e.target_unchecked_into::<HtmlInputElement>().value()));
        let matches = labels::search(&s.class_query, 12).into_iter().map(|class| {
            let onclick = ctx.link().callback(move |_| Msg::SetTarget(class));
            html! { <li><button class="link" id={format!("task-class-{class}")} {onclick} disabled={busy}>
                { format!("{} ({class})", labels::imagenet()[class].lemmas) }</button></li> }
        });
        let from_picture = (task == Task::Inpaint && !s.inpaint_target_chosen).then(|| html! { <span class="muted">{ " — the class the model sees in the picture" }</span> });
        return html! {
          <div id="task-class" class="panel">
            <h3>{ "2 · Target class" }</h3>
            <p>{ "Target: " }<strong id="task-target" data-class={target.to_string()}>{ format!("{} ({target})", s.set.class_name(target)) }</strong>{ for from_picture }</p>
            <input id="task-class-search" type="search" placeholder="search 1000 ImageNet classes by name or index" value={s.class_query.clone()} {oninput} />
            <ul class="matches">{ for matches }</ul>
          </div>
        };
    }
    let buttons = crate::models::resnet::LABELS.iter().enumerate().map(|(i, name)| {
        let onclick = ctx.link().callback(move |_| Msg::SetTarget(i));
        html! { <button id={format!("cifar-class-{i}")} class={if i == target { "tool on" } else { "tool" }} {onclick} disabled={busy}>{ *name }</button> }
    });
    html! {
      <div id="task-class" class="panel">
        <h3>{ "2 · Target class" }</h3>
        <p>{ "Target: " }<strong id="task-target" data-class={target.to_string()}>{ s.set.class_name(target) }</strong></p>
        <div class="row">{ for buttons }</div>
      </div>
    }
}

/// Pointer handlers for a drawing canvas: down (with pointer capture), move, up/cancel.
fn pointer_handlers(
    ctx: &Context<ImageTasks>,
    down: fn(f32, f32) -> Msg,
    moved: fn(f32, f32) -> Msg,
    up: fn() -> Msg,
) -> (Callback<PointerEvent>, Callback<PointerEvent>, Callback<PointerEvent>) {
    let link = ctx.link();
    let onpointerdown = link.callback(move |e: PointerEvent| {
        e.prevent_default();
        let canvas: HtmlCanvasElement = e.target_unchecked_into();
        let _ = canvas.set_pointer_capture(e.pointer_id());
        let (x, y) = canvas_point(&e);
        down(x, y)
    });
    let onpointermove = link.callback(move |e: PointerEvent| {
        let (x, y) = canvas_point(&e);
        moved(x, y)
    });
    let onpointerup = link.callback(move |_: PointerEvent| up());
    (onpointerdown, onpointermove, onpointerup)
}

fn sketch_panel(s: &ImageTasks, ctx: &Context<ImageTasks>) -> Html {
    let link = ctx.link();
    let (size, scale) = (s.set.side(), s.set.sketch_scale());
    let side = (size as u32 * scale).to_string();
    let (onpointerdown, onpointermove, onpointerup) = pointer_handlers(ctx, Msg::PointerDown, Msg::PointerMove, || Msg::PointerUp);
    let onpointercancel = onpointerup.clone();
    let swatches = SWATCHES.iter().map(|(name, colour)| {
        let value = hex(*colour);
        let onclick = link.callback(move |_| Msg::Colour(hex(*colour)));
        let on = !s.eraser && s.colour == *colour;
        html! { <button id={format!("swatch-{name}")} class={if on { "swatch on" } else { "swatch" }} title={*name}
                  style={format!("background:{value}")} {onclick}></button> }
    });
    let onsize = link.callback(|e: InputEvent| Msg::Brush(e.target_unchecked_into::<HtmlInputElement>().value().parse().unwrap_or(16.0)));
    let oncolour = link.callback(|e: InputEvent| Msg::Colour(e.target_unchecked_into::<HtmlInputElement>().value()));
    let oneraser = link.callback(|e: Event| Msg::Eraser(e.target_unchecked_into::<HtmlInputElement>().checked()));
    let onfill = link.callback(|e: Event| Msg::FillMode(e.target_unchecked_into::<HtmlInputElement>().checked()));
    // A photo to draw on (an ImageNet model's canvas is the seed itself).
    let photos = s.set.is_imagenet().then(|| {
        let buttons = crate::bundled::PhotoSet::Wide.photos().into_iter().map(|(id, url)| {
            let onclick = link.callback(move |_| Msg::SketchOnPhoto(id.to_string()));
            html! { <button class="thumb" id={format!("sketch-photo-{id}")} title={id} {onclick}><img src={url} alt={id} /></button> }
        });
        html! { <><p class="muted">{ "Or draw on a photo:" }</p><div class="strip" id="sketch-photos">{ for buttons }</div></> }
    });
    html! {
      <div id="sketch" class="panel">
        <h3>{ "3 · Your sketch" }</h3>
        <p class="muted">{ if scale > 1 {
            format!("Drawn at {side}×{side} px; the seed is its {size}×{size} average (each {scale}×{scale} block one pixel), shown on the right before a run.")
        } else {
            format!("Drawn at {side}×{side} px, the model's own size: the seed is the drawing as it is.")
        } }</p>
        <div class="editor">
          <div class="canvas-wrap">
            <canvas id="sketch-canvas" ref={s.sketch_canvas.clone()} width={side.clone()} height={side}
              {onpointerdown} {onpointermove} {onpointerup} {onpointercancel}></canvas>
          </div>
          <div class="tools">
            <div class="row">{ for swatches }</div>
            <label>{ "colour " }<input id="sketch-colour" type="color" value={hex(s.colour)} oninput={oncolour} /></label>
            <label>{ "brush " }<input id="sketch-size" type="range" min="2" max="96" value={s.brush.to_string()} oninput={onsize} /></label>
            <label class="choice"><input id="sketch-eraser" type="checkbox" checked={s.eraser} onchange={oneraser} />{ " eraser" }</label>
            <label class="choice"><input id="sketch-fill" type="checkbox" checked={s.fill} onchange={onfill} />{ " fill (paint bucket)" }</label>
            <button id="sketch-undo" onclick={link.callback(|_| Msg::Undo)} disabled={s.sketch.undo.is_empty()}>{ "Undo" }</button>
            <button id="sketch-redo" onclick={link.callback(|_| Msg::Redo)} disabled={s.sketch.redo.is_empty()}>{ "Redo" }</button>
            <button id="sketch-clear" onclick={link.callback(|_| Msg::ClearSketch)}>{ "Clear" }</button>
          </div>
        </div>
        { for photos }
      </div>
    }
}

fn inpaint_panel(s: &ImageTasks, ctx: &Context<ImageTasks>) -> Html {
    let link = ctx.link();
    let (onpointerdown, onpointermove, onpointerup) = pointer_handlers(ctx, Msg::MaskDown, Msg::MaskMove, || Msg::MaskUp);
    let onpointercancel = onpointerup.clone();
    let pictures = BUNDLED.iter().enumerate().map(|(i, (name, url))| {
        let onclick = link.callback(move |_| Msg::PickPicture(i));
        html! { <button class="thumb" id={format!("picture-{name}")} title={*name} {onclick}><img src={*url} alt={*name} /></button> }
    });
    let onfile = link.callback(|e: Event| Msg::PictureFile(files_of(e.target_unchecked_into::<HtmlInputElement>().files())));
    let onsize = link.callback(|e: InputEvent| Msg::MaskBrush(e.target_unchecked_into::<HtmlInputElement>().value().parse().unwrap_or(3.0)));
    let onerase = link.callback(|e: Event| Msg::MaskErase(e.target_unchecked_into::<HtmlInputElement>().checked()));
    let hole_pixels = s.inpainting.hole.pixels().filter(|p| p[0] > 127).count();
    let size = s.set.side();
    let hole = if s.set.is_imagenet() { crate::bundled::SQUARE_HOLE_SIDE as usize } else { crate::bundled::HOLE.2 };
    let top5 = match &s.picture_top5 {
        Some(Ok(list)) => html! { <p class="muted" id="picture-top5" data-top1={list.first().map(|p| p.class.to_string()).unwrap_or_default()}>{ "The model sees: " }{ list.iter().take(3).map(|p| format!("{} {:.0} %", labels::imagenet()[p.class].name(), 100.0 * p.probability)).collect::<Vec<_>>().join(" · ") }</p> },
        Some(Err(e)) => html! { <p class="error" id="picture-top5">{ e }</p> },
        None => html! {},
    };
    html! {
      <div id="inpaint" class="panel">
        <h3>{ "3 · Picture and hole" }</h3>
        <p class="muted">{ format!("“{}”, centre-cropped to {size}×{size}. Paint the hole (red) on it; it starts as the central {hole}×{hole} square.", s.inpainting.name) }</p>
        <div class="row">
          { for pictures }
          <label class="file">{ "Open image…" }<input id="picture-file" type="file" accept="image/*" onchange={onfile} /></label>
        </div>
        if let Some(e) = &s.picture_error { <p class="error" id="picture-error">{ e }</p> }
        { top5 }
        <div class="editor">
          <div class="canvas-wrap">
            <canvas id="mask-canvas" class="pixelated" ref={s.mask_canvas.clone()} width={size.to_string()} height={size.to_string()}
              {onpointerdown} {onpointermove} {onpointerup} {onpointercancel}></canvas>
          </div>
          <div class="tools">
            <label>{ "brush " }<input id="mask-size" type="range" min="1" max={s.max_mask_brush().to_string()} value={s.mask_brush.to_string()} oninput={onsize} />{ " px" }</label>
            <label class="choice"><input id="mask-erase" type="checkbox" checked={s.mask_erase} onchange={onerase} />{ " erase hole" }</label>
            <button id="reset-hole" onclick={link.callback(|_| Msg::ResetHole)}>{ format!("Central {hole}×{hole} hole") }</button>
            <p class="muted" id="hole-size" data-pixels={hole_pixels.to_string()}>{ format!("{hole_pixels} pixels in the hole") }</p>
          </div>
        </div>
      </div>
    }
}

fn settings_panel(s: &ImageTasks, task: Task, ctx: &Context<ImageTasks>) -> Html {
    let c = s.settings_of(task);
    let off = s.busy();
    let number = |field: Field, id: &str, label: &str, value: String, step: &str| {
        let oninput = ctx.link().callback(move |e: InputEvent| Msg::Set(task, field, e.target_unchecked_into::<HtmlInputElement>().value()));
        html! { <label class="field">{ label }<input id={id.to_string()} type="number" step={step.to_string()} {value} {oninput} disabled={off} /></label> }
    };
    let onsign = ctx.link().callback(move |e: Event| Msg::Set(task, Field::SignCheck, e.target_unchecked_into::<HtmlSelectElement>().value()));
    let sign = name_of(c.run.sign_check);
    let onstop = ctx.link().callback(move |e: Event| Msg::Set(task, Field::StopAtGamma, e.target_unchecked_into::<HtmlInputElement>().checked().to_string()));
    let onhole = ctx.link().callback(move |e: Event| Msg::Set(task, Field::HoleConstraint, e.target_unchecked_into::<HtmlSelectElement>().value()));
    let constraint = name_of(c.hole_constraint);
    let hole_options = [
        ("penalty", "Eq. 4: penalty β‖p ⊙ (1 − F)‖"),
        ("penalty-in-check", "Eq. 4's penalty, ± check on Eq. 4's loss"),
        ("step-inside-hole", "confined to the hole (β → ∞)"),
    ]
        .map(|(v, text)| html! { <option value={v} selected={v == constraint}>{ text }</option> });
    let onsamples = ctx.link().callback(move |e: Event| Msg::Set(task, Field::InpaintSamples, e.target_unchecked_into::<HtmlSelectElement>().value()));
    let drawn = name_of(c.inpaint_samples);
    let sample_options = [
        ("class", "whole images of the class's Gaussian"),
        ("context", "this image, the hole drawn from the Gaussian given the rest"),
    ]
        .map(|(v, text)| html! { <option value={v} selected={v == drawn}>{ text }</option> });
    let onform = ctx.link().callback(move |e: Event| Msg::Set(task, Field::HolePenalty, e.target_unchecked_into::<HtmlSelectElement>().value()));
    let form = name_of(c.hole_penalty);
    let form_options = [("norm", "β‖p ⊙ (1 − F)‖ (Eq. 4)"), ("mean-square", "β · mean (p ⊙ (1 − F))² (Santurkar et al.'s code)")]
        .map(|(v, text)| html! { <option value={v} selected={v == form}>{ text }</option> });
    let onfill = ctx.link().callback(move |e: Event| Msg::Set(task, Field::InpaintSeed, e.target_unchecked_into::<HtmlSelectElement>().value()));
    let fill = name_of(c.inpaint_seed);
    let fills: &[(&str, &str)] = if s.set.is_imagenet() {
        &[("diffusion", "diffusion from the hole's edge (classical inpainting)"), ("mean-colour", "the mean colour of the rest of the image")]
    } else {
        &[("class-mean", "the class's Gaussian given the rest of the image"), ("mean-colour", "the mean colour of the rest of the image")]
    };
    let fill_options = fills.iter().map(|(v, text)| html! { <option value={*v} selected={*v == fill}>{ *text }</option> });
    let sign_options = [("all-samples", "all of D̄ (the paper's O2)"), ("batch", "the mini-batch (cheaper)")]
        .map(|(v, text)| html! { <option value={v} selected={v == sign}>{ text }</option> });
    html! {
      <div id="task-settings" class="panel">
        <h3>{ "4 · Settings (equal budget for both methods)" }</h3>
        <p class="muted">{ if s.set.is_imagenet() {
            "Defaults: the explanation's settings at 40 iterations, with a smaller budget for sketches and holes (engine/imagenet_tasks.rs \
            says why). A2X's ℓ2 bound η is PGD's ε, and PGD gets A2X's random placements and basis, so the two differ only in what they follow."
        } else {
            "Defaults: Santurkar et al.'s settings scaled to 32×32 (engine/tasks.rs says how). A2X's ℓ2 bound η is PGD's ε, and A2X \
            moves p by PGD's step each iteration, so the two differ only in what they follow."
        } }</p>
        <div class="fields">
          { number(Field::Iterations, "task-iterations", "iterations (both)", c.run.iterations.to_string(), "1") }
          { number(Field::Budget, "task-budget", "budget η = ε (ℓ2, pixels in [0, 1])", c.run.eta.to_string(), "any") }
          { number(Field::Step, "task-step", "step per iteration (ℓ2)", c.baseline.step_size.to_string(), "any") }
          { number(Field::Samples, "task-samples", if s.set.is_imagenet() { "|D̄|: samples of the bundled photos" } else { "|D̄|: Gaussian samples" }, c.samples.to_string(), "1") }
          { number(Field::Batch, "task-batch", "b: seed + b − 1 samples per iteration", c.run.batch.to_string(), "1") }
          <label class="field">{ "± check on (O2)" }<select id="task-sign-check" onchange={onsign} disabled={off}>{ for sign_options }</select></label>
          { number(Field::Gamma, "task-gamma", "γ: threshold on ℘", c.run.gamma.to_string(), "any") }
          <label class="field choice"><input id="task-stop-at-gamma" type="checkbox" checked={c.run.stop_at_gamma} onchange={onstop} disabled={off} />
            { " A2X stops once ℘ ≥ γ (Algorithm 1 alone, line 2)" }</label>
          if task == Task::Sketch { { number(Field::RefineEvery, "task-refine-every", "refine every (iterations, Algorithm 2)", c.run.refine_every.to_string(), "1") } }
          if task == Task::Inpaint {
            <label class="field">{ "A2X's step" }<select id="task-hole-constraint" onchange={onhole} disabled={off}>{ for hole_options }</select></label>
            <label class="field">{ "penalty outside the hole (both)" }<select id="task-hole-penalty" onchange={onform} disabled={off}>{ for form_options }</select></label>
            <label class="field">{ "hole of the seed filled with (both)" }<select id="task-inpaint-seed" onchange={onfill} disabled={off}>{ for fill_options }</select></label>
            if !s.set.is_imagenet() {
              <label class="field">{ "A2X's D̄" }<select id="task-inpaint-samples" onchange={onsamples} disabled={off}>{ for sample_options }</select></label>
            }
            { number(Field::HoleWeight, "task-beta", "β: weight of p outside the hole (PGD; A2X with the penalty)", c.hole_weight.to_string(), "any") }
          }
          { number(Field::RngSeed, "task-rng", if s.set.is_imagenet() { "RNG seed (D̄, the placements)" } else { "RNG seed (D̄, and the generation seed)" }, c.run.rng_seed.to_string(), "1") }
        </div>
        <div class="row">
          <button id="task-defaults" onclick={ctx.link().callback(move |_| Msg::Reset(task))} disabled={off}>{ "Defaults" }</button>
        </div>
        if let Some(e) = &s.setting_error { <p class="error" id="task-error">{ e }</p> }
      </div>
    }
}

fn verdict_line(s: &ImageTasks, v: &Verdicts, target: usize) -> Html {
    let target_name = s.set.class_name(target);
    let one = |who: &str, top1: usize, name: &str, p: f32, rank: usize| {
        let class = if top1 == target { "ok" } else { "" };
        let rank = if rank > 0 && s.set.is_imagenet() { format!(", rank {rank}") } else { String::new() };
        html! { <li>{ format!("{who}: ") }<span class={class}>{ name.to_string() }</span>{ format!(" · {target_name} {p:.3}{rank}") }</li> }
    };
    let (attacked, judge) = match &s.set {
        TaskSet::Cifar => ("robust model".to_string(), "standard model".to_string()),
        TaskSet::ImageNet(_) => s.manifest.as_ref().map(|m| s.set.model_names(m)).map(|(a, j)| (a, format!("{j} (judge)"))).unwrap_or_default(),
    };
    html! {
      <ul class="verdicts">
        { one(&attacked, v.robust.top1, &v.robust.top1_name, v.robust.target_probability, v.robust.target_rank) }
        { one(&judge, v.standard.top1, &v.standard.top1_name, v.standard.target_probability, v.standard.target_rank) }
      </ul>
    }
}

/// Target probability per iteration: A2X (seed + p, and ℘ on D̄) and PGD, on one SVG.
fn curves(run: &TaskRun) -> Html {
    let (w, h, pad) = (520.0f64, 160.0f64, 28.0f64);
    let iterations = run.settings.run.iterations.max(1) as f64;
    let line = |values: &[f32]| {
        values.iter().enumerate().map(|(i, v)| {
            let v = if v.is_finite() { v.clamp(0.0, 1.0) } else { 0.0 } as f64;
            format!("{:.1},{:.1}", pad + (w - pad - 6.0) * (i + 1) as f64 / iterations, 6.0 + (h - 26.0) * (1.0 - v))
        }).collect::<Vec<_>>().join(" ")
    };
    let samples: Vec<f32> = run.events.iter().map(|e| e.target_probability).collect();
    html! {
      <figure class="plot">
        <svg viewBox={format!("0 0 {w} {h}")} role="img" aria-label="target probability per iteration">
          { for [0.0, 0.5, 1.0].iter().map(|v: &f64| { let y = 6.0 + (h - 26.0) * (1.0 - v); html! {
              <><line class="grid" x1={pad.to_string()} x2={(w - 6.0).to_string()} y1={y.to_string()} y2={y.to_string()} />
                <text x="2" y={(y + 4.0).to_string()}>{ format!("{v:.1}") }</text></> } }) }
          <text x={pad.to_string()} y={(h - 6.0).to_string()}>{ "iteration →" }</text>
          <polyline class="a2x" points={line(&run.a2x_probability())} />
          <polyline class="samples" points={line(&samples)} />
          <polyline class="pgd" points={line(&run.pgd_probability)} />
        </svg>
        <figcaption class="legend"><span class="a2x">{ "— A2X: p(target | seed + p)" }</span>
          <span class="samples">{ "— A2X: ℘ on D̄" }</span><span class="pgd">{ "— PGD: p(target | image)" }</span>
          <span>{ "(the attacked model)" }</span></figcaption>
      </figure>
    }
}

fn run_panel(s: &ImageTasks, task: Task, ctx: &Context<ImageTasks>) -> Html {
    let link = ctx.link();
    let run = s.run_of(task);
    let ready = matches!(s.loading, Loading::Ready(_));
    let busy = s.busy();
    let state = run.map(|r| r.state.name()).unwrap_or("idle");
    let paused = run.is_some_and(|r| r.paused);
    let cpu_notice = s.device.as_ref().filter(|d| d.is_cpu).map(|_| html! {
        <p class="notice">{ "On the CPU backend each iteration takes seconds (|D̄| 256 with the ± check on all of it); lower |D̄| or check on the mini-batch for a quick look, or use the CLI (`a2x generate`, `a2x inpaint`, `a2x sketch`)." }</p>
    });
    let status = run.map(|r| {
        let total = r.settings.run.iterations;
        let stopped = match r.events.last() {
            Some(e) if r.settings.run.stop_at_gamma && e.gamma_reached => format!(" · A2X stopped at ℘ ≥ γ after {} iterations", e.iteration),
            _ => String::new(),
        };
        let elapsed = (r.ended_ms.unwrap_or_else(crate::web::now_ms) - r.started_ms).max(0.0);
        // Time left, at the pace of the iterations done in this page (a resumed run's earlier
        // ones were done before it started).
        let done_here = r.iteration().saturating_sub(r.resumed_at);
        let left = (r.state == RunState::Running && done_here > 0 && total > r.iteration())
            .then(|| format!(" · about {} left", seconds(elapsed / done_here as f64 * (total - r.iteration()) as f64)))
            .unwrap_or_default();
        let paused = if r.paused && r.state == RunState::Running { " · paused" } else { "" };
        format!("{} · iteration {} / {total}{stopped} · {}{left}{paused}", r.state.name(), r.iteration(), seconds(elapsed))
    });
    let size = s.set.side().to_string();
    // CIFAR-10's 32×32 pictures are shown enlarged twice (pixels, and smooth); a model's own
    // size once, as it is.
    let enlarged = s.set.enlarge() > 1;
    let figure = |i: usize, id: &str, title: &str, verdicts: Option<&Verdicts>, save: &'static str| {
        let target = run.map(|r| r.target).unwrap_or_else(|| s.target_of(task));
        let probability = verdicts.map(|v| format!("{:.4}", v.robust.target_probability)).unwrap_or_default();
        html! {
          <figure id={id.to_string()} data-target-probability={probability}>
            <figcaption><strong>{ title }</strong></figcaption>
            <canvas id={format!("{id}-nearest")} class={if enlarged { "pixelated" } else { "picture" }} ref={s.pictures[i].clone()} width={size.clone()} height={size.clone()}></canvas>
            if enlarged {
              <canvas id={format!("{id}-smooth")} class="smooth" ref={s.smooth_pictures[i].clone()} width={size.clone()} height={size.clone()}></canvas>
            }
            { for verdicts.map(|v| verdict_line(s, v, target)) }
            if run.is_some_and(|r| r.state != RunState::Running) {
              <button id={format!("{id}-save")} onclick={link.callback(move |_| Msg::Save(save))}>{ "Save PNG" }</button>
            }
          </figure>
        }
    };
    let json = run.map(|r| serde_json::to_string(&r.summary(&s.set)).unwrap_or_default()).unwrap_or_default();
    html! {
      <div id="task-run" class="panel sticky" data-state={state} data-iteration={run.map(|r| r.iteration()).unwrap_or(0).to_string()}>
        <h3>{ "5 · Run: A2X and PGD side by side" }</h3>
        { for cpu_notice }
        <div class="row">
          <button id="task-start" class="primary" onclick={link.callback(|_| Msg::Run)} disabled={!ready || busy}>{ "Run" }</button>
          <button id="task-pause" onclick={link.callback(move |_| Msg::Pause(!paused))} disabled={!busy}>{ if paused { "Go on" } else { "Pause" } }</button>
          <button id="task-cancel" onclick={link.callback(|_| Msg::Cancel)} disabled={!busy}>{ "Cancel" }</button>
          if busy && run.is_none_or(|r| r.state != RunState::Running) { <span class="muted">{ "another task is running" }</span> }
        </div>
        { for status.map(|t| html! { <p id="task-status">{ t }</p> }) }
        { for run.and_then(|r| r.error.as_ref()).map(|e| html! { <p class="error" id="task-run-error">{ e }</p> }) }
        { for run.filter(|r| !r.recovered.is_empty()).map(|r| html! {
            <ul class="notice" id="task-run-recovered">{ for r.recovered.iter().map(|what| html! { <li>{ what }</li> }) }</ul>
        }) }
        if enlarged {
          <p class="muted">{ format!("Each picture twice: enlarged {}× by nearest-neighbour (the pixels as they are) and by smooth scaling.", s.set.enlarge()) }</p>
        }
        <div class="task-pictures">
          { figure(0, "task-seed", "Seed", run.and_then(|r| r.seed_verdicts.as_ref()), "seed") }
          { figure(1, "task-a2x", "A2X", run.and_then(|r| r.a2x_verdicts.as_ref()), "a2x") }
          { figure(2, "task-pgd", "PGD (baseline)", run.and_then(|r| r.pgd_verdicts.as_ref()), "pgd") }
        </div>
        { for run.map(curves) }
        <pre id="task-json" hidden=true>{ json }</pre>
        if run.is_some_and(|r| r.state != RunState::Running) {
          <button id="task-save-json" onclick={link.callback(|_| Msg::SaveJson)}>{ "Save JSON" }</button>
        }
        if run.is_some_and(|r| r.state == RunState::Done) {
          { share_panel(
              s.share.as_ref().filter(|sh| run.is_some_and(|r| r.id == sh.run_id)).map(|sh| sh.url.as_str()),
              s.share.as_ref().and_then(|sh| sh.copied.as_ref()),
              s.share_auto_run,
              link.callback(Msg::ShareAutoRun),
              link.callback(|_| Msg::CopyLink),
          ) }
        }
      </div>
    }
}

/// Generation's starting picture on an ImageNet model: grey, noise or a bundled photo.
fn start_panel(s: &ImageTasks, ctx: &Context<ImageTasks>) -> Html {
    let link = ctx.link();
    let busy = s.busy();
    let chosen = s.start.recipe.name();
    let button = |id: &str, label: Html| {
        let pick = id.to_string();
        let onclick = link.callback(move |_| Msg::PickStart(pick.clone()));
        let class = if chosen == id { "thumb on" } else { "thumb" };
        html! { <button {class} id={format!("start-{id}")} title={id.to_string()} {onclick} disabled={busy}>{ label }</button> }
    };
    let photos = crate::bundled::PhotoSet::Wide.photos().into_iter().map(|(id, url)| button(id, html! { <img src={url} alt={id} /> }));
    let side = s.set.side();
    html! {
      <div id="start" class="panel">
        <h3>{ "3 · Start from" }</h3>
        <p class="muted">{ format!("“{chosen}” at {side}×{side}: both methods start from it.") }</p>
        <div class="row">
          { button(crate::bundled::GREY, html! { { "Grey" } }) }
          { button(crate::bundled::NOISE, html! { { "Noise" } }) }
        </div>
        <div class="strip" id="start-photos">{ for photos }</div>
        if let Some(e) = &s.picture_error { <p class="error" id="start-error">{ e }</p> }
      </div>
    }
}
