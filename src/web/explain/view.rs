//! What the explanation page shows (the state is `state.rs`'s, its updates `component.rs`'s).

use super::models::ModelSlot;
use super::run::{RunState, RunView};
use super::seed::{bundled, Tool};
use super::settings::{preset_id, preset_label, Field};
use super::state::{Explain, Msg};
use crate::engine::transforms::Transform;
use crate::engine::Preset;
use crate::web::page_view::{canvas_point, files_of, link_notices, mb, seconds, share_panel};
use crate::web::plot;
use crate::engine::name_of;
use crate::models::labels;
use crate::models::Prediction;
use wasm_bindgen::JsCast;
use web_sys::{HtmlCanvasElement, HtmlInputElement, HtmlSelectElement};
use yew::prelude::*;





fn top5(list: &[Prediction], target: Option<usize>) -> Html {
    let rows = list.iter().map(|p| {
        let class = if Some(p.class) == target { "target" } else { "" };
        html! { <li class={class}>{ format!("{} ({}) {:.1}%", labels::imagenet()[p.class].name(), p.class, 100.0 * p.probability) }</li> }
    });
    html! { <ol class="top5">{ for rows }</ol> }
}

/// The page as a teacher meets it: model, class, seed and Run at the top, the result beside them taking
/// the room; D̄ and every setting but the preset below, each behind its own disclosure.
pub fn view(s: &Explain, ctx: &Context<Explain>) -> Html {
    html! {
      <section id="explain" class="card wide">
        <h2>{ "Explain a class" }</h2>
        <p class="muted intro">{ "The perturbation p, grown over images D̄ until the model sees the target class in them, shows \
            what the model has learnt the class looks like (Jalwana et al., CVPR 2020)." }</p>
        { link_notices(&s.link_notices) }
        <div class="explain-grid">
          <div class="column">
            <div class="pick-row">
              { model_panel(s, ctx) }
              { class_panel(s, ctx) }
            </div>
            { seed_panel(s, ctx) }
          </div>
          <div class="column">
            { run_panel(s, ctx) }
          </div>
        </div>
        { distribution_panel(s, ctx) }
        { settings_panel(s, ctx) }
      </section>
    }
}


fn model_panel(s: &Explain, ctx: &Context<Explain>) -> Html {
    let Some(manifest) = &s.manifest else {
        return html! { <div id="model" class="panel" data-state="waiting"><h3>{ "1 · Model" }</h3><p>{ "Reading the model list…" }</p></div> };
    };
    let busy = s.run.as_ref().is_some_and(|r| r.state.active());
    let choices = manifest.models.iter().map(|entry| html! {
        <option value={entry.id.clone()} selected={entry.id == s.model_id}>
          { format!("{} · {} px · {}", entry.name, entry.input_size, mb(entry.file_bytes as u64)) }</option>
    });
    let onchange = ctx.link().callback(|e: Event| Msg::SelectModel(e.target_unchecked_into::<HtmlSelectElement>().value()));
    let (state, body) = match s.models.get(&s.model_id) {
        None if s.device.is_none() => ("waiting", html! { <p>{ "Waiting for the backend…" }</p> }),
        None => ("idle", html! { <button id="load-model" onclick={ctx.link().callback(|_| Msg::LoadModel)}>{ "Download" }</button> }),
        Some(ModelSlot::Downloading { received, total }) => ("downloading", html! {
            <p><progress id="model-progress" value={received.to_string()} max={total.to_string()}></progress>
               { format!(" {} / {}", mb(*received), mb(*total)) }</p>
        }),
        Some(ModelSlot::Loading) => ("loading", html! { <p>{ "Checking sha256, loading and warming up on the backend…" }</p> }),
        Some(ModelSlot::Failed(e)) => ("failed", html! {
            <><p class="error">{ e }</p>
              <button id="retry-model" onclick={ctx.link().callback(|_| Msg::LoadModel)}>{ "Retry" }</button></>
        }),
        Some(ModelSlot::Ready(info)) => ("ready", html! {
            <p class="muted" title={format!("loaded in {} · warm-up (first pass, kernel compilation) {}", seconds(info.load_ms), seconds(info.warmup_ms))}>
              { format!("{} · {} · sha256 checked",
                if info.from_cache { "from this browser's cache" } else { "downloaded" },
                if info.from_cache { mb(info.bytes as u64) } else { format!("{} in {}", mb(info.bytes as u64), seconds(info.download_ms)) }) }</p>
        }),
    };
    html! {
      <div id="model" class="panel" data-state={state}>
        <label class="field"><h3>{ "1 · Model" }</h3>
          <select id="model-choice" disabled={busy} {onchange}>{ for choices }</select></label>
        { body }
      </div>
    }
}

