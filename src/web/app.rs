use super::explain::Explain;
use super::page::ActiveDevice;
use super::tasks::{ImageTasks, TaskSet};
use crate::engine::tasks::Task;
use super::gpu::{probe_browser_adapter, BrowserAdapter};
use super::zoo::{self, RowState, ZooResult};
use crate::models::manifest::Manifest;
use crate::device::GpuInfo;
use crate::link::{self, SharedPage, SharedState};
use super::browser;
use super::engine_worker::WorkerSlot;
use crate::probe::{self, ProbeResult};
use crate::session::transport::{Answer, Backend, Job};
use serde::Serialize;
use std::rc::Rc;
use web_sys::HtmlInputElement;
use yew::prelude::*;

/// The WebGPU side, as far as it is known.
enum Gpu {
    Detecting,
    Ready { info: GpuInfo, adapter: BrowserAdapter },
    Unavailable(String),
}

/// One finished probe run, as shown on the page and written into `#probe-json` for tests.
#[derive(Clone, Serialize)]
pub struct ProbeRun {
    backend: &'static str,
    result: ProbeResult,
    /// First run on this device: includes shader compilation and allocation.
    cold_ms: f64,
    /// A second run right after (the warm-up is done).
    warm_ms: f64,
    max_abs_error: f64,
    tolerance: f64,
    ok: bool,
}

