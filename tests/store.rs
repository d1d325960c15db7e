//! The folder model store through the library: concurrent publishes, aliases, format checks.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use maas::store::{ModelRef, Selector, Store, StoreError, StoreLocation};

mod common;

fn description() -> maas::manifest::ModelDescription {
    common::bare_description(&["a", "b"])
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_publishes_get_distinct_versions() {
    let dir = common::scratch("concurrent");
    let store = Store::open(StoreLocation::Folder(dir.clone()));
    let tasks: Vec<_> = (0..8u8)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.publish("m", &[i; 1000], description()).await })
        })
        .collect();
    let mut versions = Vec::new();
    for task in tasks {
        let manifest = task.await.unwrap().unwrap();
        // each version holds the bytes its publisher wrote
        let (_, bytes) = store
            .fetch("m", &Selector::Version(manifest.version))
            .await
            .unwrap();
        assert_eq!(maas::store::sha256_hex(&bytes), manifest.model.sha256);
        versions.push(manifest.version);
    }
    versions.sort_unstable();
    assert_eq!(versions, (1..=8).collect::<Vec<u64>>());
    assert_eq!(store.versions("m").await.unwrap(), versions);
    // latest only moves forward: the racing publishers leave it at the highest version
    let latest = store
        .resolve("m", &Selector::Alias("latest".into()))
        .await
        .unwrap();
    assert_eq!(latest, 8);
}

#[tokio::test]
async fn a_claimed_version_without_manifest_is_invisible_and_skipped() {
    let dir = common::scratch("half-published");
    let store = Store::open(StoreLocation::Folder(dir.clone()));
    store.publish("m", b"one", description()).await.unwrap();
    // a publisher that died after writing its model file, before the manifest
    std::fs::create_dir_all(dir.join("m/versions/2")).unwrap();
    std::fs::write(dir.join("m/versions/2/model.onnx"), b"partial").unwrap();
    assert_eq!(store.versions("m").await.unwrap(), [1]);
    assert_eq!(
        store
            .resolve("m", &Selector::Alias("latest".into()))
            .await
            .unwrap(),
        1
    );
    let third = store.publish("m", b"three", description()).await.unwrap();
    assert_eq!(third.version, 3);
    let err = store.fetch("m", &Selector::Version(2)).await.unwrap_err();
    assert!(
        matches!(err, StoreError::NoSuchVersion { version: 2, .. }),
        "{err}"
    );
}

#[tokio::test]
async fn a_manifest_from_a_newer_maas_is_refused_naming_both_versions() {
    let dir = common::scratch("newer");
    let store = Store::open(StoreLocation::Folder(dir.clone()));
    store.publish("m", b"model", description()).await.unwrap();
    let path = dir.join("m/versions/1/manifest.json");
    let mut manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    manifest["format"] = 99.into();
    manifest["maas_version"] = "9.0.0".into();
    std::fs::write(&path, serde_json::to_vec(&manifest).unwrap()).unwrap();
    let reference: ModelRef = format!("{}/m@1", dir.display()).parse().unwrap();
    let err = maas::store::fetch(&reference)
        .await
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("written by a newer maas (manifest format 99, maas 9.0.0)"),
        "{err}"
    );
    assert!(
        err.contains(&format!("this maas {}", env!("CARGO_PKG_VERSION"))),
        "{err}"
    );
}

#[tokio::test]
async fn a_version_is_copied_with_its_number_manifest_and_alias_once() {
    let dir = common::scratch("copy");
    let source = Store::open(StoreLocation::Folder(dir.join("source")));
    let target = Store::open(StoreLocation::Folder(dir.join("target")));
    for byte in 1..=3u8 {
        source
            .publish("m", &[byte; 500], description())
            .await
            .unwrap();
    }
    source.set_alias("m", "prod", 2).await.unwrap();
    let prod = Selector::Alias("prod".into());

    let copied = source.copy_to("m", &prod, &target).await.unwrap();
    assert_eq!((copied.version, copied.already_there), (2, false));
    assert_eq!(copied.aliases, ["prod", "latest"]);
    assert_eq!(target.resolve("m", &prod).await.unwrap(), 2);
    let (manifest, bytes) = target.fetch("m", &Selector::Version(2)).await.unwrap();
    assert_eq!(bytes, [2u8; 500]);
    assert_eq!(manifest, source.manifest("m", 2).await.unwrap());
    assert_eq!(
        std::fs::read(dir.join("source/m/versions/2/manifest.json")).unwrap(),
        std::fs::read(dir.join("target/m/versions/2/manifest.json")).unwrap(),
        "the manifest is copied byte for byte"
    );

    // again: nothing to write; a later version moves latest forward, an earlier one does not
    let again = source.copy_to("m", &prod, &target).await.unwrap();
    assert!(again.already_there && again.aliases == ["prod"]);
    let third = source
        .copy_to("m", &Selector::Version(3), &target)
        .await
        .unwrap();
    assert_eq!(third.aliases, ["latest"]);
    let first = source
        .copy_to("m", &Selector::Version(1), &target)
        .await
        .unwrap();
    assert!(first.aliases.is_empty());
    assert_eq!(
        target
            .resolve("m", &Selector::Alias("latest".into()))
            .await
            .unwrap(),
        3
    );

    // a target holding another model under that number is left alone
    let other = Store::open(StoreLocation::Folder(dir.join("other")));
    other.publish("m", &[9; 500], description()).await.unwrap();
    let refused = source
        .copy_to("m", &Selector::Version(1), &other)
        .await
        .unwrap_err();
    assert!(
        matches!(refused, StoreError::VersionTaken { version: 1, .. }),
        "{refused}"
    );
    assert!(refused
        .to_string()
        .contains("already holds m version 1 with another model"));
    let (_, kept) = other.fetch("m", &Selector::Version(1)).await.unwrap();
    assert_eq!(kept, [9u8; 500]);
}
