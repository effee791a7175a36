//! The session API's own tests: a request in, the expected event sequence out, on the tiny model
//! (issue #22). The references are the engine driven by hand, without the session.

use super::from_link::{self, render_picture};
use super::*;
use crate::bundled::PhotoSet;
use crate::device::cpu_device;
use crate::engine::gaussian::{ClassGaussian, GRAIN};
use crate::engine::sampling::gaussian as normal;
use crate::link::{PictureBase, SharedPage, SharedPicture, SharedState};
use crate::models::tiny::TinyCnn;

fn block<T>(future: impl std::future::Future<Output = T>) -> T {
    pollster::block_on(future)
}

/// A picture of smooth colour ramps (so crops and resizes differ from each other).
fn ramp(width: u32, height: u32, shift: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, y| image::Rgb([((x * 7 + shift) % 256) as u8, ((y * 5 + 2 * shift) % 256) as u8, ((x + y + shift) % 256) as u8]))
}

fn explain_request(size: u32) -> ExplainRequest {
    let config = RunConfig { target: 2, batch: 4, chunk: 4, iterations: 4, refine_every: 2, rng_seed: 11, ..RunConfig::paper() };
    ExplainRequest {
        model: "tiny".into(),
        config,
        seed: Photo::new("seed", &ramp(size, size, 3)),
        photos: vec![Photo::new("a", &ramp(40, 30, 50)), Photo::new("b", &ramp(30, 44, 90))],
        samples: 6,
    }
}

/// Events equal but for their wall times.
fn without_times(mut event: Event) -> Event {
    event.times = Default::default();
    event
}

#[test]
fn an_explanation_request_gives_started_each_iteration_then_finished() {
    let device = cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 5, 7, &device);
    let request = explain_request(size as u32);
    let events = block(Session::explain(request.clone(), &model, &device).run_to_end(|_| {}));

    // The reference: D̄ stretched and Run stepped by hand.
    let photos: Vec<RgbImage> = request.photos.iter().map(|p| p.image().unwrap()).collect();
    let samples = distribution::stretch(&photos, 6, size, 11).unwrap();
    let seed_values = imaging::to_chw(&request.seed.image().unwrap());
    let mut run = Run::new(&model, images(seed_values.clone(), 1, size, &device), images(samples, 6, size, &device), request.config.clone()).unwrap();
    let mut expected = Vec::new();
    while !run.is_finished() {
        let event = block(run.step()).unwrap();
        expected.push((without_times(event), block(read_values(run.perturbation())).unwrap()));
    }
    assert_eq!(expected.len(), 4);

    assert_eq!(events.len(), 1 + 4 + 1, "Started, four iterations, Finished: {events:?}");
    assert_eq!(events[0], RunEvent::Started { seed: seed_values.clone(), verdicts: None });
    for (t, (event, (reference, p))) in events[1..5].iter().zip(&expected).enumerate() {
        let RunEvent::Explained { event, perturbation, pictures } = event else { panic!("iteration {t}: {event:?}") };
        assert_eq!(event.iteration, t + 1);
        assert_eq!(&without_times(event.clone()), reference);
        assert_eq!(perturbation, p);
        // The pictures a page shows are of this p on this d̄ (imaging's tests check the drawing).
        assert_eq!(pictures, &imaging::ExplanationPictures::draw(&seed_values, p));
    }
    let RunEvent::Finished(Outcome::Explanation { perturbation, top5 }) = &events[5] else { panic!("{:?}", events[5]) };
    let p = &expected[3].1;
    assert_eq!(perturbation, p);
    // Top five of Clip(d̄ + p), computed here from the logits of the whole batch.
    let perturbed: Vec<f32> = seed_values.iter().zip(p).map(|(s, p)| (s + p).clamp(0.0, 1.0)).collect();
    let logits = block(models::classify(&model, perturbed, &device)).unwrap().remove(0);
    let mut order: Vec<usize> = (0..5).collect();
    order.sort_by(|&a, &b| logits[b].total_cmp(&logits[a]));
    assert_eq!(top5.iter().map(|p| p.class).collect::<Vec<_>>(), order);
    // Events travel as JSON unchanged (the web worker's messages, issue #23), but for the
    // milliseconds' last digits (serde_json does not round-trip every f64).
    let timeless = |event: &RunEvent| match event.clone() {
        RunEvent::Explained { event, perturbation, pictures } => RunEvent::Explained { event: without_times(event), perturbation, pictures },
        other => other,
    };
    let sent = RunRequest::Explain(request);
    assert_eq!(serde_json::from_str::<RunRequest>(&serde_json::to_string(&sent).unwrap()).unwrap(), sent);
    for event in &events {
        let back = serde_json::from_str::<RunEvent>(&serde_json::to_string(event).unwrap()).unwrap();
        assert!(timeless(&back) == timeless(event), "{event:?} changed on its way through JSON");
    }
}

