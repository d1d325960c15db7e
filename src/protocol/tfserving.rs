//! The TensorFlow Serving REST predict API: `instances` (row format) answered with
//! `predictions`, `inputs` (columnar format) answered with `outputs`.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{Batch, InputError};

/// `POST /v1/models/{name}:predict` request body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PredictRequest {
    #[serde(default)]
    pub signature_name: Option<String>,
    #[serde(default)]
    pub instances: Option<Value>,
    #[serde(default)]
    pub inputs: Option<Value>,
}

/// Which format the caller used; the answer comes back in the matching one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `instances` → `predictions`.
    Row,
    /// `inputs` → `outputs`.
    Columnar,
}

/// The answer: `{"predictions": [...]}` or `{"outputs": [...]}`, one list of class
/// probabilities per row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions: Option<Vec<Vec<f32>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<Vec<f32>>>,
}

/// Takes the single named input out of `{"<input>": value}`, or the value itself.
fn named_input<'a>(
    object: &'a Map<String, Value>,
    input_name: &str,
    what: &str,
) -> Result<&'a Value, InputError> {
    match object.get(input_name) {
        Some(v) if object.len() == 1 => Ok(v),
        _ => Err(InputError::Invalid(format!(
            "{what} names inputs {:?}; the model has one input, '{input_name}'",
            object.keys().collect::<Vec<_>>()
        ))),
    }
}

/// Checks a request and lays it out as a batch.
pub fn batch_from_request(
    request: &PredictRequest,
    input_name: &str,
    n_features: usize,
) -> Result<(Format, Batch), InputError> {
    match (&request.instances, &request.inputs) {
        (Some(instances), None) => {
            let rows = instances.as_array().ok_or_else(|| {
                InputError::Invalid("'instances' must be a list, one item per row".into())
            })?;
            // Each instance is a row, or an object naming the input: {"input": [...]}.
            let rows: Vec<Value> = rows
                .iter()
                .enumerate()
                .map(|(i, row)| match row {
                    Value::Object(o) => {
                        named_input(o, input_name, &format!("instances[{i}]")).cloned()
                    }
                    other => Ok(other.clone()),
                })
                .collect::<Result<_, _>>()?;
            let batch = Batch::from_json_rows(&Value::Array(rows), n_features, "instances")?;
            Ok((Format::Row, batch))
        }
        (None, Some(inputs)) => {
            let rows = match inputs {
                Value::Object(o) => named_input(o, input_name, "inputs")?,
                other => other,
            };
            let batch = Batch::from_json_rows(rows, n_features, "inputs")?;
            Ok((Format::Columnar, batch))
        }
        (Some(_), Some(_)) => Err(InputError::Invalid(
            "send either 'instances' (row format) or 'inputs' (columnar format), not both".into(),
        )),
        (None, None) => Err(InputError::Invalid(
            "the request needs 'instances' (row format) or 'inputs' (columnar format)".into(),
        )),
    }
}

/// Shapes probabilities `[rows, classes]` as the answer in the caller's format.
pub fn response(format: Format, probabilities: &[f32], classes: usize) -> PredictResponse {
    let rows: Vec<Vec<f32>> = probabilities
        .chunks_exact(classes.max(1))
        .map(<[f32]>::to_vec)
        .collect();
    match format {
        Format::Row => PredictResponse {
            predictions: Some(rows),
            outputs: None,
        },
        Format::Columnar => PredictResponse {
            predictions: None,
            outputs: Some(rows),
        },
    }
}
