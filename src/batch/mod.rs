//! Batch scoring: one object (or one byte range of it) of CSV rows or JSON lines, in a folder or
//! on S3, streamed through a loaded model a batch of rows at a time into
//! `<output>/<key>.out.jsonl`, one answer line per input line in order, with the rows that
//! cannot be scored in `<key>.errors.jsonl`. Written once (visible only when complete), skipped
//! when an output of the same source version and model already exists, stopped cleanly before
//! a deadline. What `maas batch` and the batch Lambda function both run.

pub mod lines;
pub mod rows;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Map, Value};

use crate::loader::ServedModel;
use crate::objects::{head, open, output_stamp, Location, ObjectError, Output};
use crate::protocol::{self, NativeResponse};
use crate::tensor::Tensor;
use lines::{read_from, RangeLines};
use rows::{Format, LayoutError, Parsed, RowParser};

/// Rows per call to the model.
pub const BATCH_ROWS: usize = 1024;
/// How long before its deadline a run stops: time to abort its outputs and answer.
pub const DEADLINE_MARGIN: Duration = Duration::from_secs(5);

/// The stamp keys of an output (S3 user metadata, or a local output's sidecar).
const SOURCE_STAMP: &str = "maas-source-stamp";
const MODEL_STAMP: &str = "maas-model";

/// Where outputs go and what they carry.
#[derive(Debug, Clone)]
pub struct BatchSettings {
    /// The output folder or `s3://bucket/prefix/`.
    pub output: Location,
    /// Input columns (or JSON fields) copied to each answer line, e.g. an id.
    pub keep: Vec<String>,
}

/// One piece of work: an object, or the lines that start in `[start, end)` of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Piece {
    pub source: Location,
    pub range: Option<(u64, u64)>,
}

/// What one piece came to: the invocation's result, one per piece.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub range: Option<(u64, u64)>,
    pub output: String,
    /// The errors file, when some lines could not be scored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub errors_output: Option<String>,
    /// Data lines read (the header and blank lines not counted).
    pub rows: u64,
    pub scored: u64,
    pub failed: u64,
    /// An output of the same source version and model existed: nothing was done.
    pub skipped: bool,
    /// False when the deadline came first: nothing was written, `reached_offset` says how
    /// far it got.
    pub complete: bool,
    /// The byte offset after the last line read.
    pub reached_offset: u64,
    /// The number of the last line read, when the piece starts at the object's first byte
    /// (a range that starts later cannot know its line numbers without reading what precedes).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reached_line: Option<u64>,
    pub model: String,
    pub model_version: Option<u64>,
}

