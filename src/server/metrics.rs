//! One CloudWatch Embedded Metric Format line per prediction (and per text generation),
//! written to stdout, so Lambda's log pipeline turns it into metrics without any API call.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::json;

/// The CloudWatch namespace of the metrics.
pub const NAMESPACE: &str = "maas";

/// What one prediction request measured.
#[derive(Debug, Clone, PartialEq)]
pub struct PredictionMetrics<'a> {
    pub model: &'a str,
    pub version: Option<u64>,
    pub route: &'a str,
    pub rows: usize,
    pub inference_ms: f64,
    pub total_ms: f64,
    pub request_id: Option<&'a str>,
}

/// The EMF document of `metrics` (name, unit, value) for `model` and `version`.
fn emf(
    model: &str,
    version: Option<u64>,
    route: &str,
    metrics: &[(&str, &str, f64)],
    request_id: Option<&str>,
) -> serde_json::Value {
    let timestamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let declared: Vec<serde_json::Value> = metrics
        .iter()
        .map(|(name, unit, _)| json!({"Name": name, "Unit": unit}))
        .collect();
    let mut doc = json!({
        "_aws": {
            "Timestamp": timestamp,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["model", "version"]],
                "Metrics": declared
            }]
        },
        "model": model,
        "version": version.map(|v| v.to_string()).unwrap_or_else(|| "file".into()),
        "route": route,
    });
    for (name, _, value) in metrics {
        doc[*name] = json!(value);
    }
    if let Some(id) = request_id {
        doc["requestId"] = id.into();
    }
    doc
}

impl PredictionMetrics<'_> {
    /// The EMF document: dimensions model and version, metrics rows, inference_ms, total_ms.
    pub fn to_emf(&self) -> serde_json::Value {
        emf(
            self.model,
            self.version,
            self.route,
            &[
                ("rows", "Count", self.rows as f64),
                ("inference_ms", "Milliseconds", self.inference_ms),
                ("total_ms", "Milliseconds", self.total_ms),
            ],
            self.request_id,
        )
    }

    /// Prints the EMF line to stdout.
    pub fn emit(&self) {
        println!("{}", self.to_emf());
    }
}

/// What one finished text generation measured.
#[derive(Debug, Clone, PartialEq)]
pub struct GenerationMetrics<'a> {
    pub model: &'a str,
    pub version: Option<u64>,
    pub route: &'a str,
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    /// From the request's arrival to the first token.
    pub time_to_first_token_ms: f64,
    /// Tokens after the first per second of their steps.
    pub tokens_per_second: f64,
}

impl GenerationMetrics<'_> {
    /// The EMF document: dimensions model and version; token counts, time to first token and
    /// decoding speed.
    pub fn to_emf(&self) -> serde_json::Value {
        emf(
            self.model,
            self.version,
            self.route,
            &[
                ("prompt_tokens", "Count", self.prompt_tokens as f64),
                ("completion_tokens", "Count", self.completion_tokens as f64),
                (
                    "time_to_first_token_ms",
                    "Milliseconds",
                    self.time_to_first_token_ms,
                ),
                ("tokens_per_second", "Count/Second", self.tokens_per_second),
            ],
            None,
        )
    }

    /// Prints the EMF line to stdout.
    pub fn emit(&self) {
        println!("{}", self.to_emf());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_document_declares_its_metrics_and_dimensions() {
        let m = PredictionMetrics {
            model: "digits",
            version: Some(3),
            route: "/predict",
            rows: 2,
            inference_ms: 0.25,
            total_ms: 0.5,
            request_id: Some("abc"),
        };
        let doc = m.to_emf();
        let cw = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], "maas");
        assert_eq!(cw["Dimensions"][0], json!(["model", "version"]));
        for (i, name) in ["rows", "inference_ms", "total_ms"].iter().enumerate() {
            assert_eq!(cw["Metrics"][i]["Name"], *name);
            assert!(doc.get(*name).is_some(), "{name} has a value");
        }
        assert_eq!(doc["version"], "3");
        assert_eq!(doc["requestId"], "abc");
        assert!(doc["_aws"]["Timestamp"].as_u64().unwrap() > 1_600_000_000_000);

        let generation = GenerationMetrics {
            model: "llama",
            version: None,
            route: "/v1/completions",
            prompt_tokens: 6,
            completion_tokens: 8,
            time_to_first_token_ms: 3.5,
            tokens_per_second: 900.0,
        }
        .to_emf();
        let cw = &generation["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Metrics"][3]["Name"], "tokens_per_second");
        assert_eq!(generation["completion_tokens"], 8.0);
        assert_eq!(generation["version"], "file");
    }
}
