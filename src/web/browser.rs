//! Thin async wrappers over the browser APIs the page needs: downloads with progress, Cache
//! Storage, canvases, file downloads, decoding images with the browser's own decoder, timers.
//! Every failure is a sentence for the page, never a panic. Downloads, Cache Storage and timers
//! work in the engine's web worker too (`web/worker.rs`): they go through [`Scope`].

use image::RgbImage;
use js_sys::{Promise, Reflect, Uint8Array};
use wasm_bindgen::{Clamped, JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, BlobPropertyBag, CanvasRenderingContext2d, HtmlCanvasElement, Response};

fn window() -> Result<web_sys::Window, String> {
    web_sys::window().ok_or_else(|| "no window".to_string())
}

/// Where the code runs: the page's window, or a worker (which has fetch, Cache Storage and
/// timers, but no window).
enum Scope {
    Window(web_sys::Window),
    Worker(web_sys::WorkerGlobalScope),
}

fn scope() -> Scope {
    match web_sys::window() {
        Some(window) => Scope::Window(window),
        None => Scope::Worker(js_sys::global().unchecked_into()),
    }
}

impl Scope {
    fn fetch(&self, url: &str) -> Promise {
        match self {
            Scope::Window(w) => w.fetch_with_str(url),
            Scope::Worker(w) => w.fetch_with_str(url),
        }
    }

    fn caches(&self) -> Result<web_sys::CacheStorage, JsValue> {
        match self {
            Scope::Window(w) => w.caches(),
            Scope::Worker(w) => w.caches(),
        }
    }

    fn set_timeout(&self, callback: &js_sys::Function, ms: i32) {
        let _ = match self {
            Scope::Window(w) => w.set_timeout_with_callback_and_timeout_and_arguments_0(callback, ms),
            Scope::Worker(w) => w.set_timeout_with_callback_and_timeout_and_arguments_0(callback, ms),
        };
    }
}

pub(crate) fn js_error(e: JsValue) -> String {
    e.as_string()
        .or_else(|| e.dyn_ref::<js_sys::Error>().map(|e| String::from(e.message())))
        .unwrap_or_else(|| format!("{e:?}"))
}

async fn fetch_response(url: &str) -> Result<Response, String> {
    let response = JsFuture::from(scope().fetch(url))
        .await
        .map_err(|e| format!("{url}: the download failed ({})", js_error(e)))?;
    let response: Response = response.dyn_into().map_err(|_| format!("{url}: not an HTTP response"))?;
    if !response.ok() {
        return Err(format!("{url}: HTTP {} {}", response.status(), response.status_text()));
    }
    Ok(response)
}

/// GETs `url` and returns its body.
pub async fn fetch_bytes(url: &str) -> Result<Vec<u8>, String> {
    let response = fetch_response(url).await?;
    let buffer = response.array_buffer().map_err(|e| format!("{url}: {}", js_error(e)))?;
    let buffer = JsFuture::from(buffer).await.map_err(|e| format!("{url}: the download was interrupted ({})", js_error(e)))?;
    Ok(Uint8Array::new(&buffer).to_vec())
}

/// GETs `url`, calling `progress(received, total)` as the body streams in. `total` is the
/// Content-Length when the server sends one, else `expected` (from the manifest).
pub async fn fetch_with_progress(url: &str, expected: u64, progress: impl Fn(u64, u64)) -> Result<Vec<u8>, String> {
    let response = fetch_response(url).await?;
    let total = response
        .headers()
        .get("content-length")
        .ok()
        .flatten()
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(expected);
    let Some(body) = response.body() else {
        return fetch_bytes(url).await;
    };
    let reader: web_sys::ReadableStreamDefaultReader =
        body.get_reader().dyn_into().map_err(|_| format!("{url}: the browser gave no stream reader"))?;
    let mut bytes = Vec::with_capacity(total as usize);
    progress(0, total);
    loop {
        let chunk = JsFuture::from(reader.read()).await.map_err(|e| format!("{url}: the download was interrupted ({})", js_error(e)))?;
        let done = Reflect::get(&chunk, &"done".into()).map(|v| v.is_truthy()).unwrap_or(true);
        if done {
            break;
        }
        let value = Reflect::get(&chunk, &"value".into()).map_err(js_error)?;
        let value: Uint8Array = value.dyn_into().map_err(|_| format!("{url}: the stream gave something other than bytes"))?;
        bytes.extend(value.to_vec());
        progress(bytes.len() as u64, total.max(bytes.len() as u64));
    }
    Ok(bytes)
}