#[test]
fn a_bad_request_fails_with_a_sentence_and_nothing_after() {
    let device = cpu_device();
    let model = TinyCnn::random(16, 5, 7, &device);
    let mut request = explain_request(12);
    let mut session = Session::explain(request.clone(), &model, &device);
    let Some(RunEvent::Failed { message }) = block(session.next()) else { panic!("a 12² seed for a 16² model must fail") };
    assert!(message.contains("12×12") && message.contains("16×16"), "{message}");
    assert_eq!(block(session.next()), None);
    assert!(session.is_over());

    request = explain_request(16);
    request.photos.clear();
    let events = block(Session::explain(request.clone(), &model, &device).run_to_end(|_| {}));
    assert!(matches!(&events[..], [RunEvent::Failed { message }] if message.contains("no photos")), "{events:?}");
    request = explain_request(16);
    request.config.batch = 9;
    let events = block(Session::explain(request, &model, &device).run_to_end(|_| {}));
    assert!(matches!(&events[..], [RunEvent::Failed { message }] if message.contains("b − 1 = 8")), "{events:?}");
}

/// Ten classes of 8×8 pictures whose 4×4 blocks hold noisy per-class colours.
fn class_gaussians(small: usize) -> Vec<ClassGaussian> {
    let mut rng = Rng::new(3);
    (0..10)
        .map(|class| {
            let count = 200;
            let mut values = Vec::new();
            for _ in 0..count {
                let blocks: Vec<f32> = (0..3 * small * small).map(|i| 0.1 + 0.08 * (class + i / (small * small)) as f32 + 0.05 * normal(&mut rng)).collect();
                values.extend(crate::engine::gaussian::upsample(&blocks, small));
            }
            ClassGaussian::fit(&values, count, small).unwrap()
        })
        .collect()
}

fn task_request(task: Task, size: usize) -> TaskRequest {
    let mut settings = task.defaults();
    settings.run.target = 3;
    settings.run.iterations = 3;
    settings.run.batch = 4;
    settings.run.chunk = 4;
    settings.run.stop_at_gamma = false;
    settings.baseline.steps = 5;
    settings.samples = 8;
    let hole = (task == Task::Inpaint).then(|| tasks::hole_mask(size, 0, 4, 4, 4));
    let seed = (task != Task::Generate).then(|| imaging::to_chw(&ramp(size as u32, size as u32, 9)));
    TaskRequest { task, settings, seed, hole, model: None, photos: Vec::new() }
}

#[test]
fn a_task_request_gives_a2x_beside_pgd_then_both_judged() {
    with_tiny_task_models(|device, size, models| check_task_events(device, size, models));
}

