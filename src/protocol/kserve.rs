//! The Open Inference Protocol (KServe V2) REST types: model metadata, inference requests with
//! flat or nested `data`, and inference responses.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{finite, json_kind, json_number, Batch, InputError};
use crate::inference::{LoadedModel, TensorSpec};

/// `GET /v2`: server metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMetadata {
    pub name: String,
    pub version: String,
    pub extensions: Vec<String>,
}

/// A tensor's description in model metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataTensor {
    pub name: String,
    pub datatype: String,
    /// `-1` for the batch dimension.
    pub shape: Vec<i64>,
}

/// `GET /v2/models/{name}`: model metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    pub name: String,
    pub versions: Vec<String>,
    pub platform: String,
    pub inputs: Vec<MetadataTensor>,
    pub outputs: Vec<MetadataTensor>,
}

/// `POST /v2/models/{name}/infer` request body.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InferRequest {
    #[serde(default)]
    pub id: Option<String>,
    pub inputs: Vec<InferInput>,
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// One input tensor of an inference request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InferInput {
    pub name: String,
    pub shape: Vec<i64>,
    pub datatype: String,
    /// Row-major values, flat or nested.
    pub data: Value,
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// An output the caller asks for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RequestedOutput {
    pub name: String,
    #[serde(default)]
    pub parameters: Option<Value>,
}

/// `POST /v2/models/{name}/infer` response body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferResponse {
    pub model_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub outputs: Vec<InferOutput>,
}

/// One output tensor of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferOutput {
    pub name: String,
    pub datatype: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// Maps an ONNX-style dtype name to the protocol's datatype name.
pub fn datatype_of(dtype: &str) -> String {
    match dtype {
        "float32" => "FP32".into(),
        "float64" => "FP64".into(),
        "int64" => "INT64".into(),
        "int32" => "INT32".into(),
        other => other.to_uppercase(),
    }
}

fn metadata_tensor(spec: &TensorSpec) -> MetadataTensor {
    MetadataTensor {
        name: spec.name.clone(),
        datatype: datatype_of(&spec.dtype),
        shape: spec.shape.clone(),
    }
}

/// The metadata of a served model.
pub fn model_metadata(name: &str, version: Option<u64>, model: &LoadedModel) -> ModelMetadata {
    ModelMetadata {
        name: name.to_string(),
        versions: version.map(|v| vec![v.to_string()]).unwrap_or_default(),
        platform: "onnx".to_string(),
        inputs: vec![metadata_tensor(&model.input)],
        outputs: vec![metadata_tensor(&model.output)],
    }
}

/// Numeric datatypes a request may use; values are converted to float32 for the model.
const NUMERIC_DATATYPES: &[&str] = &[
    "FP32", "FP64", "FP16", "BF16", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32",
    "UINT64",
];

/// Checks an inference request against the model and lays its input out as a batch.
pub fn batch_from_request(
    request: &InferRequest,
    model: &LoadedModel,
) -> Result<Batch, InputError> {
    let [input] = request.inputs.as_slice() else {
        return Err(InputError::Invalid(format!(
            "expected exactly one input ('{}'), got {}",
            model.input.name,
            request.inputs.len()
        )));
    };
    if input.name != model.input.name {
        return Err(InputError::Invalid(format!(
            "unknown input '{}': the model's input is '{}'",
            input.name, model.input.name
        )));
    }
    if !NUMERIC_DATATYPES.contains(&input.datatype.as_str()) {
        return Err(InputError::Invalid(format!(
            "datatype '{}' is not supported for input '{}': send FP32 (or another numeric type)",
            input.datatype, input.name
        )));
    }
    if let Some(outputs) = &request.outputs {
        if let Some(unknown) = outputs.iter().find(|o| o.name != model.output.name) {
            return Err(InputError::Invalid(format!(
                "unknown output '{}': the model's output is '{}'",
                unknown.name, model.output.name
            )));
        }
    }
    let f = model.n_features;
    let rows = match input.shape.as_slice() {
        [rows, features] if *rows >= 0 && *features == f as i64 => *rows as usize,
        [features] if *features == f as i64 => 1,
        shape => {
            return Err(InputError::Invalid(format!(
                "input '{}' has shape {shape:?}; the model expects [rows, {f}]",
                input.name
            )))
        }
    };
    if rows == 0 {
        return Err(InputError::Empty);
    }
    // the shape is the client's claim: nothing is sized by it before the data agrees
    let needed = rows.checked_mul(f);
    let mut values = Vec::new();
    flatten(&input.data, "data", &mut values, f)?;
    if Some(values.len()) != needed {
        return Err(InputError::Invalid(format!(
            "input '{}' has {} values but its shape {:?} needs {}",
            input.name,
            values.len(),
            input.shape,
            needed.map_or_else(|| "more than can be counted".to_string(), |n| n.to_string())
        )));
    }
    Ok(Batch { rows, values })
}

/// Appends the numbers of a flat or nested list, row-major.
fn flatten(value: &Value, path: &str, out: &mut Vec<f32>, width: usize) -> Result<(), InputError> {
    match value {
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                if item.is_array() {
                    flatten(item, &format!("{path}[{i}]"), out, width)?;
                } else {
                    let v = json_number(item, || format!("{path}[{i}]"))?;
                    let n = out.len();
                    out.push(finite(v, n / width.max(1), n % width.max(1))?);
                }
            }
            Ok(())
        }
        other => Err(InputError::Invalid(format!(
            "{path} is {}, expected a list of numbers",
            json_kind(other)
        ))),
    }
}

/// Shapes the model's probabilities as the protocol's response.
pub fn response(
    name: &str,
    version: Option<u64>,
    id: Option<String>,
    output_name: &str,
    rows: usize,
    probabilities: Vec<f32>,
) -> InferResponse {
    let classes = probabilities.len() / rows.max(1);
    InferResponse {
        model_name: name.to_string(),
        model_version: version.map(|v| v.to_string()),
        id,
        outputs: vec![InferOutput {
            name: output_name.to_string(),
            datatype: "FP32".to_string(),
            shape: vec![rows, classes],
            data: probabilities,
        }],
    }
}