fn class_panel(s: &Explain, ctx: &Context<Explain>) -> Html {
    let busy = s.run.as_ref().is_some_and(|r| r.state.active());
    let oninput = ctx.link().callback(|e: InputEvent| Msg::ClassQuery(e.target_unchecked_into::<HtmlInputElement>().value()));
    let matches = labels::search(&s.query, 12).into_iter().map(|class| {
        let onclick = ctx.link().callback(move |_| Msg::SetTarget(class));
        html! { <li><button class="link" id={format!("class-{class}")} {onclick} disabled={busy}>
            { format!("{} ({class})", labels::imagenet()[class].lemmas) }</button></li> }
    });
    let label = labels::imagenet()[s.target];
    html! {
      <div id="class" class="panel">
        <h3>{ "2 · Target class: " }<strong id="target" data-class={s.target.to_string()}>{ format!("{} ({})", label.name(), s.target) }</strong></h3>
        <p class="muted lemmas" title={label.lemmas.to_string()}>{ label.lemmas }</p>
        <div class="row">
          <input id="class-search" type="search" placeholder="search 1000 ImageNet classes by name or index" value={s.query.clone()} {oninput} />
          <button id="random-class" onclick={ctx.link().callback(|_| Msg::RandomClass)} disabled={busy}>{ "Random" }</button>
        </div>
        <ul class="matches">{ for matches }</ul>
      </div>
    }
}

