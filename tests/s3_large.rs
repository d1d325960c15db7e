//! A 200 MB model through the S3 store: multipart upload, parallel ranged download, checksum
//! verified. (Its own test binary: the S3 client is configured once per process from the
//! environment, which this test points at its own moto_server.)
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use maas::store::{Selector, Store, StoreLocation, TransferProgress};
use rand::{RngCore, SeedableRng};

#[derive(Default)]
struct Counted {
    started: AtomicU64,
    bytes: AtomicU64,
}

impl TransferProgress for Counted {
    fn started(&self, _what: &str, _total: u64) {
        self.started.fetch_add(1, Ordering::Relaxed);
    }
    fn advanced(&self, bytes: u64) {
        self.bytes.fetch_add(bytes, Ordering::Relaxed);
    }
    fn finished(&self) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_200_mb_model_round_trips_in_parts_with_its_checksum() {
    let moto = common::Moto::start(&[]);
    moto.bucket("large-models");
    for (name, value) in moto.env() {
        std::env::set_var(name, value);
    }
    let mut model = vec![0u8; 200 << 20];
    rand_chacha::ChaCha8Rng::seed_from_u64(1).fill_bytes(&mut model);
    let progress = Arc::new(Counted::default());
    let store = Store::open(StoreLocation::S3 {
        bucket: "large-models".into(),
        prefix: "models".into(),
    })
    .with_progress(progress.clone());
    let description = common::bare_description(&["a", "b"]);
    let manifest = store.publish("big", &model, description).await.unwrap();
    assert_eq!(manifest.model.size_bytes, 200 << 20);
    assert_eq!(manifest.model.sha256, maas::store::sha256_hex(&model));
    assert_eq!(
        progress.bytes.load(Ordering::Relaxed),
        200 << 20,
        "upload progress"
    );

    let (fetched_manifest, bytes) = store.fetch("big", &Selector::Version(1)).await.unwrap();
    assert_eq!(fetched_manifest, manifest);
    assert!(bytes == model, "the downloaded bytes differ");
    assert_eq!(
        progress.started.load(Ordering::Relaxed),
        2,
        "one upload and one download"
    );
    assert_eq!(
        progress.bytes.load(Ordering::Relaxed),
        400 << 20,
        "download progress"
    );

    // a corrupted large object is refused after download
    let mut corrupted = model.clone();
    corrupted[150 << 20] ^= 0xff;
    moto.put(
        "large-models",
        "models/big/versions/1/model.onnx",
        &corrupted,
    );
    let err = store.fetch("big", &Selector::Version(1)).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("checksum mismatch for big version 1"),
        "{err}"
    );
}
