//! Batch scoring: `maas batch` over a folder and over S3 (moto), the library on byte ranges.
//! Outputs equal `maas predict` row for row, keep the columns asked for, list bad rows with
//! their line numbers, are skipped when already made, and ranges cut anywhere add up to the
//! whole-object output.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::sync::Arc;

use common::*;
use maas::batch::{self, BatchSettings, Piece};
use maas::objects::Location;
use serde_json::Value;

mod common;

fn digits_onnx() -> String {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("onnx/digits.onnx")
        .display()
        .to_string()
}

/// `rows` digits rows as CSV with an `id` column first and the label kept, CRLF line ends.
fn digits_with_ids(rows: usize) -> String {
    let text = std::fs::read_to_string(digits_csv()).unwrap();
    let mut lines = text.lines();
    let header = lines.next().unwrap();
    let mut out = format!("id,{header}\r\n");
    for (i, line) in lines.cycle().take(rows).enumerate() {
        out.push_str(&format!("row-{i},{line}\r\n"));
    }
    out
}

fn read_lines(path: &Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// `maas predict`'s probabilities for the CSV rows of `csv` (features matched by name).
fn predicted(csv: &str) -> Vec<Vec<f64>> {
    let dir = scratch("batch-predict");
    let input = write(&dir, "rows.csv", csv);
    let answer: Value = serde_json::from_str(&maas_ok(&[
        "predict",
        "--model",
        &digits_onnx(),
        "--input",
        &input,
    ]))
    .unwrap();
    probabilities(answer["predictions"].as_array().unwrap())
}

#[test]
fn a_folder_is_scored_like_maas_predict_with_kept_columns_and_its_bad_rows_listed() {
    let dir = scratch("batch-folder");
    let input = dir.join("in");
    std::fs::create_dir_all(&input).unwrap();
    let good = digits_with_ids(1500);
    std::fs::write(input.join("good.csv"), &good).unwrap();
    // line 3 has a word for a pixel, line 5 too few fields, line 6 is blank
    let mut bad = digits_with_ids(6).replace("\r\n", "\n");
    let mut lines: Vec<String> = bad.lines().map(str::to_string).collect();
    lines[2] = lines[2].replacen(",0,", ",zero,", 1);
    lines[4] = "row-x,1,2,3".to_string();
    lines.insert(5, String::new());
    bad = lines.join("\n") + "\n";
    std::fs::write(input.join("bad.csv"), &bad).unwrap();
    let output = dir.join("out");
    let model = digits_onnx();
    let run = |extra: &[&str]| {
        let mut args = vec![
            "batch",
            "--model",
            &model,
            "--input",
            input.to_str().unwrap(),
            "--output",
            output.to_str().unwrap(),
            "--keep-columns",
            "id,label",
        ];
        args.extend_from_slice(extra);
        let out = maas(&args);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        (
            serde_json::from_slice::<Value>(&out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let (reports, stderr) = run(&["--workers", "2"]);
    assert_eq!(reports.as_array().unwrap().len(), 2, "{reports}");
    assert!(stderr.contains("could not be scored"), "{stderr}");

    let answers = read_lines(&output.join("good.csv.out.jsonl"));
    assert_eq!(answers.len(), 1500);
    let reference = predicted(&good);
    let diff = max_abs_diff(&probabilities(&answers), &reference);
    assert!(diff <= 1e-6, "batch vs maas predict: {diff:e}");
    for (i, line) in answers.iter().enumerate() {
        assert_eq!(line["id"], format!("row-{i}"));
        assert_eq!(line["model"], "digits");
        let label = line["label"].as_str().unwrap();
        let best = line["probabilities"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.as_f64().unwrap().total_cmp(&b.1.as_f64().unwrap()))
            .unwrap()
            .0;
        assert_eq!(label, best.to_string());
    }

    let bad_answers = read_lines(&output.join("bad.csv.out.jsonl"));
    let ids: Vec<&str> = bad_answers
        .iter()
        .map(|l| l["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["row-0", "row-2", "row-4", "row-5"]);
    let errors = read_lines(&output.join("bad.csv.errors.jsonl"));
    let places: Vec<u64> = errors.iter().map(|e| e["line"].as_u64().unwrap()).collect();
    assert_eq!(places, [3, 5]);
    assert!(
        errors[0]["error"]
            .as_str()
            .unwrap()
            .contains("'zero' is not a number"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1]["error"]
            .as_str()
            .unwrap()
            .contains("4 fields, the header has 66"),
        "{}",
        errors[1]
    );
    let bad_report = reports
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"].as_str().unwrap().ends_with("bad.csv"))
        .unwrap();
    assert_eq!(
        (
            bad_report["rows"].as_u64(),
            bad_report["scored"].as_u64(),
            bad_report["failed"].as_u64()
        ),
        (Some(6), Some(4), Some(2))
    );

    // a second run finds both outputs made from the same sources and model: nothing is redone
    let before = std::fs::metadata(output.join("good.csv.out.jsonl"))
        .unwrap()
        .modified()
        .unwrap();
    let (again, _) = run(&[]);
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["skipped"] == true),
        "{again}"
    );
    let after = std::fs::metadata(output.join("good.csv.out.jsonl"))
        .unwrap()
        .modified()
        .unwrap();
    assert_eq!(before, after);
    // a changed source is scored again
    std::fs::write(input.join("bad.csv"), digits_with_ids(4)).unwrap();
    let (third, _) = run(&[]);
    let rescored = third
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["source"].as_str().unwrap().ends_with("bad.csv"))
        .unwrap();
    assert_eq!(rescored["skipped"], false);
    assert_eq!(read_lines(&output.join("bad.csv.out.jsonl")).len(), 4);
}

/// Two outputs hold the same answers line for line: the same ids and labels, and
/// probabilities within 1e-6. (Not byte for byte: tract's kernels round a row's last bits
/// differently by its position in the batch, and a range's batches start elsewhere.)
fn same_answers(ours: &str, whole: &str, what: &str) {
    let parse = |text: &str| -> Vec<Value> {
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    let (ours, whole) = (parse(ours), parse(whole));
    assert_eq!(ours.len(), whole.len(), "{what}: line counts");
    for (a, b) in ours.iter().zip(&whole) {
        assert_eq!(a["id"], b["id"], "{what}");
        assert_eq!(a["label"], b["label"], "{what}");
    }
    let diff = max_abs_diff(&probabilities(&ours), &probabilities(&whole));
    assert!(diff <= 1e-6, "{what}: {diff:e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ranges_cut_anywhere_add_up_to_the_whole_object() {
    let dir = scratch("batch-ranges");
    let text = digits_with_ids(40);
    let source = dir.join("rows.csv");
    std::fs::write(&source, &text).unwrap();
    let jsonl: String = text
        .lines()
        .skip(1)
        .map(|l| {
            let cells: Vec<&str> = l.split(',').collect();
            let pixels: Vec<f64> = cells[2..].iter().map(|c| c.parse().unwrap()).collect();
            format!("{{\"id\": \"{}\", \"inputs\": {:?}}}\n", cells[0], pixels)
        })
        .collect();
    let json_source = dir.join("rows.jsonl");
    std::fs::write(&json_source, &jsonl).unwrap();
    let reference: maas::store::ModelRef = digits_onnx().parse().unwrap();
    let model = Arc::new(maas::loader::load(&reference).await.unwrap());
    let whole_of = |name: &str, k: usize, cut: u64, len: u64| -> Vec<(u64, u64)> {
        let _ = name;
        let mut bounds: Vec<u64> = (0..k as u64)
            .map(|i| (i * len / k as u64 + cut) % len)
            .collect();
        bounds.extend([0, len]);
        bounds.sort_unstable();
        bounds.dedup();
        bounds.windows(2).map(|w| (w[0], w[1])).collect()
    };
    for source in [&source, &json_source] {
        let len = std::fs::metadata(source).unwrap().len();
        let settings = |out: &str| BatchSettings {
            output: Location::File(dir.join(out)),
            keep: vec!["id".into()],
        };
        let whole = batch::score(
            model.clone(),
            &settings("whole"),
            &Piece {
                source: Location::File(source.clone()),
                range: None,
            },
            None,
            &|_| {},
        )
        .await
        .unwrap();
        assert_eq!(whole.scored, 40, "{whole:?}");
        // 40 rows, and a header for the CSV
        let last_line = if source.extension().unwrap() == "csv" {
            41
        } else {
            40
        };
        assert_eq!(whole.reached_line, Some(last_line));
        let whole_text = std::fs::read_to_string(&whole.output).unwrap();
        // the first and last byte, CR and LF of a line end, the middle of a line
        let first_line_end = text.find('\r').unwrap() as u64;
        for (k, cut) in [
            (1, 0),
            (2, 0),
            (2, first_line_end),
            (2, first_line_end + 1),
            (7, 0),
            (7, 13),
            (2, len - 1),
            (2, 1),
        ] {
            let out = format!(
                "cut-{k}-{cut}-{}",
                source.file_name().unwrap().to_string_lossy()
            );
            let mut joined = String::new();
            for range in whole_of("", k, cut, len) {
                let report = batch::score(
                    model.clone(),
                    &settings(&out),
                    &Piece {
                        source: Location::File(source.clone()),
                        range: Some(range),
                    },
                    None,
                    &|_| {},
                )
                .await
                .unwrap();
                assert!(report.complete && report.failed == 0, "{report:?}");
                joined.push_str(&std::fs::read_to_string(&report.output).unwrap());
            }
            same_answers(
                &joined,
                &whole_text,
                &format!("{} cut in {k} at {cut}", source.display()),
            );
        }
    }
    // an empty object, and a range past the end: empty answer files, no error
    let empty = dir.join("empty.csv");
    std::fs::write(&empty, "").unwrap();
    for (name, source, range) in [
        ("empty", &empty, None),
        ("past-the-end", &source, Some((1 << 30, 1 << 31))),
    ] {
        let report = batch::score(
            model.clone(),
            &BatchSettings {
                output: Location::File(dir.join(name)),
                keep: vec![],
            },
            &Piece {
                source: Location::File(source.clone()),
                range,
            },
            None,
            &|_| {},
        )
        .await
        .unwrap();
        assert!(report.complete && report.rows == 0, "{name}: {report:?}");
        assert_eq!(std::fs::read(&report.output).unwrap(), b"", "{name}");
    }
    // a deadline already passed: nothing written, the report says so
    let late = batch::score(
        model.clone(),
        &BatchSettings {
            output: Location::File(dir.join("late")),
            keep: vec![],
        },
        &Piece {
            source: Location::File(source.clone()),
            range: None,
        },
        Some(std::time::Instant::now()),
        &|_| {},
    )
    .await
    .unwrap();
    assert!(!late.complete);
    assert_eq!((late.rows, late.reached_line), (0, None));
    assert!(!PathBuf::from(&late.output).exists());
}

#[test]
fn s3_objects_and_their_ranges_score_through_multipart_outputs_like_a_folder() {
    let moto = Moto::start(&[]);
    moto.bucket("maas-batch");
    // about 3.1 MB: four 1 MiB ranges, cut inside lines
    let text = digits_with_ids(20_000);
    moto.put("maas-batch", "in/digits%20a.csv", text.as_bytes());
    moto.put("maas-batch", "in/small.csv", digits_with_ids(10).as_bytes());
    let whole = moto.maas_ok(&[
        "batch",
        "--model",
        &digits_onnx(),
        "--input",
        "s3://maas-batch/in/",
        "--output",
        "s3://maas-batch/out/",
        "--keep-columns",
        "id",
        "--workers",
        "2",
    ]);
    let reports: Value = serde_json::from_str(&whole).unwrap();
    assert_eq!(reports.as_array().unwrap().len(), 2, "{reports}");
    let whole_bytes = moto.get("maas-batch", "out/in/digits%20a.csv.out.jsonl");
    let lines: Vec<Value> = String::from_utf8_lossy(&whole_bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 20_000);
    assert_eq!(lines[19_999]["id"], "row-19999");

    // the same objects from a folder give the same bytes
    let dir = scratch("batch-s3-local");
    std::fs::create_dir_all(dir.join("in")).unwrap();
    std::fs::write(dir.join("in/digits a.csv"), &text).unwrap();
    moto.maas_ok(&[
        "batch",
        "--model",
        &digits_onnx(),
        "--input",
        dir.join("in").to_str().unwrap(),
        "--output",
        dir.join("out").to_str().unwrap(),
        "--keep-columns",
        "id",
    ]);
    assert_eq!(
        std::fs::read(dir.join("out/digits a.csv.out.jsonl")).unwrap(),
        whole_bytes
    );

    // 1 MiB ranges: four outputs whose concatenation is the whole-object output
    let ranged = moto.maas_ok(&[
        "batch",
        "--model",
        &digits_onnx(),
        "--input",
        "s3://maas-batch/in/digits a.csv",
        "--output",
        "s3://maas-batch/ranges/",
        "--keep-columns",
        "id",
        "--range-mib",
        "1",
    ]);
    let reports: Value = serde_json::from_str(&ranged).unwrap();
    let outputs: Vec<String> = reports
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["output"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(outputs.len(), 4, "{reports}");
    let mut joined = Vec::new();
    for output in &outputs {
        let key = output
            .strip_prefix("s3://maas-batch/")
            .unwrap()
            .replace(' ', "%20");
        joined.extend(moto.get("maas-batch", &key));
    }
    same_answers(
        &String::from_utf8_lossy(&joined),
        &String::from_utf8_lossy(&whole_bytes),
        "1 MiB ranges of s3://maas-batch/in/digits a.csv",
    );
    // and a second run of the same event skips every piece
    let again: Value = serde_json::from_str(&moto.maas_ok(&[
        "batch",
        "--model",
        &digits_onnx(),
        "--input",
        "s3://maas-batch/in/digits a.csv",
        "--output",
        "s3://maas-batch/ranges/",
        "--keep-columns",
        "id",
        "--range-mib",
        "1",
    ]))
    .unwrap();
    assert!(
        again
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["skipped"] == true),
        "{again}"
    );
}

#[test]
fn a_read_that_breaks_mid_object_leaves_no_multipart_upload_and_no_partial_file() {
    #[path = "common/proxy.rs"]
    mod proxy;
    let moto = Moto::start(&[]);
    moto.bucket("maas-faults");
    // about 19 MB of rows: more than one 8 MiB part of answers goes up before the read breaks
    let text = digits_with_ids(120_000);
    moto.put("maas-faults", "in/big.csv", text.as_bytes());
    let proxy = proxy::Proxy::start(moto.endpoint.trim_start_matches("http://"));
    proxy.cut_after(12 << 20);
    let run = |output: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_maas"))
            .args(["batch", "--model", &digits_onnx(), "--input"])
            .args(["s3://maas-faults/in/big.csv", "--output", output])
            .envs(moto.env())
            .env("AWS_ENDPOINT_URL_S3", &proxy.endpoint)
            .output()
            .unwrap()
    };
    // to S3: the read breaks after 12 MiB, the answers' multipart upload is aborted
    let out = run("s3://maas-faults/out/");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(
        stderr.contains("in/big.csv"),
        "the error names the object: {stderr}"
    );
    assert!(!moto.exists("maas-faults", "out/in/big.csv.out.jsonl"));
    assert_eq!(
        moto.open_uploads("maas-faults"),
        0,
        "no multipart upload left open"
    );
    // to a folder: no partial file either
    let dir = scratch("batch-cut");
    let out = run(dir.to_str().unwrap());
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let left: Vec<_> = walk(&dir);
    assert!(left.is_empty(), "files left behind: {left:?}");
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk(&path));
        } else {
            files.push(path);
        }
    }
    files
}
