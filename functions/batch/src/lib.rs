//! The batch scoring Lambda function: finds the objects an event names (S3 notifications,
//! the same through EventBridge or SQS, Step Functions Distributed Map items with an optional
//! byte range) and scores each with `maas::batch`, which does all the work.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use maas::batch::{self, BatchSettings, Piece, Report};
use maas::loader::ServedModel;
use maas::objects::Location;
use serde_json::{json, Value};

/// An event this function cannot take.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("the event names no object: expected S3 notification records, an EventBridge \"Object Created\" event, SQS records of those, or a Distributed Map item {{\"bucket\", \"key\"[, \"range\": [start, end]]}}")]
    Unknown,
    #[error("{0}")]
    Invalid(String),
}

/// The batch settings from the environment: `MAAS_BATCH_OUTPUT` (required, the output
/// `s3://bucket/prefix/`) and `MAAS_BATCH_KEEP_COLUMNS` (comma-separated).
pub fn settings_from_env() -> Result<BatchSettings, String> {
    let output = std::env::var("MAAS_BATCH_OUTPUT").map_err(|_| {
        "MAAS_BATCH_OUTPUT is not set: give the output location, e.g. s3://bucket/scored/"
            .to_string()
    })?;
    let keep = std::env::var("MAAS_BATCH_KEEP_COLUMNS")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .map(str::to_string)
        .collect();
    Ok(BatchSettings {
        output: output
            .parse()
            .map_err(|e: maas::objects::ObjectError| e.to_string())?,
        keep,
    })
}

/// The invocation's deadline (milliseconds since the epoch, as the runtime gives it) as an
/// instant; `None` when it is not in the future.
pub fn deadline(epoch_ms: u64) -> Option<Instant> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .ok()?
        .as_millis() as u64;
    let left = epoch_ms.checked_sub(now)?;
    Some(Instant::now() + Duration::from_millis(left))
}

/// What an event asks for: objects, or SQS messages each naming objects.
#[derive(Debug, Clone, PartialEq)]
pub enum Work {
    Objects(Vec<Piece>),
    Messages(Vec<(String, Result<Vec<Piece>, String>)>),
}

/// S3 notification keys are URL-encoded, with `+` for a space.
fn decode_key(key: &str) -> String {
    percent_encoding::percent_decode_str(&key.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value.pointer(pointer).and_then(Value::as_str)
}

/// The objects one event names (not SQS).
fn pieces(event: &Value) -> Result<Vec<Piece>, EventError> {
    // S3 notification: several records; keys URL-encoded
    if let Some(records) = event.get("Records").and_then(Value::as_array) {
        let mut found = Vec::new();
        for record in records {
            if text(record, "/eventSource") != Some("aws:s3") {
                return Err(EventError::Invalid(format!(
                    "a record from {} is not an S3 notification",
                    text(record, "/eventSource").unwrap_or("an unknown source")
                )));
            }
            if !text(record, "/eventName")
                .unwrap_or("ObjectCreated")
                .starts_with("ObjectCreated")
            {
                continue;
            }
            let (Some(bucket), Some(key)) = (
                text(record, "/s3/bucket/name"),
                text(record, "/s3/object/key"),
            ) else {
                return Err(EventError::Invalid(
                    "an S3 record without bucket name or object key".into(),
                ));
            };
            found.push(Piece {
                source: Location::S3 {
                    bucket: bucket.to_string(),
                    key: decode_key(key),
                },
                range: None,
            });
        }
        return Ok(found);
    }
    // S3's test notification when a bucket's notifications are set up: nothing to do
    if text(event, "/Event") == Some("s3:TestEvent") {
        return Ok(Vec::new());
    }
    // EventBridge: one object, key as it is
    if text(event, "/source") == Some("aws.s3") {
        if text(event, "/detail-type") != Some("Object Created") {
            return Ok(Vec::new());
        }
        let (Some(bucket), Some(key)) = (
            text(event, "/detail/bucket/name"),
            text(event, "/detail/object/key"),
        ) else {
            return Err(EventError::Invalid(
                "an Object Created event without detail.bucket.name or detail.object.key".into(),
            ));
        };
        return Ok(vec![Piece {
            source: Location::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            },
            range: None,
        }]);
    }
    // Distributed Map item
    if let (Some(bucket), Some(key)) = (text(event, "/bucket"), text(event, "/key")) {
        let range = match event.get("range") {
            None | Some(Value::Null) => None,
            Some(Value::Array(bounds)) => match bounds.as_slice() {
                [start, end] => match (start.as_u64(), end.as_u64()) {
                    (Some(s), Some(e)) if s <= e => Some((s, e)),
                    _ => {
                        return Err(EventError::Invalid(format!(
                            "range {} is not [start, end) with start <= end, in bytes",
                            Value::Array(bounds.clone())
                        )))
                    }
                },
                _ => return Err(EventError::Invalid("range must be [start, end]".into())),
            },
            Some(other) => {
                return Err(EventError::Invalid(format!(
                    "range must be [start, end], got {other}"
                )))
            }
        };
        return Ok(vec![Piece {
            source: Location::S3 {
                bucket: bucket.to_string(),
                key: key.to_string(),
            },
            range,
        }]);
    }
    Err(EventError::Unknown)
}

