//! The page's side of the engine's web worker (`web/worker.rs`): starting it, sending it a run,
//! hearing the run's events, and passing the visitor's Pause and Cancel on. The page's thread
//! runs no tensor operation of a run; it renders the events as they arrive.
//!
//! After every iteration the worker sends the run's checkpoint. A worker that dies (a panic in the
//! engine, the device lost, out of memory, the browser killing it) is replaced, and the run goes on
//! in the new one from the last checkpoint, losing at most the iteration in hand: out of memory
//! retries with half the chunk, a lost WebGPU device once more on WebGPU and then on the CPU. The
//! page hears what happened as a sentence.

use super::browser::{js_error, yield_now};
use super::messages;
use crate::session::transport::{Answer, Backend, FromWorker, Job, ModelFiles, ToWorker};
use crate::models::Prediction;
use crate::session::{Checkpoint, RunEvent, RunRequest};
use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{ErrorEvent, MessageEvent, Worker};

/// Where trunk puts the worker binary's loader (`index.html`, `data-loader-shim`).
const WORKER_SCRIPT: &str = "./worker_loader.js";

/// What the worker said, in order, and a way to wake whoever waits for it.
#[derive(Default)]
struct Inbox {
    messages: RefCell<VecDeque<Result<FromWorker, String>>>,
    wake: RefCell<Option<js_sys::Function>>,
    /// Set when the worker failed: it answers nothing more.
    dead: Cell<bool>,
    /// The runs cancelled and not yet ended in the worker, each with what it has sent since the
    /// cancel (the iteration in hand, an explanation's top five), until its `Ended` comes.
    cancelled: RefCell<HashMap<u32, Stopped>>,
    /// Told when a cancelled run has really stopped in the worker.
    on_stopped: RefCell<Option<Box<dyn Fn(Stopped)>>>,
    /// The worker listens only once its wasm module has started (it says `Ready`); what the
    /// page sends before waits here, or the browser would hand it to nobody.
    ready: Cell<bool>,
    outbox: RefCell<Vec<(JsValue, js_sys::Array)>>,
    /// The jobs asked and not yet answered, by id: each answer waits here for its asker.
    jobs: RefCell<HashMap<u32, JobSlot>>,
    last_job: Cell<u32>,
}

/// One job's answer once it came, and who to wake then.
#[derive(Default)]
struct JobSlot {
    answer: Option<Result<Answer, String>>,
    wake: Option<js_sys::Function>,
}

impl Inbox {
    /// Keeps what a cancelled run still sends, and tells `on_stopped` when the worker ends it.
    fn note(&self, message: &FromWorker) {
        match message {
            FromWorker::Event { id, event } => {
                if let Some(stopped) = self.cancelled.borrow_mut().get_mut(id) {
                    stopped.late.push(event.clone());
                }
            }
            FromWorker::Stopped { id, top5 } => {
                if let Some(stopped) = self.cancelled.borrow_mut().get_mut(id) {
                    stopped.top5 = Some(top5.clone());
                }
            }
            FromWorker::Ended { id, .. } => {
                let stopped = self.cancelled.borrow_mut().remove(id);
                if let (Some(stopped), Some(tell)) = (stopped, self.on_stopped.borrow().as_ref()) {
                    tell(stopped);
                }
            }
            _ => {}
        }
    }

    /// Hands a job's answer to whoever asked.
    fn answer(&self, job: u32, answer: Result<Answer, String>) {
        let wake = match self.jobs.borrow_mut().get_mut(&job) {
            Some(slot) => {
                slot.answer = Some(answer);
                slot.wake.take()
            }
            None => None,
        };
        if let Some(wake) = wake {
            let _ = wake.call0(&JsValue::NULL);
        }
    }

    /// The worker died: every job waiting gets `why` as its answer.
    fn fail_jobs(&self, why: &str) {
        let waiting: Vec<u32> = self.jobs.borrow().keys().copied().collect();
        for job in waiting {
            self.answer(job, Err(why.to_string()));
        }
    }

    fn push(&self, message: Result<FromWorker, String>) {
        self.messages.borrow_mut().push_back(message);
        if let Some(wake) = self.wake.borrow_mut().take() {
            let _ = wake.call0(&JsValue::NULL);
        }
    }

