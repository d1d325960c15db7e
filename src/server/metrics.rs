//! One CloudWatch Embedded Metric Format line per prediction, written to stdout, so Lambda's
//! log pipeline turns it into metrics without any API call.

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

impl PredictionMetrics<'_> {
    /// The EMF document: dimensions model and version, metrics rows, inference_ms, total_ms.
    pub fn to_emf(&self) -> serde_json::Value {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let mut doc = json!({
            "_aws": {
                "Timestamp": timestamp,
                "CloudWatchMetrics": [{
                    "Namespace": NAMESPACE,
                    "Dimensions": [["model", "version"]],
                    "Metrics": [
                        {"Name": "rows", "Unit": "Count"},
                        {"Name": "inference_ms", "Unit": "Milliseconds"},
                        {"Name": "total_ms", "Unit": "Milliseconds"}
                    ]
                }]
            },
            "model": self.model,
            "version": self.version.map(|v| v.to_string()).unwrap_or_else(|| "file".into()),
            "route": self.route,
            "rows": self.rows,
            "inference_ms": self.inference_ms,
            "total_ms": self.total_ms,
        });
        if let Some(id) = self.request_id {
            doc["requestId"] = id.into();
        }
        doc
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
    }
}