/// A file the page keeps: from Cache Storage when a usable copy is there (`parse` accepts it —
/// it checks the sha256), else downloaded with `progress`, parsed, and stored for the next visit.
/// A damaged or outdated cached copy is deleted and downloaded again. Returns the parsed value,
/// the file's size and whether it came from the cache.
pub async fn fetch_checked<T>(
    url: &str,
    expected: u64,
    progress: impl Fn(u64, u64),
    parse: impl Fn(&[u8]) -> Result<T, String>,
) -> Result<(T, usize, bool), String> {
    if let Some(bytes) = cached(url).await {
        match parse(&bytes) {
            Ok(value) => return Ok((value, bytes.len(), true)),
            Err(e) => {
                web_sys::console::warn_1(&format!("{url}: the cached copy is not usable ({e}); downloading again").into());
                remove_from_cache(url).await;
            }
        }
    }
    let bytes = fetch_with_progress(url, expected, progress).await?;
    let value = parse(&bytes)?;
    if let Err(e) = store_in_cache(url, &bytes).await {
        web_sys::console::warn_1(&format!("{url}: not kept for the next visit: {e}").into());
    }
    Ok((value, bytes.len(), false))
}

/// The Cache Storage bucket the page keeps model files in (a new name when the format changes).
const CACHE: &str = "a2x-models-v1";

async fn open_cache() -> Result<web_sys::Cache, String> {
    let caches = scope().caches().map_err(|e| format!("Cache Storage is not available ({})", js_error(e)))?;
    let cache = JsFuture::from(caches.open(CACHE)).await.map_err(|e| format!("Cache Storage: {}", js_error(e)))?;
    cache.dyn_into().map_err(|_| "Cache Storage gave no cache".to_string())
}

/// The cached body of `url`, if the page stored one. Errors count as "not cached".
pub async fn cached(url: &str) -> Option<Vec<u8>> {
    let cache = open_cache().await.ok()?;
    let hit = JsFuture::from(cache.match_with_str(url)).await.ok()?;
    let response: Response = hit.dyn_into().ok()?;
    let buffer = JsFuture::from(response.array_buffer().ok()?).await.ok()?;
    Some(Uint8Array::new(&buffer).to_vec())
}

/// Stores `bytes` as the body of `url` (only ever called with a file whose sha256 was checked).
pub async fn store_in_cache(url: &str, bytes: &[u8]) -> Result<(), String> {
    let cache = open_cache().await?;
    let mut copy = bytes.to_vec();
    let response = Response::new_with_opt_u8_array(Some(&mut copy)).map_err(js_error)?;
    JsFuture::from(cache.put_with_str(url, &response)).await.map_err(|e| format!("Cache Storage: {}", js_error(e)))?;
    Ok(())
}

pub async fn remove_from_cache(url: &str) {
    if let Ok(cache) = open_cache().await {
        let _ = JsFuture::from(cache.delete_with_str(url)).await;
    }
}

/// Resolves after `ms` milliseconds (0: at the next turn of the event loop, after the browser
/// has handled input and painted).
pub async fn sleep(ms: i32) {
    let promise = Promise::new(&mut |resolve, _| scope().set_timeout(&resolve, ms));
    let _ = JsFuture::from(promise).await;
}

/// Lets the browser run its queued tasks (input, painting) and resumes right after: a message to
/// ourselves through a `MessageChannel`. Unlike `setTimeout`, such a message is not throttled in a
/// background tab (Chrome aligns chained timers of hidden pages to once a minute), so a run goes on
/// at full speed while the visitor looks at another tab.
pub async fn yield_now() {
    // Through js_sys (MessageChannel is plain JS), so no web-sys feature is needed for it.
    let post = || -> Result<Promise, JsValue> {
        let constructor: js_sys::Function = Reflect::get(&js_sys::global(), &"MessageChannel".into())?.dyn_into()?;
        let channel = Reflect::construct(&constructor, &js_sys::Array::new())?;
        let (receiver, sender) = (Reflect::get(&channel, &"port1".into())?, Reflect::get(&channel, &"port2".into())?);
        let post_message: js_sys::Function = Reflect::get(&sender, &"postMessage".into())?.dyn_into()?;
        let mut failed = None;
        let promise = Promise::new(&mut |resolve, _| {
            if let Err(e) = Reflect::set(&receiver, &"onmessage".into(), &resolve).and_then(|_| post_message.call1(&sender, &JsValue::UNDEFINED)) {
                failed = Some(e);
            }
        });
        failed.map_or(Ok(promise), Err)
    };
    match post() {
        Ok(promise) => {
            let _ = JsFuture::from(promise).await;
        }
        Err(_) => sleep(0).await,
    }
}