/// Why a piece could not be scored at all.
#[derive(Debug, thiserror::Error)]
pub enum BatchError {
    #[error(transparent)]
    Object(#[from] ObjectError),
    #[error("{object}: {error}")]
    Layout { object: String, error: LayoutError },
    #[error("reading {object}: {error}")]
    Read {
        object: String,
        error: std::io::Error,
    },
    #[error("range [{start}, {end}) of {object} is not a range of bytes: start after end")]
    BadRange {
        object: String,
        start: u64,
        end: u64,
    },
    #[error("the scoring stopped: {0}")]
    Stopped(String),
}

/// The byte ranges `[start, end)` that cut an object of `size` bytes into pieces of at most
/// `range_bytes` (at least one byte each): what `maas batch` and a Distributed Map over the
/// ranges of one large object score in parallel.
pub fn ranges(size: u64, range_bytes: u64) -> Vec<(u64, u64)> {
    let step = range_bytes.max(1);
    let mut out = Vec::new();
    let mut start = 0;
    while start < size {
        let end = start.saturating_add(step).min(size);
        out.push((start, end));
        start = end;
    }
    out
}

/// Where the answers and the errors of a piece go: `<output>/<key>[.<start>-<end>].out.jsonl`
/// and `.errors.jsonl`. An S3 source keeps its whole key; a file, its name. Range numbers
/// are zero-padded, so the outputs of one object list in the order of its lines.
pub fn output_names(piece: &Piece, output: &Location) -> (Location, Location) {
    let name = match &piece.source {
        Location::S3 { key, .. } => key.clone(),
        Location::File(_) => piece.source.file_name(),
    };
    let stem = match piece.range {
        Some((start, end)) => format!("{name}.{start:015}-{end:015}"),
        None => name,
    };
    (
        output.join(&format!("{stem}.out.jsonl")),
        output.join(&format!("{stem}.errors.jsonl")),
    )
}

/// Scores one piece with `model`; stops cleanly (writing nothing) when `deadline` comes within
/// [`DEADLINE_MARGIN`].
pub async fn score(
    model: Arc<ServedModel>,
    settings: &BatchSettings,
    piece: &Piece,
    deadline: Option<Instant>,
    progress: &(dyn Fn(u64) + Send + Sync),
) -> Result<Report, BatchError> {
    let source = piece.source.to_string();
    let info = head(&piece.source).await?;
    let (start, end) = piece.range.unwrap_or((0, info.size));
    if start > end {
        return Err(BatchError::BadRange {
            object: source,
            start,
            end,
        });
    }
    let end = end.min(info.size);
    let (answers_at, errors_at) = output_names(piece, &settings.output);
    let stamp = HashMap::from([
        (SOURCE_STAMP.to_string(), info.stamp.clone()),
        (
            MODEL_STAMP.to_string(),
            format!(
                "{}@{}",
                model.name,
                model
                    .version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| model.sha256.clone())
            ),
        ),
    ]);
    let mut report = Report {
        source: source.clone(),
        range: piece.range,
        output: answers_at.to_string(),
        errors_output: None,
        rows: 0,
        scored: 0,
        failed: 0,
        skipped: false,
        complete: true,
        reached_offset: start,
        reached_line: None,
        model: model.name.clone(),
        model_version: model.version,
    };
    if output_stamp(&answers_at).await?.is_some_and(|existing| {
        stamp
            .iter()
            .all(|(k, v)| existing.get(k).map(String::as_str) == Some(v.as_str()))
    }) {
        report.skipped = true;
        report.reached_offset = end;
        return Ok(report);
    }

    if start >= end {
        // nothing starts in this range, or the object is empty: an empty answer file
        let out = Writer::create(answers_at, errors_at, stamp, model).await?;
        report.reached_offset = end;
        report.errors_output = out.finish().await?;
        return Ok(report);
    }
    let read_error = |error| BatchError::Read {
        object: source.clone(),
        error,
    };
    let mut lines = RangeLines::new(
        open(&piece.source, read_from(start)).await?,
        start,
        Some(end),
    );
    // the object's first line: its header, and what tells JSON lines from CSV. A range from
    // the first byte reads it from its own stream, and takes it up again in the loop below
    let mut replay = None;
    let first = if start == 0 {
        replay = lines.next_line().await.map_err(read_error)?;
        replay.as_ref().map(|l| l.text.clone())
    } else {
        RangeLines::new(open(&piece.source, 0).await?, 0, None)
            .next_line()
            .await
            .map_err(read_error)?
            .map(|l| l.text)
    }
    .unwrap_or_default();
    let format = Format::detect(&piece.source.file_name(), &first);
    let parser = RowParser::new(&model.model, format, &first, &settings.keep).map_err(|error| {
        BatchError::Layout {
            object: source.clone(),
            error,
        }
    })?;
    let mut out = Writer::create(answers_at, errors_at, stamp, model.clone()).await?;
    let mut pending = Pending::default();
    // line numbers are known when reading from the start of the object
    let mut line_number = (start == 0).then_some(0u64);
    // every way out of the loop but its end leaves nothing behind: the outputs are aborted
    // (no multipart upload left open on S3, no partial file in a folder)
    let scored: Result<bool, BatchError> = async {
        loop {
            if deadline.is_some_and(|d| Instant::now() + DEADLINE_MARGIN >= d) {
                return Ok(false);
            }
            let next = match replay.take() {
                Some(line) => Some(line),
                None => lines.next_line().await.map_err(read_error)?,
            };
            let Some(line) = next else {
                break;
            };
            report.reached_offset = line.offset + line.text.len() as u64 + 1;
            line_number = line_number.map(|n| n + 1);
            report.reached_line = line_number;
            if format == Format::Csv && line.offset == 0 {
                continue;
            }
            let parsed = parser.parse(&line.text);
            if !matches!(parsed, Ok(Parsed::Blank)) {
                report.rows += 1;
            }
            match parsed {
                Ok(Parsed::Blank) => {}
                Ok(Parsed::Row { features, keep }) => {
                    pending.push(features, keep, line.offset, line_number);
                    if pending.len() >= BATCH_ROWS {
                        pending.flush(&mut out, &mut report).await?;
                        progress(report.rows);
                    }
                }
                Ok(Parsed::Named { inputs, keep }) => {
                    // rows before it go out first, so that answers keep the input's order
                    pending.flush(&mut out, &mut report).await?;
                    match run_named(&model, inputs).await {
                        Ok(outputs) => {
                            let mut object = keep;
                            object.insert("outputs".into(), outputs);
                            out.answer(object).await?;
                            report.scored += 1;
                        }
                        Err(reason) => {
                            out.error(line.offset, line_number, &reason).await?;
                            report.failed += 1;
                        }
                    }
                }
                Err(reason) => {
                    pending.flush(&mut out, &mut report).await?;
                    out.error(line.offset, line_number, &reason).await?;
                    report.failed += 1;
                }
            }
        }
        pending.flush(&mut out, &mut report).await?;
        Ok(true)
    }
    .await;
    match scored {
        Ok(true) => {}
        Ok(false) => {
            out.abort().await;
            report.complete = false;
            return Ok(report);
        }
        Err(error) => {
            out.abort().await;
            return Err(error);
        }
    }
    progress(report.rows);
    report.reached_offset = report.reached_offset.max(end);
    report.errors_output = out.finish().await?;
    Ok(report)
}