enum ProbeState {
    Waiting,
    Running(&'static str),
    Done(ProbeRun),
    Failed(String),
}

pub enum Msg {
    GpuReady(Result<(GpuInfo, BrowserAdapter), String>),
    SetForceCpu(bool),
    ProbeFinished(u32, Result<ProbeRun, String>),
    ManifestLoaded(Result<Manifest, String>),
    Classify(String),
    Classified(String, u32, Result<ZooResult, String>),
    ShowPage(Option<Task>),
    /// The image tasks' models: an ImageNet model of the zoo, or the robust CIFAR-10 one.
    ShowSet(TaskSet),
    HashChanged,
}

pub struct App {
    gpu: Gpu,
    /// The engine's worker: the backends live there, the diagnostics and the explanation page
    /// compute there.
    worker: WorkerSlot,
    cpu: Backend,
    /// What the CPU backend is called on the page: `CPU (flex)`, or `CPU (ndarray)` with `#cpu=ndarray`.
    cpu_label: &'static str,
    force_cpu: bool,
    probe: ProbeState,
    /// Increases with every run started, so a late result of an abandoned run is dropped.
    generation: u32,
    manifest: Option<Result<Rc<Manifest>, String>>,
    /// State of each model's row in the zoo card, by model id.
    zoo: Vec<(String, RowState)>,
    /// Increases with every backend switch: a classification started before it is dropped.
    backend_generation: u32,
    /// The page shown: the explanation (`None`) or one of the image tasks. Both stay mounted, so
    /// switching keeps each one's models, drawing and results.
    page: Option<Task>,
    /// Which models the image tasks run on (ImageNet first; `#set=cifar-robust` in the URL).
    task_set: TaskSet,
    /// The ImageNet model last shown (its page stays mounted while CIFAR-10's is shown).
    last_imagenet: String,
    /// The share link the page was opened with (or that was pasted in later), decoded; handed
    /// to the page it is for, which restores its state from it.
    shared: Option<Rc<SharedState>>,
    /// The link's text, so a fragment change that leaves it alone (the backend switch) does not
    /// restore it again over the visitor's edits.
    link_fragment: Option<String>,
    link_error: Option<String>,
    _hash_listener: Option<wasm_bindgen::closure::Closure<dyn Fn()>>,
}

const GPU_LABEL: &str = "WebGPU";
const CPU_NDARRAY_LABEL: &str = "CPU (ndarray)";

/// The CPU backend: burn's flex (issue #23: in headless Chromium on a 2-core machine an iteration
/// of SqueezeNet at b 4 took 2.3 s where ndarray took 71 s), or ndarray with `#cpu=ndarray` in the
/// URL, to measure one against the other.
fn cpu_backend_from_url() -> (Backend, &'static str) {
    if browser::hash_parts().iter().any(|kv| kv == "cpu=ndarray") {
        (Backend::Ndarray, CPU_NDARRAY_LABEL)
    } else {
        (Backend::Flex, "CPU (flex)")
    }
}

/// `#backend=cpu` in the URL forces the CPU backend, so a reload keeps the choice (a share link
/// does not carry it: the visitor's own machine decides).
fn force_cpu_from_url() -> bool {
    browser::hash_parts().iter().any(|kv| kv == "backend=cpu")
}

/// `#task=sketch` (or generate, inpaint) in the URL: the tab shown, so a reload comes back to it
/// (and to the run it may offer to resume).
fn page_from_url() -> Option<Task> {
    browser::hash_parts().iter().find_map(|kv| kv.strip_prefix("task=").and_then(|name| crate::engine::from_name::<Task>(name).ok()))
}

/// `#set=cifar-robust` (or an ImageNet model's id) in the URL: the image tasks' models, so a
/// reload comes back to them; by default SqueezeNet 1.1, the zoo's default.
fn set_from_url() -> TaskSet {
    browser::hash_parts()
        .iter()
        .find_map(|kv| kv.strip_prefix("set=").filter(|id| *id == crate::session::from_link::CIFAR_TASK_MODEL || crate::models::imagenet_input_size(id).is_some()).map(TaskSet::of_model))
        .unwrap_or_else(|| TaskSet::ImageNet(crate::models::squeezenet::ID.into()))
}

fn write_force_cpu_to_url(force_cpu: bool) {
    browser::set_hash_part("backend", force_cpu.then_some("cpu"));
}

/// The share link in the URL fragment (`a2x=…`), if any.
fn link_in_url() -> Option<String> {
    browser::hash_parts().into_iter().find(|part| part.starts_with(link::PREFIX))
}

/// The browser's adapter, then burn's WebGPU device on it in the engine's worker.
async fn init_gpu(worker: WorkerSlot) -> Result<(GpuInfo, BrowserAdapter), String> {
    let adapter = probe_browser_adapter().await?;
    match worker.get()?.ask(Backend::WebGpu, Job::Backend).await? {
        Answer::Backend { gpu: Some(info) } => Ok((info, adapter)),
        other => Err(format!("the engine's worker answered {other:?} to WebGPU's set-up")),
    }
}

/// The probe, computed in the engine's worker on `backend` and checked here against the f64
/// reference.
async fn run_probe(worker: WorkerSlot, backend: Backend, label: &'static str) -> Result<ProbeRun, String> {
    let Answer::Probed { result, cold_ms, warm_ms } = worker.get()?.ask(backend, Job::Probe).await? else {
        return Err("the engine's worker answered something else to the probe".into());
    };
    let max_abs_error = result.max_abs_diff(&probe::reference());
    Ok(ProbeRun {
        backend: label,
        result,
        cold_ms,
        warm_ms,
        max_abs_error,
        tolerance: probe::TOLERANCE,
        ok: max_abs_error <= probe::TOLERANCE,
    })
}

impl App {
    /// The device the probe should run on now, if it is known yet.
    fn active_device(&self) -> Option<(Backend, &'static str)> {
        match (&self.gpu, self.force_cpu) {
            (Gpu::Detecting, false) => None,
            (Gpu::Ready { .. }, false) => Some((Backend::WebGpu, GPU_LABEL)),
            _ => Some((self.cpu, self.cpu_label)),
        }
    }

    /// What the explanation page computes on (None while WebGPU is still being looked for).
    fn explain_device(&self) -> Option<ActiveDevice> {
        self.active_device().map(|(backend, label)| ActiveDevice { label, is_cpu: backend != Backend::WebGpu, backend, generation: self.backend_generation })
    }

