//! The maas prediction API inside a WebAssembly module, for the edge worker: the host
//! (`worker.mjs`) hands over the model (manifest and bytes, read from R2 through the store's
//! layout) and each HTTP request; the library's router answers, exactly as in the Lambda
//! function. A C ABI rather than wasm-bindgen: the module imports two functions (the host's
//! clock and random bytes) and exports eight, so the Worker needs only wrangler to build and
//! run (no wasm-bindgen, worker-build or wasm-opt to install).

#![deny(unsafe_op_in_unsafe_fn)]

use std::cell::RefCell;
use std::future::Future;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use axum::body::{Body, Bytes};
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
use maas::clock::Instant;
use maas::server::router;
use maas::server::state::{ModelHandle, ServedModel, ServerConfig};
use serde_json::{json, Value};
use tower::ServiceExt;

// Every pointer and length crosses the boundary packed as (pointer << 32 | length) in one u64
// (`give`): lossless only where both are 32 bits, as on wasm32.
const _: () = assert!(
    usize::BITS == 32,
    "the edge module's C ABI packs 32-bit pointers and lengths"
);

#[link(wasm_import_module = "maas")]
extern "C" {
    /// Fills `len` bytes at `ptr` with random bytes (the host's `crypto.getRandomValues`).
    fn maas_random(ptr: *mut u8, len: usize);
}

/// getrandom's custom backend (see `.cargo/config.toml`): tract seeds a generator with it.
///
/// # Safety
/// `dest` points at `len` writable bytes, as getrandom promises.
#[no_mangle]
unsafe extern "Rust" fn __getrandom_v03_custom(
    dest: *mut u8,
    len: usize,
) -> Result<(), getrandom::Error> {
    // SAFETY: the host writes exactly `len` bytes at `dest`, which getrandom made writable
    unsafe { maas_random(dest, len) };
    Ok(())
}

thread_local! {
    static CONFIG: RefCell<ServerConfig> = RefCell::new(ServerConfig::default());
    static APP: RefCell<Option<(Router, Arc<ModelHandle>)>> = const { RefCell::new(None) };
    static LAST_ERROR: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Polls a future that never waits (the router's, with inference inline) to its end.
fn finish<F: Future>(future: F) -> Option<F::Output> {
    let mut future = std::pin::pin!(future);
    let mut context = Context::from_waker(Waker::noop());
    match future.as_mut().poll(&mut context) {
        Poll::Ready(output) => Some(output),
        Poll::Pending => None,
    }
}

/// Memory for the host to write into (exactly `len` bytes); freed with [`maas_free`] unless a
/// function below takes it.
#[no_mangle]
pub extern "C" fn maas_alloc(len: usize) -> *mut u8 {
    Box::into_raw(vec![0u8; len].into_boxed_slice()).cast()
}

/// # Safety
/// `ptr` and `len` come from [`maas_alloc`] or an answer of this module, not yet freed or taken.
#[no_mangle]
pub unsafe extern "C" fn maas_free(ptr: *mut u8, len: usize) {
    // SAFETY: the caller's contract is `owned`'s
    drop(unsafe { owned(ptr, len) });
}

/// Takes back a buffer from [`maas_alloc`]: the bytes the host wrote, without a copy.
///
/// # Safety
/// As for [`maas_free`].
unsafe fn owned(ptr: *mut u8, len: usize) -> Vec<u8> {
    // SAFETY: `ptr` and `len` are a boxed slice's from `maas_alloc` or `give`, not yet freed:
    // rebuilding the box takes its ownership back exactly once
    Vec::from(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(ptr, len)) })
}

/// Hands bytes to the host as (pointer << 32 | length).
fn give(bytes: Vec<u8>) -> u64 {
    let mut bytes = bytes.into_boxed_slice();
    let (ptr, len) = (bytes.as_mut_ptr(), bytes.len());
    std::mem::forget(bytes);
    ((ptr as u64) << 32) | len as u64
}

