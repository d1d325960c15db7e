//! The parsers of files users give the CLI: a labelled training CSV (`maas train --data`,
//! `maas eval --data`) and prediction rows (`maas predict --input`, CSV or JSON). Any bytes
//! must give data or an error, never a panic.
#![no_main]
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use libfuzzer_sys::fuzz_target;
use maas::data::Dataset;
use maas::protocol::{Batch, PredictRequest};

fuzz_target!(|data: &[u8]| {
    if let Ok(dataset) = Dataset::from_reader(data, "fuzz.csv", "label") {
        assert_eq!(dataset.features.len(), dataset.rows() * dataset.n_features());
        assert!(dataset.features.iter().all(|v| v.is_finite()));
        let _ = dataset.split("test", 0.2, 1);
    }
    let text = String::from_utf8_lossy(data);
    let names: Vec<String> = vec!["a".into(), "b".into(), "c".into()];
    if let Ok(batch) = Batch::from_csv(&text, 3, &names) {
        assert_eq!(batch.values.len(), batch.rows * 3);
    }
    if let Ok(request) = serde_json::from_slice::<PredictRequest>(data) {
        if let maas::protocol::NativeInputs::Rows(rows) = &request.inputs {
            let _ = Batch::from_rows(rows, 3);
        }
    }
});