fn seed_panel(s: &Explain, ctx: &Context<Explain>) -> Html {
    let link = ctx.link();
    let size = s.input_size();
    let samples = bundled().into_iter().enumerate().map(|(i, (name, url))| {
        let onclick = link.callback(move |_| Msg::PickSample(i));
        // Picked before its photo arrived: it becomes the seed when it does.
        let class = if s.pending_pick == Some(i) { "thumb pending" } else { "thumb" };
        html! { <button {class} id={format!("sample-{name}")} title={name} {onclick}><img src={url} alt={name} /></button> }
    });
    let tool_button = |tool: Tool, id: &str, label: &str| {
        let onclick = link.callback(move |_| Msg::SetTool(tool));
        html! { <button id={id.to_string()} class={if s.tool == tool { "tool on" } else { "tool" }} {onclick}>{ label }</button> }
    };
    let onpointerdown = link.callback(|e: PointerEvent| {
        e.prevent_default();
        let canvas: HtmlCanvasElement = e.target_unchecked_into();
        let _ = canvas.set_pointer_capture(e.pointer_id());
        let (x, y) = canvas_point(&e);
        Msg::PointerDown(x, y)
    });
    let onpointermove = link.callback(|e: PointerEvent| {
        let (x, y) = canvas_point(&e);
        Msg::PointerMove(x, y)
    });
    let onpointerup = link.callback(|_: PointerEvent| Msg::PointerUp);
    let onpointercancel = link.callback(|_: PointerEvent| Msg::PointerUp);
    let onchange_file = link.callback(|e: Event| Msg::SeedFiles(files_of(e.target_unchecked_into::<HtmlInputElement>().files())));
    let ondragover = Callback::from(|e: DragEvent| e.prevent_default());
    let ondrop = link.callback(|e: DragEvent| {
        e.prevent_default();
        Msg::SeedFiles(files_of(e.data_transfer().and_then(|d| d.files())))
    });
    let onpaste = link.callback(|e: Event| {
        let files = e.dyn_ref::<web_sys::ClipboardEvent>().and_then(|c| c.clipboard_data()).and_then(|d| d.files());
        Msg::SeedFiles(files_of(files))
    });
    let onsize = link.callback(|e: InputEvent| Msg::BrushSize(e.target_unchecked_into::<HtmlInputElement>().value().parse().unwrap_or(6.0)));
    let oncolour = link.callback(|e: InputEvent| Msg::Colour(e.target_unchecked_into::<HtmlInputElement>().value()));
    let onregion = link.callback(|e: Event| Msg::RegionOn(e.target_unchecked_into::<HtmlInputElement>().checked()));
    let onregion_size = link.callback(|e: InputEvent| Msg::RegionSize(e.target_unchecked_into::<HtmlInputElement>().value().parse().unwrap_or(64)));
    let colour = format!("#{:02x}{:02x}{:02x}", s.colour[0], s.colour[1], s.colour[2]);
    let region = s.region.map(|r| {
        let pct = |v: usize| format!("{:.3}%", 100.0 * v as f64 / size as f64);
        html! { <div id="region-box" class="region" style={format!("left:{};top:{};width:{};height:{}", pct(r.left), pct(r.top), pct(r.width), pct(r.height))}></div> }
    });
    let (undo, redo) = s.seed.as_ref().map(|seed| (seed.undo.len(), seed.redo.len())).unwrap_or((0, 0));
    let name = s.seed.as_ref().map(|seed| seed.name()).unwrap_or_else(|| "loading…".into());
    // The canvas is as large as the seed on it, so yew never resizes it under a drawn seed (a
    // resize clears a canvas, and `draw_once` would not draw the same seed again): a seed kept from
    // before a reload can be drawn before the manifest says the model's size.
    let canvas_side = s.seed.as_ref().map_or(size as u32, |seed| seed.image.width()).to_string();
    html! {
      <div id="seed" class="panel" tabindex="0" {onpaste} {ondragover} {ondrop}>
        <h3>{ "3 · Seed d̄" }</h3>
        <p class="muted" title={format!("A photo is resized so its shorter side is {} px and the centre {size}×{size} is kept.", (size as f64 / 0.875).round())}>
          { format!("“{name}”, {size}×{size} px as the model sees it: pick, open, drop, paste or draw.") }</p>
        <div class="row">
          <div class="strip" id="samples">{ for samples }</div>
          <label class="file">{ "Open image…" }<input id="seed-file" type="file" accept="image/*" onchange={onchange_file} /></label>
        </div>
        if let Some(e) = &s.seed_error { <p class="error" id="seed-error">{ e }</p> }
        <div class="editor">
          <div class="canvas-wrap">
            <canvas id="seed-canvas" ref={s.seed_canvas.clone()} width={canvas_side.clone()} height={canvas_side}
              {onpointerdown} {onpointermove} {onpointerup} {onpointercancel}></canvas>
            { for region }
          </div>
          <div class="tools">
            { tool_button(Tool::Brush, "tool-brush", "Brush") }
            { tool_button(Tool::Eraser, "tool-eraser", "Eraser") }
            { tool_button(Tool::Fill, "tool-fill", "Fill") }
            <label>{ "size " }<input id="brush-size" type="range" min="1" max="48" value={s.brush.to_string()} oninput={onsize} /></label>
            <label>{ "colour " }<input id="brush-colour" type="color" value={colour} oninput={oncolour} /></label>
            <button id="undo" onclick={link.callback(|_| Msg::Undo)} disabled={undo == 0}>{ "Undo" }</button>
            <button id="redo" onclick={link.callback(|_| Msg::Redo)} disabled={redo == 0}>{ "Redo" }</button>
            <button id="clear-seed" onclick={link.callback(|_| Msg::ClearSeed)}>{ "Clear" }</button>
            <label class="choice"><input id="region-on" type="checkbox" checked={s.region.is_some()} onchange={onregion} />
              { " Region: only this square's semantics (it is replaced by D̄'s mean colour; drag to move)" }</label>
            if s.region.is_some() {
              <label>{ "side " }<input id="region-size" type="number" min="8" max={size.to_string()} value={s.region_size.to_string()} oninput={onregion_size} />{ " px" }</label>
              { tool_button(Tool::Region, "tool-region", "Move region") }
            }
          </div>
        </div>
        <div id="seed-top5">
          <span class="muted">{ "What the model sees in the seed now:" }</span>
          { match &s.seed_top5 {
              Some(Ok(list)) => top5(list, Some(s.target)),
              Some(Err(e)) => html! { <p class="error">{ e }</p> },
              None => html! { <p class="muted">{ "…" }</p> },
          } }
        </div>
      </div>
    }
}