/// Draws `image` on `canvas`, resizing the canvas to the image.
pub fn draw_rgb(canvas: &HtmlCanvasElement, image: &RgbImage) -> Result<(), String> {
    put_rgba(canvas, &crate::imaging::Rgba::from_rgb(image))
}

/// Draws `image` on the canvas behind `node`, when both are there (a failure is logged: a picture
/// that is not shown must not stop the page).
pub fn draw_on(node: &yew::NodeRef, image: Option<&RgbImage>) {
    if let (Some(canvas), Some(image)) = (node.cast::<HtmlCanvasElement>(), image) {
        if let Err(e) = draw_rgb(&canvas, image) {
            web_sys::console::warn_1(&e.into());
        }
    }
}

/// As [`draw_on`], but only when the canvas does not show `key` already: the picture is computed
/// and drawn when its key changed or the canvas is a new one (the key is kept on the element as
/// `data-drawn`). A page re-renders on every message (a click on Pause, an event of a run); the
/// per-pixel work of its pictures must not come with each.
pub fn draw_once(node: &yew::NodeRef, key: &str, image: impl FnOnce() -> Option<RgbImage>) {
    put_once(node, key, || image().map(|image| crate::imaging::Rgba::from_rgb(&image)));
}

/// Puts `picture` on the canvas behind `node` unless it shows `key` already: one `putImageData`
/// of bytes drawn elsewhere (the engine's worker draws an explanation's pictures).
pub fn draw_rgba_once(node: &yew::NodeRef, key: &str, picture: &crate::imaging::Rgba) {
    put_once(node, key, || Some(picture));
}

/// Both of the above: `picture` is asked for only when the canvas does not show `key`.
fn put_once<P: std::borrow::Borrow<crate::imaging::Rgba>>(node: &yew::NodeRef, key: &str, picture: impl FnOnce() -> Option<P>) {
    let Some(canvas) = node.cast::<HtmlCanvasElement>() else { return };
    if canvas.get_attribute("data-drawn").as_deref() == Some(key) {
        return;
    }
    if let Some(picture) = picture() {
        match put_rgba(&canvas, picture.borrow()) {
            Ok(()) => {
                let _ = canvas.set_attribute("data-drawn", key);
            }
            Err(e) => web_sys::console::warn_1(&e.into()),
        }
    }
}

fn put_rgba(canvas: &HtmlCanvasElement, picture: &crate::imaging::Rgba) -> Result<(), String> {
    let (w, h) = (picture.width, picture.height);
    if canvas.width() != w || canvas.height() != h {
        canvas.set_width(w);
        canvas.set_height(h);
    }
    let context: CanvasRenderingContext2d = canvas
        .get_context("2d")
        .map_err(js_error)?
        .ok_or("no 2d context")?
        .dyn_into()
        .map_err(|_| "no 2d context")?;
    let data = web_sys::ImageData::new_with_u8_clamped_array_and_sh(Clamped(&picture.bytes), w, h).map_err(js_error)?;
    context.put_image_data(&data, 0.0, 0.0).map_err(js_error)
}

/// A short key of a picture's pixels (for [`draw_once`]): FNV-1a over its bytes, 8 at a time.
pub fn picture_key(image: &RgbImage) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let bytes = image.as_raw();
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        hash = (hash ^ u64::from_le_bytes(word.try_into().expect("8 bytes"))).wrapping_mul(0x0100_0000_01b3);
    }
    for &byte in words.remainder() {
        hash = (hash ^ byte as u64).wrapping_mul(0x0100_0000_01b3);
    }
    format!("{}x{}:{hash:016x}", image.width(), image.height())
}

