//! The session between two threads (issue #23): the page sends a [`ToWorker`] and the web worker
//! that owns the engine answers with [`FromWorker`]s. Each message travels as an [`Envelope`]:
//! its small part as JSON, and its big arrays (d̄, D̄'s photos, p, a task's pictures) taken out
//! and carried raw, so that `postMessage` transfers their buffers instead of copying them and
//! neither side spends its time writing or parsing hundreds of thousands of numbers as text.
//!
//! Plain data and native code: the round trip is tested here; the worker (`web/worker.rs`) and the
//! page's side of it (`web/engine_worker.rs`) only move envelopes.

use super::{Checkpoint, ExplainRequest, Outcome, PgdStep, Photo, RunEvent, RunRequest, TaskRequest};
use crate::models::manifest::{GaussiansFile, ModelEntry, TrainedEntry};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// One big array of a message, borrowed so that it can be taken out or put back.
pub enum ArrayMut<'a> {
    Floats(&'a mut Vec<f32>),
    Bytes(&'a mut Vec<u8>),
}

/// A message whose big arrays travel beside its JSON.
pub trait Bulky: Serialize + DeserializeOwned {
    /// Hands `visit` every big array of the message, always in the same order for the same
    /// shape of message (the order [`unpack`] puts them back in).
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut));
}

/// The arrays taken out of a message, in the order [`Bulky::arrays`] lists them.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Arrays {
    pub floats: Vec<Vec<f32>>,
    pub bytes: Vec<Vec<u8>>,
}

/// A message cut in two: JSON with every big array left empty, and the arrays themselves.
#[derive(Clone, Debug, PartialEq)]
pub struct Envelope {
    pub json: String,
    pub arrays: Arrays,
}

/// Takes the big arrays out of `message` and writes the rest as JSON.
pub fn pack<T: Bulky>(mut message: T) -> Envelope {
    let mut arrays = Arrays::default();
    message.arrays(&mut |array| match array {
        ArrayMut::Floats(v) => arrays.floats.push(std::mem::take(v)),
        ArrayMut::Bytes(v) => arrays.bytes.push(std::mem::take(v)),
    });
    let json = serde_json::to_string(&message).expect("a session message is plain data and always serialises");
    Envelope { json, arrays }
}

/// Reads the JSON back and puts the arrays where they came from. A message whose arrays do not
/// match its JSON (another version of the app at the other end, a damaged message) is an error.
pub fn unpack<T: Bulky>(envelope: Envelope) -> Result<T, String> {
    let mut message: T = serde_json::from_str(&envelope.json).map_err(|e| format!("a message between the page and its engine did not read: {e}"))?;
    let (mut floats, mut bytes) = (envelope.arrays.floats.into_iter(), envelope.arrays.bytes.into_iter());
    let mut missing = false;
    message.arrays(&mut |array| match array {
        ArrayMut::Floats(v) => *v = floats.next().unwrap_or_else(|| { missing = true; Vec::new() }),
        ArrayMut::Bytes(v) => *v = bytes.next().unwrap_or_else(|| { missing = true; Vec::new() }),
    });
    if missing || floats.next().is_some() || bytes.next().is_some() {
        return Err("a message between the page and its engine came with the wrong number of arrays".into());
    }
    Ok(message)
}

impl Bulky for Photo {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        visit(ArrayMut::Bytes(&mut self.rgb));
    }
}

impl Bulky for ExplainRequest {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        self.seed.arrays(visit);
        for photo in &mut self.photos {
            photo.arrays(visit);
        }
    }
}

impl Bulky for TaskRequest {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        for array in [&mut self.seed, &mut self.hole].into_iter().flatten() {
            visit(ArrayMut::Floats(array));
        }
        for photo in &mut self.photos {
            photo.arrays(visit);
        }
    }
}

impl Bulky for RunRequest {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        match self {
            RunRequest::Explain(request) => request.arrays(visit),
            RunRequest::Task(request) => request.arrays(visit),
        }
    }
}

