//! The engine's web worker (issue #23, the shape of candle's `candle-wasm-examples/yolo`): it owns
//! the backend, the models and the session, and the page only sends it [`ToWorker`]s and renders
//! the [`FromWorker`]s it answers with. So a run never holds the page's thread: on the CPU an
//! iteration takes seconds, and the page stays free to scroll, draw and answer Pause or Cancel.
//!
//! The worker takes the model files from Cache Storage, where the page put them when it downloaded
//! them (or downloads them itself), checks each sha256, and keeps what it loaded for the next run.
//! Between two events of a run it lets its own event loop turn, so a Pause or Cancel from the page
//! is read before the next iteration starts.

use super::browser::{self, sleep, yield_now};
use super::now_ms;
use crate::bench;
use super::messages;
use crate::device::{self, GpuInfo};
use crate::probe;
use crate::engine::gaussian::ClassGaussian;
use crate::engine::Classifier;
use crate::models::resnet::{self, CifarResNet};
use crate::models::{self, ImageNetModel};
use crate::session::transport::{Answer, Backend, FromWorker, Job, ModelFiles, ToWorker};
use crate::session::{Checkpoint, RunEvent, RunRequest, Session, TaskModels};
use burn::tensor::Device;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use web_sys::{DedicatedWorkerGlobalScope, MessageEvent};

/// The image tasks' three files, loaded.
struct TaskFiles {
    robust: CifarResNet,
    standard: CifarResNet,
    gaussians: Vec<ClassGaussian>,
}

/// What the worker keeps between runs.
struct Engine {
    scope: DedicatedWorkerGlobalScope,
    /// The run that may go on (`None` once cancelled): a run whose id is not this one stops
    /// before its next event.
    active: Cell<Option<u32>>,
    paused: Cell<bool>,
    /// One device per backend (WebGPU can be set up only once in a worker), and what a GPU's
    /// adapter reports.
    devices: RefCell<Vec<(Backend, Device, Option<GpuInfo>)>>,
    /// A device is being set up: a second job asking meanwhile waits for it.
    setting_up: Cell<bool>,
    /// The ImageNet models loaded, by backend and sha256: a page's panels use each model of
    /// the zoo (the cross-model check), and a visitor goes back and forth between them.
    imagenet: RefCell<Vec<(Backend, String, Rc<ImageNetModel>)>>,
    /// The image tasks' models, by backend.
    tasks: RefCell<Option<(Backend, Rc<TaskFiles>)>>,
}

/// The worker binary's `main`: listens for the page's messages.
pub fn start() {
    // A panic aborts the module, and an abort inside a promise job may reach the page as nothing
    // at all: the page hears of it from here first, with Rust's message (issue #23).
    std::panic::set_hook(Box::new(|info| {
        console_error_panic_hook::hook(info);
        let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
        let (data, transfer) = messages::to_js(FromWorker::Crashed { message: info.to_string() });
        let _ = scope.post_message_with_transfer(&data, &transfer);
    }));
    let scope: DedicatedWorkerGlobalScope = js_sys::global().unchecked_into();
    let engine = Rc::new(Engine {
        scope: scope.clone(),
        active: Cell::new(None),
        paused: Cell::new(false),
        devices: RefCell::new(Vec::new()),
        setting_up: Cell::new(false),
        imagenet: RefCell::new(Vec::new()),
        tasks: RefCell::new(None),
    });
    let listener = engine.clone();
    let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
        match messages::from_js::<ToWorker>(&event.data()) {
            Ok(message) => listener.clone().hear(message),
            Err(e) => web_sys::console::error_1(&format!("the engine's worker got a message it cannot read: {e}").into()),
        }
    });
    scope.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    // The worker lives as long as its page: the listener is never dropped.
    on_message.forget();
    engine.post(FromWorker::Ready);
}

