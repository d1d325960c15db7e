//! The committed ONNX fixtures: tract reproduces onnxruntime's recorded outputs.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use maas::inference::LoadedModel;
use serde_json::Value;

#[test]
fn tract_matches_onnxruntime_on_the_committed_digits_model() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("onnx");
    let model = LoadedModel::from_bytes(&std::fs::read(dir.join("digits.onnx")).unwrap()).unwrap();
    let expected: Value =
        serde_json::from_slice(&std::fs::read(dir.join("digits.expected.json")).unwrap()).unwrap();
    let rows: Vec<Vec<f32>> = serde_json::from_value(expected["inputs"].clone()).unwrap();
    let reference: Vec<Vec<f32>> =
        serde_json::from_value(expected["probabilities"].clone()).unwrap();
    let flat: Vec<f32> = rows.iter().flatten().copied().collect();
    let ours = model.predict(&flat, rows.len()).unwrap();
    let mut max_diff = 0f32;
    for (a, b) in ours.iter().zip(reference.iter().flatten()) {
        max_diff = max_diff.max((a - b).abs());
    }
    assert!(max_diff <= 1e-5, "tract vs onnxruntime: {max_diff}");
    assert_eq!(
        model.labels(),
        (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
    );
    let predicted = maas::inference::argmax_rows(&ours, 10);
    let truth: Vec<u32> = expected["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap().parse().unwrap())
        .collect();
    assert_eq!(predicted, truth);
}
