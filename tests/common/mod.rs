//! Helpers shared by the integration tests: running the `maas` binary and a model trained once.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

/// Runs `maas` with `args`.
pub fn maas(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_maas"))
        .args(args)
        .output()
        .expect("the maas binary runs")
}

/// Runs `maas`, asserts success and returns its standard output.
pub fn maas_ok(args: &[&str]) -> String {
    let out = maas(args);
    assert!(
        out.status.success(),
        "maas {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Runs `maas`, asserts failure with a non-zero code and returns its standard error.
pub fn maas_err(args: &[&str]) -> String {
    let out = maas(args);
    assert!(
        !out.status.success(),
        "maas {args:?} should fail but printed {}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(out.status.code(), Some(1), "exit code of maas {args:?}");
    let stderr = String::from_utf8(out.stderr).expect("utf-8 errors");
    assert!(
        !stderr.contains("panicked"),
        "maas {args:?} panicked: {stderr}"
    );
    stderr
}

/// A fresh folder under cargo's scratch space for integration tests.
pub fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// The bundled digits data set in the repository.
pub fn digits_csv() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/digits.csv")
}

/// A store holding `digits` version 1, trained once per test binary with the defaults.
pub fn trained_store() -> &'static Path {
    static STORE: OnceLock<PathBuf> = OnceLock::new();
    STORE.get_or_init(|| {
        let store = scratch("trained-store");
        maas_ok(&[
            "train",
            "--store",
            store.to_str().unwrap(),
            "--name",
            "digits",
        ]);
        store
    })
}

/// Writes `text` to a file in `dir` and returns its path as a string.
pub fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write test file");
    path.to_str().unwrap().to_string()
}

/// The first `n` rows of the digits data set as (labels, feature rows).
pub fn digits_rows(n: usize) -> (Vec<String>, Vec<Vec<f64>>) {
    let text = std::fs::read_to_string(digits_csv()).unwrap();
    let mut labels = Vec::new();
    let mut rows = Vec::new();
    for line in text.lines().skip(1).take(n) {
        let mut cells = line.split(',');
        labels.push(cells.next().unwrap().to_string());
        rows.push(cells.map(|c| c.parse().unwrap()).collect());
    }
    (labels, rows)
}
