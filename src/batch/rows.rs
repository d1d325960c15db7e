//! One input line to what the model takes: a CSV row (columns matched to the model's feature
//! names by the object's header, as `maas eval` does) or a JSON line (`{"inputs": [...]}`, a
//! row; `{"inputs": {"name": ...}}`, named inputs; or an object of features by name), plus the
//! columns the caller asked to keep.

use serde_json::{Map, Value};

use crate::features::{split_line, ColumnError, FeatureColumns};
use crate::inference::LoadedModel;
use crate::number::{finite_f32, NotAFeature};
use crate::protocol::{NativeInputs, PredictRequest};

/// How the lines of an object are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// A header line, then one row per line.
    Csv,
    /// One JSON object per line.
    JsonLines,
}

impl Format {
    /// By the object's name (`.csv`; `.jsonl`, `.ndjson`, `.json`), else by its first line.
    pub fn detect(name: &str, first_line: &[u8]) -> Format {
        let lower = name.to_ascii_lowercase();
        let json_name = [".jsonl", ".ndjson", ".json"]
            .iter()
            .any(|e| lower.ends_with(e));
        let json_start = first_line.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if !lower.ends_with(".csv") && (json_name || json_start) {
            Format::JsonLines
        } else {
            Format::Csv
        }
    }
}

/// A line read for the model.
#[derive(Debug, Clone, PartialEq)]
pub enum Parsed {
    /// A row of features for a model that takes rows.
    Row {
        features: Vec<f32>,
        keep: Map<String, Value>,
    },
    /// Named inputs, run on their own.
    Named {
        inputs: NativeInputs,
        keep: Map<String, Value>,
    },
    /// An empty line: skipped.
    Blank,
}

/// Why the job cannot read an object at all (every line would fail the same way).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LayoutError {
    #[error("the CSV header has no column '{0}' that the model needs (its features are matched by name)")]
    MissingFeature(String),
    #[error(
        "the CSV header has no column '{0}' to keep (MAAS_BATCH_KEEP_COLUMNS / --keep-columns)"
    )]
    MissingKeep(String),
    #[error("the CSV header has {found} columns besides those kept, the model takes {expected} features and names none of them")]
    FeatureCount { found: usize, expected: usize },
    #[error("this model takes named inputs ({0}): score JSON lines of {{\"inputs\": {{\"name\": ...}}}}, not CSV")]
    NamedInputs(String),
}

/// Reads lines of one object for one model.
pub struct RowParser {
    format: Format,
    n_features: Option<usize>,
    feature_names: Vec<String>,
    keep: Vec<String>,
    /// CSV: the columns of the features, and of each kept column.
    feature_columns: FeatureColumns,
    keep_columns: Vec<usize>,
}

impl RowParser {
    /// A parser for `format`; `header` is the object's first line (CSV). `keep` names columns
    /// (or JSON fields) copied to each output line.
    pub fn new(
        model: &LoadedModel,
        format: Format,
        header: &[u8],
        keep: &[String],
    ) -> Result<RowParser, LayoutError> {
        let mut parser = RowParser {
            format,
            n_features: model.n_features(),
            feature_names: model.feature_names().to_vec(),
            keep: keep.to_vec(),
            feature_columns: FeatureColumns::except(0, &[]),
            keep_columns: Vec::new(),
        };
        if format == Format::JsonLines {
            return Ok(parser);
        }
        let Some(n_features) = parser.n_features else {
            return Err(LayoutError::NamedInputs(
                model
                    .inputs()
                    .iter()
                    .map(|i| format!("'{}' {} {:?}", i.name, i.dtype, i.shape))
                    .collect::<Vec<_>>()
                    .join(", "),
            ));
        };
        let columns = split_line(header).unwrap_or_default();
        for name in keep {
            let i = columns
                .iter()
                .position(|c| c == name)
                .ok_or_else(|| LayoutError::MissingKeep(name.clone()))?;
            parser.keep_columns.push(i);
        }
        parser.feature_columns = FeatureColumns::for_model(
            &columns,
            n_features,
            &parser.feature_names,
            &parser.keep_columns,
        )
        .map_err(|e| match e {
            ColumnError::MissingFeature(name) => LayoutError::MissingFeature(name),
            ColumnError::FeatureCount { found, expected } => {
                LayoutError::FeatureCount { found, expected }
            }
        })?;
        Ok(parser)
    }

