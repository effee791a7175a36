//! Share links: round trips, the strict decoder's refusals, fuzzing, and the work a link asks for.

use super::*;
use crate::engine::sampling::Rng;

fn explain_state() -> SharedState {
    let mut config = RunConfig::default();
    config.target = 1;
    config.rng_seed = 7;
    SharedState {
        page: SharedPage::Explain {
            model: "lite0".into(),
            weights: "0123456789abcdef".into(),
            config,
            samples: 64,
            seed: SharedPicture { base: PictureBase::Bundled { id: "coffee".into() }, side: 224, edits: vec![] },
            own_photos: 0,
            photos: PhotoSet::Wide,
        },
        backend: "webgpu".into(),
        auto_run: true,
    }
}

/// A stroke as a hand draws it on a `side` canvas: `moves` pointer moves of up to `step`
/// pixels, at sub-pixel positions, recorded as the page records them.
fn hand_stroke(rng: &mut Rng, side: u32, moves: usize, step: f32) -> Edit {
    let mut at = (rng.unit() as f32 * side as f32, rng.unit() as f32 * side as f32);
    let colour = [rng.below(256) as u8, rng.below(256) as u8, rng.below(256) as u8];
    let mut edit = Edit::stroke_at(colour, 0.5 + rng.unit() as f32 * side as f32 / 16.0, at, side);
    for _ in 0..moves {
        at.0 = (at.0 + (rng.unit() as f32 * 2.0 - 1.0) * step).clamp(0.0, side as f32);
        at.1 = (at.1 + (rng.unit() as f32 * 2.0 - 1.0) * step).clamp(0.0, side as f32);
        edit.extend(at, side);
    }
    edit
}

/// A random but valid state: the property tests' generator.
fn random_state(rng: &mut Rng) -> SharedState {
    if rng.below(2) == 0 {
        let mut state = explain_state();
        if let SharedPage::Explain { config, seed, .. } = &mut state.page {
            config.target = rng.below(1000);
            config.eta = 1.0 + rng.unit() as f32 * 100.0;
            config.rng_seed = rng.below(1 << 30) as u64;
            config.smoothing = if rng.below(2) == 0 { None } else { Some(0.5 + rng.unit() as f32) };
            let mut edits: Vec<Edit> = (0..rng.below(5)).map(|_| { let moves = rng.below(30); hand_stroke(rng, 224, moves, 6.0) }).collect();
            if rng.below(3) == 0 {
                edits.push(Edit::Fill { colour: [1, 2, 3], at: [rng.below(224) as u32, 5] });
            }
            if rng.below(3) == 0 {
                edits.push(Edit::Clear { colour: [255; 3] });
            }
            if rng.below(3) == 0 {
                edits.push(Edit::Resize { side: 260 });
                edits.push(hand_stroke(rng, 260, 10, 4.0));
            }
            *seed = SharedPicture { base: PictureBase::Bundled { id: "chelsea".into() }, side: 224, edits };
        }
        state
    } else {
        let task = [Task::Generate, Task::Inpaint, Task::Sketch][rng.below(3)];
        let mut settings = task.defaults();
        settings.run.target = rng.below(10);
        settings.run.rng_seed = rng.below(1000) as u64;
        let picture = |base: PictureBase, side: u32, edits: Vec<Edit>| Some(SharedPicture { base, side, edits });
        let built_in = |id: &str| PictureBase::BuiltIn { id: id.into() };
        let (seed, hole) = match task {
            Task::Generate => (None, None),
            Task::Inpaint => (
                picture(PictureBase::Bundled { id: "chelsea".into() }, 32, vec![]),
                picture(built_in("central-hole"), 32, (0..1 + rng.below(3)).map(|_| hand_stroke(rng, 32, 5, 2.0)).collect()),
            ),
            Task::Sketch => (picture(built_in("ship-sketch"), 256, (0..1 + rng.below(30)).map(|_| hand_stroke(rng, 256, 20, 5.0)).collect()), None),
        };
        SharedState {
            page: SharedPage::Task { task, model: "cifar-robust".into(), weights: "fedcba9876543210".into(), settings, seed, hole },
            backend: ["webgpu", "cpu"][rng.below(2)].into(),
            auto_run: rng.below(2) == 0,
        }
    }
}

#[test]
fn a_bundled_seed_link_is_short_and_round_trips() {
    let state = explain_state();
    let link = encode(&state);
    assert!(link.starts_with("a2x=1."), "{link}");
    eprintln!("bundled-seed link: {} characters", link.len());
    assert!(link.len() <= 1_500, "{} characters", link.len());
    assert_eq!(decode(&format!("#{link}")).unwrap(), state);
}