    /// Reads the share link in the URL, if it changed: a good one opens its page with its state,
    /// a bad one is named on the page (and nothing else happens).
    fn read_link(&mut self) -> bool {
        let fragment = link_in_url();
        if fragment == self.link_fragment {
            return false;
        }
        self.link_fragment = fragment.clone();
        let Some(fragment) = fragment else { return false };
        match link::decode(&fragment) {
            Ok(state) => {
                self.page = match &state.page {
                    SharedPage::Explain { .. } => None,
                    SharedPage::Task { task, model, .. } => {
                        self.show_set(TaskSet::of_model(model));
                        Some(*task)
                    }
                };
                self.shared = Some(Rc::new(state));
                self.link_error = None;
            }
            Err(e) => {
                self.link_error = Some(e.to_string());
                self.shared = None;
            }
        }
        true
    }

    /// The link for a page, if the current one is for it.
    fn shared_for(&self, explain: bool) -> Option<Rc<SharedState>> {
        self.shared.clone().filter(|s| matches!(s.page, SharedPage::Explain { .. }) == explain)
    }

    fn show_set(&mut self, set: TaskSet) {
        if let TaskSet::ImageNet(model) = &set {
            self.last_imagenet = model.clone();
        }
        self.task_set = set;
    }

    /// The link for the image tasks on `set`, if the current one is for them.
    fn shared_for_set(&self, set: &TaskSet) -> Option<Rc<SharedState>> {
        self.shared_for(false).filter(|s| matches!(&s.page, SharedPage::Task { model, .. } if TaskSet::of_model(model) == *set))
    }

    /// The ImageNet model the tasks run on when they run on one: the one shown, or the last one
    /// shown (its page stays mounted while the CIFAR-10 one is shown).
    fn imagenet_set(&self) -> TaskSet {
        match &self.task_set {
            TaskSet::ImageNet(_) => self.task_set.clone(),
            TaskSet::Cifar => TaskSet::ImageNet(self.last_imagenet.clone()),
        }
    }

    /// The image tasks' switch between the models they run on, shown above them.
    fn view_set_switch(&self, ctx: &Context<Self>) -> Html {
        let Some(manifest) = self.manifest.as_ref().and_then(|m| m.as_ref().ok()) else { return html! {} };
        let mut sets: Vec<(TaskSet, String)> = manifest
            .models
            .iter()
            .map(|m| (TaskSet::ImageNet(m.id.clone()), format!("{} · {}×{} · 1000 classes", m.name, m.input_size, m.input_size)))
            .collect();
        // The zoo's default model first.
        sets.sort_by_key(|(set, _)| set.model() != manifest.default_model);
        sets.push((TaskSet::Cifar, "CIFAR-10 robust ResNet-9 · 32×32 · 10 classes (the paper's robust-model setting)".into()));
        let buttons = sets.into_iter().map(|(set, label)| {
            let on = set == self.task_set;
            let id = format!("set-{}", set.model());
            let onclick = ctx.link().callback(move |_| Msg::ShowSet(set.clone()));
            html! { <button {id} class={if on { "tool on" } else { "tool" }} aria-pressed={on.to_string()} {onclick}>{ label }</button> }
        });
        html! { <nav id="task-set" class="row" aria-label="the models the tasks run on">{ for buttons }</nav> }
    }

    fn start_probe(&mut self, ctx: &Context<Self>) {
        let Some((backend, label)) = self.active_device() else {
            self.probe = ProbeState::Waiting;
            return;
        };
        self.generation += 1;
        let generation = self.generation;
        self.probe = ProbeState::Running(label);
        let worker = self.worker.clone();
        ctx.link().send_future(async move { Msg::ProbeFinished(generation, run_probe(worker, backend, label).await) });
    }

    fn set_row(&mut self, id: &str, state: RowState) {
        match self.zoo.iter_mut().find(|(row, _)| row == id) {
            Some(row) => row.1 = state,
            None => self.zoo.push((id.to_string(), state)),
        }
    }

