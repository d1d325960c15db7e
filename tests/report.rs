//! The training report: report.md, curves.png and confusion.png beside each trained version,
//! listed in the manifest, with the manifest's numbers; early stopping and schedules through
//! the CLI; `maas models show` printing the card.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::Path;

use common::*;
use serde_json::Value;

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

/// Width, height and RGB(A) bytes of a PNG file.
fn decode_png(path: &Path) -> (u32, u32, Vec<u8>) {
    let file = std::fs::File::open(path).unwrap();
    let mut reader = png::Decoder::new(std::io::BufReader::new(file))
        .read_info()
        .unwrap_or_else(|e| panic!("{} is not a PNG: {e}", path.display()));
    let mut pixels = vec![0; reader.output_buffer_size()];
    let frame = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(frame.buffer_size());
    (frame.width, frame.height, pixels)
}

/// Asserts a picture has the size and is not blank: many non-white pixels, varied shades.
fn assert_picture(path: &Path, size: (u32, u32)) {
    let (width, height, pixels) = decode_png(path);
    assert_eq!((width, height), size, "{}", path.display());
    let grey: Vec<f64> = pixels
        .chunks(3)
        .map(|p| p.iter().map(|&v| v as f64).sum::<f64>() / 3.0)
        .collect();
    let mean = grey.iter().sum::<f64>() / grey.len() as f64;
    let variance = grey.iter().map(|g| (g - mean).powi(2)).sum::<f64>() / grey.len() as f64;
    let inked = grey.iter().filter(|&&g| g < 200.0).count() as f64 / grey.len() as f64;
    assert!(
        variance > 100.0,
        "{}: pixel variance {variance}",
        path.display()
    );
    assert!(
        inked > 0.01,
        "{}: only {inked} of the pixels are drawn",
        path.display()
    );
}

#[test]
fn the_report_files_are_published_beside_the_model_and_listed_in_the_manifest() {
    let version = trained_store().join("digits/versions/1");
    let manifest = read_json(&version.join("manifest.json"));
    let listed: Vec<(&str, &str)> = manifest["attachments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["file"].as_str().unwrap(),
                a["media_type"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("curves.png", "image/png"),
            ("confusion.png", "image/png"),
            ("report.md", "text/markdown"),
            ("background.json", "application/json")
        ]
    );
    for attachment in manifest["attachments"].as_array().unwrap() {
        let bytes = std::fs::read(version.join(attachment["file"].as_str().unwrap())).unwrap();
        assert_eq!(attachment["sha256"], maas::store::sha256_hex(&bytes));
        assert_eq!(attachment["size_bytes"], bytes.len() as u64);
    }
    assert_picture(&version.join("curves.png"), maas::report::CURVES_SIZE);
    assert_picture(&version.join("confusion.png"), maas::report::CONFUSION_SIZE);
}

/// The cells of the markdown table row that follows `header` and its separator line.
fn row_after<'a>(report: &'a str, header: &str) -> Vec<&'a str> {
    let mut lines = report.lines().skip_while(|l| !l.starts_with(header));
    lines
        .next()
        .unwrap_or_else(|| panic!("no table {header} in\n{report}"));
    lines.next();
    cells(lines.next().unwrap())
}

fn cells(line: &str) -> Vec<&str> {
    line.trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .collect()
}

#[test]
fn the_report_states_the_manifests_numbers_and_models_show_prints_it() {
    let store = trained_store();
    let report = std::fs::read_to_string(store.join("digits/versions/1/report.md")).unwrap();
    let manifest = read_json(&store.join("digits/versions/1/manifest.json"));
    let m = &manifest["metrics"];
    let f = |v: &Value| format!("{:.4}", v.as_f64().unwrap());
    assert_eq!(
        row_after(&report, "| accuracy | macro precision"),
        [
            f(&m["accuracy"]),
            f(&m["macro_precision"]),
            f(&m["macro_recall"]),
            f(&m["macro_f1"])
        ]
    );
    let lines: Vec<Vec<&str>> = report.lines().map(cells).collect();
    for class in m["per_class"].as_array().unwrap() {
        let expected = [
            class["label"].as_str().unwrap().to_string(),
            f(&class["precision"]),
            f(&class["recall"]),
            f(&class["f1"]),
            class["support"].to_string(),
        ];
        assert!(
            lines.iter().any(|l| *l == expected),
            "no row {expected:?} in\n{report}"
        );
    }
    for (label, counts) in manifest["labels"]
        .as_array()
        .unwrap()
        .iter()
        .zip(m["confusion_matrix"].as_array().unwrap())
    {
        let mut expected = vec![format!("**{}**", label.as_str().unwrap())];
        expected.extend(counts.as_array().unwrap().iter().map(|c| c.to_string()));
        assert!(
            lines.iter().any(|l| *l == expected),
            "no confusion row {expected:?}"
        );
    }
    let t = &manifest["training"];
    let d = &t["data"];
    let rows = format!(
        "| rows | {} ({} training, {} validation, {} test) |",
        d["rows"], d["training_rows"], d["validation_rows"], d["held_out_rows"]
    );
    assert!(report.contains(&rows), "{rows} not in\n{report}");
    assert_eq!(d["held_out_rows"], m["rows"]);
    assert_eq!(
        d["training_rows"].as_u64().unwrap()
            + d["validation_rows"].as_u64().unwrap()
            + d["held_out_rows"].as_u64().unwrap(),
        1797
    );
    let kept = t["kept_epoch"].as_u64().unwrap();
    assert_eq!(kept, 10, "without --patience the last epoch is kept");
    assert!(
        report.contains(&format!("10 run of 10; **kept epoch {kept}**")),
        "{report}"
    );
    for epoch in t["history"].as_array().unwrap() {
        let n = epoch["epoch"].as_u64().unwrap();
        let first = if n == kept {
            format!("{n} (kept)")
        } else {
            n.to_string()
        };
        let expected = [
            first,
            format!("{:.3e}", epoch["learning_rate"].as_f64().unwrap()),
            f(&epoch["train_loss"]),
            f(&epoch["train_accuracy"]),
            f(&epoch["validation_loss"]),
            f(&epoch["validation_accuracy"]),
        ];
        assert!(
            lines.iter().any(|l| *l == expected),
            "no epoch row {expected:?}"
        );
    }
    assert!(report.contains("![curves.png](curves.png)"));
    assert!(report.contains(&format!(
        "maas predict --model {}/digits@1",
        store.display()
    )));

    let shown = maas_ok(&["models", "show", &format!("{}/digits@1", store.display())]);
    assert_eq!(shown, report);
    let json: Value = serde_json::from_str(&maas_ok(&[
        "models",
        "show",
        "--json",
        &format!("{}/digits", store.display()),
    ]))
    .unwrap();
    assert_eq!(json, manifest);
}