/// Reads an event: SQS records carry the other shapes in their bodies.
pub fn work_of(event: &Value) -> Result<Work, EventError> {
    let records = event.get("Records").and_then(Value::as_array);
    let from_sqs = records
        .and_then(|r| r.first())
        .is_some_and(|r| text(r, "/eventSource") == Some("aws:sqs"));
    if !from_sqs {
        return pieces(event).map(Work::Objects);
    }
    let messages = records
        .into_iter()
        .flatten()
        .map(|record| {
            let id = text(record, "/messageId").unwrap_or_default().to_string();
            let body = text(record, "/body").unwrap_or_default();
            let found = serde_json::from_str::<Value>(body)
                .map_err(|e| format!("the message body is not JSON: {e}"))
                .and_then(|body| pieces(&body).map_err(|e| e.to_string()));
            (id, found)
        })
        .collect();
    Ok(Work::Messages(messages))
}

/// A planning event, `{"plan": {"bucket", "key", "range_mib"}}`: the Distributed Map items
/// that cut one object into ranges of `range_mib` MiB (at most `MAX_RANGES`, wider ranges
/// otherwise), for the state machine that scores a large object in parallel.
pub async fn plan(event: &Value) -> Result<Option<Value>, lambda_runtime::Error> {
    let Some(plan) = event.get("plan") else {
        return Ok(None);
    };
    let (Some(bucket), Some(key)) = (text(plan, "/bucket"), text(plan, "/key")) else {
        return Err("plan needs bucket and key".into());
    };
    let range_mib = plan
        .get("range_mib")
        .and_then(Value::as_u64)
        .unwrap_or(64)
        .max(1);
    let source = Location::S3 {
        bucket: bucket.to_string(),
        key: key.to_string(),
    };
    let size = maas::objects::head(&source).await?.size;
    let range = (range_mib << 20).max(size.div_ceil(MAX_RANGES));
    let items: Vec<Value> = batch::ranges(size, range)
        .into_iter()
        .map(|(start, end)| json!({ "bucket": bucket, "key": key, "range": [start, end] }))
        .collect();
    Ok(Some(json!({ "size": size, "items": items })))
}

/// Most ranges a plan makes: its items travel in the state's payload (256 KiB).
pub const MAX_RANGES: u64 = 2000;