/// The image tasks' models at the tiny scale: two random tiny nets (the robust one and the
/// judge) and ten class Gaussians.
fn with_tiny_task_models(body: impl Fn(&Device, usize, TaskModels<'_, TinyCnn>)) {
    let device = cpu_device();
    let size = 2 * GRAIN;
    let (robust, standard) = (TinyCnn::random(size, 10, 1, &device), TinyCnn::random(size, 10, 2, &device));
    let gaussians = class_gaussians(2);
    body(&device, size, TaskModels { robust: &robust, standard: &standard, gaussians: &gaussians });
}

fn check_task_events(device: &Device, size: usize, models: TaskModels<'_, TinyCnn>) {
    let (robust, standard, gaussians, device) = (models.robust, models.standard, models.gaussians, device.clone());
    for task in [Task::Generate, Task::Inpaint] {
        let request = task_request(task, size);
        let events = block(Session::task(request.clone(), models.clone(), &device).run_to_end(|_| {}));

        // The reference: the engine's own loops, A2X to the end and then PGD (the session steps
        // them in turn; neither reads the other's RNG).
        let settings = &request.settings;
        let seed = match (&request.seed, &request.hole) {
            (Some(image), Some(hole)) => tasks::inpaint_seed(image, hole, settings.inpaint_seed, Some(&gaussians[3])).unwrap(),
            (Some(image), None) => image.clone(),
            (None, _) => gaussians[3].sample(1, &mut Rng::new(settings.run.rng_seed)),
        };
        let samples = tasks::task_samples(&gaussians[3], settings, request.hole.as_deref().map(|h| (seed.as_slice(), h)), &device).unwrap();
        let seed_tensor = images(seed.clone(), 1, size, &device);
        let a2x = block(tasks::run_a2x(robust, seed_tensor.clone(), samples, settings, request.hole.as_deref(), &mut |_| true)).unwrap();
        let a2x_image = block(read_values(a2x.image)).unwrap();
        let pgd_image = block(read_values(tasks::run_pgd(robust, seed_tensor, settings, request.hole.as_deref()).unwrap().image)).unwrap();
        let probability = |model: &TinyCnn, image: &[f32]| {
            let logits = block(models::classify(model, image.to_vec(), &device)).unwrap().remove(0);
            models::probability_of(&logits, 3)
        };

        assert_eq!(events.len(), 1 + 5 + 1, "{task:?}: Started, max(3 iterations, 5 steps), Finished: {events:?}");
        let RunEvent::Started { seed: started, verdicts: Some(verdicts) } = &events[0] else { panic!("{:?}", events[0]) };
        assert_eq!(started, &seed, "{task:?}");
        assert_eq!(verdicts.robust.target_probability, probability(robust, &seed));
        assert_eq!(verdicts.standard.target_probability, probability(standard, &seed));
        for (i, event) in events[1..6].iter().enumerate() {
            let RunEvent::TaskStep { a2x: a2x_step, pgd } = event else { panic!("{event:?}") };
            assert_eq!(a2x_step.is_some(), i < 3, "{task:?} step {i}: A2X takes 3 iterations");
            if let Some((event, _)) = a2x_step {
                assert_eq!(without_times(event.clone()), without_times(a2x.events[i].clone()));
            }
            let pgd = pgd.as_ref().expect("PGD takes 5 steps");
            assert_eq!(pgd.target_probability, probability(robust, &pgd.image));
        }
        let RunEvent::TaskStep { a2x: Some((_, last_a2x)), .. } = &events[3] else { panic!() };
        assert_eq!(last_a2x, &a2x_image);
        let RunEvent::Finished(Outcome::Task { a2x_image: finished_a2x, pgd_image: finished_pgd, a2x: a2x_verdicts, pgd: pgd_verdicts }) = &events[6] else {
            panic!("{:?}", events[6])
        };
        assert_eq!((finished_a2x, finished_pgd), (&a2x_image, &pgd_image), "{task:?}");
        assert_eq!(a2x_verdicts.standard.target_probability, probability(standard, &a2x_image));
        assert_eq!(pgd_verdicts.robust.target_probability, probability(robust, &pgd_image));
        if let Some(hole) = &request.hole {
            // PGD keeps to the hole's penalty, A2X moved the pixels inside the hole.
            let changed_inside = (0..size * size).filter(|&i| hole[i] > 0.5).any(|i| (a2x_image[i] - seed[i]).abs() > 1e-4);
            assert!(changed_inside, "A2X left the hole as it was");
        }
    }
}

#[test]
fn an_empty_hole_or_a_hole_without_inpainting_is_refused() {
    with_tiny_task_models(|device, size, models| {
        let mut request = task_request(Task::Inpaint, size);
        request.hole = Some(vec![0.0; size * size]);
        let events = block(Session::task(request, models.clone(), device).run_to_end(|_| {}));
        assert!(matches!(&events[..], [RunEvent::Failed { message }] if message.contains("mask is empty")), "{events:?}");
        let mut request = task_request(Task::Sketch, size);
        request.hole = Some(vec![1.0; size * size]);
        let events = block(Session::task(request, models, device).run_to_end(|_| {}));
        assert!(matches!(&events[..], [RunEvent::Failed { message }] if message.contains("only inpainting")), "{events:?}");
    });
}

#[test]
fn a_recipe_starts_from_the_bundled_photo_cropped_then_edits() {
    // Independent reference: the crop and the stroke applied by hand.
    let bundled = vec![("coins".to_string(), ramp(90, 70, 1)), ("coffee".to_string(), ramp(80, 80, 2))];
    let edit = crate::drawing::Edit::stroke_at([250, 0, 0], 3.0, (20.0, 30.0), 64);
    let recipe = SharedPicture { base: PictureBase::Bundled { id: "coins".into() }, side: 64, edits: vec![edit] };
    let mut expected = imaging::center_crop(&image::DynamicImage::ImageRgb8(bundled[0].1.clone()), 64);
    crate::drawing::stroke(&mut expected, (20.0, 30.0), (20.0, 30.0), 3.0, [250, 0, 0]);
    assert_eq!(render_picture(&recipe, &bundled, None).unwrap(), expected);
    let supplied = SharedPicture { base: PictureBase::Supplied { name: "mine.jpg".into() }, ..recipe.clone() };
    assert!(render_picture(&supplied, &bundled, None).unwrap_err().contains("mine.jpg"));
    let own = ramp(100, 120, 5);
    let mut expected = imaging::center_crop(&image::DynamicImage::ImageRgb8(own.clone()), 64);
    crate::drawing::stroke(&mut expected, (20.0, 30.0), (20.0, 30.0), 3.0, [250, 0, 0]);
    assert_eq!(render_picture(&supplied, &bundled, Some(&own)).unwrap(), expected);
}

#[test]
fn a_link_becomes_the_request_the_page_would_send() {
    // Every photo of the first set, each a different ramp.
    let bundled: Vec<(String, RgbImage)> = PhotoSet::First.photos().iter().enumerate().map(|(i, (id, _))| (id.to_string(), ramp(96, 80, 10 * i as u32))).collect();
    let seed_id = bundled[1].0.clone();
    let config = RunConfig { target: 340, ..RunConfig::default() };
    let state = SharedState {
        page: SharedPage::Explain {
            model: crate::models::squeezenet::ID.into(),
            weights: "0123456789abcdef".into(),
            config: config.clone(),
            samples: 32,
            seed: SharedPicture { base: PictureBase::Bundled { id: seed_id.clone() }, side: 227, edits: vec![] },
            own_photos: 2,
            photos: PhotoSet::First,
        },
        backend: "webgpu".into(),
        auto_run: true,
    };
    let (request, warnings) = from_link::request(&state, &bundled, None).unwrap();
    let RunRequest::Explain(request) = request else { panic!() };
    assert_eq!((request.config, request.samples, request.model.as_str()), (config, 32, crate::models::squeezenet::ID));
    assert_eq!(request.seed.image().unwrap(), imaging::center_crop(&image::DynamicImage::ImageRgb8(bundled[1].1.clone()), 227));
    // D̄: the first set but the seed, in order.
    let names: Vec<&str> = request.photos.iter().map(|p| p.name.as_str()).collect();
    let expected: Vec<&str> = bundled.iter().map(|(id, _)| id.as_str()).filter(|id| *id != seed_id).collect();
    assert_eq!(names, expected);
    assert_eq!(request.photos[0].image().unwrap(), bundled[0].1);
    assert!(warnings.iter().any(|w| w.contains("2 photos of their own")), "{warnings:?}");
}

fn task_link(task: Task, model: &str, seed: Option<SharedPicture>, hole: Option<SharedPicture>) -> SharedState {
    let mut settings = crate::engine::imagenet_tasks::defaults(task);
    settings.run.target = 510;
    SharedState {
        page: SharedPage::Task { task, model: model.into(), weights: "0123456789abcdef".into(), settings, seed, hole },
        backend: "webgpu".into(),
        auto_run: false,
    }
}

fn built_in(id: &str, side: u32) -> Option<SharedPicture> {
    Some(SharedPicture { base: PictureBase::BuiltIn { id: id.into() }, side, edits: vec![] })
}

/// An ImageNet task's link (issue #33) becomes the request the CLI builds: the pictures at the
/// model's side, the hole as drawn, D̄ the wide set less the photos of the target.
#[test]
fn an_imagenet_task_link_becomes_the_request_the_cli_builds() {
    let bundled: Vec<(String, RgbImage)> = PhotoSet::Wide.photos().iter().enumerate().map(|(i, (id, _))| (id.to_string(), ramp(96, 80, 3 * i as u32))).collect();
    let photo = SharedPicture { base: PictureBase::Bundled { id: bundled[2].0.clone() }, side: 227, edits: vec![] };
    let state = task_link(Task::Inpaint, "squeezenet", Some(photo), built_in(crate::bundled::SQUARE_HOLE, 227));
    let (RunRequest::Task(request), warnings) = from_link::request(&state, &bundled, None).unwrap() else { panic!("a task") };
    assert!(warnings.is_empty());
    assert_eq!(request.model.as_deref(), Some("squeezenet"));
    assert_eq!(request.seed.unwrap(), imaging::to_chw(&imaging::center_crop(&image::DynamicImage::ImageRgb8(bundled[2].1.clone()), 227)));
    // The hole: the central 64×64 square, rows and columns 81 to 144.
    let hole = request.hole.unwrap();
    assert_eq!(hole.iter().filter(|&&f| f == 1.0).count(), 64 * 64);
    assert_eq!((hole[81 * 227 + 81], hole[80 * 227 + 81], hole[144 * 227 + 144], hole[145 * 227 + 144]), (1.0, 0.0, 1.0, 0.0));
    let names: Vec<&str> = request.photos.iter().map(|p| p.name.as_str()).collect();
    let expected: Vec<&str> = PhotoSet::Wide.distribution("", 510).iter().map(|(id, _)| *id).collect();
    assert_eq!(names, expected);
    assert!(names.len() > 30);
    // Generation from the built-in grey.
    let state = task_link(Task::Generate, "lite0", built_in(crate::bundled::GREY, 224), None);
    let (RunRequest::Task(request), _) = from_link::request(&state, &bundled, None).unwrap() else { panic!("a task") };
    assert_eq!(request.seed.unwrap(), vec![128.0 / 255.0; 3 * 224 * 224]);
}

/// A link whose pictures or model do not fit its task is refused with a sentence that says so.
#[test]
fn a_link_whose_task_does_not_match_its_model_is_named() {
    let bundled: Vec<(String, RgbImage)> = PhotoSet::Wide.photos().iter().map(|(id, _)| (id.to_string(), ramp(64, 64, 1))).collect();
    let refused = |state: SharedState| from_link::request(&state, &bundled, None).unwrap_err();
    // A CIFAR-10 sketch (256²) in a SqueezeNet link; a 32² hole with a 227² photo.
    let error = refused(task_link(Task::Sketch, "squeezenet", built_in(crate::bundled::STARTING_SKETCH, 256), None));
    assert!(error.contains("runs on squeezenet at 227×227") && error.contains("256×256"), "{error}");
    let error = refused(task_link(Task::Inpaint, "squeezenet", built_in(crate::bundled::GREY, 227), built_in(crate::bundled::CENTRAL_HOLE, 32)));
    assert!(error.contains("its mask is 32×32"), "{error}");
    // An ImageNet sketch (227²) in a CIFAR-10 link.
    let error = refused(task_link(Task::Sketch, "cifar-robust", built_in(crate::bundled::GREY, 227), None));
    assert!(error.contains("runs on cifar-robust at 32×32") && error.contains("227×227"), "{error}");
    // A model a2x does not have; a mask on a sketch; an explanation on the CIFAR-10 model.
    assert!(refused(task_link(Task::Generate, "vgg16", built_in(crate::bundled::GREY, 224), None)).contains("(“vgg16”)"));
    assert!(refused(task_link(Task::Sketch, "squeezenet", built_in(crate::bundled::GREY, 227), built_in(crate::bundled::SQUARE_HOLE, 227))).contains("only inpainting has one"));
    let explain = SharedState {
        page: SharedPage::Explain {
            model: "cifar-robust".into(),
            weights: "0123456789abcdef".into(),
            config: RunConfig::default(),
            samples: 32,
            seed: built_in(crate::bundled::GREY, 32).unwrap(),
            own_photos: 0,
            photos: PhotoSet::Wide,
        },
        backend: "webgpu".into(),
        auto_run: false,
    };
    assert!(refused(explain).contains("runs the image tasks, not explanations"));
}

/// Takes `before` events of `session` after its `Started`, then its checkpoint, sent through the
/// page–worker transport as the worker sends it.
fn checkpoint_after<C: Classifier>(mut session: Session<'_, C>, before: usize) -> (Vec<RunEvent>, Checkpoint) {
    let events: Vec<RunEvent> = (0..1 + before).map(|_| block(session.next()).unwrap()).collect();
    let checkpoint = block(session.checkpoint()).expect("a run set up has a checkpoint").unwrap();
    let sent = transport::FromWorker::Checkpoint { id: 1, checkpoint };
    let Ok(transport::FromWorker::Checkpoint { checkpoint, .. }) = transport::unpack(transport::pack(sent)) else { panic!("the checkpoint did not travel") };
    (events, checkpoint)
}

/// An event without its wall times.
fn untimed(event: &RunEvent) -> RunEvent {
    match event.clone() {
        RunEvent::Explained { event, perturbation, pictures } => RunEvent::Explained { event: without_times(event), perturbation, pictures },
        RunEvent::TaskStep { a2x, pgd } => RunEvent::TaskStep { a2x: a2x.map(|(e, image)| (without_times(e), image)), pgd },
        other => other,
    }
}

/// The same events, wall times aside (said briefly: the events hold whole pictures).
fn assert_same(a: &[RunEvent], b: &[RunEvent], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: {} events against {}", a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(untimed(x) == untimed(y), "{what}: event {i} differs");
    }
}

