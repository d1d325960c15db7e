//! The served model and its lifecycle: loaded once at start, swapped in place when its alias
//! moves (`MAAS_REFRESH_SECONDS`), retried while it is not loaded; plus the server's limits.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::clock::Instant;

#[cfg(feature = "native")]
use crate::loader::load as load_model;
pub use crate::loader::{LoadError, ServedModel};
use crate::store::ModelRef;
#[cfg(feature = "native")]
use crate::store::{self, Selector, Store};

/// Limits and behaviour of the HTTP API.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerConfig {
    /// Most rows one request may carry (`MAAS_MAX_ROWS`).
    pub max_rows: usize,
    /// Largest request body in bytes (`MAAS_MAX_BODY_BYTES`; Lambda's own limit is 6 MB).
    pub max_body_bytes: usize,
    /// How often a warm instance checks whether its alias moved (`MAAS_REFRESH_SECONDS`).
    pub refresh: Option<Duration>,
    /// Print one CloudWatch EMF line per prediction (`MAAS_EMF`, on in Lambda).
    pub emit_metrics: bool,
    /// Threads for tract's matrix products (`MAAS_INFERENCE_THREADS`; default: the cores this
    /// process may use). Apply with [`crate::inference::set_threads`].
    pub inference_threads: usize,
    /// Most inferences running at once (`MAAS_MAX_CONCURRENCY`; default: the cores).
    pub max_concurrency: usize,
    /// How long a request waits for a free inference slot before a 503 with `Retry-After`
    /// (`MAAS_ADMISSION_WAIT_MS`).
    pub admission_wait: Duration,
    /// A request's deadline from its arrival to its answer (`MAAS_REQUEST_TIMEOUT_MS`; `None`
    /// waits as long as the inference takes). A gRPC client's shorter deadline wins.
    pub request_timeout: Option<Duration>,
    /// How long `maas serve` lets requests in flight finish after SIGTERM
    /// (`MAAS_DRAIN_TIMEOUT_SECONDS`).
    pub drain_timeout: Duration,
    /// Most tokens one text generation may produce (`MAAS_MAX_TOKENS`, default 1024).
    pub max_tokens: usize,
    /// Most model rows one explanation request may evaluate (`MAAS_MAX_EXPLAIN_ROWS`): rows
    /// explained × coalitions × background rows.
    pub max_explain_rows: usize,
}

/// The default of [`ServerConfig::max_explain_rows`]: a KernelSHAP explanation of a 64-feature
/// row against 50 background rows costs about 110 000.
pub const DEFAULT_MAX_EXPLAIN_ROWS: usize = 2_000_000;

/// Lambda's synchronous invocation payload limit.
pub const LAMBDA_MAX_BODY_BYTES: usize = 6 * 1024 * 1024;

impl Default for ServerConfig {
    fn default() -> Self {
        // read once: in a container it means reading the cgroup's CPU quota files
        let cores = cores();
        ServerConfig {
            max_rows: 1024,
            max_body_bytes: LAMBDA_MAX_BODY_BYTES,
            refresh: None,
            emit_metrics: false,
            inference_threads: cores,
            max_concurrency: cores,
            admission_wait: Duration::from_millis(100),
            request_timeout: Some(Duration::from_secs(30)),
            drain_timeout: Duration::from_secs(30),
            max_tokens: 1024,
            max_explain_rows: DEFAULT_MAX_EXPLAIN_ROWS,
        }
    }
}

/// The cores this process may use.
fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// A configuration variable that does not parse.
#[derive(Debug, thiserror::Error)]
#[error("invalid {name}={value}: {expected}")]
pub struct ConfigError {
    pub name: &'static str,
    pub value: String,
    pub expected: &'static str,
}

impl ServerConfig {
    /// The most elements one request tensor may have: one per body byte, so that a shape can
    /// never claim more than the body could carry (a BOOL or UINT8 takes one byte in binary).
    pub fn max_elements(&self) -> usize {
        self.max_body_bytes
    }