#[test]
fn a_sketch_of_30_strokes_fits_in_8000_characters() {
    // 30 strokes of 40 pointer moves each, up to 6 px apart at sub-pixel positions, on the
    // 256 px sketch canvas: a hand drawing.
    let mut rng = Rng::new(3);
    let edits = (0..30).map(|_| hand_stroke(&mut rng, 256, 40, 6.0)).collect();
    let mut settings = Task::Sketch.defaults();
    settings.run.target = 8;
    let state = SharedState {
        page: SharedPage::Task {
            task: Task::Sketch,
            model: "cifar-robust".into(),
            weights: "fedcba9876543210".into(),
            settings,
            seed: Some(SharedPicture { base: PictureBase::BuiltIn { id: "ship-sketch".into() }, side: 256, edits }),
            hole: None,
        },
        backend: "webgpu".into(),
        auto_run: false,
    };
    let link = encode(&state);
    eprintln!("30-stroke sketch link: {} characters", link.len());
    assert!(link.len() <= 8_000, "{} characters", link.len());
    assert_eq!(decode(&link).unwrap(), state);
}

#[test]
fn a_picture_renders_its_edits_in_order() {
    // Independent reference: the same strokes painted directly with drawing::stroke.
    let mut rng = Rng::new(9);
    let edits: Vec<Edit> = (0..5).map(|_| hand_stroke(&mut rng, 64, 12, 3.0)).collect();
    let picture = SharedPicture { base: PictureBase::BuiltIn { id: "x".into() }, side: 64, edits: edits.clone() };
    let blank = RgbImage::from_pixel(64, 64, image::Rgb([255; 3]));
    let mut expected = blank.clone();
    for edit in &edits {
        let Edit::Stroke { colour, radius, .. } = edit else { unreachable!() };
        let points = edit.stroke_points();
        crate::drawing::stroke(&mut expected, points[0], points[0], *radius, *colour);
        for pair in points.windows(2) {
            crate::drawing::stroke(&mut expected, pair[0], pair[1], *radius, *colour);
        }
    }
    assert_eq!(picture.render(blank), expected);
    assert_eq!(picture.name(), "x (edited)");
    let resized = SharedPicture { edits: vec![Edit::Resize { side: 32 }], ..picture };
    assert_eq!(resized.final_side(), 32);
}

#[test]
fn round_trip_property() {
    // encode(decode(encode(s))) == encode(s) for random valid states.
    let mut rng = Rng::new(11);
    for _ in 0..300 {
        let state = random_state(&mut rng);
        state.validate().unwrap();
        let link = encode(&state);
        let back = decode(&link).unwrap_or_else(|e| panic!("{e}: {state:?}"));
        assert_eq!(encode(&back), link);
    }
}