impl Bulky for RunEvent {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        match self {
            RunEvent::Started { seed, .. } => visit(ArrayMut::Floats(seed)),
            RunEvent::Explained { perturbation, pictures, .. } => {
                visit(ArrayMut::Floats(perturbation));
                for bytes in pictures.bytes_mut() {
                    visit(ArrayMut::Bytes(bytes));
                }
            }
            RunEvent::TaskStep { a2x, pgd } => {
                if let Some((_, image)) = a2x {
                    visit(ArrayMut::Floats(image));
                }
                if let Some(PgdStep { image, .. }) = pgd {
                    visit(ArrayMut::Floats(image));
                }
            }
            RunEvent::Finished(Outcome::Explanation { perturbation, .. }) => visit(ArrayMut::Floats(perturbation)),
            RunEvent::Finished(Outcome::Task { a2x_image, pgd_image, .. }) => {
                visit(ArrayMut::Floats(a2x_image));
                visit(ArrayMut::Floats(pgd_image));
            }
            RunEvent::Failed { .. } => {}
        }
    }
}

impl Bulky for Checkpoint {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        for array in [&mut self.a2x.perturbation, &mut self.a2x.mean, &mut self.a2x.variance] {
            visit(ArrayMut::Floats(array));
        }
        if let Some(pgd) = &mut self.pgd {
            visit(ArrayMut::Floats(&mut pgd.image));
        }
    }
}

/// The backend the worker computes on (the page's choice: WebGPU, or the CPU).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    WebGpu,
    /// burn's flex, the page's CPU backend.
    Flex,
    /// burn's ndarray, with `#cpu=ndarray` (to measure one CPU backend against the other).
    Ndarray,
}

/// The files a run needs, as the manifest lists them: the worker takes them from Cache Storage
/// (where the page put them when it downloaded them) or downloads them, and checks each sha256.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ModelFiles {
    /// An ImageNet model of the zoo (an explanation).
    ImageNet { entry: ModelEntry },
    /// The image tasks' robust model, the standard model that judges, and the class Gaussians.
    Tasks { robust: TrainedEntry, standard: TrainedEntry, gaussians: GaussiansFile },
    /// An image task on an ImageNet model of the zoo (issue #33), and its judge of another
    /// family (`models::judge_of`).
    ImageNetTask { model: ModelEntry, judge: ModelEntry },
}

/// Work beside the runs, for the pages' panels, each answered once by its id with an [`Answer`]:
/// the page's thread runs no tensor operation, not even to classify a seed (issue #23).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Job {
    /// The backend set up: [`Answer::Backend`] (a WebGPU adapter that burn cannot use fails here).
    Backend,
    /// The diagnostics' proof-of-life gradient, computed twice (cold, then warm): [`Answer::Probed`].
    Probe,
    /// The model loaded from Cache Storage (where the page put it) and warmed up, or kept from
    /// an earlier job: [`Answer::Loaded`].
    Load { entry: ModelEntry },
    /// Each picture's top five by the model: [`Answer::Top5`].
    Top5 { entry: ModelEntry, pictures: Vec<Photo> },
    /// The paper's cross-model check of each picture for class `target`: [`Answer::CrossChecked`].
    CrossCheck { entry: ModelEntry, pictures: Vec<Photo>, target: usize },
    /// One of `bench::page_settings` (by index) timed on the model: [`Answer::Timed`].
    Bench { entry: ModelEntry, setting: usize },
}

/// What a [`Job`] gives.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Answer {
    /// What the GPU adapter reports (`None` on a CPU backend).
    Backend { gpu: Option<crate::device::GpuInfo> },
    Probed { result: crate::probe::ProbeResult, cold_ms: f64, warm_ms: f64 },
    /// Reading and building the model (0 when it was loaded already), and its first forward pass.
    Loaded { load_ms: f64, warmup_ms: f64 },
    Top5 { top5: Vec<Vec<crate::models::Prediction>> },
    CrossChecked { checks: Vec<crate::models::CrossCheck> },
    Timed { timing: crate::bench::Timing },
}