fn distribution_panel(s: &Explain, ctx: &Context<Explain>) -> Html {
    let photos = s.distribution_photos();
    let onchange = ctx.link().callback(|e: Event| Msg::AddPhotos(files_of(e.target_unchecked_into::<HtmlInputElement>().files())));
    let urls = bundled();
    let thumbs = photos
        .iter()
        .filter_map(|(name, _)| urls.iter().find(|(id, _)| id == name))
        .map(|(name, url)| html! { <img class="mini" src={*url} alt={*name} title={*name} /> });
    html! {
      <details id="distribution" class="panel">
        <summary><h3>{ "4 · Images D̄ the perturbation must work on" }</h3>
          <span class="muted">{ " · " }</span><span id="distribution-count" class="muted">{ format!("{} photos ({} yours)", photos.len(), s.own_photos.len()) }</span>
          <span class="muted">{ format!(" → |D̄| = {} samples", s.num_samples) }</span></summary>
        <p>{ format!("|D̄| = {} samples: the photos themselves, then random square crops (40–100% of the shorter side, anywhere in the photo) with random mirror flips, drawn from the RNG seed. {}The paper draws 256 photos; with fewer, p also learns the photos: add your own to spread it.", s.num_samples,
              if s.photo_set == crate::bundled::PhotoSet::First { "This link's D̄ is the first seven bundled photos, as when it was made. " } else { "A bundled photo that shows the target class is left out, as the paper leaves the target out. " }) }</p>
        <div class="row">
          { for thumbs }
          { for s.own_photos.iter().take(48).map(|(name, _, url)| html! { <img class="mini own" src={url.clone()} alt={name.clone()} title={name.clone()} /> }) }
          if s.own_photos.len() > 48 { <span class="muted">{ format!("+ {} more", s.own_photos.len() - 48) }</span> }
        </div>
        <div class="row">
          <label class="file">{ "Add your own images…" }<input id="photos-file" type="file" accept="image/*" multiple=true {onchange} /></label>
          if !s.own_photos.is_empty() { <button id="clear-photos" onclick={ctx.link().callback(|_| Msg::ClearPhotos)}>{ format!("Remove your {} images", s.own_photos.len()) }</button> }
          if s.decoding_photos { <span class="muted">{ "decoding…" }</span> }
        </div>
        { for s.photo_errors.iter().map(|e| html! { <p class="error">{ e }</p> }) }
      </details>
    }
}

fn number(ctx: &Context<Explain>, field: Field, id: &str, label: &str, value: String, step: &str, disabled: bool) -> Html {
    let oninput = ctx.link().callback(move |e: InputEvent| Msg::SetField(field, e.target_unchecked_into::<HtmlInputElement>().value()));
    html! { <label class="field">{ label }<input id={id.to_string()} type="number" step={step.to_string()} {value} {oninput} {disabled} /></label> }
}

fn select(ctx: &Context<Explain>, field: Field, id: &str, label: &str, value: &str, options: &[(&str, &str)], disabled: bool) -> Html {
    let onchange = ctx.link().callback(move |e: Event| Msg::SetField(field, e.target_unchecked_into::<HtmlSelectElement>().value()));
    let options = options.iter().map(|(v, text)| html! { <option value={v.to_string()} selected={*v == value}>{ *text }</option> });
    html! { <label class="field">{ label }<select id={id.to_string()} {onchange} {disabled}>{ for options }</select></label> }
}