    fn view_backend(&self, ctx: &Context<Self>) -> Html {
        let (kind, body) = match (&self.gpu, self.force_cpu) {
            (_, true) => ("cpu", html! { <p>{ self.cpu_label }{ " — forced by the switch below." }</p> }),
            (Gpu::Detecting, _) => ("detecting", html! { <p>{ "Looking for a WebGPU adapter…" }</p> }),
            (Gpu::Unavailable(reason), _) => (
                "cpu",
                html! {
                    <>
                      <p>{ self.cpu_label }</p>
                      <p class="reason">{ "WebGPU unavailable: " }{ reason }</p>
                    </>
                },
            ),
            (Gpu::Ready { info, adapter, .. }, false) => ("webgpu", view_adapter_name(info, adapter)),
        };
        let onchange = ctx.link().callback(|e: Event| {
            Msg::SetForceCpu(e.target_unchecked_into::<HtmlInputElement>().checked())
        });
        html! {
            <section id="backend" class="bar" data-kind={kind}>
              <div class="backend-name">{ body }</div>
              <label class="switch">
                <input id="force-cpu" type="checkbox" checked={self.force_cpu} {onchange} />
                { " Force the CPU backend" }
              </label>
            </section>
        }
    }

    /// The task switch: Explain, or one of the paper's three applications on the robust model.
    fn view_tabs(&self, ctx: &Context<Self>) -> Html {
        let tabs = [(None, "explain", "Explain"), (Some(Task::Generate), "generate", "Generate"), (Some(Task::Inpaint), "inpaint", "Inpaint"), (Some(Task::Sketch), "sketch", "Sketch")];
        let buttons = tabs.into_iter().map(|(page, id, label)| {
            let onclick = ctx.link().callback(move |_| Msg::ShowPage(page));
            let on = page == self.page;
            html! { <button id={format!("tab-{id}")} role="tab" aria-selected={on.to_string()} class={if on { "tab on" } else { "tab" }} {onclick}>{ label }</button> }
        });
        html! { <nav class="tabs" role="tablist">{ for buttons }</nav> }
    }