impl Engine {
    fn post(&self, message: FromWorker) {
        let (data, transfer) = messages::to_js(message);
        if let Err(e) = self.scope.post_message_with_transfer(&data, &transfer) {
            web_sys::console::error_1(&format!("the engine's worker could not answer: {}", browser::js_error(e)).into());
        }
    }

    fn hear(self: Rc<Self>, message: ToWorker) {
        match message {
            ToWorker::Run { id, backend, files, request, resume } => {
                self.active.set(Some(id));
                self.paused.set(false);
                wasm_bindgen_futures::spawn_local(async move {
                    let finished = match self.run(id, backend, files, request, resume).await {
                        Ok(finished) => finished,
                        Err(message) => {
                            self.post(FromWorker::Event { id, event: RunEvent::Failed { message } });
                            true
                        }
                    };
                    self.post(FromWorker::Ended { id, finished });
                });
            }
            ToWorker::Job { job, backend, work } => wasm_bindgen_futures::spawn_local(async move {
                let answer = self.work(backend, work).await;
                self.post(FromWorker::Answer { job, answer });
            }),
            ToWorker::Pause => self.paused.set(true),
            ToWorker::Resume => self.paused.set(false),
            ToWorker::Cancel => self.active.set(None),
        }
    }

    /// One run: the backend and the models (kept from an earlier run when they are the same),
    /// then the session's events to the page, from the start or from `resume`. Ok(false) when
    /// cancelled.
    async fn run(&self, id: u32, backend: Backend, files: ModelFiles, request: RunRequest, resume: Option<Checkpoint>) -> Result<bool, String> {
        self.post(FromWorker::Preparing { id, what: "starting the backend".into() });
        let device = self.device(backend).await?;
        self.post(FromWorker::Preparing { id, what: "loading the model".into() });
        match (request, files) {
            (RunRequest::Explain(request), ModelFiles::ImageNet { entry }) => {
                let (model, _) = self.imagenet_model(backend, &entry, &device).await?;
                let session = Session::explain(request, &*model, &device);
                Ok(self.pump(id, resuming(session, resume)).await)
            }
            (RunRequest::Task(request), ModelFiles::Tasks { robust, standard, gaussians }) => {
                let files = self.task_models(backend, &robust, &standard, &gaussians, &device).await?;
                let models = TaskModels { robust: &files.robust, standard: &files.standard, gaussians: &files.gaussians };
                let session = Session::task(request, models, &device);
                Ok(self.pump(id, resuming(session, resume)).await)
            }
            (RunRequest::Task(request), ModelFiles::ImageNetTask { model, judge }) => {
                let (model, _) = self.imagenet_model(backend, &model, &device).await?;
                self.post(FromWorker::Preparing { id, what: "loading the judge".into() });
                let (judge, _) = self.imagenet_model(backend, &judge, &device).await?;
                // No class Gaussians on ImageNet: D̄ is the request's photos.
                let models = TaskModels { robust: &*model, standard: &*judge, gaussians: &[] };
                let session = Session::task(request, models, &device);
                Ok(self.pump(id, resuming(session, resume)).await)
            }
            _ => Err("the page asked for a run with the files of another kind of run".into()),
        }
    }

    /// Hands the session's events to the page, each iteration's with the run's checkpoint after
    /// it, a turn of the worker's event loop before each (where the page's Pause or Cancel comes
    /// in). False when cancelled before the end.
    async fn pump<C: Classifier>(&self, id: u32, mut session: Session<'_, C>) -> bool {
        loop {
            yield_now().await;
            while self.paused.get() && self.active.get() == Some(id) {
                sleep(50).await;
            }
            if self.active.get() != Some(id) {
                // What the page shows of a cancelled explanation: the seed with p as it stands,
                // classified here rather than on the page's thread.
                if let Some(top5) = session.top5_now().await {
                    self.post(FromWorker::Stopped { id, top5 });
                }
                return false;
            }
            match session.next().await {
                Some(event) => {
                    let iteration = matches!(event, RunEvent::Explained { .. } | RunEvent::TaskStep { .. });
                    self.post(FromWorker::Event { id, event });
                    if iteration {
                        match session.checkpoint().await {
                            Some(Ok(checkpoint)) => self.post(FromWorker::Checkpoint { id, checkpoint }),
                            Some(Err(e)) => web_sys::console::warn_1(&format!("no checkpoint after this iteration: {e}").into()),
                            None => {}
                        }
                    }
                }
                None => return true,
            }
        }
    }

