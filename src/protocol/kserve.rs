//! The Open Inference Protocol (KServe V2) REST types: model metadata, inference requests with
//! several named inputs (flat or nested `data`, or the binary tensor data extension), output
//! selection, and responses in JSON or binary, as tritonclient sends and reads them.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::InputError;
use crate::inference::{LoadedModel, TensorSpec};
use crate::tensor::{DType, Tensor};

/// The header that announces the binary tensor data extension: the length of the JSON header
/// that precedes the raw tensor bytes.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// `GET /v2`: server metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerMetadata {
    /// `maas`.
    pub name: String,
    /// The maas version.
    pub version: String,
    /// Protocol extensions served.
    pub extensions: Vec<String>,
}

/// A tensor's description in model metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataTensor {
    /// The input or output name.
    pub name: String,
    /// The KServe datatype, e.g. `FP32`.
    pub datatype: String,
    /// `-1` for a symbolic dimension (the batch).
    pub shape: Vec<i64>,
}

/// `GET /v2/models/{name}`: model metadata.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelMetadata {
    /// The model name.
    pub name: String,
    /// The version served.
    pub versions: Vec<String>,
    /// `onnx`.
    pub platform: String,
    /// Every input.
    pub inputs: Vec<MetadataTensor>,
    /// Every output.
    pub outputs: Vec<MetadataTensor>,
    /// What the model is beyond its tensors: `{"task": "classifier" | "regression" | "tensor" |
    /// "text-generation"}` (a text-generation model also answers the generate extension).
    #[serde(default)]
    pub parameters: serde_json::Map<String, serde_json::Value>,
}

/// `POST /v2/models/{name}/infer` request body (the JSON part, with the binary extension).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InferRequest {
    /// Echoed in the response.
    #[serde(default)]
    pub id: Option<String>,
    /// The input tensors.
    pub inputs: Vec<InferInput>,
    /// The outputs wanted (default: all).
    #[serde(default)]
    pub outputs: Option<Vec<RequestedOutput>>,
    /// `binary_data_output: true` asks for every output in binary.
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
}

/// One input tensor of an inference request.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct InferInput {
    /// The model input it feeds.
    pub name: String,
    /// Its dimensions.
    pub shape: Vec<i64>,
    /// The KServe datatype.
    pub datatype: String,
    /// Row-major values, flat or nested (absent when the values come as binary data).
    #[serde(default)]
    pub data: Option<Value>,
    /// `binary_data_size`: the byte length of this tensor in the binary part.
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
}

/// An output the caller asks for.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct RequestedOutput {
    /// The model output.
    pub name: String,
    /// `binary_data: true|false` for this output.
    #[serde(default)]
    pub parameters: Option<Map<String, Value>>,
}

/// `POST /v2/models/{name}/infer` response body (the JSON part).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferResponse {
    /// The model name.
    pub model_name: String,
    /// The version that answered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model_version: Option<String>,
    /// The request's id.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// The outputs.
    pub outputs: Vec<InferOutput>,
}

/// One output tensor of a response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InferOutput {
    /// The output name.
    pub name: String,
    /// The KServe datatype.
    pub datatype: String,
    /// Its dimensions.
    pub shape: Vec<usize>,
    /// Flat row-major values, absent when sent as binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data: Option<Vec<Value>>,
    /// `binary_data_size` when sent as binary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<Map<String, Value>>,
}

/// The KServe datatype of a tensor spec's ONNX-style dtype name.
pub fn datatype_of(dtype: &str) -> String {
    DType::from_onnx_name(dtype)
        .map_or_else(|| dtype.to_uppercase(), |d| d.kserve_name().to_string())
}

fn metadata_tensor(spec: &TensorSpec) -> MetadataTensor {
    MetadataTensor {
        name: spec.name.clone(),
        datatype: datatype_of(&spec.dtype),
        shape: spec.shape.clone(),
    }
}

/// The metadata of a served model: every input and output.
pub fn model_metadata(name: &str, version: Option<u64>, model: &LoadedModel) -> ModelMetadata {
    ModelMetadata {
        name: name.to_string(),
        versions: version.map(|v| vec![v.to_string()]).unwrap_or_default(),
        platform: "onnx".to_string(),
        inputs: model.inputs().iter().map(metadata_tensor).collect(),
        outputs: model.outputs().iter().map(metadata_tensor).collect(),
        parameters: [("task".to_string(), model.task().to_string().into())]
            .into_iter()
            .collect(),
    }
}

