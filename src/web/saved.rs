//! What the page keeps across a reload or a closed tab (issue #23 item 3), in IndexedDB: one
//! object store of values by key (the run in progress with its last checkpoint, the visitor's
//! drawings). Values are what structured cloning keeps — strings, plain objects and typed arrays —
//! so a run's pictures are stored as the `Float32Array`s the worker sent, not as text.
//!
//! A browser without IndexedDB (or that refuses it, e.g. some private modes) keeps nothing: each
//! call says so as an error, and the pages go on without it.

use super::browser::js_error;
use js_sys::Promise;
use wasm_bindgen::prelude::*;
use wasm_bindgen::JsCast;
use wasm_bindgen_futures::JsFuture;
use web_sys::{IdbDatabase, IdbKeyRange, IdbRequest, IdbTransactionMode};

const DATABASE: &str = "a2x";
const STORE: &str = "saved";

/// The value a request ends with, or its error as a sentence.
async fn finish(request: &IdbRequest) -> Result<JsValue, String> {
    let promise = Promise::new(&mut |resolve, reject| {
        let done = request.clone();
        let on_success = Closure::once_into_js(move |_: web_sys::Event| {
            let _ = resolve.call1(&JsValue::NULL, &done.result().unwrap_or(JsValue::UNDEFINED));
        });
        let failed = request.clone();
        let on_error = Closure::once_into_js(move |_: web_sys::Event| {
            let error = failed.error().ok().flatten().map(|e| e.message()).unwrap_or_else(|| "unknown error".into());
            let _ = reject.call1(&JsValue::NULL, &JsValue::from_str(&error));
        });
        request.set_onsuccess(Some(on_success.unchecked_ref()));
        request.set_onerror(Some(on_error.unchecked_ref()));
    });
    JsFuture::from(promise).await.map_err(|e| format!("IndexedDB: {}", js_error(e)))
}

async fn open() -> Result<IdbDatabase, String> {
    let factory = web_sys::window()
        .and_then(|w| w.indexed_db().ok().flatten())
        .ok_or("this browser keeps no IndexedDB for the page, so nothing survives a reload")?;
    let request = factory.open_with_u32(DATABASE, 1).map_err(|e| format!("IndexedDB: {}", js_error(e)))?;
    let upgrading = request.clone();
    let on_upgrade = Closure::once_into_js(move |_: web_sys::Event| {
        if let Ok(database) = upgrading.result().and_then(|r| r.dyn_into::<IdbDatabase>().map_err(JsValue::from)) {
            if !database.object_store_names().contains(STORE) {
                let _ = database.create_object_store(STORE);
            }
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.unchecked_ref()));
    let database = finish(&request).await?;
    database.dyn_into().map_err(|_| "IndexedDB gave no database".to_string())
}

async fn store(mode: IdbTransactionMode) -> Result<web_sys::IdbObjectStore, String> {
    let database = open().await?;
    let transaction = database.transaction_with_str_and_mode(STORE, mode).map_err(|e| format!("IndexedDB: {}", js_error(e)))?;
    transaction.object_store(STORE).map_err(|e| format!("IndexedDB: {}", js_error(e)))
}

/// Keeps `value` under `key` (replacing what was there).
pub async fn put(key: &str, value: &JsValue) -> Result<(), String> {
    let request = store(IdbTransactionMode::Readwrite).await?.put_with_key(value, &key.into()).map_err(|e| format!("IndexedDB: {}", js_error(e)))?;
    finish(&request).await.map(|_| ())
}

/// The value kept under `key`, if any.
pub async fn get(key: &str) -> Result<Option<JsValue>, String> {
    let request = store(IdbTransactionMode::Readonly).await?.get(&key.into()).map_err(|e| format!("IndexedDB: {}", js_error(e)))?;
    let value = finish(&request).await?;
    Ok((!value.is_undefined()).then_some(value))
}

pub async fn delete(key: &str) -> Result<(), String> {
    let request = store(IdbTransactionMode::Readwrite).await?.delete(&key.into()).map_err(|e| format!("IndexedDB: {}", js_error(e)))?;
    finish(&request).await.map(|_| ())
}

/// Forgets every value whose key starts with `prefix` (one request: a key range).
pub async fn delete_prefix(prefix: &str) -> Result<(), String> {
    // Every key with the prefix sorts between it and the prefix followed by the last code unit.
    let range = IdbKeyRange::bound(&prefix.into(), &format!("{prefix}\u{ffff}").into()).map_err(|e| format!("IndexedDB: {}", js_error(e)))?;
    let request = store(IdbTransactionMode::Readwrite).await?.delete(&range).map_err(|e| format!("IndexedDB: {}", js_error(e)))?;
    finish(&request).await.map(|_| ())
}