    async fn device(&self, backend: Backend) -> Result<Device, String> {
        Ok(self.backend(backend).await?.0)
    }

    /// The device of `backend` (set up on first use) and what its GPU adapter reports.
    async fn backend(&self, backend: Backend) -> Result<(Device, Option<GpuInfo>), String> {
        // Jobs and runs go on side by side, and WebGPU can be set up only once.
        while self.setting_up.get() {
            sleep(10).await;
        }
        if let Some((_, device, info)) = self.devices.borrow().iter().find(|(b, _, _)| *b == backend) {
            return Ok((device.clone(), info.clone()));
        }
        self.setting_up.set(true);
        let set_up = match backend {
            Backend::WebGpu => {
                device::init_wgpu().await.map(|(device, info)| (device, Some(info))).map_err(|e| format!("the browser offered an adapter, but burn could not use it: {e}"))
            }
            Backend::Flex => Ok((device::flex_device(), None)),
            Backend::Ndarray => Ok((device::cpu_device(), None)),
        };
        self.setting_up.set(false);
        let (device, info) = set_up?;
        self.devices.borrow_mut().push((backend, device.clone(), info.clone()));
        Ok((device, info))
    }

    /// A job's work: the model it names (loaded or kept), then what it asks.
    async fn work(&self, backend: Backend, work: Job) -> Result<Answer, String> {
        let (device, gpu) = self.backend(backend).await?;
        match work {
            Job::Backend => Ok(Answer::Backend { gpu }),
            Job::Probe => {
                let start = now_ms();
                probe::run(&device).await?;
                let cold_ms = now_ms() - start;
                let start = now_ms();
                let result = probe::run(&device).await?;
                Ok(Answer::Probed { result, cold_ms, warm_ms: now_ms() - start })
            }
            Job::Load { entry } => {
                let (_, (load_ms, warmup_ms)) = self.imagenet_model(backend, &entry, &device).await?;
                Ok(Answer::Loaded { load_ms, warmup_ms })
            }
            Job::Top5 { entry, pictures } => {
                let (model, _) = self.imagenet_model(backend, &entry, &device).await?;
                let mut top5 = Vec::new();
                for picture in pictures {
                    let logits = models::logits_of(&*model, &picture.image()?, &device).await.map_err(|e| e.to_string())?;
                    top5.push(models::top_k(&logits, 5));
                }
                Ok(Answer::Top5 { top5 })
            }
            Job::CrossCheck { entry, pictures, target } => {
                let (model, _) = self.imagenet_model(backend, &entry, &device).await?;
                let mut checks = Vec::new();
                for picture in pictures {
                    checks.push(models::cross_check(&*model, &entry.id, &picture.image()?, target, &device).await.map_err(|e| e.to_string())?);
                }
                Ok(Answer::CrossChecked { checks })
            }
            Job::Bench { entry, setting } => {
                let (model, _) = self.imagenet_model(backend, &entry, &device).await?;
                let (name, config) = bench::page_settings().into_iter().nth(setting).ok_or_else(|| format!("the benchmark has no setting {setting}"))?;
                let timing = bench::time_setting(&*model, &device, name, config, bench::PAGE_SAMPLES, bench::PAGE_TIMED, yield_now).await?;
                Ok(Answer::Timed { timing })
            }
        }
    }