/// What the page asks of its worker.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum ToWorker {
    /// Run `request` on `backend` with the models of `files` (loaded once and kept for the next
    /// run), from its start or going on from `resume` (a checkpoint the worker sent, of the same
    /// request). Run `id` is the page's number for it: every answer carries it.
    Run { id: u32, backend: Backend, files: ModelFiles, request: RunRequest, resume: Option<Checkpoint> },
    /// A [`Job`] on `backend`, answered by [`FromWorker::Answer`] with the same `job`; it goes
    /// on beside a run (each waits for the other only between two steps).
    Job { job: u32, backend: Backend, work: Job },
    /// Hold before the next event, and go on.
    Pause,
    Resume,
    /// Stop before the next event.
    Cancel,
}

/// What the worker tells the page.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum FromWorker {
    /// The worker's module is loaded and listens.
    Ready,
    /// Run `id` is getting its backend or its models ready (what, as a phrase).
    Preparing { id: u32, what: String },
    /// One event of run `id`, as the session handed it out.
    Event { id: u32, event: RunEvent },
    /// Run `id`'s state after its last event: what a new worker goes on from if this one dies.
    Checkpoint { id: u32, checkpoint: Checkpoint },
    /// The worker's engine panicked (the message, as Rust wrote it): the worker is lost.
    Crashed { message: String },
    /// Run `id` is over: to its end (`finished`), or cancelled.
    Ended { id: u32, finished: bool },
    /// Run `id` was cancelled after some iterations: the top five of the seed with p as it
    /// stood, by the model that computed it (before its `Ended`).
    Stopped { id: u32, top5: Result<Vec<crate::models::Prediction>, String> },
    /// Job `job`'s answer, or why there is none.
    Answer { job: u32, answer: Result<Answer, String> },
}

impl Bulky for Job {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        if let Job::Top5 { pictures, .. } | Job::CrossCheck { pictures, .. } = self {
            for picture in pictures {
                picture.arrays(visit);
            }
        }
    }
}

impl Bulky for ToWorker {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        match self {
            ToWorker::Run { request, resume, .. } => {
                request.arrays(visit);
                if let Some(checkpoint) = resume {
                    checkpoint.arrays(visit);
                }
            }
            ToWorker::Job { work, .. } => work.arrays(visit),
            _ => {}
        }
    }
}