    /// Reads `MAAS_MAX_ROWS`, `MAAS_MAX_BODY_BYTES`, `MAAS_REFRESH_SECONDS`, `MAAS_EMF`,
    /// `MAAS_INFERENCE_THREADS`, `MAAS_MAX_CONCURRENCY`, `MAAS_ADMISSION_WAIT_MS`,
    /// `MAAS_REQUEST_TIMEOUT_MS` (0: none), `MAAS_DRAIN_TIMEOUT_SECONDS`, `MAAS_MAX_TOKENS`
    /// and `MAAS_MAX_EXPLAIN_ROWS` over the defaults.
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// As [`ServerConfig::from_env`], with variables from `lookup`.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let mut config = ServerConfig::default();
        let positive = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            match lookup(name) {
                None => Ok(None),
                Some(v) => match v.trim().parse::<u64>() {
                    Ok(n) if n > 0 => Ok(Some(n)),
                    _ => Err(ConfigError {
                        name,
                        value: v,
                        expected: "expected a positive whole number",
                    }),
                },
            }
        };
        if let Some(n) = positive("MAAS_MAX_ROWS")? {
            config.max_rows = n as usize;
        }
        if let Some(n) = positive("MAAS_MAX_TOKENS")? {
            config.max_tokens = n.min(1 << 20) as usize;
        }
        if let Some(n) = positive("MAAS_MAX_EXPLAIN_ROWS")? {
            config.max_explain_rows = n.min(usize::MAX as u64) as usize;
        }
        if let Some(n) = positive("MAAS_MAX_BODY_BYTES")? {
            config.max_body_bytes = n as usize;
        }
        config.refresh = positive("MAAS_REFRESH_SECONDS")?.map(Duration::from_secs);
        if let Some(n) = positive("MAAS_INFERENCE_THREADS")? {
            config.inference_threads = n.min(1024) as usize;
        }
        let whole = |name: &'static str| -> Result<Option<u64>, ConfigError> {
            match lookup(name) {
                None => Ok(None),
                Some(v) => v.trim().parse::<u64>().map(Some).map_err(|_| ConfigError {
                    name,
                    value: v,
                    expected: "expected a whole number (0 or more)",
                }),
            }
        };
        if let Some(n) = positive("MAAS_MAX_CONCURRENCY")? {
            config.max_concurrency = n.min(65_536) as usize;
        }
        if let Some(ms) = whole("MAAS_ADMISSION_WAIT_MS")? {
            config.admission_wait = Duration::from_millis(ms);
        }
        if let Some(ms) = whole("MAAS_REQUEST_TIMEOUT_MS")? {
            config.request_timeout = (ms > 0).then(|| Duration::from_millis(ms));
        }
        if let Some(s) = whole("MAAS_DRAIN_TIMEOUT_SECONDS")? {
            config.drain_timeout = Duration::from_secs(s);
        }
        if let Some(v) = lookup("MAAS_EMF") {
            config.emit_metrics = match v.trim() {
                "1" | "true" | "on" | "yes" => true,
                "0" | "false" | "off" | "no" | "" => false,
                _ => {
                    return Err(ConfigError {
                        name: "MAAS_EMF",
                        value: v,
                        expected: "expected true or false",
                    })
                }
            };
        }
        Ok(config)
    }
}

/// How long a server without a model waits between two load attempts.
const RETRY_INTERVAL: Duration = Duration::from_secs(5);

/// The model a server answers with. Requests take an `Arc` of the current model, so a swap
/// never disturbs a request in flight.
pub struct ModelHandle {
    reference: Option<ModelRef>,
    name: String,
    current: RwLock<Option<Arc<ServedModel>>>,
    last_error: RwLock<Option<String>>,
    refresh: Option<Duration>,
    last_check: Mutex<Instant>,
    checking: AtomicBool,
    /// What the model's source looked like when it was last read: the alias document's ETag
    /// (for conditional GETs), or a bare file's size and modification time.
    source_tag: Mutex<Option<String>>,
    /// Refresh checks run and models installed, for tests and operators.
    checks: AtomicU64,
    loads: AtomicU64,
    failures: AtomicU64,
}

/// How often a handle checked its source and installed a model since it started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefreshCounts {
    /// Background checks run (alias reads, file stamps, retries).
    pub checks: u64,
    /// Models installed, the first load included.
    pub loads: u64,
    /// Loads that failed (the model kept, or none while there is none).
    pub failures: u64,
}