/// The outputs of one piece: answers, and errors once there is one.
struct Writer {
    answers: Output,
    errors: Option<Output>,
    errors_at: Location,
    stamp: HashMap<String, String>,
    model: Arc<ServedModel>,
    buffer: Vec<u8>,
}

impl Writer {
    async fn create(
        answers_at: Location,
        errors_at: Location,
        stamp: HashMap<String, String>,
        model: Arc<ServedModel>,
    ) -> Result<Writer, BatchError> {
        Ok(Writer {
            answers: Output::create(answers_at, stamp.clone()).await?,
            errors: None,
            errors_at,
            stamp,
            model,
            buffer: Vec::new(),
        })
    }

    /// One answer line, with the model's name and version.
    async fn answer(&mut self, mut object: Map<String, Value>) -> Result<(), BatchError> {
        object.insert("model".into(), Value::String(self.model.name.clone()));
        object.insert(
            "model_version".into(),
            self.model.version.map_or(Value::Null, Value::from),
        );
        self.buffer.clear();
        serde_json::to_writer(&mut self.buffer, &object)
            .map_err(|e| BatchError::Stopped(e.to_string()))?;
        self.buffer.push(b'\n');
        self.answers.write(&self.buffer).await?;
        Ok(())
    }

    /// One line that could not be scored: where it is and why.
    async fn error(
        &mut self,
        offset: u64,
        line: Option<u64>,
        reason: &str,
    ) -> Result<(), BatchError> {
        let errors = match &mut self.errors {
            Some(errors) => errors,
            None => self
                .errors
                .insert(Output::create(self.errors_at.clone(), self.stamp.clone()).await?),
        };
        let mut entry = serde_json::json!({ "offset": offset, "error": reason });
        if let Some(line) = line {
            entry["line"] = Value::from(line);
        }
        let mut text = entry.to_string();
        text.push('\n');
        errors.write(text.as_bytes()).await?;
        Ok(())
    }

    /// Makes both outputs visible, the errors first (an answers file that exists is a finished
    /// run); the errors' location, when there were some.
    async fn finish(self) -> Result<Option<String>, BatchError> {
        let mut errors_output = None;
        if let Some(errors) = self.errors {
            errors_output = Some(errors.location().to_string());
            if let Err(error) = errors.finish().await {
                self.answers.abort().await;
                return Err(error.into());
            }
        }
        self.answers.finish().await?;
        Ok(errors_output)
    }

    /// Drops both outputs: nothing appears.
    async fn abort(self) {
        self.answers.abort().await;
        if let Some(errors) = self.errors {
            errors.abort().await;
        }
    }
}