fn remember_error(message: String) {
    LAST_ERROR.with(|l| *l.borrow_mut() = message.into_bytes());
}

/// # Safety
/// `ptr` and `len` describe bytes the host wrote into memory from [`maas_alloc`].
unsafe fn text(ptr: *const u8, len: usize) -> String {
    // SAFETY: the host wrote `len` initialised bytes at `ptr`, which it keeps alive for the call
    String::from_utf8_lossy(unsafe { std::slice::from_raw_parts(ptr, len) }).into_owned()
}

/// Sets the server's limits from the Worker's variables (a JSON object of strings, the same
/// `MAAS_*` names as the Lambda function's environment). Call before the first load. 0 on
/// success; otherwise the reason is in [`maas_last_error`].
///
/// # Safety
/// The JSON was written by the host into memory from [`maas_alloc`].
#[no_mangle]
pub unsafe extern "C" fn maas_configure(ptr: *const u8, len: usize) -> u32 {
    // SAFETY: the host wrote `len` initialised bytes at `ptr`, which it keeps alive for the call
    let vars: Value =
        serde_json::from_slice(unsafe { std::slice::from_raw_parts(ptr, len) }).unwrap_or_default();
    match ServerConfig::from_lookup(|name| vars[name].as_str().map(str::to_string)) {
        Ok(config) => {
            CONFIG.with(|c| *c.borrow_mut() = config);
            0
        }
        Err(e) => {
            remember_error(e.to_string());
            1
        }
    }
}

/// The largest request body the router takes (`MAAS_MAX_BODY_BYTES`): the host reads no more.
#[no_mangle]
pub extern "C" fn maas_max_body_bytes() -> f64 {
    CONFIG.with(|c| c.borrow().max_body_bytes as f64)
}

/// The router over a handle, made on the first model (or failure) the host reports.
fn install(name: &str, result: Result<ServedModel, String>) -> bool {
    APP.with(|app| {
        let mut app = app.borrow_mut();
        if let Some((_, handle)) = app.as_ref() {
            return handle.offer(result);
        }
        let (handle, installed) = match result {
            Ok(model) => (ModelHandle::fixed(model), true),
            Err(reason) => (ModelHandle::unavailable(name, reason), false),
        };
        let router = router(Arc::clone(&handle), CONFIG.with(|c| c.borrow().clone()));
        *app = Some((router, handle));
        installed
    })
}

/// Loads a model: the manifest's JSON (or none, length 0), the model's bytes, whose sha256
/// must be the manifest's, and the background file the manifest lists (or none, length 0). The model's buffer is taken (no second copy of the weights); the
/// host frees the other two. A model already loaded keeps answering when this one fails (a
/// refresh); without one, requests are told why. 0 on success; otherwise the reason is in
/// [`maas_last_error`].
///
/// # Safety
/// The four buffers were written by the host into memory from [`maas_alloc`].
#[no_mangle]
pub unsafe extern "C" fn maas_load(
    manifest_ptr: *const u8,
    manifest_len: usize,
    model_ptr: *mut u8,
    model_len: usize,
    name_ptr: *const u8,
    name_len: usize,
    background_ptr: *const u8,
    background_len: usize,
) -> u32 {
    // SAFETY: the host wrote the manifest's bytes and keeps them alive for the call
    let manifest = unsafe { std::slice::from_raw_parts(manifest_ptr, manifest_len) };
    // SAFETY: the model's buffer came from `maas_alloc` and is handed over (`owned`'s contract)
    let model = unsafe { owned(model_ptr, model_len) };
    // SAFETY: as for the manifest
    let name = unsafe { text(name_ptr, name_len) };
    // SAFETY: as for the manifest
    let background = unsafe { std::slice::from_raw_parts(background_ptr, background_len) };
    let started = Instant::now();
    let loaded = maas::loader::from_bytes(
        (!manifest.is_empty()).then_some(manifest),
        model,
        (!background.is_empty()).then_some(background),
        &name,
    )
    .map(|mut served| {
        served.load_time = started.elapsed();
        served
    })
    .map_err(|e| e.to_string());
    if let Err(reason) = &loaded {
        remember_error(reason.clone());
    }
    u32::from(!install(&name, loaded))
}