impl ModelHandle {
    /// Loads `reference` once; a failure leaves the handle empty (health says 503) and later
    /// requests retry.
    #[cfg(feature = "native")]
    pub async fn load(reference: ModelRef, refresh: Option<Duration>) -> Arc<ModelHandle> {
        // a bare file's stamp is taken before it is read, so a change during the load is seen
        let stamp = match (&reference, refresh) {
            (ModelRef::File(path), Some(_)) => store::file_stamp(path).await.ok(),
            _ => None,
        };
        let result = load_model(&reference).await;
        let handle = ModelHandle {
            name: reference.model_name(),
            reference: Some(reference),
            current: RwLock::new(None),
            last_error: RwLock::new(None),
            refresh,
            last_check: Mutex::new(Instant::now()),
            checking: AtomicBool::new(false),
            source_tag: Mutex::new(stamp),
            checks: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            failures: AtomicU64::new(0),
        };
        handle.install(result);
        Arc::new(handle)
    }

    /// A handle around an already loaded model, never refreshed.
    pub fn fixed(model: ServedModel) -> Arc<ModelHandle> {
        Arc::new(ModelHandle {
            name: model.name.clone(),
            reference: None,
            current: RwLock::new(Some(Arc::new(model))),
            last_error: RwLock::new(None),
            refresh: None,
            last_check: Mutex::new(Instant::now()),
            checking: AtomicBool::new(false),
            source_tag: Mutex::new(None),
            checks: AtomicU64::new(0),
            loads: AtomicU64::new(1),
            failures: AtomicU64::new(0),
        })
    }

    /// A handle without a model: requests get 503 with `reason` until a model is
    /// [offered](ModelHandle::offer) (the edge worker, whose host could not read the model).
    pub fn unavailable(name: &str, reason: String) -> Arc<ModelHandle> {
        Arc::new(ModelHandle {
            name: name.to_string(),
            reference: None,
            current: RwLock::new(None),
            last_error: RwLock::new(Some(reason)),
            refresh: None,
            last_check: Mutex::new(Instant::now()),
            checking: AtomicBool::new(false),
            source_tag: Mutex::new(None),
            checks: AtomicU64::new(0),
            loads: AtomicU64::new(0),
            failures: AtomicU64::new(1),
        })
    }

    /// Installs a model loaded elsewhere, or records why it could not be: a warm handle keeps
    /// serving its last good model when a new one fails (as a refresh does); without one, the
    /// failure is what requests are told. Returns whether `result` was installed.
    pub fn offer<E: std::fmt::Display>(&self, result: Result<ServedModel, E>) -> bool {
        match result {
            Err(e) if self.current().is_ok() => {
                self.failures.fetch_add(1, Ordering::AcqRel);
                tracing::error!(error = %e, "new version not loaded; keeping the current one");
                false
            }
            result => {
                let installed = result.is_ok();
                self.install(result);
                installed
            }
        }
    }

    /// How often this handle checked its source and installed a model.
    pub fn refresh_counts(&self) -> RefreshCounts {
        RefreshCounts {
            checks: self.checks.load(Ordering::Acquire),
            loads: self.loads.load(Ordering::Acquire),
            failures: self.failures.load(Ordering::Acquire),
        }
    }

    /// The name requests must use.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The current model, or why there is none.
    pub fn current(&self) -> Result<Arc<ServedModel>, String> {
        if let Some(model) = self.current.read().ok().and_then(|c| c.clone()) {
            return Ok(model);
        }
        Err(self
            .last_error
            .read()
            .ok()
            .and_then(|e| e.clone())
            .unwrap_or_else(|| "the model is not loaded".to_string()))
    }

    fn install<E: std::fmt::Display>(&self, result: Result<ServedModel, E>) {
        match result {
            Ok(model) => {
                tracing::info!(
                    model = %model.name,
                    version = %model.version.map(|v| v.to_string()).unwrap_or_else(|| "file".into()),
                    sha256 = %model.sha256,
                    load_ms = model.load_time.as_secs_f64() * 1e3,
                    "model loaded"
                );
                if let Ok(mut current) = self.current.write() {
                    *current = Some(Arc::new(model));
                }
                self.loads.fetch_add(1, Ordering::AcqRel);
                if let Ok(mut e) = self.last_error.write() {
                    *e = None;
                }
            }
            Err(e) => {
                self.failures.fetch_add(1, Ordering::AcqRel);
                tracing::error!(error = %e, "model not loaded");
                if let Ok(mut last) = self.last_error.write() {
                    *last = Some(e.to_string());
                }
            }
        }
    }