/// Every event of `resumed` after its `Started` equals the uninterrupted run's from `from` on
/// (wall times aside): the same ℘, ±, ‖p‖ and the same p to the last bit.
fn same_events_from(all: &[RunEvent], resumed: &[RunEvent], from: usize) {
    assert_same(&resumed[..1], &all[..1], "the resumed session starts from the same d̄");
    assert_same(&resumed[1..], &all[from..], "the resumed session hands out the events after the checkpoint");
}

/// Issue #23: a session resumed from a checkpoint (the worker died, the page reloaded) goes on
/// exactly as the uninterrupted one — on the paper's settings and on a2x's defaults (random
/// placements from their own stream, the natural-spectrum basis for the moments, refinements).
#[test]
fn a_resumed_explanation_goes_on_exactly_as_the_uninterrupted_one() {
    let device = cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 5, 7, &device);
    for config in [explain_request(16).config, RunConfig { target: 2, batch: 4, chunk: 4, iterations: 5, refine_every: 2, rng_seed: 11, ..RunConfig::default() }] {
        let request = ExplainRequest { config, ..explain_request(size as u32) };
        let all = block(Session::explain(request.clone(), &model, &device).run_to_end(|_| {}));
        for before in [1, 3] {
            let (first, checkpoint) = checkpoint_after(Session::explain(request.clone(), &model, &device), before);
            assert_same(&first, &all[..1 + before], "the interrupted session's events so far");
            assert_eq!(checkpoint.a2x.iteration, before);
            let resumed = block(Session::explain(request.clone(), &model, &device).resuming(checkpoint).run_to_end(|_| {}));
            same_events_from(&all, &resumed, 1 + before);
        }
    }
    // A checkpoint of another model's shape is refused with a sentence, not applied.
    let (_, mut checkpoint) = checkpoint_after(Session::explain(explain_request(16), &model, &device), 1);
    checkpoint.a2x.perturbation.pop();
    let events = block(Session::explain(explain_request(16), &model, &device).resuming(checkpoint).run_to_end(|_| {}));
    assert!(matches!(&events[..], [RunEvent::Failed { message }] if message.contains("checkpoint")), "{events:?}");
}

