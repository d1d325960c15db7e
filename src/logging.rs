//! The Lambda functions' logs: one JSON object per line on stderr, filtered by `RUST_LOG`
//! (`info` when unset).

use tracing_subscriber::filter::Targets;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// Installs the JSON logger; each line carries the current span (the runtime's invocation
/// span holds the request id). A `RUST_LOG` that does not parse is reported once and info is
/// used.
///
/// ```no_run
/// maas::logging::init_json();
/// tracing::info!("ready");
/// ```
pub fn init_json() {
    let (filter, invalid) = filter(std::env::var("RUST_LOG").ok().as_deref());
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_span_list(false)
        .with_target(false)
        .without_time()
        .finish()
        .with(filter)
        .init();
    if let Some(reason) = invalid {
        tracing::warn!("RUST_LOG ignored, logging at info: {reason}");
    }
}

/// The filter a `RUST_LOG` value gives, as comma-separated `target=level` directives and a
/// bare default level (`info`, `warn,maas=debug`), or info and why the value was refused.
/// (tracing-subscriber's `Targets`: EnvFilter's span and field filters would bring a regex
/// engine into the Lambda package for what a function's logs do not need.)
pub fn filter(value: Option<&str>) -> (Targets, Option<String>) {
    let info = || Targets::new().with_default(tracing::Level::INFO);
    match value.map(str::trim).filter(|v| !v.is_empty()) {
        None => (info(), None),
        Some(v) => match v.parse() {
            Ok(filter) => (filter, None),
            Err(e) => (info(), Some(format!("{v:?}: {e}"))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::filter;
    use tracing::Level;

    #[test]
    fn directives_set_levels_per_target_and_a_bad_value_falls_back_to_info() {
        let (f, invalid) = filter(Some("warn,maas=debug"));
        assert!(invalid.is_none());
        assert!(f.would_enable("maas::server", &Level::DEBUG));
        assert!(!f.would_enable("hyper", &Level::INFO));
        assert!(f.would_enable("hyper", &Level::WARN));

        let (f, invalid) = filter(None);
        assert!(invalid.is_none());
        assert!(f.would_enable("maas", &Level::INFO));
        assert!(!f.would_enable("maas", &Level::DEBUG));

        let (f, invalid) = filter(Some("maas=loud"));
        let reason = invalid.expect("refused");
        assert!(reason.contains("maas=loud"), "{reason}");
        assert!(f.would_enable("maas", &Level::INFO));
    }
}