fn settings_panel(s: &Explain, ctx: &Context<Explain>) -> Html {
    let c = &s.config;
    let off = s.run.as_ref().is_some_and(|r| r.state.active());
    let opt = |v: Option<f32>| v.map(|v| v.to_string()).unwrap_or_else(|| "0".into());
    html! {
      <details id="advanced" class="panel">
        <summary><h3>{ "5 · Advanced settings" }</h3>
          <span class="muted">{ " · every number of Algorithm 1 and a2x's additions; the preset beside Run sets them all, and a share link keeps them" }</span></summary>
        <div class="fields">
          { number(ctx, Field::Eta, "set-eta", "η (‖p‖₂ bound)", c.eta.to_string(), "any", off) }
          { number(ctx, Field::Gamma, "set-gamma", "γ (target ℘)", c.gamma.to_string(), "0.05", off) }
          { number(ctx, Field::Batch, "set-batch", "b (mini-batch, seed included)", c.batch.to_string(), "1", off) }
          { number(ctx, Field::NumSamples, "set-samples", "|D̄|", s.num_samples.to_string(), "1", off) }
          { number(ctx, Field::Iterations, "set-iterations", "iterations", c.iterations.to_string(), "1", off) }
          { number(ctx, Field::RefineEvery, "set-refine", "refine every (0: never)", c.refine_every.to_string(), "1", off) }
          { number(ctx, Field::Lambda, "set-lambda", "λ (mask value)", c.lambda.to_string(), "any", off) }
          { number(ctx, Field::Alpha, "set-alpha", "α (1st moment)", c.alpha.to_string(), "any", off) }
          { number(ctx, Field::Beta, "set-beta", "β (2nd moment)", c.beta.to_string(), "any", off) }
          { number(ctx, Field::RngSeed, "set-rng", "RNG seed", c.rng_seed.to_string(), "1", off) }
          { number(ctx, Field::StepSize, "set-step", "step size × η (0: as written)", opt(c.step_size), "any", off) }
          { number(ctx, Field::Smoothing, "set-smoothing", "gradient smoothing σ px (0: none)", opt(c.smoothing), "any", off) }
          { number(ctx, Field::Chunk, "set-chunk", "images per pass (memory; same result)", c.chunk.to_string(), "1", off) }
          { select(ctx, Field::SignCheck, "set-sign-check", "± check on (O2)", &name_of(c.sign_check),
              &[("all-samples", "all of D̄ (the paper)"), ("batch", "the mini-batch only (cheaper, ≈4×)")], off) }
          { select(ctx, Field::SignProbe, "set-sign-probe", "± check probes", &name_of(c.sign_probe),
              &[("unit-max", "ρ/‖ρ‖∞ (as written)"), ("step", "the step taken")], off) }
          { select(ctx, Field::Fusion, "set-fusion", "ξ (line 6)", &name_of(c.fusion),
              &[("as-written", "as written"), ("balanced", "balanced")], off) }
          { select(ctx, Field::RefineStart, "set-refine-start", "refine from (O9)", &name_of(c.refine_start),
              &[("after-gamma", "℘ ≥ γ (as written)"), ("every-interval", "every interval")], off) }
          { select(ctx, Field::RefineInput, "set-refine-input", "refinement sees (O6)", &name_of(c.refine_input),
              &[("mid-grey", "p on mid-grey"), ("visualized", "p visualised")], off) }
          { select(ctx, Field::Transforms, "set-transforms", "p placed on each image", Transform::name_of(&c.transforms),
              &[("none", "as it is (as written)"), ("lucent", "shifted, scaled, rotated at random (Lucent)"), ("custom", "as the link says")], off) }
          { select(ctx, Field::Param, "set-param", "p moved as", c.param.name(),
              &[("pixels", "pixels (as written)"), ("fourier", "a 1/f spectrum, decorrelated colour (Lucent)"), ("natural", "the photos' spectrum, decorrelated colour"), ("custom", "as the link says")], off) }
        </div>
      </details>
    }
}