    /// The model of `entry` on `backend`, and how long reading it and its warm-up took (both 0
    /// when it was loaded already).
    async fn imagenet_model(&self, backend: Backend, entry: &crate::models::manifest::ModelEntry, device: &Device) -> Result<(Rc<ImageNetModel>, (f64, f64)), String> {
        if let Some((_, _, model)) = self.imagenet.borrow().iter().find(|(b, sha, _)| *b == backend && *sha == entry.sha256) {
            return Ok((model.clone(), (0.0, 0.0)));
        }
        // Models on another backend are let go (the page switched backends).
        self.imagenet.borrow_mut().retain(|(b, _, _)| *b == backend);
        let start = now_ms();
        let (sha, name, load_device) = (entry.sha256.clone(), entry.name.clone(), device.clone());
        let (model, _, _) = browser::fetch_checked(&format!("models/{}", entry.file), entry.file_bytes as u64, |_, _| {}, move |bytes| {
            models::load_imagenet(bytes, Some(&sha), &load_device).map_err(|e| format!("{name}: {e}"))
        })
        .await?;
        let load_ms = now_ms() - start;
        let start = now_ms();
        models::warm_up(&model, device).await?;
        let warmup_ms = now_ms() - start;
        let model = Rc::new(model);
        let mut loaded = self.imagenet.borrow_mut();
        // Two jobs may have loaded it at once: the first one kept is the one used.
        if let Some((_, _, kept)) = loaded.iter().find(|(b, sha, _)| *b == backend && *sha == entry.sha256) {
            return Ok((kept.clone(), (load_ms, warmup_ms)));
        }
        loaded.push((backend, entry.sha256.clone(), model.clone()));
        Ok((model, (load_ms, warmup_ms)))
    }

    async fn task_models(
        &self,
        backend: Backend,
        robust: &crate::models::manifest::TrainedEntry,
        standard: &crate::models::manifest::TrainedEntry,
        gaussians: &crate::models::manifest::GaussiansFile,
        device: &Device,
    ) -> Result<Rc<TaskFiles>, String> {
        if let Some((b, files)) = self.tasks.borrow().as_ref() {
            if *b == backend {
                return Ok(files.clone());
            }
        }
        self.tasks.borrow_mut().take();
        let load = |entry: &crate::models::manifest::TrainedEntry| {
            let (sha, name, device) = (entry.sha256.clone(), entry.name.clone(), device.clone());
            move |bytes: &[u8]| resnet::load(bytes, Some(&sha), &device).map_err(|e| format!("{name}: {e}"))
        };
        let (robust_model, _, _) = browser::fetch_checked(&format!("models/{}", robust.file), robust.file_bytes as u64, |_, _| {}, load(robust)).await?;
        let (standard_model, _, _) = browser::fetch_checked(&format!("models/{}", standard.file), standard.file_bytes as u64, |_, _| {}, load(standard)).await?;
        let sha = gaussians.sha256.clone();
        let (gaussians, _, _) = browser::fetch_checked(&format!("models/{}", gaussians.file), gaussians.file_bytes as u64, |_, _| {}, move |bytes: &[u8]| {
            crate::models::gaussians::read_file(bytes, Some(&sha)).map_err(|e| format!("class Gaussians: {e}"))
        })
        .await?;
        if gaussians.len() != resnet::CLASSES {
            return Err(format!("the Gaussians file holds {} classes, the model {}", gaussians.len(), resnet::CLASSES));
        }
        models::warm_up(&robust_model, device).await?;
        let files = Rc::new(TaskFiles { robust: robust_model, standard: standard_model, gaussians });
        *self.tasks.borrow_mut() = Some((backend, files.clone()));
        Ok(files)
    }
}

fn resuming<C: Classifier>(session: Session<'_, C>, resume: Option<Checkpoint>) -> Session<'_, C> {
    match resume {
        Some(checkpoint) => session.resuming(checkpoint),
        None => session,
    }
}