/// Offers `bytes` to the visitor as a file called `name`.
pub fn download(bytes: &[u8], mime: &str, name: &str) -> Result<(), String> {
    let array = Uint8Array::from(bytes);
    let parts = js_sys::Array::of1(&array);
    let options = BlobPropertyBag::new();
    options.set_type(mime);
    let blob = Blob::new_with_u8_array_sequence_and_options(&parts, &options).map_err(js_error)?;
    let url = web_sys::Url::create_object_url_with_blob(&blob).map_err(js_error)?;
    let document = window()?.document().ok_or("no document")?;
    let anchor: web_sys::HtmlAnchorElement =
        document.create_element("a").map_err(js_error)?.dyn_into().map_err(|_| "no anchor")?;
    anchor.set_href(&url);
    anchor.set_download(name);
    anchor.click();
    let _ = web_sys::Url::revoke_object_url(&url);
    Ok(())
}

/// Largest file the page decodes, in bytes (a photo is a few MB; more is a mistake or an attack).
pub const MAX_FILE_BYTES: f64 = 64e6;

/// Decodes an image file with the browser's own decoder (`createImageBitmap`, which decodes off
/// the main thread and knows every format the browser does) and returns its pixels, scaled down
/// by the browser (also off the main thread) so the shorter side is at most `max_short_side`.
pub async fn decode_blob(blob: &Blob, name: &str, max_short_side: u32) -> Result<RgbImage, String> {
    if blob.size() > MAX_FILE_BYTES {
        return Err(format!("{name}: {:.0} MB is too large for a photo (the limit is {:.0} MB)", blob.size() / 1e6, MAX_FILE_BYTES / 1e6));
    }
    let window = window()?;
    // The header first (issue #23): a photo too large is refused before its pixels are decoded.
    // Formats only the browser knows (AVIF, HEIC…) are checked after decoding, below.
    let header = JsFuture::from(blob.array_buffer()).await.map_err(|e| format!("{name}: {}", js_error(e)))?;
    if let Some((w, h)) = crate::imaging::header_dimensions(&Uint8Array::new(&header).to_vec()) {
        check_photo_size(name, w, h)?;
    }
    let promise = window.create_image_bitmap_with_blob(blob).map_err(js_error)?;
    let mut bitmap: web_sys::ImageBitmap = JsFuture::from(promise)
        .await
        .map_err(|_| format!("{name}: not an image the browser can decode"))?
        .dyn_into()
        .map_err(|_| format!("{name}: not an image"))?;
    let (w, h) = (bitmap.width(), bitmap.height());
    if let Err(e) = check_photo_size(name, w, h) {
        bitmap.close();
        return Err(e);
    }
    let short = w.min(h);
    let (w, h) = if short > max_short_side {
        let scale = max_short_side as f64 / short as f64;
        let (nw, nh) = (((w as f64 * scale).round() as u32).max(1), ((h as f64 * scale).round() as u32).max(1));
        // createImageBitmap(bitmap, { resizeWidth, resizeHeight, resizeQuality }) through js_sys.
        let options = js_sys::Object::new();
        for (key, value) in [("resizeWidth", JsValue::from(nw)), ("resizeHeight", JsValue::from(nh)), ("resizeQuality", "high".into())] {
            Reflect::set(&options, &key.into(), &value).map_err(js_error)?;
        }
        let create: js_sys::Function = Reflect::get(&window, &"createImageBitmap".into()).map_err(js_error)?.dyn_into().map_err(|_| "no createImageBitmap")?;
        let promise: Promise = create.call2(&window, &bitmap, &options).map_err(js_error)?.dyn_into().map_err(|_| "no promise")?;
        let resized: web_sys::ImageBitmap =
            JsFuture::from(promise).await.map_err(|e| format!("{name}: {}", js_error(e)))?.dyn_into().map_err(|_| format!("{name}: not an image"))?;
        bitmap.close();
        bitmap = resized;
        (nw, nh)
    } else {
        (w, h)
    };
    let document = window.document().ok_or("no document")?;
    let canvas: HtmlCanvasElement = document.create_element("canvas").map_err(js_error)?.dyn_into().map_err(|_| "no canvas")?;
    canvas.set_width(w);
    canvas.set_height(h);
    let context: CanvasRenderingContext2d =
        canvas.get_context("2d").map_err(js_error)?.ok_or("no 2d context")?.dyn_into().map_err(|_| "no 2d context")?;
    context.draw_image_with_image_bitmap(&bitmap, 0.0, 0.0).map_err(js_error)?;
    bitmap.close();
    let data = context.get_image_data(0.0, 0.0, w as f64, h as f64).map_err(js_error)?.data();
    let rgb: Vec<u8> = data.chunks_exact(4).flat_map(|p| [p[0], p[1], p[2]]).collect();
    RgbImage::from_raw(w, h, rgb).ok_or_else(|| format!("{name}: unexpected pixel data"))
}