/// The same for an image task, A2X beside PGD: resumed while both step, and after A2X finished
/// while PGD goes on.
#[test]
fn a_resumed_task_goes_on_exactly_as_the_uninterrupted_one() {
    with_tiny_task_models(|device, size, models| {
        for task in [Task::Generate, Task::Inpaint] {
            let request = task_request(task, size);
            let all = block(Session::task(request.clone(), models.clone(), device).run_to_end(|_| {}));
            for before in [2, 4] {
                let (_, checkpoint) = checkpoint_after(Session::task(request.clone(), models.clone(), device), before);
                assert_eq!((checkpoint.a2x.iteration, checkpoint.pgd.as_ref().map(|p| p.steps)), (before.min(3), Some(before)), "{task:?}");
                let resumed = block(Session::task(request.clone(), models.clone(), device).resuming(checkpoint).run_to_end(|_| {}));
                same_events_from(&all, &resumed, 1 + before);
            }
        }
    });
}

/// An ImageNet-style task request (issue #33) on a tiny model: the seed as given, D̄ from photos.
fn photo_task_request(task: Task, size: usize) -> TaskRequest {
    let mut settings = crate::engine::imagenet_tasks::defaults(task);
    settings.run.target = 3;
    settings.run.iterations = 3;
    settings.run.batch = 4;
    settings.run.chunk = 4;
    settings.baseline.steps = 4;
    settings.samples = 6;
    let hole = (task == Task::Inpaint).then(|| tasks::hole_mask(size, 2, 3, 5, 6));
    TaskRequest {
        task,
        settings,
        seed: Some(imaging::to_chw(&ramp(size as u32, size as u32, 9))),
        hole,
        model: Some("tiny".into()),
        photos: vec![Photo::new("a", &ramp(40, 30, 50)), Photo::new("b", &ramp(30, 44, 90))],
    }
}