    /// Reads one line, or says why it cannot be scored.
    pub fn parse(&self, line: &[u8]) -> Result<Parsed, String> {
        if line.iter().all(u8::is_ascii_whitespace) {
            return Ok(Parsed::Blank);
        }
        match self.format {
            Format::Csv => self.parse_csv(line),
            Format::JsonLines => self.parse_json(line),
        }
    }

    fn parse_csv(&self, line: &[u8]) -> Result<Parsed, String> {
        let cells = split_line(line).map_err(|e| format!("malformed CSV: {e}"))?;
        let width = self.feature_columns.width();
        if cells.len() != width {
            return Err(format!("{} fields, the header has {width}", cells.len()));
        }
        let mut features = Vec::with_capacity(self.feature_columns.len());
        self.feature_columns
            .read(&cells, &mut features)
            .map_err(|bad| {
                let cell = cells.get(bad.column).unwrap_or_default();
                let place = self.feature_columns.place(&bad);
                match bad.kind {
                    NotAFeature::NotFinite => {
                        format!("column {place}: '{cell}' is not a finite number")
                    }
                    NotAFeature::NotNumeric => format!("column {place}: '{cell}' is not a number"),
                }
            })?;
        let keep = self
            .keep
            .iter()
            .zip(&self.keep_columns)
            .map(|(name, &c)| {
                let cell = cells.get(c).unwrap_or_default();
                (name.clone(), Value::String(cell.to_string()))
            })
            .collect();
        Ok(Parsed::Row { features, keep })
    }

    fn parse_json(&self, line: &[u8]) -> Result<Parsed, String> {
        let value: Value =
            serde_json::from_slice(line).map_err(|e| format!("invalid JSON: {e}"))?;
        let Value::Object(object) = value else {
            return Err("a JSON line must be an object".into());
        };
        let keep: Map<String, Value> = self
            .keep
            .iter()
            .map(|k| (k.clone(), object.get(k).cloned().unwrap_or(Value::Null)))
            .collect();
        if let Some(inputs) = object.get("inputs") {
            // one row: a list of numbers, or a list holding one
            let row = match inputs {
                Value::Array(items) if items.iter().all(Value::is_number) => Some(items.as_slice()),
                Value::Array(items) => match items.as_slice() {
                    [Value::Array(inner)] => Some(inner.as_slice()),
                    _ => None,
                },
                _ => None,
            };
            if let (Some(row), Some(_)) = (row, self.n_features) {
                let features = row
                    .iter()
                    .enumerate()
                    .map(|(i, v)| json_feature(v, || format!("inputs[{i}]")))
                    .collect::<Result<Vec<f32>, String>>()?;
                return Ok(Parsed::Row { features, keep });
            }
            let request: PredictRequest = serde_json::from_value(Value::Object(object.clone()))
                .map_err(|e| format!("invalid inputs: {e}"))?;
            return Ok(Parsed::Named {
                inputs: request.inputs,
                keep,
            });
        }
        if self.feature_names.is_empty() {
            return Err("this line has no \"inputs\", and the model does not name its features: send {\"inputs\": [...]}".into());
        }
        let features = self
            .feature_names
            .iter()
            .map(|name| match object.get(name) {
                Some(v) => json_feature(v, || format!("'{name}'")),
                None => Err(format!("no feature '{name}'")),
            })
            .collect::<Result<Vec<f32>, String>>()?;
        Ok(Parsed::Row { features, keep })
    }
}

/// A JSON value as a finite float32.
fn json_feature(value: &Value, place: impl FnOnce() -> String) -> Result<f32, String> {
    match value.as_f64().map(finite_f32) {
        Some(Ok(v)) => Ok(v),
        Some(Err(_)) => Err(format!(
            "{}: {value} is not a finite float32 number",
            place()
        )),
        None => Err(format!("{}: {value} is not a number", place())),
    }
}
