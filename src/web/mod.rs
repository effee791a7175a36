//! The browser app (wasm only): which backend the page computes on, the explanation page (model,
//! class, seed editor, D̄, settings, a live run, result and exports), the image tasks on the robust
//! CIFAR-10 model (generate, inpaint, sketch — A2X beside PGD), the model zoo classifying a
//! bundled photo, and a proof-of-life computation with autodiff checked against an f64 reference.

mod app;
mod bench;
mod browser;
mod engine_worker;
mod explain;
mod gpu;
mod messages;
mod page;
mod page_view;
mod plot;
mod saved;
mod tasks;
pub mod worker;
mod zoo;

/// Runs the module's static constructors (the `inventory` registrations of burn's compiler,
/// cubecl), once. Each binary's `main` calls it first. Without an explicit call wasm-ld treats a
/// `wasm32-unknown-unknown` binary as a "command" and wraps *every* export with
/// `__wasm_call_ctors`, so every call from JavaScript into the module (each DOM callback of yew's,
/// each table slot wasm-bindgen takes) ran all constructors again: in the debug build a re-render of
/// the explanation page took about 600 ms, nearly all of it there (a CPU profile in headless
/// Chromium, issue #23). Calling it ourselves makes the linker leave the exports alone.
pub fn run_static_constructors() {
    unsafe extern "C" {
        fn __wasm_call_ctors();
    }
    // SAFETY: the linker's own constructor list, called once before anything reads a registry.
    unsafe { __wasm_call_ctors() }
}

/// Mounts the app on `#app` (not the whole body: index.html keeps its own noscript and footer).
pub fn start() {
    console_error_panic_hook::set_once();
    let root = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("app"))
        .expect("index.html has an element with id=\"app\"");
    yew::Renderer::<app::App>::with_root(root).render();
}

/// Milliseconds since the page loaded.
pub(crate) fn now_ms() -> f64 {
    use wasm_bindgen::JsCast;
    let performance = match web_sys::window() {
        Some(window) => window.performance(),
        None => js_sys::global().unchecked_into::<web_sys::WorkerGlobalScope>().performance(),
    };
    performance.map(|p| p.now()).unwrap_or(0.0)
}
