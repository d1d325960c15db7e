//! What the targets share: the committed digits model behind the real router, and the check
//! that an answer is a JSON document that is not a server error.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use maas::inference::LoadedModel;
use maas::server::router;
use maas::server::state::{ModelHandle, ServedModel, ServerConfig};

/// The router serving `onnx/digits.onnx` as `digits` version 1, built once.
pub fn app() -> Router {
    static APP: OnceLock<Router> = OnceLock::new();
    APP.get_or_init(|| {
        let bytes = include_bytes!("../../../onnx/digits.onnx");
        let model = LoadedModel::from_bytes(bytes).expect("the committed model loads");
        let served = ServedModel::new(
            "digits".into(),
            Some(1),
            maas::store::sha256_hex(bytes),
            model,
            Duration::ZERO,
        );
        let handle: Arc<ModelHandle> = ModelHandle::fixed(served);
        router(handle, ServerConfig::default())
    })
    .clone()
}

/// A current-thread runtime, built once.
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a runtime")
    })
}

/// Fails (so the fuzzer records a crash) on a 5xx or an error that is not JSON.
pub fn check_answer(status: u16, body: &[u8], what: &dyn std::fmt::Debug) {
    assert!(status < 500, "{what:?}: server error {status}: {}", String::from_utf8_lossy(body));
    if status >= 400 {
        let parsed: serde_json::Value = serde_json::from_slice(body)
            .unwrap_or_else(|_| panic!("{what:?}: error {status} is not JSON: {}", String::from_utf8_lossy(body)));
        assert!(parsed["error"].is_string(), "{what:?}: no error message in {parsed}");
    }
}