    fn view_probe(&self) -> Html {
        let (state, body) = match &self.probe {
            ProbeState::Waiting => ("waiting", html! { <p>{ "Waiting for the backend…" }</p> }),
            ProbeState::Running(label) => {
                ("running", html! { <p>{ format!("Computing on {label}…") }</p> })
            }
            ProbeState::Failed(message) => ("failed", html! { <p class="error">{ message }</p> }),
            ProbeState::Done(run) => ("done", view_run(run)),
        };
        html! {
            <section id="probe" class="card" data-state={state}>
              <h2>{ "Proof of life: a gradient with autodiff" }</h2>
              <p class="muted">
                { "d(output)/d(input) of a small convolutional network (3×8×8 input, two 3×3 \
                   convolutions, tanh, mean), computed by burn on the backend above, read back \
                   asynchronously, and checked against an f64 finite-difference reference." }
              </p>
              { body }
            </section>
        }
    }
}

/// The one line the backend bar shows: which GPU the page computes on.
fn view_adapter_name(info: &GpuInfo, adapter: &BrowserAdapter) -> Html {
    let name = [&adapter.vendor, &adapter.architecture, &adapter.description]
        .into_iter()
        .filter(|s| !s.is_empty())
        .cloned()
        .collect::<Vec<_>>()
        .join(" · ");
    let name = if name.is_empty() { info.name.clone() } else { name };
    html! {
        <p><strong>{ GPU_LABEL }</strong>{ ": " }<span id="adapter-name">{ name }</span>
          { if adapter.is_fallback { " (software fallback adapter)" } else { "" } }</p>
    }
}

/// The adapter's limits, for the Diagnostics disclosure.
fn view_limits(info: &GpuInfo) -> Html {
    let mib = |bytes: u64| format!("{:.0} MiB", bytes as f64 / (1024.0 * 1024.0));
    html! {
      <section id="limits" class="card">
        <h2>{ "WebGPU adapter limits" }</h2>
        <table class="limits">
          <tr><th>{ "max buffer size" }</th><td>{ mib(info.max_buffer_size) }</td></tr>
          <tr><th>{ "max storage buffer binding" }</th><td>{ mib(info.max_storage_buffer_binding_size) }</td></tr>
          <tr><th>{ "max invocations per workgroup" }</th><td>{ info.max_compute_invocations_per_workgroup }</td></tr>
          <tr><th>{ "max workgroup storage" }</th><td>{ format!("{} KiB", info.max_compute_workgroup_storage_size / 1024) }</td></tr>
        </table>
      </section>
    }
}

fn view_run(run: &ProbeRun) -> Html {
    let head = run.result.gradient.iter().take(8).map(|g| format!("{g:+.6}")).collect::<Vec<_>>();
    let json = serde_json::to_string(run).unwrap_or_default();
    html! {
      <>
        <table class="numbers">
          <tr><th>{ "backend" }</th><td id="probe-backend">{ run.backend }</td></tr>
          <tr><th>{ "output" }</th><td>{ format!("{:.8}", run.result.output) }</td></tr>
          <tr><th>{ "‖∇‖₂" }</th><td>{ format!("{:.8}", run.result.gradient_norm()) }</td></tr>
          <tr><th>{ "∇[0..8]" }</th><td class="mono">{ head.join(" ") }</td></tr>
          <tr><th>{ "max |error| vs f64" }</th>
              <td class={if run.ok { "ok" } else { "error" }}>
                { format!("{:.1e} {}", run.max_abs_error, if run.ok { "✓" } else { "✗ too large" }) }
              </td></tr>
          <tr><th>{ "time" }</th>
              <td>{ format!("{:.1} ms first run (one-time set-up, e.g. GPU kernel compilation), {:.1} ms warm", run.cold_ms, run.warm_ms) }</td></tr>
        </table>
        <pre id="probe-json" hidden=true>{ json }</pre>
      </>
    }
}

impl Component for App {
    type Message = Msg;
    type Properties = ();