/// A request body split into its JSON header and the binary part that follows it, when
/// `Inference-Header-Content-Length` announces the binary extension.
pub fn split_body<'a>(
    body: &'a [u8],
    header_length: Option<&str>,
) -> Result<(&'a [u8], &'a [u8]), InputError> {
    let Some(declared) = header_length else {
        return Ok((body, &[]));
    };
    let length: usize = declared.trim().parse().map_err(|_| {
        InputError::Invalid(format!(
            "Inference-Header-Content-Length '{declared}' is not a byte count"
        ))
    })?;
    if length > body.len() {
        return Err(InputError::Invalid(format!(
            "Inference-Header-Content-Length is {length} but the body has {} bytes",
            body.len()
        )));
    }
    Ok(body.split_at(length))
}

/// A parameter as a whole number of bytes.
fn byte_size(
    parameters: &Option<Map<String, Value>>,
    what: &str,
) -> Result<Option<usize>, InputError> {
    match parameters.as_ref().and_then(|p| p.get("binary_data_size")) {
        None => Ok(None),
        Some(v) => v
            .as_u64()
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                InputError::Invalid(format!(
                    "{what}: binary_data_size must be a whole number of bytes, got {v}"
                ))
            }),
    }
}

/// Checks a request's inputs against the model and returns them as tensors in the model's
/// input order: each input named once and known, its datatype the model's, its values from
/// `data` or from the binary part (`binary_data_size` bytes each, in request order, adding up
/// to the binary part exactly). Nothing is sized by the client's shapes before they pass
/// `max_elements`.
pub fn tensors_from_request(
    request: &InferRequest,
    binary: &[u8],
    model: &LoadedModel,
    max_elements: usize,
) -> Result<Vec<Tensor>, InputError> {
    let mut slots: Vec<Option<Tensor>> = vec![None; model.inputs().len()];
    let mut offset = 0usize;
    for input in &request.inputs {
        let Some(position) = model.inputs().iter().position(|i| i.name == input.name) else {
            return Err(InputError::Invalid(format!(
                "unknown input '{}': the model's inputs are {}",
                input.name,
                names(model.inputs())
            )));
        };
        if slots[position].is_some() {
            return Err(InputError::Invalid(format!(
                "input '{}' is given twice",
                input.name
            )));
        }
        let Some(dtype) = DType::from_kserve_name(&input.datatype) else {
            return Err(InputError::Invalid(format!(
                "datatype '{}' is not supported for input '{}': send {}",
                input.datatype,
                input.name,
                datatype_of(&model.inputs()[position].dtype)
            )));
        };
        let expected = model.input_dtype(position);
        if dtype != expected {
            return Err(InputError::Invalid(format!(
                "input '{}' is {dtype} but the model takes {expected}",
                input.name
            )));
        }
        let size = byte_size(&input.parameters, &format!("input '{}'", input.name))?;
        let tensor = match (&input.data, size) {
            (Some(_), Some(_)) => {
                return Err(InputError::Invalid(format!(
                    "input '{}' has both data and binary_data_size; send one",
                    input.name
                )))
            }
            (Some(data), None) => {
                Tensor::from_json(&input.name, dtype, &input.shape, data, max_elements)?
            }
            (None, Some(size)) => {
                let end = offset
                    .checked_add(size)
                    .filter(|&e| e <= binary.len())
                    .ok_or_else(|| {
                        InputError::Invalid(format!(
                        "input '{}': binary_data_size {size} goes past the {} bytes of binary data",
                        input.name,
                        binary.len()
                    ))
                    })?;
                let tensor = Tensor::from_le_bytes(
                    &input.name,
                    dtype,
                    &input.shape,
                    &binary[offset..end],
                    max_elements,
                )?;
                offset = end;
                tensor
            }
            (None, None) => {
                return Err(InputError::Invalid(format!(
                    "input '{}' has no data: send 'data' or binary data with binary_data_size",
                    input.name
                )))
            }
        };
        slots[position] = Some(tensor);
    }
    if offset != binary.len() {
        return Err(InputError::Invalid(format!(
            "the binary part has {} bytes but the inputs' binary_data_size add up to {offset}",
            binary.len()
        )));
    }
    let missing: Vec<&str> = slots
        .iter()
        .zip(model.inputs())
        .filter(|(slot, _)| slot.is_none())
        .map(|(_, spec)| spec.name.as_str())
        .collect();
    if !missing.is_empty() {
        return Err(InputError::Invalid(format!(
            "missing input{} {}: the model takes {}",
            if missing.len() == 1 { "" } else { "s" },
            missing
                .iter()
                .map(|m| format!("'{m}'"))
                .collect::<Vec<_>>()
                .join(", "),
            names(model.inputs())
        )));
    }
    Ok(slots.into_iter().flatten().collect())
}