    /// Starts a background check when one is due: a retry while no model is loaded, or an
    /// alias check every `refresh` interval. Never blocks the caller.
    /// Without the store's I/O (the edge worker) the host swaps the model in itself.
    #[cfg(not(feature = "native"))]
    pub fn maybe_refresh(self: &Arc<Self>) {}

    #[cfg(feature = "native")]
    pub fn maybe_refresh(self: &Arc<Self>) {
        let Some(reference) = self.reference.clone() else {
            return;
        };
        let loaded = self.current().is_ok();
        let interval = match (loaded, self.refresh) {
            (false, refresh) => refresh.unwrap_or(RETRY_INTERVAL).min(RETRY_INTERVAL),
            (true, Some(refresh)) => refresh,
            (true, None) => return,
        };
        {
            let Ok(mut last) = self.last_check.lock() else {
                return;
            };
            if last.elapsed() < interval {
                return;
            }
            if self.checking.swap(true, Ordering::AcqRel) {
                return;
            }
            *last = Instant::now();
        }
        let handle = Arc::clone(self);
        tokio::spawn(async move {
            handle.check(&reference).await;
            handle.checking.store(false, Ordering::Release);
        });
    }

    /// Loads the model again if none is loaded, the alias now names another version, or a
    /// bare file changed. The alias is read with a conditional GET on its last ETag and a file
    /// by its size and modification time, so an unchanged source costs no transfer and no load.
    #[cfg(feature = "native")]
    pub async fn check(&self, reference: &ModelRef) {
        self.checks.fetch_add(1, Ordering::AcqRel);
        if let Ok(current) = self.current() {
            if !self.source_changed(reference, current.version).await {
                return;
            }
        }
        // a warm instance keeps serving its last good model when a new one fails to load
        self.offer(load_model(reference).await);
    }

    /// Whether the loaded model's source now holds another model: an alias moved to another
    /// version, or a bare file was rewritten. A pinned version never changes; a failed check
    /// keeps the loaded model.
    #[cfg(feature = "native")]
    async fn source_changed(&self, reference: &ModelRef, loaded: Option<u64>) -> bool {
        let known = self.source_tag.lock().ok().and_then(|e| e.clone());
        let remember = |tag: Option<String>| {
            if let Ok(mut slot) = self.source_tag.lock() {
                *slot = tag;
            }
        };
        match reference {
            ModelRef::File(path) => match store::file_stamp(path).await {
                Ok(stamp) if known.as_deref() == Some(stamp.as_str()) => false,
                Ok(stamp) => {
                    tracing::info!(file = %path.display(), "model file changed");
                    remember(Some(stamp));
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "model file check failed; keeping the loaded model");
                    false
                }
            },
            ModelRef::Stored {
                store,
                name,
                selector: Selector::Alias(alias),
            } => match Store::open(store.clone())
                .resolve_if_changed(name, alias, known.as_deref())
                .await
            {
                Ok(None) => false,
                Ok(Some((version, etag))) => {
                    remember(etag);
                    if Some(version) == loaded {
                        return false;
                    }
                    tracing::info!(model = %name, from = ?loaded, to = version, "alias moved");
                    true
                }
                Err(e) => {
                    tracing::warn!(error = %e, "alias check failed; keeping the loaded version");
                    false
                }
            },
            ModelRef::Stored { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_from_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(
            ServerConfig::from_lookup(vars(&[])).unwrap(),
            ServerConfig::default()
        );
        let c = ServerConfig::from_lookup(vars(&[
            ("MAAS_MAX_ROWS", "8"),
            ("MAAS_REFRESH_SECONDS", "30"),
            ("MAAS_EMF", "true"),
            ("MAAS_INFERENCE_THREADS", "3"),
        ]))
        .unwrap();
        assert_eq!(c.max_rows, 8);
        assert_eq!(c.inference_threads, 3);
        assert_eq!(c.refresh, Some(Duration::from_secs(30)));
        assert!(c.emit_metrics);
        let e = ServerConfig::from_lookup(vars(&[("MAAS_INFERENCE_THREADS", "0")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid MAAS_INFERENCE_THREADS=0: expected a positive whole number"
        );
        let e = ServerConfig::from_lookup(vars(&[("MAAS_MAX_ROWS", "lots")])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid MAAS_MAX_ROWS=lots: expected a positive whole number"
        );
    }
}
