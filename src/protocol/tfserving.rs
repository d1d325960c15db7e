//! The TensorFlow Serving REST predict API: `instances` (row format) answered with
//! `predictions`, `inputs` (columnar format) answered with `outputs`. A model with one
//! `[batch, features]` float input takes plain rows; any model takes its inputs by name (row
//! objects keyed by input name, or a dict of columns).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::{nest, tensors_from_named, Batch, InputError};
use crate::inference::LoadedModel;
use crate::tensor::Tensor;

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

/// The answer: `{"predictions": [...]}` (one item per row: the output's row, or an object of
/// every output's row) or `{"outputs": ...}` (the output, or an object of every output).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PredictResponse {
    /// Row format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub predictions: Option<Value>,
    /// Columnar format.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Value>,
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

/// Checks a request and returns the model's input tensors, in the model's order.
pub fn tensors_from_request(
    request: &PredictRequest,
    model: &LoadedModel,
    max_elements: usize,
) -> Result<(Format, Vec<Tensor>), InputError> {
    let (format, value) = match (&request.instances, &request.inputs) {
        (Some(instances), None) => (Format::Row, instances),
        (None, Some(inputs)) => (Format::Columnar, inputs),
        (Some(_), Some(_)) => {
            return Err(InputError::Invalid(
                "send either 'instances' (row format) or 'inputs' (columnar format), not both"
                    .into(),
            ))
        }
        (None, None) => {
            return Err(InputError::Invalid(
                "the request needs 'instances' (row format) or 'inputs' (columnar format)".into(),
            ))
        }
    };
    // a rows model takes plain rows (or `{"<input>": row}` objects) as before
    if let Some((spec, features)) = model.row_input() {
        let batch = rows_batch(format, value, &spec.name, features)?;
        return Ok((
            format,
            vec![Tensor::from_f32(
                &spec.name,
                vec![batch.rows, features],
                &batch.values,
            )?],
        ));
    }
    let single = match model.inputs() {
        [one] => Some(one.name.as_str()),
        _ => None,
    };
    let named: Map<String, Value> = match (format, value) {
        (Format::Columnar, Value::Object(columns)) => columns.clone(),
        (Format::Columnar, other) => match single {
            Some(name) => Map::from_iter([(name.to_string(), other.clone())]),
            None => return Err(several_inputs(model, "inputs")),
        },
        (Format::Row, Value::Array(instances)) => {
            if instances.is_empty() {
                return Err(InputError::Empty);
            }
            // each instance is one row of every input: stack them input by input
            let mut columns: Map<String, Value> = Map::new();
            for (i, instance) in instances.iter().enumerate() {
                match (instance, single) {
                    (Value::Object(row), _) => {
                        if let Some(extra) = row
                            .keys()
                            .find(|k| !model.inputs().iter().any(|s| &s.name == *k))
                        {
                            return Err(InputError::Invalid(format!(
                                "instances[{i}] names input '{extra}', which the model does not have"
                            )));
                        }
                        for spec in model.inputs() {
                            let cell = row.get(&spec.name).ok_or_else(|| {
                                InputError::Invalid(format!(
                                    "instances[{i}] has no input '{}'",
                                    spec.name
                                ))
                            })?;
                            push_row(&mut columns, &spec.name, cell.clone());
                        }
                    }
                    (other, Some(name)) => push_row(&mut columns, name, other.clone()),
                    (_, None) => return Err(several_inputs(model, &format!("instances[{i}]"))),
                }
            }
            columns
        }
        (Format::Row, _) => {
            return Err(InputError::Invalid(
                "'instances' must be a list, one item per row".into(),
            ))
        }
    };
    Ok((format, tensors_from_named(&named, model, max_elements)?))
}

/// Appends one instance's value to its input's column (every column is a list).
fn push_row(columns: &mut Map<String, Value>, name: &str, row: Value) {
    if let Value::Array(rows) = columns
        .entry(name.to_string())
        .or_insert_with(|| Value::Array(Vec::new()))
    {
        rows.push(row);
    }
}

fn several_inputs(model: &LoadedModel, what: &str) -> InputError {
    InputError::Invalid(format!(
        "{what}: the model has several inputs ({}); name them: {{\"{}\": ...}}",
        model
            .inputs()
            .iter()
            .map(|i| format!("'{}'", i.name))
            .collect::<Vec<_>>()
            .join(", "),
        model.inputs().first().map_or("input", |i| i.name.as_str())
    ))
}

/// Plain rows (or `{"<input>": row}` objects) for a model with one `[batch, features]` input.
fn rows_batch(
    format: Format,
    value: &Value,
    input_name: &str,
    n_features: usize,
) -> Result<Batch, InputError> {
    match format {
        Format::Row => {
            let rows = value.as_array().ok_or_else(|| {
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
            Batch::from_json_rows(&Value::Array(rows), n_features, "instances")
        }
        Format::Columnar => {
            let rows = match value {
                Value::Object(o) => named_input(o, input_name, "inputs")?,
                other => other,
            };
            Batch::from_json_rows(rows, n_features, "inputs")
        }
    }
}

/// Shapes the outputs as the answer in the caller's format: with one output its rows (or the
/// whole tensor), with several an object per row (or one object of tensors).
pub fn response(format: Format, model: &LoadedModel, outputs: &[Tensor]) -> PredictResponse {
    let nested: Vec<(String, Value)> = model
        .outputs()
        .iter()
        .zip(outputs)
        .map(|(spec, t)| (spec.name.clone(), nest(t.json_data(), t.shape())))
        .collect();
    let value = match (format, nested.as_slice()) {
        (Format::Columnar, [(_, one)]) => one.clone(),
        (Format::Columnar, _) => Value::Object(nested.into_iter().collect()),
        (Format::Row, [(_, one)]) => one.clone(),
        (Format::Row, _) => {
            let rows = outputs
                .first()
                .and_then(|t| t.shape().first())
                .copied()
                .unwrap_or(0);
            let per_output: Vec<(String, Vec<Value>)> = nested
                .into_iter()
                .map(|(name, v)| match v {
                    Value::Array(items) => (name, items),
                    other => (name, vec![other]),
                })
                .collect();
            Value::Array(
                (0..rows)
                    .map(|r| {
                        Value::Object(
                            per_output
                                .iter()
                                .map(|(name, items)| {
                                    (name.clone(), items.get(r).cloned().unwrap_or(Value::Null))
                                })
                                .collect(),
                        )
                    })
                    .collect(),
            )
        }
    };
    match format {
        Format::Row => PredictResponse {
            predictions: Some(value),
            outputs: None,
        },
        Format::Columnar => PredictResponse {
            predictions: None,
            outputs: Some(value),
        },
    }
}