impl Bulky for FromWorker {
    fn arrays(&mut self, visit: &mut dyn FnMut(ArrayMut)) {
        match self {
            FromWorker::Event { event, .. } => event.arrays(visit),
            FromWorker::Checkpoint { checkpoint, .. } => checkpoint.arrays(visit),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::tasks::Task;
    use crate::engine::{Event, RunConfig};
    use crate::engine::schedule::RunCheckpoint;
    use crate::session::{Checkpoint, PgdCheckpoint, Verdict, Verdicts};

    fn photo(name: &str, n: usize) -> Photo {
        Photo { name: name.into(), width: n as u32, height: 1, rgb: (0..3 * n).map(|i| (i * 7 % 256) as u8).collect() }
    }

    fn floats(n: usize, scale: f32) -> Vec<f32> {
        (0..n).map(|i| (i as f32 * scale).sin()).collect()
    }

    fn verdicts() -> Verdicts {
        let verdict = Verdict { top1: 7, top1_name: "horse".into(), target_probability: 0.25, target_rank: 3 };
        Verdicts { robust: verdict.clone(), standard: verdict }
    }

    /// Every kind of message comes back equal to what went in, its arrays travel outside the JSON
    /// (which keeps none of their numbers), and a message missing an array or with one too many
    /// is refused.
    #[test]
    fn every_message_round_trips_with_its_arrays_beside_the_json() {
        let explain = RunRequest::Explain(ExplainRequest {
            model: "squeezenet1_1".into(),
            config: RunConfig::default(),
            seed: photo("seed", 50),
            photos: vec![photo("a", 40), photo("b", 30)],
            samples: 16,
        });
        let task = |seed: Option<Vec<f32>>, hole: Option<Vec<f32>>| {
            RunRequest::Task(TaskRequest { task: Task::Inpaint, settings: Task::Inpaint.defaults(), seed, hole, model: None, photos: Vec::new() })
        };
        let event = Event {
            iteration: 3,
            target_probability: 0.5,
            seed_probability: 0.25,
            samples_probability: 0.125,
            rho_plus: 0.5,
            rho_minus: 0.25,
            sign: -1,
            perturbation_norm: 2.5,
            xi: 0.75,
            refined: true,
            gamma_reached: false,
            times: Default::default(),
        };
        let pgd = PgdStep { image: floats(3072, 0.3), target_probability: 0.75 };
        let a2x = RunCheckpoint {
            iteration: 7,
            gamma_reached: true,
            rng: u64::MAX - 3,
            placement_rng: 1 << 60,
            moment_steps: 7,
            perturbation: floats(3072, 1.3),
            mean: floats(3072, 1.7),
            variance: floats(1536, 1.9),
        };
        let checkpoint = Checkpoint { a2x: a2x.clone(), pgd: Some(PgdCheckpoint { steps: 4, image: floats(3072, 2.3) }) };
        let messages = vec![
            ToWorker::Run { id: 1, backend: Backend::Flex, files: ModelFiles::ImageNet { entry: test_entry() }, request: explain.clone(), resume: None },
            ToWorker::Run {
                id: 2,
                backend: Backend::WebGpu,
                files: ModelFiles::ImageNet { entry: test_entry() },
                request: task(Some(floats(3072, 0.1)), Some(floats(1024, 0.2))),
                resume: Some(checkpoint.clone()),
            },
            ToWorker::Run { id: 3, backend: Backend::Ndarray, files: ModelFiles::ImageNet { entry: test_entry() }, request: task(None, None), resume: None },
            ToWorker::Run {
                id: 4,
                backend: Backend::Flex,
                files: ModelFiles::ImageNet { entry: test_entry() },
                request: explain,
                resume: Some(Checkpoint { a2x: a2x.clone(), pgd: None }),
            },
            ToWorker::Pause,
            ToWorker::Cancel,
            ToWorker::Job { job: 7, backend: Backend::Flex, work: Job::Load { entry: test_entry() } },
            ToWorker::Job { job: 8, backend: Backend::WebGpu, work: Job::Top5 { entry: test_entry(), pictures: vec![photo("seed", 50)] } },
            ToWorker::Job {
                job: 9,
                backend: Backend::Flex,
                work: Job::CrossCheck { entry: test_entry(), pictures: vec![photo("p", 40), photo("seed + p", 30)], target: 1 },
            },
            ToWorker::Job { job: 10, backend: Backend::Ndarray, work: Job::Bench { entry: test_entry(), setting: 1 } },
            ToWorker::Job { job: 12, backend: Backend::WebGpu, work: Job::Backend },
            ToWorker::Job { job: 13, backend: Backend::Flex, work: Job::Probe },
        ];
        for message in messages {
            let envelope = pack(message.clone());
            assert!(envelope.json.len() < 4_000, "the JSON holds no array: {} bytes", envelope.json.len());
            assert_eq!(unpack::<ToWorker>(envelope).unwrap(), message);
        }
        let events = vec![
            FromWorker::Ready,
            FromWorker::Preparing { id: 4, what: "loading the model".into() },
            FromWorker::Event { id: 4, event: RunEvent::Started { seed: floats(3072, 0.4), verdicts: Some(verdicts()) } },
            FromWorker::Event {
                id: 4,
                event: RunEvent::Explained {
                    event: event.clone(),
                    perturbation: floats(3072, 0.5),
                    pictures: crate::imaging::ExplanationPictures::draw(&floats(3072, 0.7), &floats(3072, 0.5)),
                },
            },
            FromWorker::Event { id: 4, event: RunEvent::TaskStep { a2x: Some((event.clone(), floats(3072, 0.6))), pgd: Some(pgd.clone()) } },
            FromWorker::Event { id: 4, event: RunEvent::TaskStep { a2x: None, pgd: Some(pgd) } },
            FromWorker::Event { id: 4, event: RunEvent::TaskStep { a2x: Some((event, floats(3072, 0.7))), pgd: None } },
            FromWorker::Event { id: 4, event: RunEvent::Finished(Outcome::Explanation { perturbation: floats(3072, 0.8), top5: vec![] }) },
            FromWorker::Event {
                id: 4,
                event: RunEvent::Finished(Outcome::Task { a2x_image: floats(3072, 0.9), pgd_image: floats(3072, 1.1), a2x: verdicts(), pgd: verdicts() }),
            },
            FromWorker::Event { id: 4, event: RunEvent::Failed { message: "out of memory".into() } },
            FromWorker::Checkpoint { id: 4, checkpoint },
            FromWorker::Checkpoint { id: 4, checkpoint: Checkpoint { a2x, pgd: None } },
            FromWorker::Crashed { message: "panicked at wgpu: device lost".into() },
            FromWorker::Stopped { id: 4, top5: Ok(vec![crate::models::Prediction { class: 1, probability: 0.5, logit: 2.5 }]) },
            FromWorker::Stopped { id: 4, top5: Err("the device was lost".into()) },
            FromWorker::Ended { id: 4, finished: true },
            FromWorker::Answer { job: 7, answer: Ok(Answer::Loaded { load_ms: 12.5, warmup_ms: 250.25 }) },
            FromWorker::Answer {
                job: 8,
                answer: Ok(Answer::Top5 { top5: vec![vec![crate::models::Prediction { class: 3, probability: 0.25, logit: -1.5 }]] }),
            },
            FromWorker::Answer {
                job: 9,
                answer: Ok(Answer::CrossChecked {
                    checks: vec![crate::models::CrossCheck {
                        model: "lite0".into(),
                        rank: 4,
                        probability: 0.125,
                        top1: 9,
                        resized_rank: 2,
                        resized_probability: 0.5,
                    }],
                }),
            },
            FromWorker::Answer {
                job: 10,
                answer: Ok(Answer::Timed {
                    timing: crate::bench::Timing {
                        setting: "a2x defaults, b 4".into(),
                        batch: 4,
                        samples: 32,
                        timed: 2,
                        gradient_ms: 10.5,
                        sign_check_ms: 5.25,
                        probability_ms: 2.5,
                        total_ms: 18.25,
                    },
                }),
            },
            FromWorker::Answer { job: 11, answer: Err("the model is not in this browser's cache".into()) },
            FromWorker::Answer {
                job: 12,
                answer: Ok(Answer::Backend {
                    gpu: Some(crate::device::GpuInfo {
                        name: "SwiftShader".into(),
                        driver: "5.0".into(),
                        backend: "vulkan".into(),
                        max_buffer_size: 1 << 30,
                        max_storage_buffer_binding_size: 1 << 27,
                        max_compute_invocations_per_workgroup: 256,
                        max_compute_workgroup_storage_size: 16384,
                    }),
                }),
            },
            FromWorker::Answer { job: 12, answer: Ok(Answer::Backend { gpu: None }) },
            FromWorker::Answer {
                job: 13,
                answer: Ok(Answer::Probed { result: crate::probe::ProbeResult { output: 0.125, gradient: vec![0.5, -0.25] }, cold_ms: 80.5, warm_ms: 2.25 }),
            },
        ];
        for message in events {
            let envelope = pack(message.clone());
            assert!(envelope.json.len() < 2_000, "the JSON holds no array: {}", envelope.json);
            assert_eq!(unpack::<FromWorker>(envelope).unwrap(), message);
        }
        // Arrays that do not match the JSON.
        let started = FromWorker::Event { id: 5, event: RunEvent::Started { seed: floats(12, 0.1), verdicts: None } };
        let mut short = pack(started.clone());
        short.arrays.floats.clear();
        assert!(unpack::<FromWorker>(short).unwrap_err().contains("wrong number of arrays"));
        let mut long = pack(started);
        long.arrays.floats.push(vec![1.0]);
        assert!(unpack::<FromWorker>(long).unwrap_err().contains("wrong number of arrays"));
        assert!(unpack::<FromWorker>(Envelope { json: "{\"kind\":\"nonsense\"}".into(), arrays: Arrays::default() }).unwrap_err().contains("did not read"));
    }

    fn test_entry() -> ModelEntry {
        let manifest = crate::models::manifest::Manifest::parse(include_str!("../../models/manifest.json")).unwrap();
        manifest.models[0].clone()
    }
}
