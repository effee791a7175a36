//! The browser app (wasm only): which backend the page computes on, the explanation page (model,
//! class, seed editor, D̄, settings, a live run, result and exports), the image tasks on the robust
//! CIFAR-10 model (generate, inpaint, sketch — A2X beside PGD), the model zoo classifying a
//! bundled photo, and a proof-of-life computation with autodiff checked against an f64 reference.

mod app;
mod bench;
mod browser;
mod explain;
mod gpu;
mod page;
mod page_view;
mod plot;
mod tasks;
mod zoo;

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
    web_sys::window().and_then(|w| w.performance()).map(|p| p.now()).unwrap_or(0.0)
}
