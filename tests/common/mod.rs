//! Helpers shared by the integration tests: running the `maas` binary and a model trained once.
#![allow(dead_code)]

pub mod http;
pub mod lambda_watch;
pub mod moto;

pub use lambda_watch::free_port;

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

/// A `maas serve` process on a free loopback port, killed on drop.
pub struct Server {
    child: std::process::Child,
    /// `127.0.0.1:PORT`.
    pub address: String,
}

impl Server {
    /// Starts `maas serve --model MODEL` with `envs` on a free port and waits (up to 10 s) until
    /// the port accepts connections; `None` if it never does.
    pub fn start(model: &str, envs: &[(&str, String)]) -> Option<Server> {
        Self::start_with(model, &[], envs)
    }

    /// [`Server::start`] with more `maas serve` arguments (e.g. `--grpc-port`).
    pub fn start_with(model: &str, args: &[&str], envs: &[(&str, String)]) -> Option<Server> {
        let port = free_port();
        let child = Command::new(env!("CARGO_BIN_EXE_maas"))
            .args(["serve", "--model", model, "--port", &port.to_string()])
            .args(args)
            .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("maas serve starts");
        let server = Server {
            child,
            address: format!("127.0.0.1:{port}"),
        };
        let up = (0..200).any(|_| {
            std::thread::sleep(std::time::Duration::from_millis(50));
            std::net::TcpStream::connect(&server.address).is_ok()
        });
        up.then_some(server)
    }

    /// The process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for the process to exit; its status, or `None` if it still runs.
    pub fn wait_exit(&mut self, timeout: std::time::Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `tests/python/<script>` with `args` and parses the JSON it prints; the Python side
/// comes from `pip install -r tests/requirements.txt`.
#[allow(dead_code)]
pub fn python_json(script: &str, args: &[&str]) -> serde_json::Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let out = Command::new("python3")
        .arg(&path)
        .args(args)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{script} failed (pip install -r tests/requirements.txt): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the script prints JSON")
}

/// A JSON table (a list of lists of numbers) as rows of f64.
pub fn number_rows(value: &serde_json::Value) -> Vec<Vec<f64>> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list of rows: {value}"))
        .iter()
        .map(|row| {
            row.as_array()
                .unwrap_or_else(|| panic!("not a row: {row}"))
                .iter()
                .map(|v| v.as_f64().unwrap_or_else(|| panic!("not a number: {v}")))
                .collect()
        })
        .collect()
}

/// The `probabilities` of each of `rows` (native predictions, batch answer lines) as rows of f64.
pub fn probabilities(rows: &[serde_json::Value]) -> Vec<Vec<f64>> {
    rows.iter()
        .map(|row| {
            row["probabilities"]
                .as_array()
                .unwrap_or_else(|| panic!("no probabilities in {row}"))
                .iter()
                .map(|v| v.as_f64().unwrap())
                .collect()
        })
        .collect()
}

/// The largest |a − b| between two tables of the same shape; fails unless both have the same
/// number of rows, each of the same width, and hold at least one value (so that an empty or
/// short answer never compares as equal).
pub fn max_abs_diff(ours: &[Vec<f64>], reference: &[Vec<f64>]) -> f64 {
    assert_eq!(ours.len(), reference.len(), "row counts differ");
    assert!(!reference.is_empty(), "nothing to compare");
    let mut max = 0f64;
    for (i, (a, b)) in ours.iter().zip(reference).enumerate() {
        assert_eq!(a.len(), b.len(), "row {i}: widths differ");
        assert!(!a.is_empty(), "row {i} is empty");
        for (x, y) in a.iter().zip(b) {
            let d = (x - y).abs();
            max = if d.is_nan() {
                f64::INFINITY
            } else {
                max.max(d)
            };
        }
    }
    max
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

/// A model description with only labels, for store tests that publish arbitrary bytes.
pub fn bare_description(labels: &[&str]) -> maas::manifest::ModelDescription {
    maas::manifest::ModelDescription {
        inputs: vec![],
        outputs: vec![],
        task: None,
        answer_output: None,
        labels: labels.iter().map(|l| l.to_string()).collect(),
        feature_names: vec![],
        metrics: None,
        regression_metrics: None,
        training: None,
        generation: None,
        background: None,
    }
}

pub use moto::Moto;

/// `maas` against a [`Moto`] server.
impl Moto {
    /// Runs `maas` against this server.
    pub fn maas(&self, args: &[&str]) -> Output {
        self.maas_with(&[], args)
    }

    /// Runs `maas` against this server with `extra` variables in its environment too.
    pub fn maas_with(&self, extra: &[(&str, &Path)], args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_maas"))
            .args(args)
            .envs(self.env())
            .envs(extra.iter().copied())
            .output()
            .expect("the maas binary runs")
    }

    pub fn maas_ok(&self, args: &[&str]) -> String {
        let out = self.maas(args);
        assert!(
            out.status.success(),
            "maas {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    pub fn maas_err(&self, args: &[&str]) -> String {
        let out = self.maas(args);
        assert_eq!(
            out.status.code(),
            Some(1),
            "maas {args:?}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let stderr = String::from_utf8(out.stderr).unwrap();
        assert!(!stderr.contains("panicked"), "{stderr}");
        stderr
    }
}

/// `maas serve`'s `/metrics` at `address`, parsed by prometheus_client's own parser
/// (`tests/python/scrape_metrics.py`).
#[allow(dead_code)]
pub fn scrape_metrics(address: &str) -> serde_json::Value {
    python_json("scrape_metrics.py", &[&format!("http://{address}/metrics")])
}

/// The value of the sample `name` of `family` whose labels include `labels` (0 when there is
/// none).
#[allow(dead_code)]
pub fn metric_sample(
    metrics: &serde_json::Value,
    family: &str,
    name: &str,
    labels: &[(&str, &str)],
) -> f64 {
    metrics["families"][family]["samples"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|s| s["name"] == name)
        .find(|s| labels.iter().all(|(k, v)| s["labels"][k] == *v))
        .map_or(0.0, |s| s["value"].as_f64().unwrap_or(f64::NAN))
}
