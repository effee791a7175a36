//! "Benchmark this device" (issue #23): the time per iteration and per phase of the a2x defaults
//! at b 4 and b 32 on the model the page has loaded and the backend it computes on, measured by
//! the library's `bench::time_setting` on synthetic images (the same measurement `a2x bench`
//! makes natively, so the two tables divide). Each setting is timed in the engine's worker, on
//! the model it loaded for the page, so the page answers while it measures.

use super::engine_worker::EngineWorker;
use super::page::ActiveDevice;
use crate::bench::{page_settings, Timing, PAGE_SAMPLES, PAGE_TIMED};
use crate::models::manifest::ModelEntry;
use crate::session::transport::{Answer, Job};
use std::rc::Rc;
use yew::prelude::*;

#[derive(Properties, Clone)]
pub struct Props {
    pub device: Option<ActiveDevice>,
    /// The model the page has ready in its worker, if any.
    pub model: Option<ModelEntry>,
    pub worker: Option<Rc<EngineWorker>>,
    /// A run is going: a benchmark now would time both at once.
    pub busy: bool,
}

impl PartialEq for Props {
    fn eq(&self, other: &Self) -> bool {
        let device = |p: &Props| p.device.as_ref().map(|d| (d.generation, d.label));
        let worker = match (&self.worker, &other.worker) {
            (Some(a), Some(b)) => Rc::ptr_eq(a, b),
            (None, None) => true,
            _ => false,
        };
        device(self) == device(other) && self.model == other.model && worker && self.busy == other.busy
    }
}

pub enum Msg {
    Start,
    Row(u32, Result<Timing, String>),
    Done(u32),
}

/// What one benchmark measured, for `#bench-json`.
#[derive(serde::Serialize)]
struct Report<'a> {
    backend: &'static str,
    model: &'a str,
    rows: &'a [Timing],
}

pub struct Bench {
    rows: Vec<Timing>,
    error: Option<String>,
    running: bool,
    /// The backend and model the rows were measured on.
    measured_on: Option<(&'static str, String)>,
    /// Increases with every start, so rows of an abandoned benchmark are dropped.
    generation: u32,
}

impl Component for Bench {
    type Message = Msg;
    type Properties = Props;

    fn create(_: &Context<Self>) -> Self {
        Bench { rows: Vec::new(), error: None, running: false, measured_on: None, generation: 0 }
    }

    fn changed(&mut self, ctx: &Context<Self>, old: &Self::Properties) -> bool {
        // Another backend or model: a benchmark in flight would time something else.
        let new = ctx.props();
        let same = |p: &Props| (p.device.as_ref().map(|d| d.generation), p.model.as_ref().map(|entry| entry.id.clone()));
        if self.running && same(new) != same(old) {
            self.generation += 1;
            self.running = false;
        }
        true
    }

    fn update(&mut self, ctx: &Context<Self>, msg: Msg) -> bool {
        match msg {
            Msg::Start => {
                let props = ctx.props();
                let (Some(device), Some(entry), Some(worker)) = (props.device.clone(), props.model.clone(), props.worker.clone()) else { return false };
                self.generation += 1;
                self.rows.clear();
                self.error = None;
                self.running = true;
                self.measured_on = Some((device.label, entry.id.clone()));
                let generation = self.generation;
                let link = ctx.link().clone();
                ctx.link().send_future(async move {
                    for setting in 0..page_settings().len() {
                        let result = match worker.ask(device.backend, Job::Bench { entry: entry.clone(), setting }).await {
                            Ok(Answer::Timed { timing }) => Ok(timing),
                            Ok(other) => Err(format!("the engine's worker answered {other:?} to a benchmark")),
                            Err(e) => Err(e),
                        };
                        let failed = result.is_err();
                        link.send_message(Msg::Row(generation, result));
                        if failed {
                            break;
                        }
                    }
                    Msg::Done(generation)
                });
                true
            }
            Msg::Row(generation, result) if generation == self.generation => {
                match result {
                    Ok(row) => self.rows.push(row),
                    Err(e) => self.error = Some(format!("The benchmark failed: {e}")),
                }
                true
            }
            Msg::Done(generation) if generation == self.generation => {
                self.running = false;
                true
            }
            _ => false,
        }
    }

    fn view(&self, ctx: &Context<Self>) -> Html {
        let props = ctx.props();
        let ready = props.device.is_some() && props.model.is_some() && !props.busy;
        let state = if self.running { "running" } else if self.error.is_some() { "failed" } else if self.rows.is_empty() { "idle" } else { "done" };
        let onclick = ctx.link().callback(|_| Msg::Start);
        let (backend, model) = self.measured_on.clone().unwrap_or(("", String::new()));
        let json = serde_json::to_string(&Report { backend, model: &model, rows: &self.rows }).unwrap_or_default();
        html! {
          <details id="bench" class="panel" data-state={state}>
            <summary>{ "Benchmark this device" }</summary>
            <p class="muted">{ format!(
                "Times the a2x defaults at b 4 and b 32 on the loaded model and this backend ({PAGE_SAMPLES} noise images as D̄; one warm-up \
                 iteration, then the mean of {PAGE_TIMED}). `a2x bench` makes the same measurement natively." ) }</p>
            <button id="bench-run" {onclick} disabled={!ready || self.running}>{ if self.running { "Measuring…" } else { "Benchmark" } }</button>
            if !self.rows.is_empty() {
              <table id="bench-table" class="cross">
                <tr><th>{ "setting" }</th><th>{ "gradient" }</th><th>{ "± check" }</th><th>{ "℘" }</th><th>{ "per iteration" }</th></tr>
                { for self.rows.iter().map(|r| html! {
                    <tr><td>{ &r.setting }</td><td>{ format!("{:.0} ms", r.gradient_ms) }</td><td>{ format!("{:.0} ms", r.sign_check_ms) }</td>
                        <td>{ format!("{:.0} ms", r.probability_ms) }</td><td><strong>{ format!("{:.0} ms", r.total_ms) }</strong></td></tr>
                }) }
              </table>
              <p class="muted">{ format!("on {backend}, {model}") }</p>
            }
            if let Some(e) = &self.error { <p class="error" id="bench-error">{ e }</p> }
            <pre id="bench-json" hidden=true>{ json }</pre>
          </details>
        }
    }
}