/// The preset beside Run: the one setting most visitors change.
fn preset_choice(s: &Explain, ctx: &Context<Explain>, disabled: bool) -> Html {
    let presets = Preset::ALL.iter().map(|p| html! { <option value={preset_id(*p)} selected={*p == s.preset}>{ preset_label(*p) }</option> });
    let onpreset = ctx.link().callback(|e: Event| {
        let value = e.target_unchecked_into::<HtmlSelectElement>().value();
        Msg::Preset(Preset::ALL.into_iter().find(|p| preset_id(*p) == value).unwrap_or(Preset::A2x))
    });
    html! {
      <>
        <label class="field wide">{ "Preset" }<select id="preset" onchange={onpreset} {disabled}>{ for presets }</select></label>
        if s.preset == Preset::Preview {
          <p class="notice" id="preview-notice">{ "Fast preview: a small mini-batch and D̄ and few iterations, so you see p forming in seconds. It is not the setting measured in “Does it work?”; switch to the a2x defaults for an explanation." }</p>
        }
      </>
    }
}

fn run_panel(s: &Explain, ctx: &Context<Explain>) -> Html {
    let link = ctx.link();
    let state = s.run.as_ref().map(|r| r.state.name()).unwrap_or("idle");
    let photos_in = s.bundled_arrived.iter().filter(|p| p.is_some()).count();
    let photos_ready = matches!(s.bundled, Some(Ok(_)));
    let ready = s.model_ready(&s.model_id) && s.seed.is_some() && photos_ready;
    let active = s.run.as_ref().is_some_and(|r| r.state.active());
    let paused = s.run.as_ref().is_some_and(|r| r.state == RunState::Paused);
    let cpu_notice = s.device.as_ref().filter(|d| d.is_cpu).map(|_| html! {
        <details class="notice" id="cpu-notice"><summary>{ "On the CPU backend: slower than a GPU (the page itself stays free: the run goes on in the engine's worker)." }</summary>
          { "burn's flex, one thread in the browser: measured in headless Chromium on a 2-core machine, SqueezeNet takes about \
            2.3 s per iteration at b 4, and an iteration grows with b (the a2x defaults use b 32). Use the fast preview with a \
            small b, or the native CLI (`a2x explain`, all cores). The time left is estimated as the run goes." }</details>
    });
    html! {
      <div id="run" class="panel sticky" data-state={state}>
        <h3>{ "Run" }</h3>
        { resume_offer(s, ctx) }
        { preset_choice(s, ctx, active) }
        <div class="row run-bar">
          <button id="start" class="primary" onclick={link.callback(|_| Msg::Start)} disabled={!ready || active}>{ "Run" }</button>
          if paused {
            <button id="resume" onclick={link.callback(|_| Msg::Resume)}>{ "Resume" }</button>
          } else {
            <button id="pause" onclick={link.callback(|_| Msg::Pause)} disabled={!active}>{ "Pause" }</button>
          }
          <button id="cancel" onclick={link.callback(|_| Msg::Cancel)} disabled={!active}>{ "Cancel" }</button>
          if let Some(run) = &s.run { <span class="muted run-bar-status">{ format!("{} · {} / {}", run.state.name(), run.events.len(), run.config.iterations) }</span> }
        </div>
        if let Some(e) = &s.form_error { <p class="error" id="form-error">{ e }</p> }
        { for cpu_notice }
        { match &s.run { Some(run) => view_run(s, run, ctx), None => html! {
          <>
            <p class="muted">{ if ready { "Ready. Run starts Algorithm 1 on the seed with the preset's settings.".to_string() }
                else if s.bundled.is_none() { format!("Waiting for the model, the seed and D̄'s photos ({photos_in} of {} loaded)…", s.bundled_arrived.len()) }
                else if !photos_ready { "D̄'s bundled photos did not load: reload the page.".to_string() }
                else { "Waiting for the model and the seed…".to_string() } }</p>
            <div class="pictures"><figure><div class="placeholder">{ format!("p for “{}” appears here as it forms", labels::imagenet()[s.target].name()) }</div></figure></div>
          </> } } }
        <crate::web::bench::Bench device={s.device.clone()} model={s.model_ready(&s.model_id).then(|| s.entry(&s.model_id)).flatten()} worker={s.worker.get().ok()} busy={active} />
      </div>
    }
}