fn names(specs: &[TensorSpec]) -> String {
    specs
        .iter()
        .map(|s| format!("'{}'", s.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The outputs to answer with, in the order asked (default: every output in the model's order),
/// and whether each goes as binary data.
pub fn selected_outputs(
    request: &InferRequest,
    model: &LoadedModel,
) -> Result<Vec<(usize, bool)>, InputError> {
    let flag =
        |parameters: &Option<Map<String, Value>>, key: &str| -> Result<Option<bool>, InputError> {
            match parameters.as_ref().and_then(|p| p.get(key)) {
                None => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(*b)),
                Some(other) => Err(InputError::Invalid(format!(
                    "parameter {key} must be true or false, got {other}"
                ))),
            }
        };
    let all_binary = flag(&request.parameters, "binary_data_output")?.unwrap_or(false);
    match &request.outputs {
        None => Ok((0..model.outputs().len())
            .map(|i| (i, all_binary))
            .collect()),
        Some(wanted) => {
            let mut chosen = Vec::with_capacity(wanted.len());
            for output in wanted {
                let Some(i) = model.outputs().iter().position(|o| o.name == output.name) else {
                    return Err(InputError::Invalid(format!(
                        "unknown output '{}': the model's outputs are {}",
                        output.name,
                        names(model.outputs())
                    )));
                };
                if chosen.iter().any(|(c, _)| *c == i) {
                    return Err(InputError::Invalid(format!(
                        "output '{}' is asked for twice",
                        output.name
                    )));
                }
                chosen.push((
                    i,
                    flag(&output.parameters, "binary_data")?.unwrap_or(all_binary),
                ));
            }
            Ok(chosen)
        }
    }
}

/// A response ready to send: the JSON header and, when some outputs go as binary, their bytes
/// after it (`header_length` is then the JSON's length, for `Inference-Header-Content-Length`).
#[derive(Debug, Clone, PartialEq)]
pub struct EncodedResponse {
    /// The body.
    pub body: Vec<u8>,
    /// `Some(json length)` when the body carries binary data.
    pub header_length: Option<usize>,
}

/// Shapes the outputs as the protocol's response, JSON or binary per output.
pub fn response(
    name: &str,
    version: Option<u64>,
    id: Option<String>,
    model: &LoadedModel,
    outputs: &[Tensor],
    selected: &[(usize, bool)],
) -> Result<EncodedResponse, serde_json::Error> {
    let mut binary = Vec::new();
    let mut listed = Vec::with_capacity(selected.len());
    for &(i, as_binary) in selected {
        let tensor = &outputs[i];
        let mut output = InferOutput {
            name: model.outputs()[i].name.clone(),
            datatype: tensor.dtype().kserve_name().to_string(),
            shape: tensor.shape().to_vec(),
            data: None,
            parameters: None,
        };
        if as_binary {
            let bytes = tensor.le_bytes();
            let mut parameters = Map::new();
            parameters.insert("binary_data_size".into(), Value::from(bytes.len()));
            output.parameters = Some(parameters);
            binary.extend_from_slice(bytes);
        } else {
            output.data = Some(tensor.json_data());
        }
        listed.push(output);
    }
    let header = serde_json::to_vec(&InferResponse {
        model_name: name.to_string(),
        model_version: version.map(|v| v.to_string()),
        id,
        outputs: listed,
    })?;
    if selected.iter().any(|(_, b)| *b) {
        let header_length = header.len();
        let mut body = header;
        body.extend_from_slice(&binary);
        Ok(EncodedResponse {
            body,
            header_length: Some(header_length),
        })
    } else {
        Ok(EncodedResponse {
            body: header,
            header_length: None,
        })
    }
}