    /// The next message, as soon as there is one.
    async fn next(&self) -> Result<FromWorker, String> {
        loop {
            if let Some(message) = self.messages.borrow_mut().pop_front() {
                return message;
            }
            let promise = js_sys::Promise::new(&mut |resolve, _| *self.wake.borrow_mut() = Some(resolve));
            let _ = JsFuture::from(promise).await;
        }
    }
}

/// One engine worker, started by a page for its runs.
pub struct EngineWorker {
    worker: Worker,
    inbox: Rc<Inbox>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_error: Closure<dyn FnMut(ErrorEvent)>,
}

impl EngineWorker {
    fn spawn() -> Result<EngineWorker, String> {
        let worker = Worker::new(WORKER_SCRIPT).map_err(|e| format!("the engine's worker did not start ({})", js_error(e)))?;
        let inbox = Rc::new(Inbox::default());
        let (heard, post) = (inbox.clone(), worker.clone());
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let message = messages::from_js::<FromWorker>(&event.data());
            match message {
                Ok(FromWorker::Crashed { message }) => {
                    heard.dead.set(true);
                    let message = format!("the engine's worker crashed: {message}");
                    heard.fail_jobs(&message);
                    heard.push(Err(message))
                }
                Ok(FromWorker::Answer { job, answer }) => heard.answer(job, answer),
                Ok(FromWorker::Ready) => {
                    heard.ready.set(true);
                    for (data, transfer) in heard.outbox.borrow_mut().drain(..) {
                        if let Err(e) = post.post_message_with_transfer(&data, &transfer) {
                            heard.push(Err(format!("the engine's worker could not be reached ({})", js_error(e))));
                        }
                    }
                }
                Ok(message) => {
                    heard.note(&message);
                    heard.push(Ok(message))
                }
                Err(e) => heard.push(Err(e)),
            }
        });
        let failed = inbox.clone();
        let on_error = Closure::<dyn FnMut(ErrorEvent)>::new(move |event: ErrorEvent| {
            event.prevent_default();
            failed.dead.set(true);
            let what = event.message();
            let message = if what.is_empty() { "the engine's worker stopped".to_string() } else { format!("the engine's worker stopped: {what}") };
            failed.fail_jobs(&message);
            failed.push(Err(message));
        });
        worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        worker.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Ok(EngineWorker { worker, inbox, _on_message: on_message, _on_error: on_error })
    }

    /// The page's worker in `slot`, started now if there is none or the last one died.
    fn in_slot(slot: &mut Option<Rc<EngineWorker>>) -> Result<Rc<EngineWorker>, String> {
        if let Some(worker) = slot.as_ref().filter(|w| !w.inbox.dead.get()) {
            return Ok(worker.clone());
        }
        if let Some(old) = slot.take() {
            old.worker.terminate();
        }
        let worker = Rc::new(EngineWorker::spawn()?);
        *slot = Some(worker.clone());
        Ok(worker)
    }

    /// `tell` hears when a cancelled run has stopped in the worker.
    pub fn on_stopped(&self, tell: impl Fn(Stopped) + 'static) {
        *self.inbox.on_stopped.borrow_mut() = Some(Box::new(tell));
    }

    /// Asks the worker for `work` on `backend` and waits for its answer (an error when the
    /// worker dies first).
    pub async fn ask(&self, backend: Backend, work: Job) -> Result<Answer, String> {
        if self.inbox.dead.get() {
            return Err("the engine's worker has stopped; reload the page".into());
        }
        let job = self.inbox.last_job.get() + 1;
        self.inbox.last_job.set(job);
        self.inbox.jobs.borrow_mut().insert(job, JobSlot::default());
        self.send(ToWorker::Job { job, backend, work });
        loop {
            {
                let mut jobs = self.inbox.jobs.borrow_mut();
                if let Some(answer) = jobs.get_mut(&job).and_then(|slot| slot.answer.take()) {
                    jobs.remove(&job);
                    return answer;
                }
            }
            let inbox = &self.inbox;
            let promise = js_sys::Promise::new(&mut |resolve, _| {
                if let Some(slot) = inbox.jobs.borrow_mut().get_mut(&job) {
                    slot.wake = Some(resolve);
                }
            });
            let _ = JsFuture::from(promise).await;
        }
    }

    fn send(&self, message: ToWorker) {
        let (data, transfer) = messages::to_js(message);
        if !self.inbox.ready.get() {
            self.inbox.outbox.borrow_mut().push((data, transfer));
            return;
        }
        if let Err(e) = self.worker.post_message_with_transfer(&data, &transfer) {
            self.inbox.push(Err(format!("the engine's worker could not be reached ({})", js_error(e))));
        }
    }
}