/// Rows waiting for the model.
#[derive(Default)]
struct Pending {
    values: Vec<f32>,
    keeps: Vec<Map<String, Value>>,
    places: Vec<(u64, Option<u64>)>,
    width: usize,
}

impl Pending {
    fn len(&self) -> usize {
        self.keeps.len()
    }

    fn push(
        &mut self,
        features: Vec<f32>,
        keep: Map<String, Value>,
        offset: u64,
        line: Option<u64>,
    ) {
        self.width = features.len();
        self.values.extend(features);
        self.keeps.push(keep);
        self.places.push((offset, line));
    }

    /// Runs the waiting rows and writes their answers (or, when the batch fails as a whole,
    /// one error per row).
    async fn flush(&mut self, out: &mut Writer, report: &mut Report) -> Result<(), BatchError> {
        if self.keeps.is_empty() {
            return Ok(());
        }
        let rows = self.keeps.len();
        let values = std::mem::take(&mut self.values);
        let keeps = std::mem::take(&mut self.keeps);
        let places = std::mem::take(&mut self.places);
        let served = out.model.clone();
        let width = self.width;
        let answered = tokio::task::spawn_blocking(move || {
            let name = served
                .model
                .inputs()
                .first()
                .map_or("input", |i| i.name.as_str());
            let tensor =
                Tensor::from_f32(name, vec![rows, width], &values).map_err(|e| e.to_string())?;
            let outputs = served.model.run(&[tensor]).map_err(|e| e.to_string())?;
            protocol::native_response(&served.model, &served.name, served.version, outputs)
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| BatchError::Stopped(e.to_string()))?;
        match answered {
            Ok(response) => {
                for (i, keep) in keeps.into_iter().enumerate() {
                    let mut object = keep;
                    row_answer(&response, i, &mut object);
                    out.answer(object).await?;
                }
                report.scored += rows as u64;
            }
            Err(reason) => {
                for (offset, line) in places {
                    out.error(offset, line, &reason).await?;
                }
                report.failed += rows as u64;
            }
        }
        Ok(())
    }
}

/// Row `i` of a batch's native answer, into `object`.
fn row_answer(response: &NativeResponse, i: usize, object: &mut Map<String, Value>) {
    let json = |v: Result<Value, serde_json::Error>| v.unwrap_or(Value::Null);
    match response {
        NativeResponse::Classified(r) => {
            if let Some(p) = r.predictions.get(i) {
                object.insert("label".into(), Value::String(p.label.clone()));
                object.insert(
                    "probability".into(),
                    json(serde_json::to_value(p.probability)),
                );
                object.insert(
                    "probabilities".into(),
                    json(serde_json::to_value(&p.probabilities)),
                );
            }
        }
        NativeResponse::Regressed(r) => {
            if let Some(Value::Object(fields)) =
                r.predictions.get(i).map(|p| json(serde_json::to_value(p)))
            {
                object.extend(fields);
            }
        }
        NativeResponse::Tensors(r) => {
            let outputs: Map<String, Value> = r
                .outputs
                .iter()
                .map(|(name, output)| {
                    let row = match &output.data {
                        Value::Array(rows) => rows.get(i).cloned().unwrap_or(Value::Null),
                        other => other.clone(),
                    };
                    (name.clone(), row)
                })
                .collect();
            object.insert("outputs".into(), Value::Object(outputs));
        }
    }
}

/// Runs one line of named inputs on its own.
async fn run_named(
    model: &Arc<ServedModel>,
    inputs: protocol::NativeInputs,
) -> Result<Value, String> {
    let served = model.clone();
    tokio::task::spawn_blocking(move || {
        let tensors = protocol::native_tensors(&inputs, &served.model, usize::MAX / 16)
            .map_err(|e| e.to_string())?;
        let outputs = served.model.run(&tensors).map_err(|e| e.to_string())?;
        let response =
            protocol::native_response(&served.model, &served.name, served.version, outputs)
                .map_err(|e| e.to_string())?;
        Ok(match serde_json::to_value(&response) {
            Ok(Value::Object(mut object)) => object
                .remove("outputs")
                .or_else(|| object.remove("predictions"))
                .unwrap_or(Value::Null),
            _ => Value::Null,
        })
    })
    .await
    .map_err(|e| e.to_string())?
}