/// A photo's size within what a2x decodes: at most `imaging::MAX_SIDE` on a side, 50 megapixels.
fn check_photo_size(name: &str, w: u32, h: u32) -> Result<(), String> {
    if w == 0 || h == 0 || w > crate::imaging::MAX_SIDE || h > crate::imaging::MAX_SIDE || (w as u64) * (h as u64) > 50_000_000 {
        return Err(format!("{name}: {w}×{h} pixels is not a size a2x accepts (at most {} on a side, 50 megapixels)", crate::imaging::MAX_SIDE));
    }
    Ok(())
}

/// An object URL showing `blob` (for thumbnails); the page revokes it when the image goes.
pub fn object_url(blob: &Blob) -> Option<String> {
    web_sys::Url::create_object_url_with_blob(blob).ok()
}

pub fn revoke_object_url(url: &str) {
    let _ = web_sys::Url::revoke_object_url(url);
}

/// Fetches and decodes a bundled image.
pub async fn fetch_image(url: &str) -> Result<RgbImage, String> {
    let bytes = fetch_bytes(url).await?;
    crate::imaging::decode(&bytes).map(|i| i.to_rgb8()).map_err(|e| format!("{url}: {e}"))
}

/// A random number in [0, 1) from the browser (for "random class"; runs use the seeded RNG).
pub fn random() -> f64 {
    js_sys::Math::random()
}

/// The URL fragment's `&`-separated parts (without `#`): `backend=cpu`, `a2x=1.…`.
pub fn hash_parts() -> Vec<String> {
    let hash = web_sys::window().and_then(|w| w.location().hash().ok()).unwrap_or_default();
    hash.trim_start_matches('#').split('&').filter(|p| !p.is_empty()).map(str::to_string).collect()
}

/// Sets (or with `None` removes) the fragment part that starts with `key=`, keeping the others.
pub fn set_hash_part(key: &str, value: Option<&str>) {
    let prefix = format!("{key}=");
    let mut parts: Vec<String> = hash_parts().into_iter().filter(|p| !p.starts_with(&prefix)).collect();
    if let Some(value) = value {
        parts.push(format!("{prefix}{value}"));
    }
    if let Some(location) = web_sys::window().map(|w| w.location()) {
        let _ = location.set_hash(&parts.join("&"));
    }
}

/// This page's address with `fragment` as its fragment (what a share link is).
pub fn url_with_fragment(fragment: &str) -> String {
    let location = web_sys::window().map(|w| w.location());
    let base = location
        .and_then(|l| Some(format!("{}{}{}", l.origin().ok()?, l.pathname().ok()?, l.search().ok()?)))
        .unwrap_or_default();
    format!("{base}#{fragment}")
}

/// Puts `text` on the clipboard (`navigator.clipboard.writeText`; looked up at run time, so a
/// browser or context without it gets a sentence instead of a crash).
pub async fn copy_text(text: &str) -> Result<(), String> {
    let navigator = JsValue::from(window()?.navigator());
    let clipboard = Reflect::get(&navigator, &"clipboard".into()).map_err(js_error)?;
    if clipboard.is_undefined() || clipboard.is_null() {
        return Err("this browser offers no clipboard here (a secure https:// or localhost page is needed)".into());
    }
    let write: js_sys::Function = Reflect::get(&clipboard, &"writeText".into()).map_err(js_error)?.dyn_into().map_err(|_| "no clipboard.writeText")?;
    let promise: Promise = write.call1(&clipboard, &text.into()).map_err(js_error)?.dyn_into().map_err(|_| "no promise")?;
    JsFuture::from(promise).await.map(|_| ()).map_err(|e| format!("the browser refused the clipboard ({})", js_error(e)))
}

/// Calls `callback` whenever the URL fragment changes (a link pasted into the address bar of an
/// open page); the listener lives as long as the returned closure.
pub fn on_hash_change(callback: impl Fn() + 'static) -> Option<wasm_bindgen::closure::Closure<dyn Fn()>> {
    let closure = wasm_bindgen::closure::Closure::<dyn Fn()>::new(callback);
    web_sys::window()?.add_event_listener_with_callback("hashchange", closure.as_ref().unchecked_ref()).ok()?;
    Some(closure)
}