/// A page's engine worker: started on first use, and again when the last one died (a run whose
/// worker died goes on in the slot's next one, so there is never a second). The app's is shared
/// by its diagnostics and the explanation page; the image tasks have their own (a worker runs one
/// run at a time).
#[derive(Clone, Default)]
pub struct WorkerSlot(Rc<RefCell<Option<Rc<EngineWorker>>>>);

impl WorkerSlot {
    pub fn get(&self) -> Result<Rc<EngineWorker>, String> {
        EngineWorker::in_slot(&mut self.0.borrow_mut())
    }
}

impl PartialEq for WorkerSlot {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.0, &other.0)
    }
}

impl Drop for EngineWorker {
    fn drop(&mut self) {
        self.worker.terminate();
    }
}

/// Pause and cancel of one run, as the page's buttons set them; the worker hears of each (the
/// worker that runs it now: a run that survived a crash runs in another one).
pub struct Control {
    /// Where a new worker comes from when the run's dies.
    slot: WorkerSlot,
    worker: RefCell<Rc<EngineWorker>>,
    id: u32,
    paused: Cell<bool>,
    over: Cell<bool>,
}

impl Control {
    /// Run `id`'s control, in the worker of `slot` (started now if need be).
    pub fn new(slot: &WorkerSlot, id: u32) -> Result<Rc<Control>, String> {
        let worker = slot.get()?;
        Ok(Rc::new(Control { slot: slot.clone(), worker: RefCell::new(worker), id, paused: Cell::new(false), over: Cell::new(false) }))
    }

    pub fn pause(&self, pause: bool) {
        if self.over.get() || self.paused.replace(pause) == pause {
            return;
        }
        self.worker.borrow().send(if pause { ToWorker::Pause } else { ToWorker::Resume });
    }

    /// Stops the run now, as far as the page is concerned: the worker stops before its next
    /// event, and what it still sends of this run is dropped.
    pub fn cancel(&self) {
        if self.over.replace(true) {
            return;
        }
        let worker = self.worker.borrow();
        worker.inbox.cancelled.borrow_mut().insert(self.id, Stopped { id: self.id, late: Vec::new(), top5: None });
        worker.send(ToWorker::Cancel);
        worker.inbox.push(Ok(FromWorker::Ended { id: self.id, finished: false }));
    }
}

/// A cancelled run, stopped in the worker.
pub struct Stopped {
    pub id: u32,
    /// The events of the iteration it still finished after the cancel (at most one).
    pub late: Vec<RunEvent>,
    /// An explanation's top five of the seed with p as it stopped (the worker classified it with
    /// the model that computed p).
    pub top5: Option<Result<Vec<Prediction>, String>>,
}

/// What the page hears of a run in the worker.
pub enum Heard {
    /// An event of the session.
    Event(RunEvent),
    /// The run's state after its last iteration (what the page keeps to resume it after a reload).
    Checkpoint(Checkpoint),
    /// The worker died and the run goes on in a new one: what happened, as a sentence.
    Recovering(String),
}

/// How many times one run may lose its worker before it fails.
const RESTARTS: usize = 3;

