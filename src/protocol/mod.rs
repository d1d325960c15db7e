//! Prediction protocols: the native one here (`{"inputs": [[...], ...]}` rows or
//! `{"inputs": {"name": values}}` named tensors in; labelled probabilities, regression values or
//! named tensors out), KServe V2, TF Serving and the text-generation protocols (`text`) in submodules, named tensors in JSON in
//! `named`, and the checks every batch of rows passes before it reaches the model.

pub mod explain;
pub mod kserve;
pub mod named;
#[cfg(feature = "generation")]
pub mod text;
pub mod tfserving;

use std::fmt;

use serde::de::{self, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::contract::Task;
use crate::features::{self, ColumnError, FeatureColumns};
use crate::inference::argmax_rows;
use crate::inference::{InferenceError, LoadedModel};
use crate::number::NotAFeature;
use crate::tensor::{Tensor, TensorError};
pub use named::{named_output, nest, tensors_from_named, NamedOutput};

/// The native request body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    /// Rows of raw features, or the model's inputs by name.
    pub inputs: NativeInputs,
}

/// What the native route takes: rows for a model with one `[batch, features]` float input, or
/// every input by name (nested values, or flat ones that fill the input's shape).
#[derive(Debug, Clone, PartialEq)]
pub enum NativeInputs {
    /// `[[f1, f2, ...], ...]`.
    Rows(Vec<Vec<f64>>),
    /// `{"name": values, ...}`.
    Named(Map<String, Value>),
}

impl<'de> Deserialize<'de> for NativeInputs {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Inputs;
        impl<'de> Visitor<'de> for Inputs {
            type Value = NativeInputs;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a sequence of rows or a map of named inputs")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<NativeInputs, A::Error> {
                Vec::<Vec<f64>>::deserialize(de::value::SeqAccessDeserializer::new(seq))
                    .map(NativeInputs::Rows)
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<NativeInputs, A::Error> {
                Map::<String, Value>::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(NativeInputs::Named)
            }
        }
        deserializer.deserialize_any(Inputs)
    }
}

/// One row's answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// The most probable class.
    pub label: String,
    /// Its probability.
    pub probability: f32,
    /// Every class's probability, in label order.
    pub probabilities: Vec<f32>,
}

/// The native response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    pub model_name: String,
    /// `null` for a bare `.onnx` file outside a store.
    pub model_version: Option<u64>,
    pub labels: Vec<String>,
    pub predictions: Vec<Prediction>,
}

/// Why a request's input was refused (a 400).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum InputError {
    /// A tensor that breaks a rule of its datatype or shape.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    #[error("the batch is empty: send at least one row of features")]
    Empty,
    #[error("row {row} has {got} features, the model expects {expected}")]
    FeatureCount {
        row: usize,
        got: usize,
        expected: usize,
    },
    #[error("row {row}, feature {column}: {value} is not a finite float32 number")]
    NotFinite {
        row: usize,
        column: usize,
        value: String,
    },
    #[error("line {line}, column {column}: '{value}' is not a number")]
    NotNumeric {
        line: u64,
        column: usize,
        value: String,
    },
    #[error("the CSV header names no column '{0}' that the model needs")]
    MissingColumn(String),
    #[error("the CSV header has {found} columns, the model takes {expected} features and names none to match by")]
    HeaderWidth { found: usize, expected: usize },
    #[error("line {line} has {found} fields, the header has {expected}")]
    Ragged {
        line: u64,
        found: usize,
        expected: usize,
    },
    #[error("malformed input: {0}")]
    Malformed(String),
    #[error("{path} is {found}, expected a number")]
    NotANumber { path: String, found: &'static str },
    #[error("{path} is {found}, expected a list of rows (lists of numbers)")]
    NotRows { path: String, found: &'static str },
    #[error("{0}")]
    Invalid(String),
}

pub(crate) use crate::tensor::json_kind;

/// A JSON number as f64, or an error naming where it sits.
pub(crate) fn json_number(value: &Value, path: impl FnOnce() -> String) -> Result<f64, InputError> {
    value.as_f64().ok_or_else(|| InputError::NotANumber {
        path: path(),
        found: json_kind(value),
    })
}

/// Rows of features checked against a model and laid out row-major, ready for tract.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    pub rows: usize,
    pub values: Vec<f32>,
}

impl Batch {
    /// Checks rows (0-based in messages as `row 0`, …) against the model's feature count.
    pub fn from_rows(rows: &[Vec<f64>], n_features: usize) -> Result<Batch, InputError> {
        if rows.is_empty() {
            return Err(InputError::Empty);
        }
        let mut values = Vec::with_capacity(rows.len() * n_features);
        for (r, row) in rows.iter().enumerate() {
            if row.len() != n_features {
                return Err(InputError::FeatureCount {
                    row: r,
                    got: row.len(),
                    expected: n_features,
                });
            }
            for (c, &v) in row.iter().enumerate() {
                values.push(finite(v, r, c)?);
            }
        }
        Ok(Batch {
            rows: rows.len(),
            values,
        })
    }

