//! Asking the browser for WebGPU before burn does, so the page can say *why* it is missing.

use js_sys::{Promise, Reflect};
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

/// What `navigator.gpu.requestAdapter()` says about the adapter (the WebGPU `GPUAdapterInfo`).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct BrowserAdapter {
    pub vendor: String,
    pub architecture: String,
    pub description: String,
    pub is_fallback: bool,
}

fn get(object: &JsValue, key: &str) -> JsValue {
    Reflect::get(object, &JsValue::from_str(key)).unwrap_or(JsValue::UNDEFINED)
}

fn string(object: &JsValue, key: &str) -> String {
    get(object, key).as_string().unwrap_or_default()
}

/// Returns the adapter the browser offers, or the reason there is none, in words for the page.
pub async fn probe_browser_adapter() -> Result<BrowserAdapter, String> {
    let window = web_sys::window().ok_or("no window")?;
    let gpu = get(&window.navigator(), "gpu");
    if gpu.is_undefined() || gpu.is_null() {
        return Err("this browser exposes no WebGPU (navigator.gpu is missing; WebGPU also needs a \
                    secure context: https or http://127.0.0.1)"
            .into());
    }
    let request = get(&gpu, "requestAdapter")
        .dyn_into::<js_sys::Function>()
        .map_err(|_| "navigator.gpu.requestAdapter is not a function")?;
    let promise: Promise = request
        .call0(&gpu)
        .map_err(|e| format!("requestAdapter threw: {e:?}"))?
        .dyn_into()
        .map_err(|_| "requestAdapter did not return a promise")?;
    let adapter = JsFuture::from(promise)
        .await
        .map_err(|e| format!("requestAdapter failed: {e:?}"))?;
    if adapter.is_null() || adapter.is_undefined() {
        return Err("WebGPU is present but offered no adapter (GPU blocked or unsupported; \
                    in Chromium on Linux try --enable-unsafe-webgpu)"
            .into());
    }
    let info = get(&adapter, "info");
    Ok(BrowserAdapter {
        vendor: string(&info, "vendor"),
        architecture: string(&info, "architecture"),
        description: string(&info, "description"),
        is_fallback: get(&info, "isFallbackAdapter").as_bool().unwrap_or(false)
            || get(&adapter, "isFallbackAdapter").as_bool().unwrap_or(false),
    })
}