/// Runs `request` in the worker of `control` (from `resume`, if given) and hands `send` what it
/// hears. Returns false when cancelled before the end. A worker that dies is replaced and the run
/// resumed from its last checkpoint (see the module notes); after [`RESTARTS`] the run fails
/// with a sentence.
pub async fn run_in_worker(
    control: Rc<Control>,
    mut backend: Backend,
    files: ModelFiles,
    mut request: Rc<RunRequest>,
    mut resume: Option<Checkpoint>,
    mut send: impl FnMut(Heard),
) -> bool {
    let id = control.id;
    let mut restarts = 0;
    let mut lost_webgpu = 0;
    // The iterations handed to the page, those the last checkpoint holds, and how many a new
    // worker will send again (from the checkpoint on) before it sends a new one; and whether its
    // `Started` is one the page has had already.
    let (mut forwarded, mut checkpointed, mut skip, mut restarted) = (0usize, 0usize, 0usize, false);
    let mut worker = control.worker.borrow().clone();
    // The request (D̄'s photos: megabytes) is copied for a restart and then into the message in
    // tasks of their own, after the click's: together they held the page's thread for 200 ms in
    // the debug build.
    yield_now().await;
    let first = ToWorker::Run { id, backend, files: files.clone(), request: (*request).clone(), resume: resume.clone() };
    yield_now().await;
    worker.send(first);
    let finished = loop {
        match worker.inbox.next().await {
            Ok(FromWorker::Event { id: from, event }) if from == id => match event {
                RunEvent::Started { .. } if restarted => restarted = false,
                RunEvent::Explained { .. } | RunEvent::TaskStep { .. } if skip > 0 => skip -= 1,
                RunEvent::Explained { .. } | RunEvent::TaskStep { .. } => {
                    forwarded += 1;
                    send(Heard::Event(event));
                }
                event => send(Heard::Event(event)),
            },
            Ok(FromWorker::Checkpoint { id: from, checkpoint }) if from == id => {
                checkpointed = forwarded - skip;
                resume = Some(checkpoint.clone());
                send(Heard::Checkpoint(checkpoint));
            }
            Ok(FromWorker::Ended { id: from, finished }) if from == id => break finished,
            // Another run's late answers, the worker's greeting, its preparations.
            Ok(_) => {}
            Err(message) if !worker.inbox.dead.get() => web_sys::console::error_1(&message.into()),
            Err(message) => {
                if control.over.get() {
                    break false;
                }
                restarts += 1;
                if restarts > RESTARTS {
                    send(Heard::Event(RunEvent::Failed { message: format!("{message} (the engine's worker died {RESTARTS} times in this run; it was not restarted again)") }));
                    break true;
                }
                let lowered = message.to_lowercase();
                let mut change = String::new();
                if lowered.contains("out of memory") || lowered.contains("outofmemory") || lowered.contains("allocation") {
                    let chunk = chunk_of(Rc::make_mut(&mut request));
                    if *chunk > 1 {
                        *chunk /= 2;
                        change = format!(", with half the chunk ({} images per pass)", *chunk);
                    }
                } else if backend == Backend::WebGpu && lowered.contains("lost") {
                    lost_webgpu += 1;
                    if lost_webgpu > 1 {
                        backend = Backend::Flex;
                        change = " on the CPU backend (the GPU device was lost twice)".into();
                    }
                }
                let from = resume.as_ref().map_or("the start".to_string(), |c| format!("iteration {}", c.a2x.iteration));
                send(Heard::Recovering(format!("{message}. A new worker goes on from {from}{change}.")));
                (skip, restarted) = (forwarded - checkpointed, true);
                // The slot's next worker (the page's other work goes to it too).
                let dead = worker;
                dead.worker.terminate();
                worker = match control.slot.get() {
                    Ok(w) => w,
                    Err(e) => {
                        send(Heard::Event(RunEvent::Failed { message: e }));
                        break true;
                    }
                };
                if let Some(tell) = dead.inbox.on_stopped.borrow_mut().take() {
                    *worker.inbox.on_stopped.borrow_mut() = Some(tell);
                }
                *control.worker.borrow_mut() = worker.clone();
                if control.paused.get() {
                    worker.send(ToWorker::Pause);
                }
                worker.send(ToWorker::Run { id, backend, files: files.clone(), request: (*request).clone(), resume: resume.clone() });
            }
        }
    };
    control.over.set(true);
    finished
}

/// The chunk size (images per forward pass) of a request's A2X run.
fn chunk_of(request: &mut RunRequest) -> &mut usize {
    match request {
        RunRequest::Explain(request) => &mut request.config.chunk,
        RunRequest::Task(request) => &mut request.settings.run.chunk,
    }
}