    /// Checks a JSON list of rows (each a list of numbers); `what` names it in messages.
    pub fn from_json_rows(
        value: &Value,
        n_features: usize,
        what: &str,
    ) -> Result<Batch, InputError> {
        let rows = value.as_array().ok_or_else(|| InputError::NotRows {
            path: what.to_string(),
            found: json_kind(value),
        })?;
        if rows.is_empty() {
            return Err(InputError::Empty);
        }
        let mut values = Vec::with_capacity(rows.len() * n_features);
        for (r, row) in rows.iter().enumerate() {
            let cells = row.as_array().ok_or_else(|| InputError::NotRows {
                path: format!("{what}[{r}]"),
                found: json_kind(row),
            })?;
            if cells.len() != n_features {
                return Err(InputError::FeatureCount {
                    row: r,
                    got: cells.len(),
                    expected: n_features,
                });
            }
            for (c, cell) in cells.iter().enumerate() {
                values.push(finite(
                    json_number(cell, || format!("{what}[{r}][{c}]"))?,
                    r,
                    c,
                )?);
            }
        }
        Ok(Batch {
            rows: rows.len(),
            values,
        })
    }

    /// Parses CSV rows of features with the shared reader (`features`). A first line that is
    /// not all numbers is a header: when it names every feature of the model, those columns
    /// are taken by name (so a labelled data file can be sent as it is); otherwise all columns
    /// are features, in order.
    pub fn from_csv(
        text: &str,
        n_features: usize,
        feature_names: &[String],
    ) -> Result<Batch, InputError> {
        let mut reader = features::csv_reader(false).from_reader(text.as_bytes());
        let mut records = reader.records().peekable();
        let mut columns = FeatureColumns::except(n_features, &[]);
        let mut header = false;
        if let Some(Ok(first)) = records.peek() {
            if features::is_header(first) {
                columns = FeatureColumns::for_model(first, n_features, feature_names, &[])
                    .map_err(|e| match e {
                        ColumnError::MissingFeature(name) => InputError::MissingColumn(name),
                        ColumnError::FeatureCount { found, expected } => {
                            InputError::HeaderWidth { found, expected }
                        }
                    })?;
                header = true;
                records.next();
            }
        }
        let mut values = Vec::new();
        let mut rows = 0;
        for record in records {
            let record = record.map_err(|e| InputError::Malformed(e.to_string()))?;
            let line = record.position().map(|p| p.line()).unwrap_or(0);
            if record.len() != columns.width() {
                return Err(match header {
                    true => InputError::Ragged {
                        line,
                        found: record.len(),
                        expected: columns.width(),
                    },
                    false => InputError::FeatureCount {
                        row: rows,
                        got: record.len(),
                        expected: n_features,
                    },
                });
            }
            columns.read(&record, &mut values).map_err(|bad| {
                let value = record.get(bad.column).unwrap_or_default().to_string();
                match bad.kind {
                    NotAFeature::NotNumeric => InputError::NotNumeric {
                        line,
                        column: bad.column + 1,
                        value,
                    },
                    NotAFeature::NotFinite => InputError::NotFinite {
                        row: rows,
                        column: bad.feature,
                        value,
                    },
                }
            })?;
            rows += 1;
        }
        if rows == 0 {
            return Err(InputError::Empty);
        }
        Ok(Batch { rows, values })
    }
}

/// `v` as f32, refusing NaN, infinities and values beyond the float32 range.
pub(crate) fn finite(v: f64, row: usize, column: usize) -> Result<f32, InputError> {
    crate::number::finite_f32(v).map_err(|_| InputError::NotFinite {
        row,
        column,
        value: v.to_string(),
    })
}

/// One regression row: `value` for one target, `values` for several.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum RegressionPrediction {
    /// The one target's value.
    One {
        /// In the target's units.
        value: f32,
    },
    /// Every target's value, in the model's order.
    Several {
        /// In the targets' units.
        values: Vec<f32>,
    },
}

/// The native answer of a regressor.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegressionResponse {
    /// The model name.
    pub model_name: String,
    /// `null` for a bare `.onnx` file outside a store.
    pub model_version: Option<u64>,
    /// One per row.
    pub predictions: Vec<RegressionPrediction>,
}

/// The native answer of any other model: every output by name.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TensorResponse {
    /// The model name.
    pub model_name: String,
    /// `null` for a bare `.onnx` file outside a store.
    pub model_version: Option<u64>,
    /// Every output, nested by its shape.
    pub outputs: std::collections::BTreeMap<String, NamedOutput>,
}

/// The native answer, shaped by what the model is.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum NativeResponse {
    /// A classifier's labelled probabilities.
    Classified(PredictResponse),
    /// A regressor's values.
    Regressed(RegressionResponse),
    /// Any model's outputs.
    Tensors(TensorResponse),
}