/// Scores what an event names. A direct, S3 or EventBridge invocation answers the reports and
/// fails (so that Lambda or Step Functions retry it) when a piece could not be scored or ran
/// out of time; an SQS batch answers `batchItemFailures` naming the messages to retry.
pub async fn handle(
    event: Value,
    model: Arc<ServedModel>,
    settings: &BatchSettings,
    deadline: Option<Instant>,
) -> Result<Value, lambda_runtime::Error> {
    if let Some(planned) = plan(&event).await? {
        return Ok(planned);
    }
    let ignore = |_: u64| {};
    match work_of(&event)? {
        Work::Objects(pieces) => {
            let mut reports = Vec::new();
            for piece in &pieces {
                let report = batch::score(model.clone(), settings, piece, deadline, &ignore)
                    .await
                    .map_err(|e| format!("{}: {e}", piece.source))?;
                log(&report);
                if !report.complete {
                    return Err(format!(
                        "{}: stopped at byte {}{} before the function's deadline; nothing was written, retry with more time or smaller ranges",
                        report.source,
                        report.reached_offset,
                        report
                            .reached_line
                            .map(|l| format!(" (line {l})"))
                            .unwrap_or_default()
                    )
                    .into());
                }
                reports.push(report);
            }
            Ok(json!({ "reports": reports }))
        }
        Work::Messages(messages) => {
            let mut failures = Vec::new();
            let mut reports = Vec::new();
            for (id, found) in messages {
                let mut ok = true;
                match found {
                    Err(reason) => {
                        tracing::error!(message = %id, %reason, "message refused");
                        ok = false;
                    }
                    Ok(pieces) => {
                        for piece in &pieces {
                            match batch::score(model.clone(), settings, piece, deadline, &ignore)
                                .await
                            {
                                Ok(report) if report.complete => {
                                    log(&report);
                                    reports.push(report);
                                }
                                Ok(report) => {
                                    log(&report);
                                    ok = false;
                                }
                                Err(e) => {
                                    tracing::error!(message = %id, source = %piece.source, error = %e, "scoring failed");
                                    ok = false;
                                }
                            }
                        }
                    }
                }
                if !ok {
                    failures.push(json!({ "itemIdentifier": id }));
                }
            }
            Ok(json!({ "batchItemFailures": failures, "reports": reports }))
        }
    }
}

fn log(report: &Report) {
    tracing::info!(
        source = %report.source,
        output = %report.output,
        rows = report.rows,
        scored = report.scored,
        failed = report.failed,
        skipped = report.skipped,
        complete = report.complete,
        "scored"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(name: &str) -> Value {
        let path = format!("{}/events/{name}", env!("CARGO_MANIFEST_DIR"));
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    fn s3(bucket: &str, key: &str, range: Option<(u64, u64)>) -> Piece {
        Piece {
            source: Location::S3 {
                bucket: bucket.into(),
                key: key.into(),
            },
            range,
        }
    }

    #[test]
    fn every_event_shape_names_its_objects() {
        assert_eq!(
            work_of(&event("s3-notification.json")).unwrap(),
            Work::Objects(vec![
                s3("maas-batch", "in/digits a.csv", None),
                s3("maas-batch", "in/digits-b.jsonl", None)
            ])
        );
        assert_eq!(
            work_of(&event("eventbridge.json")).unwrap(),
            Work::Objects(vec![s3("maas-batch", "in/digits a.csv", None)])
        );
        assert_eq!(
            work_of(&event("map-item.json")).unwrap(),
            Work::Objects(vec![s3("maas-batch", "in/digits a.csv", None)])
        );
        assert_eq!(
            work_of(&event("map-range.json")).unwrap(),
            Work::Objects(vec![s3(
                "maas-batch",
                "in/digits a.csv",
                Some((1000, 5000))
            )])
        );
        let Work::Messages(messages) = work_of(&event("sqs.json")).unwrap() else {
            panic!("SQS records are messages");
        };
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].0, "msg-good");
        assert_eq!(
            messages[0].1,
            Ok(vec![s3("maas-batch", "in/digits a.csv", None)])
        );
        assert_eq!(messages[1].0, "msg-bad");
        assert_eq!(
            messages[1].1,
            Ok(vec![s3("maas-batch", "in/missing.csv", None)])
        );
    }

    #[test]
    fn events_it_cannot_take_say_why() {
        let unknown = work_of(&json!({"hello": "world"})).unwrap_err().to_string();
        assert!(unknown.contains("Distributed Map item"), "{unknown}");
        let range = work_of(&json!({"bucket": "b", "key": "k", "range": [9, 1]}))
            .unwrap_err()
            .to_string();
        assert!(range.contains("start <= end"), "{range}");
        let Work::Messages(m) = work_of(
            &json!({"Records": [{"eventSource": "aws:sqs", "messageId": "x", "body": "not json"}]}),
        )
        .unwrap() else {
            panic!()
        };
        assert!(m[0].1.as_ref().unwrap_err().contains("not JSON"));
        assert_eq!(
            work_of(&json!({"Event": "s3:TestEvent"})).unwrap(),
            Work::Objects(vec![])
        );
    }
}