/// An ImageNet task's events against the engine driven by hand: D̄ stretched from the photos as
/// an explanation's, the seed as given (inpainting's hole filled by diffusion), A2X with the
/// task's settings and PGD with A2X's transforms and basis.
#[test]
fn an_imagenet_task_runs_a2x_beside_the_fair_baseline_from_the_given_seed() {
    let device = cpu_device();
    let size = 16;
    let (model, judge) = (TinyCnn::random(size, 10, 1, &device), TinyCnn::random(size, 10, 2, &device));
    let models = TaskModels { robust: &model, standard: &judge, gaussians: &[] };
    for task in [Task::Sketch, Task::Inpaint, Task::Generate] {
        let request = photo_task_request(task, size);
        let events = block(Session::task(request.clone(), models.clone(), &device).run_to_end(|_| {}));
        let settings = &request.settings;
        let seed = match &request.hole {
            Some(hole) => crate::engine::imagenet_tasks::diffusion_fill(request.seed.as_ref().unwrap(), hole, size),
            None => request.seed.clone().unwrap(),
        };
        let photos: Vec<RgbImage> = request.photos.iter().map(|p| p.image().unwrap()).collect();
        let samples = images(distribution::stretch(&photos, 6, size, settings.run.rng_seed).unwrap(), 6, size, &device);
        let seed_tensor = images(seed.clone(), 1, size, &device);
        let a2x = block(tasks::run_a2x(&model, seed_tensor.clone(), samples, settings, request.hole.as_deref(), &mut |_| true)).unwrap();
        let pgd = block(read_values(tasks::run_pgd(&model, seed_tensor, settings, request.hole.as_deref()).unwrap().image)).unwrap();

        assert_eq!(events.len(), 1 + 4 + 1, "{task:?}: {events:?}");
        let RunEvent::Started { seed: started, verdicts: Some(verdicts) } = &events[0] else { panic!("{:?}", events[0]) };
        assert_eq!(started, &seed, "{task:?}");
        assert!(verdicts.standard.target_rank >= 1 && verdicts.standard.target_rank <= 10);
        for (i, event) in events[1..4].iter().enumerate() {
            let RunEvent::TaskStep { a2x: Some((event, _)), .. } = event else { panic!("{event:?}") };
            assert_eq!(without_times(event.clone()), without_times(a2x.events[i].clone()), "{task:?} iteration {i}");
        }
        let RunEvent::Finished(Outcome::Task { a2x_image, pgd_image, .. }) = &events[5] else { panic!("{:?}", events[5]) };
        assert_eq!(a2x_image, &block(read_values(a2x.image.clone())).unwrap(), "{task:?}");
        assert_eq!(pgd_image, &pgd, "{task:?}");
        if let Some(hole) = &request.hole {
            // The step is confined to the hole, in the Fourier basis too: outside it both
            // pictures are the seed.
            let pixels = size * size;
            for i in 0..3 * pixels {
                if hole[i % pixels] < 0.5 {
                    assert_eq!(a2x_image[i], seed[i], "A2X changed value {i} outside the hole");
                    assert_eq!(pgd_image[i], seed[i], "PGD changed value {i} outside the hole");
                }
            }
        }
    }
}