#[test]
fn unknown_versions_tampered_fields_and_garbage_get_named_errors() {
    let link = encode(&explain_state());
    assert_eq!(decode("backend=cpu"), Err(LinkError::NotALink));
    assert!(matches!(decode(&link.replacen("a2x=1.", "a2x=2.", 1)), Err(LinkError::UnknownVersion(v)) if v == "2"));
    assert!(matches!(decode("a2x=1.%%%"), Err(LinkError::Damaged(_))));
    assert!(matches!(decode(&"a2x=1.".repeat(20_000)), Err(LinkError::TooLong(_))));
    // A field renamed, one added, one removed, a value of the wrong kind, a value out of range.
    let json_link = |json: String| format!("a2x=1.{}", base64().encode(miniz_oxide::deflate::compress_to_vec(json.as_bytes(), 6)));
    let json = serde_json::to_string(&explain_state()).unwrap();
    let renamed = decode(&json_link(json.replace("\"eta\"", "\"etta\"")));
    assert!(matches!(&renamed, Err(LinkError::Invalid(m)) if m.contains("etta") || m.contains("eta")), "{renamed:?}");
    let added = decode(&json_link(json.replacen('{', "{\"extra\":1,", 1)));
    assert!(matches!(&added, Err(LinkError::Invalid(m)) if m.contains("unknown field extra")), "{added:?}");
    assert!(matches!(decode(&json_link(json.replace(",\"auto_run\":true", ""))), Err(LinkError::Invalid(_))));
    assert!(matches!(decode(&json_link(json.replace("\"samples\":64", "\"samples\":\"64\""))), Err(LinkError::Invalid(_))));
    let out_of_range = decode(&json_link(json.replace("\"samples\":64", "\"samples\":0")));
    assert!(matches!(&out_of_range, Err(LinkError::Invalid(m)) if m.contains("|D̄|")), "{out_of_range:?}");
    // A float written as an integer (as JavaScript's JSON.stringify writes 80.0) is the same
    // value; a different value of it is not.
    assert!(json.contains("\"eta\":80.0"), "{json}");
    assert_eq!(decode(&json_link(json.replace("\"eta\":80.0", "\"eta\":80"))).unwrap(), explain_state());
    assert!(decode(&json_link(json.replace("\"eta\":80.0", "\"eta\":80.5"))).is_ok());
    assert!(matches!(decode(&json_link(json.replace("\"rng_seed\":7", "\"rng_seed\":7.5"))), Err(LinkError::Invalid(_))));
    // Markup in a name is refused, not shown.
    let markup = decode(&json_link(json.replace("\"coffee\"", "\"<img src=x onerror=alert(1)>\"")));
    // A stroke that wanders off the canvas, a fill outside it, a seed of another task.
    let far = explain_with_edits(vec![Edit::Stroke { colour: [0; 3], radius: 2.0, points: vec![[0, 0], [4 * 600, 0]] }]);
    assert!(matches!(decode(&encode(&far)), Err(LinkError::Invalid(m)) if m.contains("far outside")));
    let fill = explain_with_edits(vec![Edit::Fill { colour: [0; 3], at: [224, 0] }]);
    assert!(matches!(decode(&encode(&fill)), Err(LinkError::Invalid(m)) if m.contains("fill outside")));
    assert!(matches!(&markup, Err(LinkError::Invalid(m)) if !m.contains('<')), "{markup:?}");
    // A decompression bomb stops at MAX_JSON.
    let bomb = format!("a2x=1.{}", base64().encode(miniz_oxide::deflate::compress_to_vec(&vec![b' '; 4 * MAX_JSON], 9)));
    assert!(bomb.len() < MAX_FRAGMENT);
    assert!(matches!(decode(&bomb), Err(LinkError::Damaged(_))));
}

#[test]
fn links_made_before_issue_21_open_as_they_did() {
    // The gallery's twelve links as issue #7 made them (tests/data/gallery-v1-links.json, a
    // copy of static/gallery/links.json before issue #21): each still decodes, writes back to
    // the very same link, and an explanation keeps the first photo set and no transforms or
    // parameterisation — the D̄ and the Algorithm 1 they were made with.
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/gallery-v1-links.json")).unwrap();
    let cards: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert_eq!(cards.len(), 12);
    let mut explanations = 0;
    for card in cards {
        let link = card["link"].as_str().unwrap();
        let state = decode(link).unwrap_or_else(|e| panic!("{}: {e}", card["name"]));
        assert_eq!(encode(&state), link, "{}", card["name"]);
        if let SharedPage::Explain { config, photos, .. } = &state.page {
            explanations += 1;
            assert_eq!(*photos, PhotoSet::First);
            assert!(config.transforms.is_empty() && config.param.is_pixels());
            assert_eq!(*config, RunConfig { target: config.target, rng_seed: config.rng_seed, chunk: config.chunk, ..RunConfig::a2x_v1() });
        }
    }
    assert_eq!(explanations, 6);
}

#[test]
fn a_region_whose_end_wraps_around_is_refused() {
    // `left + width` past usize::MAX (on wasm32, 4294967295 + 1) once passed the check and
    // then panicked while filling the region: it is a named error now.
    for (top, left) in [(0, usize::MAX), (usize::MAX, 0), (0, u32::MAX as usize)] {
        let mut state = explain_state();
        if let SharedPage::Explain { config, .. } = &mut state.page {
            config.region = Some(Region { top, left, height: 1, width: 1 });
        }
        let decoded = decode(&encode(&state));
        assert!(matches!(&decoded, Err(LinkError::Invalid(m)) if m.contains("region")), "{top}, {left}: {decoded:?}");
    }
}

#[test]
fn a_sample_buffer_beyond_the_browsers_memory_is_refused() {
    // |D̄| 3,500 at 224² (the size that made wasm32's allocation fail) is 2.1 GB of samples.
    let with = |samples: usize| {
        let mut state = explain_state();
        if let SharedPage::Explain { samples: s, .. } = &mut state.page {
            *s = samples;
        }
        decode(&encode(&state))
    };
    assert_eq!(sample_bytes(3500, 224), 3500 * 3 * 224 * 224 * 4);
    assert!(matches!(with(3500), Err(LinkError::Invalid(m)) if m.contains("2.1 GB") && m.contains("at most 1783")));
    // The largest that fits: 1 GiB / (3 · 224² · 4 B) = 1,783.4.
    assert!(with(1783).is_ok());
    assert!(with(1784).is_err());
}