#[test]
fn early_stopping_keeps_the_best_epoch_and_the_report_says_which() {
    let store = scratch("early-stopping");
    let out = maas_ok(&[
        "train",
        "--store",
        store.to_str().unwrap(),
        "--name",
        "early",
        "--hidden",
        "64",
        "--epochs",
        "80",
        "--learning-rate",
        "0.01",
        "--patience",
        "2",
        "--lr-schedule",
        "step:1:0.9",
    ]);
    let version = store.join("early/versions/1");
    let t = read_json(&version.join("manifest.json"))["training"].clone();
    let history = t["history"].as_array().unwrap();
    let ran = t["epochs_run"].as_u64().unwrap();
    let kept = t["kept_epoch"].as_u64().unwrap();
    assert!(ran < 80, "early stopping never fired: {t}");
    assert_eq!(history.len() as u64, ran);
    assert_eq!(ran - kept, 2);
    let best = history
        .iter()
        .min_by(|a, b| {
            a["validation_loss"]
                .as_f64()
                .unwrap()
                .total_cmp(&b["validation_loss"].as_f64().unwrap())
        })
        .unwrap();
    assert_eq!(best["epoch"].as_u64().unwrap(), kept);
    assert_eq!(t["hyperparameters"]["patience"], 2);
    assert_eq!(
        t["hyperparameters"]["lr_schedule"],
        serde_json::json!({"kind": "step", "every": 1, "factor": 0.9})
    );
    // patience 2 makes at least 3 epochs, so the schedule's steps are always seen: every
    // epoch's rate is 0.01 × 0.9 per epoch before it
    assert!(ran >= 3, "{t}");
    for (i, epoch) in history.iter().enumerate() {
        let expected = 0.01 * 0.9f64.powi(i as i32);
        let rate = epoch["learning_rate"].as_f64().unwrap();
        assert!((rate - expected).abs() < 1e-12, "epoch {}: {rate}", i + 1);
    }
    assert!(
        out.contains(&format!("ran {ran} of 80 epochs; kept epoch {kept}")),
        "{out}"
    );
    let report = std::fs::read_to_string(version.join("report.md")).unwrap();
    assert!(
        report.contains(&format!("{ran} run of 80; **kept epoch {kept}**")),
        "{report}"
    );
    assert!(
        report.contains("on validation loss, patience 2"),
        "{report}"
    );
    assert!(report.contains("schedule step:1:0.9"), "{report}");
    assert_picture(&version.join("curves.png"), maas::report::CURVES_SIZE);
}

#[test]
fn bad_report_options_are_refused_with_a_message() {
    let store = scratch("bad-report-options");
    let s = store.to_str().unwrap();
    let err = maas_err(&["train", "--store", s, "--patience", "0"]);
    assert!(err.contains("--patience must be at least 1"), "{err}");
    let err = maas(&["train", "--store", s, "--lr-schedule", "linear"]);
    assert_eq!(err.status.code(), Some(2));
    let text = String::from_utf8_lossy(&err.stderr);
    assert!(
        text.contains("unknown learning-rate schedule 'linear'"),
        "{text}"
    );
    let err = maas_err(&["train", "--store", s, "--test-split", "0"]);
    assert!(err.contains("test split 0 leaves no test rows"), "{err}");
    assert!(
        !store.join("digits").exists(),
        "nothing is published after a refusal"
    );
}