    fn create(ctx: &Context<Self>) -> Self {
        let worker = WorkerSlot::default();
        let asked = worker.clone();
        ctx.link().send_future(async { Msg::GpuReady(init_gpu(asked).await) });
        ctx.link().send_future(async { Msg::ManifestLoaded(zoo::fetch_manifest().await) });
        let (cpu, cpu_label) = cpu_backend_from_url();
        let mut app = App {
            gpu: Gpu::Detecting,
            worker,
            cpu,
            cpu_label,
            force_cpu: force_cpu_from_url(),
            probe: ProbeState::Waiting,
            generation: 0,
            manifest: None,
            zoo: Vec::new(),
            backend_generation: 0,
            page: page_from_url(),
            task_set: set_from_url(),
            last_imagenet: match set_from_url() {
                TaskSet::ImageNet(model) => model,
                TaskSet::Cifar => crate::models::squeezenet::ID.into(),
            },
            shared: None,
            link_fragment: None,
            link_error: None,
            _hash_listener: None,
        };
        app.read_link();
        let link = ctx.link().clone();
        app._hash_listener = browser::on_hash_change(move || link.send_message(Msg::HashChanged));
        app.start_probe(ctx);
        app
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::GpuReady(result) => {
                self.gpu = match result {
                    Ok((info, adapter)) => Gpu::Ready { info, adapter },
                    Err(reason) => Gpu::Unavailable(reason),
                };
                if !self.force_cpu {
                    self.start_probe(ctx);
                }
            }
            Msg::SetForceCpu(force_cpu) => {
                if force_cpu != self.force_cpu {
                    self.force_cpu = force_cpu;
                    self.backend_generation += 1;
                    self.zoo.clear();
                    write_force_cpu_to_url(force_cpu);
                    self.start_probe(ctx);
                }
            }
            Msg::ProbeFinished(generation, result) => {
                if generation != self.generation {
                    return false;
                }
                self.probe = match result {
                    Ok(run) => ProbeState::Done(run),
                    Err(message) => ProbeState::Failed(message),
                };
            }
            Msg::ManifestLoaded(result) => self.manifest = Some(result.map(Rc::new)),
            Msg::Classify(id) => {
                let manifest = match &self.manifest {
                    Some(Ok(manifest)) => Manifest::clone(manifest),
                    _ => return false,
                };
                let Some((backend, label)) = self.active_device() else {
                    self.set_row(&id, RowState::Failed("the backend is still starting; try again in a moment".into()));
                    return true;
                };
                self.set_row(&id, RowState::Running(label));
                let generation = self.backend_generation;
                let worker = self.worker.get();
                ctx.link().send_future(async move {
                    let result = zoo::classify_sample(manifest, id.clone(), worker, backend, label).await;
                    Msg::Classified(id, generation, result)
                });
            }
            Msg::ShowPage(page) => {
                self.page = page;
                browser::set_hash_part("task", page.map(crate::engine::name_of).as_deref());
            }
            Msg::ShowSet(set) => {
                browser::set_hash_part("set", Some(set.model()));
                self.show_set(set);
            }
            Msg::HashChanged => return self.read_link(),
            Msg::Classified(id, generation, result) => {
                if generation != self.backend_generation {
                    return false;
                }
                self.set_row(&id, match result {
                    Ok(result) => RowState::Done(result),
                    Err(message) => RowState::Failed(message),
                });
            }
        }
        true
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let manifest = self.manifest.as_ref().and_then(|m| m.as_ref().ok()).cloned();
        html! {
          <main>
            <header>
              <h1>{ "a2x" }</h1>
              <p class="tagline">{ "Explain deep image classifiers by attacking them, on your own GPU · " }
                <a id="gallery-link" href="gallery/" title="Links for teaching: each opens this page and runs">{ "Gallery of ready-made explanations" }</a></p>
            </header>
            { self.view_backend(ctx) }
            if let Some(e) = &self.link_error {
              <section id="link-error" class="card">
                <p class="error">{ "This link could not be opened: " }{ e }{ ". The page starts as usual." }</p>
              </section>
            }
            { self.view_tabs(ctx) }
            <div id="explain-page" hidden={self.page.is_some()}>
              <Explain device={self.explain_device()} manifest={manifest.clone()} shared={self.shared_for(true)} worker={self.worker.clone()} />
            </div>
            if self.page.is_some() { { self.view_set_switch(ctx) } }
            // Two pages, CIFAR-10's and the ImageNet model's, each kept while the other is shown
            // (its drawings, its run); the ImageNet one is made anew when the model changes.
            <ImageTasks key="cifar" device={self.explain_device()} manifest={manifest.clone()} set={TaskSet::Cifar}
              task={self.page.filter(|_| self.task_set == TaskSet::Cifar)} shared={self.shared_for_set(&TaskSet::Cifar)} />
            <ImageTasks key={format!("imagenet-{}", self.imagenet_set().model())} device={self.explain_device()} {manifest} set={self.imagenet_set()}
              task={self.page.filter(|_| self.task_set.is_imagenet())} shared={self.shared_for_set(&self.imagenet_set())} />
            <details id="diagnostics" class="diagnostics">
              <summary>{ "Diagnostics: the adapter's limits, the model zoo and a proof-of-life gradient" }</summary>
              if let Gpu::Ready { info, .. } = &self.gpu { { view_limits(info) } }
              { zoo::view(self.manifest.as_ref().map(|m| m.as_ref().map(|m| &**m)), &self.zoo, ctx.link().callback(Msg::Classify)) }
              { self.view_probe() }
            </details>
          </main>
        }
    }
}