#[test]
fn strokes_that_would_take_minutes_to_replay_are_refused() {
    // A brush as large as the 512² canvas over 30,000 points (inside every count and byte cap)
    // tests the whole canvas per segment: 30,000 × 512² ≈ 7.9 · 10⁹ pixel tests.
    let mut state = explain_with_edits(vec![Edit::Stroke { colour: [0, 0, 0], radius: 512.0, points: vec![[0, 0]; 30_000] }]);
    if let SharedPage::Explain { seed, .. } = &mut state.page {
        seed.side = 512;
    }
    let SharedPage::Explain { seed, .. } = &state.page else { unreachable!() };
    assert_eq!(crate::drawing::replay_cost(&seed.edits[0], 512), 30_000 * 512 * 512);
    assert!(matches!(decode(&encode(&state)), Err(LinkError::Invalid(m)) if m.contains("pixel tests")));
    // A hand's strokes are far below the limit and pass.
    let mut rng = Rng::new(3);
    let hand = explain_with_edits((0..20).map(|_| hand_stroke(&mut rng, 224, 200, 3.0)).collect());
    assert!(decode(&encode(&hand)).is_ok());
}

#[test]
fn a_link_runs_by_itself_only_within_the_gallerys_work() {
    // Known values: 100 iterations of b 32 with the batch ± check = 100 · (3 · 32 + 2 · 32).
    let mut config = RunConfig::a2x_v1();
    config.batch = 32;
    config.iterations = 100;
    config.sign_check = crate::engine::SignCheck::Batch;
    assert_eq!(run_work(&config, 256, 224), 16_000);
    config.sign_check = crate::engine::SignCheck::AllSamples;
    assert_eq!(run_work(&config, 256, 224), 100 * (96 + 2 * 257));
    // A 32² image is 1/49 of a 224² one (rounded up).
    assert_eq!(run_work(&config, 256, 32), (100 * (96 + 2 * 257) as u64).div_ceil(49));
    // The defaults on SqueezeNet's 227² and the first defaults on Lite0's 224² both run by
    // themselves: 50 · 160 · 227²/224² = 8,215.7 and 100 · 160.
    assert_eq!(run_work(&RunConfig::default(), 256, 227), 8_216);
    assert_eq!(run_work(&RunConfig::a2x_v1(), 256, 224), 16_000);
    assert!(16_000 <= AUTO_RUN_WORK);
    // Every card of the gallery runs by itself; a link asking for 100,000 iterations asks first.
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("static/gallery/links.json")).unwrap();
    let cards: Vec<serde_json::Value> = serde_json::from_str(&text).unwrap();
    assert!(cards.len() >= 12);
    let mut largest = 0;
    for card in &cards {
        let state = decode(card["link"].as_str().unwrap()).unwrap();
        assert!(state.runs_by_itself(), "{}: work {}", card["name"], state.work());
        largest = largest.max(state.work());
    }
    assert_eq!(largest, GALLERY_LARGEST_WORK);
    let mut state = explain_state();
    if let SharedPage::Explain { config, .. } = &mut state.page {
        config.iterations = 100_000;
    }
    let state = decode(&encode(&state)).unwrap();
    assert!(state.auto_run && !state.runs_by_itself());
}

fn explain_with_edits(edits: Vec<Edit>) -> SharedState {
    let mut state = explain_state();
    if let SharedPage::Explain { seed, .. } = &mut state.page {
        seed.edits = edits;
    }
    state
}

#[test]
fn fuzzed_links_never_panic() {
    // Random bytes, truncations and byte mutations of valid links, for a bounded number of
    // cases (a fixed seed: the same cases on every run).
    let mut rng = Rng::new(5);
    let valid: Vec<String> = (0..20).map(|_| encode(&random_state(&mut rng))).collect();
    let mut decoded = 0;
    for case in 0..6_000 {
        let link = &valid[case % valid.len()];
        let candidate: Vec<u8> = match case % 3 {
            0 => (0..rng.below(400)).map(|_| rng.below(256) as u8).collect(),
            1 => link.as_bytes()[..rng.below(link.len() + 1)].to_vec(),
            _ => {
                let mut bytes = link.as_bytes().to_vec();
                for _ in 0..1 + rng.below(4) {
                    let at = rng.below(bytes.len());
                    bytes[at] = b"ABCxyz019-_.=%"[rng.below(14)];
                }
                bytes
            }
        };
        if let Ok(text) = String::from_utf8(candidate) {
            if let Ok(state) = decode(&text) {
                // Whatever decodes is valid and re-encodes to a link that decodes to itself.
                state.validate().unwrap();
                assert_eq!(decode(&encode(&state)).unwrap(), state);
                decoded += 1;
            }
        }
    }
    // Truncations of the payload and most mutations must fail; a few mutations that only
    // touch the padding-free tail may still decode, and that is fine.
    eprintln!("{decoded} of 6000 fuzzed links decoded");
    assert!(decoded < 1_000, "{decoded} fuzzed links decoded");
}