/// The model's input tensors for a native request: rows become the one `[rows, features]`
/// input; named inputs are checked one by one. `max_elements` bounds every tensor.
pub fn native_tensors(
    inputs: &NativeInputs,
    model: &LoadedModel,
    max_elements: usize,
) -> Result<Vec<Tensor>, InputError> {
    match inputs {
        NativeInputs::Rows(rows) => {
            let Some(features) = model.n_features() else {
                return Err(InputError::Invalid(format!(
                    "this model takes named inputs ({}): send {{\"inputs\": {{\"{}\": [...]}}}}",
                    model
                        .inputs()
                        .iter()
                        .map(|i| format!("'{}' {} {:?}", i.name, i.dtype, i.shape))
                        .collect::<Vec<_>>()
                        .join(", "),
                    model.inputs().first().map_or("input", |i| i.name.as_str())
                )));
            };
            let batch = Batch::from_rows(rows, features)?;
            let name = model.inputs().first().map_or("input", |i| i.name.as_str());
            Ok(vec![Tensor::from_f32(
                name,
                vec![batch.rows, features],
                &batch.values,
            )?])
        }
        NativeInputs::Named(named) => tensors_from_named(named, model, max_elements),
    }
}

/// The native answer to a model's outputs: labelled rows for a classifier, values for a
/// regressor, every output by name otherwise.
pub fn native_response(
    model: &LoadedModel,
    model_name: &str,
    model_version: Option<u64>,
    outputs: Vec<Tensor>,
) -> Result<NativeResponse, InferenceError> {
    let answer = model.answer_index().and_then(|i| outputs.get(i));
    match (model.task(), answer) {
        (Task::Classifier, Some(answer)) => {
            let probabilities = answer.to_f32().ok_or_else(|| {
                InferenceError::Run("the probabilities output is not a float tensor".into())
            })?;
            Ok(NativeResponse::Classified(labelled(
                model,
                model_name,
                model_version,
                probabilities,
            )))
        }
        (Task::Regression, Some(answer)) => {
            let values = answer.to_f32().ok_or_else(|| {
                InferenceError::Run("the regression output is not a float tensor".into())
            })?;
            let width = answer.shape().get(1).copied().unwrap_or(1).max(1);
            let predictions = values
                .chunks_exact(width)
                .map(|row| match row {
                    [one] => RegressionPrediction::One { value: *one },
                    several => RegressionPrediction::Several {
                        values: several.to_vec(),
                    },
                })
                .collect();
            Ok(NativeResponse::Regressed(RegressionResponse {
                model_name: model_name.to_string(),
                model_version,
                predictions,
            }))
        }
        _ => Ok(NativeResponse::Tensors(TensorResponse {
            model_name: model_name.to_string(),
            model_version,
            outputs: model
                .outputs()
                .iter()
                .zip(&outputs)
                .map(|(spec, tensor)| (spec.name.clone(), named_output(tensor)))
                .collect(),
        })),
    }
}

/// Labels probabilities `[rows, classes]` with the most probable class of each row.
pub fn labelled(
    model: &LoadedModel,
    model_name: &str,
    model_version: Option<u64>,
    probabilities: Vec<f32>,
) -> PredictResponse {
    let classes = model.n_classes();
    let best = argmax_rows(&probabilities, classes);
    let predictions = probabilities
        .chunks_exact(classes)
        .zip(best)
        .map(|(row, b)| Prediction {
            label: model.labels()[b as usize].clone(),
            probability: row[b as usize],
            probabilities: row.to_vec(),
        })
        .collect();
    PredictResponse {
        model_name: model_name.to_string(),
        model_version,
        labels: model.labels().to_vec(),
        predictions,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_are_checked() {
        assert_eq!(Batch::from_rows(&[], 2), Err(InputError::Empty));
        assert_eq!(
            Batch::from_rows(&[vec![1.0, 2.0], vec![1.0]], 2).unwrap_err(),
            InputError::FeatureCount {
                row: 1,
                got: 1,
                expected: 2
            }
        );
        let e = Batch::from_rows(&[vec![1e39, 0.0]], 2).unwrap_err();
        assert_eq!(
            e.to_string(),
            "row 0, feature 0: 1000000000000000000000000000000000000000 is not a finite float32 number"
        );
        let b = Batch::from_rows(&[vec![1.0, 2.0], vec![3.0, 4.0]], 2).unwrap();
        assert_eq!((b.rows, b.values), (2, vec![1.0, 2.0, 3.0, 4.0]));
    }

    #[test]
    fn csv_with_a_header_picks_columns_by_name() {
        let names = vec!["a".to_string(), "b".to_string()];
        let b = Batch::from_csv("label,b,a\n7,2,1\n8,4,3\n", 2, &names).unwrap();
        assert_eq!(b.values, [1.0, 2.0, 3.0, 4.0]);
        let b = Batch::from_csv("1,2\n3,4\n", 2, &names).unwrap();
        assert_eq!(b.values, [1.0, 2.0, 3.0, 4.0]);
        let e = Batch::from_csv("1,2\n3,x\n", 2, &names).unwrap_err();
        assert_eq!(e.to_string(), "line 2, column 2: 'x' is not a number");
        let e = Batch::from_csv("1,2\n3,nan\n", 2, &names).unwrap_err();
        assert!(e.to_string().contains("is not a finite"), "{e}");
    }
}