/// Reports a model the host could not read (no such alias, object or version, a model over
/// the Worker's limit): requests are answered 503 with `reason` while no model is loaded; a
/// loaded model keeps answering.
///
/// # Safety
/// Both strings were written by the host into memory from [`maas_alloc`].
#[no_mangle]
pub unsafe extern "C" fn maas_fail(
    name_ptr: *const u8,
    name_len: usize,
    reason_ptr: *const u8,
    reason_len: usize,
) {
    // SAFETY: the host wrote both strings and keeps them alive for the call
    let (reason, name) = unsafe { (text(reason_ptr, reason_len), text(name_ptr, name_len)) };
    remember_error(reason.clone());
    install(&name, Err(reason));
}

/// The reason of the last failed load, as (pointer << 32 | length).
#[no_mangle]
pub extern "C" fn maas_last_error() -> u64 {
    give(LAST_ERROR.with(|l| l.borrow().clone()))
}

/// Answers one request. Input: a JSON line `{"method", "path", "headers": [[name, value]…]}`,
/// then the body's bytes. Output, as (pointer << 32 | length): a JSON line `{"status",
/// "headers"}`, then the answer's bytes. The request's buffer is taken.
///
/// # Safety
/// The request was written by the host into memory from [`maas_alloc`].
#[no_mangle]
pub unsafe extern "C" fn maas_handle(ptr: *mut u8, len: usize) -> u64 {
    // SAFETY: the request's buffer came from `maas_alloc` and is handed over (`owned`'s contract)
    give(answer(Bytes::from(unsafe { owned(ptr, len) })))
}

fn error(status: u16, message: &str) -> Vec<u8> {
    let mut out = json!({"status": status, "headers": [["content-type", "application/json"]]})
        .to_string()
        .into_bytes();
    out.push(b'\n');
    out.extend(json!({ "error": message }).to_string().into_bytes());
    out
}

fn answer(raw: Bytes) -> Vec<u8> {
    let Some(app) = APP.with(|a| a.borrow().as_ref().map(|(router, _)| router.clone())) else {
        return error(503, "the model is not loaded");
    };
    let split = raw.iter().position(|&b| b == b'\n').unwrap_or(raw.len());
    let Ok(head) = serde_json::from_slice::<Value>(&raw[..split]) else {
        return error(500, "the host sent a malformed request envelope");
    };
    // the body is a view of the request's buffer, not a copy
    let body = raw.slice((split + 1).min(raw.len())..);
    let mut request = Request::builder()
        .method(head["method"].as_str().unwrap_or("GET"))
        .uri(head["path"].as_str().unwrap_or("/"));
    for pair in head["headers"].as_array().into_iter().flatten() {
        if let (Some(name), Some(value)) = (pair[0].as_str(), pair[1].as_str()) {
            request = request.header(name, value);
        }
    }
    let Ok(request) = request.body(Body::from(body)) else {
        return error(400, "the request line or a header is malformed");
    };
    let Some(Ok(response)) = finish(app.oneshot(request)) else {
        return error(500, "internal error: the request could not be answered");
    };
    let status = response.status().as_u16();
    let headers: Vec<Value> = response
        .headers()
        .iter()
        .map(|(n, v)| json!([n.as_str(), v.to_str().unwrap_or("")]))
        .collect();
    let Some(Ok(collected)) = finish(response.into_body().collect()) else {
        return error(500, "internal error: the answer could not be read");
    };
    let mut out = json!({ "status": status, "headers": headers })
        .to_string()
        .into_bytes();
    out.push(b'\n');
    out.extend_from_slice(&collected.to_bytes());
    out
}
