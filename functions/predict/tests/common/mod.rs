//! Shared by the function's tests: a folder store holding the committed digits model.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use maas::explain::BackgroundFile;
use maas::inference::LoadedModel;

use maas::server::{router, state::ModelHandle, state::ServerConfig};
use maas::store::{Store, StoreLocation};

/// A new folder store holding the committed `onnx/digits.onnx` as `digits` version 1.
pub async fn digits_store() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let onnx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/digits.onnx");
    let bytes = std::fs::read(onnx).unwrap();
    let model = LoadedModel::from_bytes(&bytes).unwrap();
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("function-store-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let description = model.description();
    Store::open(StoreLocation::Folder(dir.clone()))
        .publish("digits", &bytes, description)
        .await
        .unwrap();
    dir
}

/// A new folder store holding `onnx/digits.onnx` as `digits` version 1 with a background of
/// the first 40 rows of `tests/data/digits.csv` (as `maas publish --background` stores one).
pub async fn digits_store_with_background() -> PathBuf {
    let onnx = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/digits.onnx");
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/data/digits.csv");
    let bytes = std::fs::read(onnx).unwrap();
    let model = LoadedModel::from_bytes(&bytes).unwrap();
    // JSON lines of the 64 pixels, the label column left out
    let lines: Vec<String> = std::fs::read_to_string(csv)
        .unwrap()
        .lines()
        .skip(1)
        .take(40)
        .map(|line| format!("[{}]", line.split_once(',').unwrap().1))
        .collect();
    let background =
        BackgroundFile::from_rows_text(&lines.join("\n"), "background.jsonl", 64, &[]).unwrap();
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("function-store-background-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut description = model.description();
    description.background = Some(background.record());
    Store::open(StoreLocation::Folder(dir.clone()))
        .publish_with("digits", &bytes, description, |_| {
            vec![background.attachment()]
        })
        .await
        .unwrap();
    dir
}

/// The router over a store's `digits`.
pub async fn app_over(dir: &Path) -> axum::Router {
    let handle =
        ModelHandle::load(format!("{}/digits", dir.display()).parse().unwrap(), None).await;
    router(handle, ServerConfig::default())
}

/// The router over a fresh store's `digits`.
pub async fn app() -> axum::Router {
    app_over(&digits_store().await).await
}

/// A new folder store holding the committed Llama fixture (`onnx/decoders/llama`, an optimum
/// export) as `llama` version 1.
pub async fn llama_store() -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let export = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/decoders/llama");
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("function-llama-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let store = Store::open(StoreLocation::Folder(dir.clone()));
    maas::loader::publish_export_folder(&store, "llama", &export)
        .await
        .unwrap();
    dir
}

/// The router over a fresh store's `llama`.
pub async fn llama_app() -> axum::Router {
    llama_app_with(ServerConfig::default()).await
}

/// [`llama_app`] with other limits.
pub async fn llama_app_with(config: ServerConfig) -> axum::Router {
    let dir = llama_store().await;
    let handle = ModelHandle::load(format!("{}/llama", dir.display()).parse().unwrap(), None).await;
    router(handle, config)
}

/// The Llama fixture's committed greedy completions (transformers' `generate`).
pub fn llama_greedy() -> Vec<serde_json::Value> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../onnx/decoders/llama/greedy.json");
    let text = std::fs::read_to_string(path).unwrap();
    serde_json::from_str::<serde_json::Value>(&text).unwrap()["cases"]
        .as_array()
        .unwrap()
        .clone()
}