fn imagenet_task(task: Task, model: &str, seed: Option<SharedPicture>, hole: Option<SharedPicture>) -> SharedState {
    let mut settings = crate::engine::imagenet_tasks::defaults(task);
    settings.run.target = 999;
    SharedState { page: SharedPage::Task { task, model: model.into(), weights: "0123456789abcdef".into(), settings, seed, hole }, backend: "cpu".into(), auto_run: false }
}

fn picture(id: &str, side: u32, edits: Vec<Edit>) -> Option<SharedPicture> {
    Some(SharedPicture { base: PictureBase::BuiltIn { id: id.into() }, side, edits })
}

/// Issue #33: a task link on an ImageNet model round-trips at the model's side, for any of the
/// 1000 classes; pictures made for another model are refused by name.
#[test]
fn an_imagenet_task_link_round_trips_at_its_models_side() {
    let mut rng = Rng::new(5);
    let strokes: Vec<Edit> = (0..3).map(|_| hand_stroke(&mut rng, 227, 10, 3.0)).collect();
    // The page's starting sketch (256²) resized to SqueezeNet's 227, then drawn on.
    let sketch = picture("ship-sketch", 256, [vec![Edit::Resize { side: 227 }], strokes].concat());
    let accepted = [
        imagenet_task(Task::Sketch, "squeezenet", sketch, None),
        imagenet_task(Task::Inpaint, "lite0", Some(SharedPicture { base: PictureBase::Bundled { id: "ladybird".into() }, side: 224, edits: vec![] }), picture("square-hole", 224, vec![])),
        imagenet_task(Task::Generate, "lite2", picture("noise", 260, vec![]), None),
    ];
    for state in accepted {
        assert_eq!(decode(&encode(&state)).unwrap(), state, "{state:?}");
    }
    let refused = |state: SharedState, says: &str| {
        let error = decode(&encode(&state)).unwrap_err().to_string();
        assert!(error.contains(says), "{error} (expected “{says}”)");
    };
    refused(imagenet_task(Task::Sketch, "squeezenet", picture("ship-sketch", 256, vec![]), None), "227×227 on squeezenet");
    refused(imagenet_task(Task::Inpaint, "squeezenet", picture("grey", 227, vec![]), picture("central-hole", 32, vec![])), "the hole is 227×227");
    refused(imagenet_task(Task::Inpaint, "squeezenet", picture("grey", 227, vec![]), None), "needs its hole");
    refused(imagenet_task(Task::Generate, "squeezenet", None, None), "starts from a picture");
    refused(imagenet_task(Task::Generate, "vgg16", picture("grey", 224, vec![]), None), "“vgg16” is not one a2x has");
    // Class 999 is ImageNet's; on the CIFAR-10 model it is out of range.
    let mut cifar = imagenet_task(Task::Generate, CIFAR_TASK_MODEL, None, None);
    if let SharedPage::Task { settings, .. } = &mut cifar.page {
        *settings = Task::Generate.defaults();
        settings.run.target = 999;
    }
    refused(cifar, "target class 999 (there are 10)");
}

/// An ImageNet task's work counts its model's side and PGD's placements. SqueezeNet's default sketch costs less than a default
/// explanation, as `a2x bench --tasks` measured (0.81), so its link may run by itself as the
/// gallery's explanations do.
#[test]
fn an_imagenet_tasks_work_is_priced_at_its_side() {
    let state = imagenet_task(Task::Sketch, "squeezenet", picture("grey", 227, vec![]), None);
    let SharedPage::Task { settings, .. } = &state.page else { unreachable!() };
    let expected = run_work(&settings.run, settings.samples, 227) + in_224_passes(3 * settings.baseline.steps as u64 * 8, 227);
    assert_eq!(state.work(), expected);
    let explanation = run_work(&RunConfig::default(), 256, 227);
    assert!(state.work() < explanation && state.work() * 10 > explanation * 6, "{} against {explanation}", state.work());
    assert!(state.runs_by_itself() == state.auto_run);
}