/// A run a reload or a closed tab interrupted, kept with its last checkpoint: resume or discard.
fn resume_offer(s: &Explain, ctx: &Context<Explain>) -> Html {
    let Some(run) = &s.interrupted else { return html! {} };
    let (done, total) = run.progress();
    let request = &run.inputs.request;
    let ready = s.model_ready(&request.model) && !s.busy() && s.device.is_some();
    let link = ctx.link();
    html! {
      <div class="notice" id="resume-offer" data-iteration={done.to_string()}>
        <p>{ format!("An explanation of “{}” by {} from the seed “{}” was interrupted at iteration {done} of {total}, by a reload or a closed tab. \
            Resume goes on from there, on this page's backend{}.",
            labels::imagenet()[request.config.target.min(999)].name(), request.model, request.seed.name,
            if ready { "" } else { " (once the model is loaded)" }) }</p>
        <button id="resume-run" class="primary" onclick={link.callback(|_| Msg::ResumeInterrupted)} disabled={!ready}>{ "Resume" }</button>
        { " " }
        <button id="discard-run" onclick={link.callback(|_| Msg::DiscardInterrupted)}>{ "Discard" }</button>
      </div>
    }
}

fn view_run(s: &Explain, run: &RunView, ctx: &Context<Explain>) -> Html {
    let link = ctx.link();
    let last = run.events.last();
    let target = run.config.target;
    let stopped = match (run.state, run.engine_stopped) {
        (RunState::Cancelled, Some(0)) => " · the engine stopped at once".to_string(),
        (RunState::Cancelled, Some(late)) => format!(" · the engine stopped after finishing {late} more (dropped)"),
        (RunState::Cancelled, None) => " · the engine stops after the iteration in hand".to_string(),
        _ => String::new(),
    };
    let status = format!(
        "{} · iteration {} / {} · {} elapsed{}{stopped}",
        run.state.name(),
        run.events.len(),
        run.config.iterations,
        seconds(run.elapsed_ms()),
        run.remaining_ms().map(|ms| format!(" · about {} left", seconds(ms))).unwrap_or_default()
    );
    let curve: Vec<f32> = run.events.iter().map(|e| e.target_probability).collect();
    let finished = !run.state.active() && run.perturbation.is_some();
    let others_rank = run.cross.as_ref().and_then(|r| r.as_ref().ok());
    html! {
      <>
        <p id="run-status" data-iteration={run.events.len().to_string()}
           data-engine-stopped={run.engine_stopped.map(|late| late.to_string())}>{ status }</p>
        if !run.recovered.is_empty() {
          <ul class="notice" id="run-recovered" data-count={run.recovered.len().to_string()}>
            { for run.recovered.iter().map(|what| html! { <li>{ what }</li> }) }
          </ul>
        }
        if let Some(e) = &run.error {
          <p class="error" id="run-error">{ e }{ " — if the GPU ran out of memory, lower “images per pass”, or force the CPU backend above." }</p>
        }
        if let Some(e) = last {
          <p class="numbers">{ format!("℘ {:.4} (seed {:.4}, samples {:.4}) · ϱ⁺ {:.4} ϱ⁻ {:.4} · ‖p‖₂ {:.2} of η {}{}",
              e.target_probability, e.seed_probability, e.samples_probability, e.rho_plus, e.rho_minus,
              e.perturbation_norm, run.config.eta, if e.gamma_reached { " · γ reached" } else { "" }) }</p>
        }
        <div class="pictures">
          <figure><canvas id="p-canvas" class="big" ref={s.p_canvas.clone()}></canvas>
            <figcaption>{ format!("p for “{}”, shown as ", labels::imagenet()[target].name()) }
              <select id="p-view" onchange={link.callback(|e: Event| {
                  let value = e.target_unchecked_into::<HtmlSelectElement>().value();
                  Msg::SetView(crate::imaging::PerturbationView::ALL.into_iter().find(|v| v.id() == value).unwrap_or_default())
              })}>
                { for crate::imaging::PerturbationView::ALL.iter().map(|v| html! { <option value={v.id()} selected={*v == s.view}>{ v.label() }</option> }) }
              </select></figcaption></figure>
          <figure><canvas id="perturbed-canvas" ref={s.perturbed_canvas.clone()}></canvas>
            <figcaption>{ "seed + p" }</figcaption></figure>
        </div>
        { plot::view(&run.events, run.config.iterations, run.config.gamma) }
        <pre id="run-json" hidden=true>{ serde_json::json!({
            "state": run.state.name(), "backend": run.backend, "curve": curve,
            "seed_fingerprint": run.seed_fingerprint, "p_fingerprint": run.p_fingerprint,
        }).to_string() }</pre>
        if finished {
          <div id="result">
            <h4>{ format!("Seed + p, classified by {}", run.model_id) }</h4>
            { match &run.top5 { Some(Ok(list)) => top5(list, Some(target)), Some(Err(e)) => html! { <p class="error">{ e }</p> }, None => html! { <p class="muted">{ "…" }</p> } } }
            <h4>{ "Cross-model check (the paper's): the other models classify p alone" }</h4>
            <button id="cross-check" onclick={link.callback(|_| Msg::CrossCheck)} disabled={run.cross_running}>
              { if run.cross_running { "Checking (downloads the other models if needed)…" } else { "Check with every model" } }</button>
            { match others_rank {
                Some(rows) => html! {
                  <table id="cross-table" class="cross">
                    <tr><th>{ "model" }</th><td>{ "target's rank in p (prob.)" }</td><td>{ "resized to its input" }</td><td>{ "in seed + p" }</td></tr>
                    { for rows.iter().map(|r| html! {
                      <tr class={if r.computed_p { "own" } else { "" }}>
                        <th>{ format!("{}{}", r.model, if r.computed_p { " (computed p)" } else if r.model == crate::models::judge_of(&run.model_id) { " (another family: the judge)" } else { "" }) }</th>
                        <td>{ format!("{} ({:.3})", r.perturbation.rank, r.perturbation.probability) }</td>
                        <td>{ format!("{} ({:.3})", r.perturbation.resized_rank, r.perturbation.resized_probability) }</td>
                        <td>{ format!("{} ({:.3})", r.perturbed_seed.rank, r.perturbed_seed.probability) }</td>
                      </tr> }) }
                  </table> },
                None => match &run.cross { Some(Err(e)) => html! { <p class="error">{ e }</p> }, _ => html! {} },
            } }
            <h4>{ "Export" }</h4>
            <div class="row">
              <button id="export-p" onclick={link.callback(|_| Msg::ExportPerturbation)}>{ "p (PNG)" }</button>
              <button id="export-seed-p" onclick={link.callback(|_| Msg::ExportPerturbedSeed)}>{ "seed + p (PNG)" }</button>
              <button id="export-json" onclick={link.callback(|_| Msg::ExportJson)}>{ "settings and ℘ curve (JSON)" }</button>
            </div>
            { share_panel(
                s.share.as_ref().filter(|sh| sh.run_id == run.id).map(|sh| sh.url.as_str()),
                s.share.as_ref().and_then(|sh| sh.copied.as_ref()),
                s.share_auto_run,
                link.callback(Msg::ShareAutoRun),
                link.callback(|_| Msg::CopyLink),
            ) }
          </div>
        }
      </>
    }
}