/// Every way an ImageNet task's inputs can be wrong is a sentence, and nothing runs.
#[test]
fn imagenet_task_inputs_that_cannot_run_are_named() {
    let device = cpu_device();
    let size = 16;
    let model = TinyCnn::random(size, 10, 1, &device);
    let models = TaskModels { robust: &model, standard: &model, gaussians: &[] };
    let failure = |request: TaskRequest| match block(Session::task(request, models.clone(), &device).next()) {
        Some(RunEvent::Failed { message }) => message,
        other => panic!("expected a failure, got {other:?}"),
    };
    let mut empty = photo_task_request(Task::Inpaint, size);
    empty.hole = Some(vec![0.0; size * size]);
    assert!(failure(empty).contains("mask is empty"));
    let mut whole = photo_task_request(Task::Inpaint, size);
    whole.hole = Some(vec![1.0; size * size]);
    assert!(failure(whole).contains("whole picture"));
    let mut flat = photo_task_request(Task::Sketch, size);
    flat.seed = Some(vec![1.0; 3 * size * size]);
    assert!(failure(flat).contains("one flat colour"));
    let mut beyond = photo_task_request(Task::Generate, size);
    beyond.settings.run.target = 10;
    assert!(failure(beyond).contains("not one of tiny's 10 classes"));
    let mut small = photo_task_request(Task::Generate, size);
    small.seed = Some(vec![0.5; 3 * 8 * 8]);
    assert!(failure(small).contains("takes 3×16×16"));
    let mut no_photos = photo_task_request(Task::Generate, size);
    no_photos.photos.clear();
    assert!(failure(no_photos).contains("no photos"));
}
