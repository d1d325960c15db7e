//! Faults in the data files users give `maas train` and `maas eval`: a file cut mid-row, a
//! 2 GB stream for training that does not fit the memory limit (refused early, memory bounded),
//! and a 2 GB stream that `maas eval` reads through to the end in bounded memory.
// test code: a failed unwrap is a failed test
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::*;

/// Runs maas under GNU time; returns exit code, stdout, stderr (time's line removed) and the
/// peak resident memory in MiB.
fn maas_measured(args: &[&str]) -> (i32, String, String, f64) {
    let out = Command::new("/usr/bin/time")
        .args(["-f", "maxrss-kb=%M"])
        .arg(env!("CARGO_BIN_EXE_maas"))
        .args(args)
        .output()
        .expect("/usr/bin/time runs maas");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    let (rest, rss) = stderr
        .rsplit_once("maxrss-kb=")
        .expect("GNU time reports the peak memory");
    let kb: f64 = rss.trim().parse().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        rest.to_string(),
        kb / 1024.0,
    )
}

#[test]
fn a_csv_cut_mid_row_names_the_last_line() {
    let full = std::fs::read(digits_csv()).unwrap();
    let mut cut = full.len() * 2 / 3;
    while full[cut - 1] == b'\n' || full[cut] == b'\n' {
        cut += 1;
    }
    let last_line = full[..cut].iter().filter(|&&b| b == b'\n').count() + 1;
    let fields = String::from_utf8_lossy(&full[..cut])
        .rsplit('\n')
        .next()
        .unwrap()
        .split(',')
        .count();
    let dir = scratch("cut-csv");
    let path = dir.join("cut.csv");
    std::fs::write(&path, &full[..cut]).unwrap();
    let err = maas_err(&[
        "train",
        "--data",
        path.to_str().unwrap(),
        "--store",
        dir.join("m").to_str().unwrap(),
    ]);
    let expected = format!("line {last_line}: expected 65 fields like the header, found {fields}");
    assert!(err.contains(&expected), "{err} lacks {expected}");
    assert!(!dir.join("m").exists(), "nothing is published");
}

/// Writes a header and then digits rows into `path` (a FIFO) until `total` bytes or until the
/// reader goes away; returns the bytes written.
fn feed(path: &Path, total: u64) -> u64 {
    let text = std::fs::read_to_string(digits_csv()).unwrap();
    let (header, rows) = text.split_once('\n').unwrap();
    let mut chunk = String::new();
    while chunk.len() < 1 << 20 {
        chunk.push_str(rows);
    }
    let mut fifo = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    let mut written = 0u64;
    if fifo.write_all(format!("{header}\n").as_bytes()).is_err() {
        return 0;
    }
    while written < total {
        match fifo.write_all(chunk.as_bytes()) {
            Ok(()) => written += chunk.len() as u64,
            Err(_) => break, // the reader stopped: a broken pipe
        }
    }
    written
}

#[test]
fn training_on_a_2_gb_stream_over_the_memory_limit_is_refused_early_in_bounded_memory() {
    let dir = scratch("two-gb");
    let fifo = dir.join("big.csv");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || feed(&fifo, 2 << 30))
    };
    let (code, _, stderr, peak_mib) = maas_measured(&[
        "train",
        "--data",
        fifo.to_str().unwrap(),
        "--store",
        dir.join("m").to_str().unwrap(),
        "--max-data-mib",
        "256",
    ]);
    let written = writer.join().unwrap();
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("does not fit the memory limit of 256 MiB for its values")
            && stderr.contains("train on a sample or raise --max-data-mib"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    eprintln!("2 GB stream: refused after {written} bytes fed, peak {peak_mib:.0} MiB");
    // the values stop at the limit; the text was never held
    assert!(peak_mib < 256.0 + 96.0, "peak memory {peak_mib:.0} MiB");
    assert!(
        written < 2 << 30,
        "the reader stopped early ({written} bytes fed)"
    );
}

#[test]
fn maas_eval_streams_2_gb_through_the_model_in_bounded_memory() {
    let store = trained_store();
    let model = format!("{}/digits", store.display());
    let once: serde_json::Value = serde_json::from_str(&maas_ok(&[
        "eval",
        "--model",
        &model,
        "--data",
        digits_csv().to_str().unwrap(),
        "--json",
    ]))
    .unwrap();

    let dir = scratch("two-gb-eval");
    let fifo = dir.join("big.csv");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let writer = {
        let fifo = fifo.clone();
        std::thread::spawn(move || feed(&fifo, 2 << 30))
    };
    let (code, stdout, stderr, peak_mib) = maas_measured(&[
        "eval",
        "--model",
        &model,
        "--data",
        fifo.to_str().unwrap(),
        "--json",
    ]);
    let written = writer.join().unwrap();
    assert_eq!(code, 0, "{stderr}");
    assert!(written >= 2 << 30, "only {written} bytes were fed");
    let json: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    let rows = json["metrics"]["rows"].as_u64().unwrap();
    // the stream repeats the data set: the same accuracy over millions of rows
    assert_eq!(rows % 1797, 0);
    assert!(rows > 6_000_000, "{rows} rows");
    assert_eq!(json["metrics"]["accuracy"], once["metrics"]["accuracy"]);
    eprintln!("eval of a 2 GiB stream ({rows} rows): peak {peak_mib:.0} MiB");
    assert!(peak_mib < 128.0, "peak memory {peak_mib:.0} MiB");
}
