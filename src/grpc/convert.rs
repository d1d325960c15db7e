//! gRPC messages to and from the KServe V2 REST types, so that both protocols go through one
//! set of checks: raw contents become the binary extension's bytes, typed contents the JSON
//! `data` (range-checked for the input's datatype like any JSON value); outputs go back as
//! `raw_output_contents`, as Triton answers.

use serde_json::{Map, Number, Value};

use super::inference::{
    model_infer_request::InferInputTensor, model_infer_response::InferOutputTensor,
    InferTensorContents, ModelInferRequest, ModelInferResponse,
};
use crate::protocol::kserve::{InferInput, InferRequest, RequestedOutput};
use crate::server::state::ServedModel;
use crate::tensor::Tensor;

/// A gRPC request that cannot be read as a KServe request.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    #[error("raw_input_contents has {raw} entries but there are {inputs} inputs: send one per input, in order, or typed contents")]
    RawCount { raw: usize, inputs: usize },
    #[error("input '{name}' has both raw_input_contents and typed contents; send one")]
    Both { name: String },
    #[error("input '{name}' is {datatype}: its values go in {field}")]
    WrongField {
        name: String,
        datatype: String,
        field: &'static str,
    },
    #[error("input '{name}' is {datatype}, which has no typed contents field: send it in raw_input_contents")]
    RawOnly { name: String, datatype: String },
}

/// The request as the REST types hold it, with the raw contents concatenated as the binary
/// part (each input's `binary_data_size` its length).
pub fn kserve_request(request: ModelInferRequest) -> Result<(InferRequest, Vec<u8>), ConvertError> {
    let raw = request.raw_input_contents;
    if !raw.is_empty() && raw.len() != request.inputs.len() {
        return Err(ConvertError::RawCount {
            raw: raw.len(),
            inputs: request.inputs.len(),
        });
    }
    let mut binary = Vec::with_capacity(raw.iter().map(Vec::len).sum());
    let mut inputs = Vec::with_capacity(request.inputs.len());
    for (i, input) in request.inputs.into_iter().enumerate() {
        let (data, parameters) = match (raw.get(i), &input.contents) {
            (Some(_), Some(contents)) if has_values(contents) => {
                return Err(ConvertError::Both { name: input.name })
            }
            (Some(bytes), _) => {
                binary.extend_from_slice(bytes);
                let mut parameters = Map::new();
                parameters.insert("binary_data_size".into(), Value::from(bytes.len()));
                (None, Some(parameters))
            }
            (None, contents) => (Some(typed_values(&input, contents.as_ref())?), None),
        };
        inputs.push(InferInput {
            name: input.name,
            shape: input.shape,
            datatype: input.datatype,
            data,
            parameters,
        });
    }
    let outputs = (!request.outputs.is_empty()).then(|| {
        request
            .outputs
            .into_iter()
            .map(|o| RequestedOutput {
                name: o.name,
                parameters: None,
            })
            .collect()
    });
    Ok((
        InferRequest {
            id: (!request.id.is_empty()).then_some(request.id),
            inputs,
            outputs,
            parameters: None,
        },
        binary,
    ))
}

fn has_values(c: &InferTensorContents) -> bool {
    !(c.bool_contents.is_empty()
        && c.int_contents.is_empty()
        && c.int64_contents.is_empty()
        && c.uint_contents.is_empty()
        && c.uint64_contents.is_empty()
        && c.fp32_contents.is_empty()
        && c.fp64_contents.is_empty()
        && c.bytes_contents.is_empty())
}

/// An input's typed contents as a JSON list, from the field its datatype uses. An unknown
/// datatype yields an empty list: the REST checks name it.
fn typed_values(
    input: &InferInputTensor,
    contents: Option<&InferTensorContents>,
) -> Result<Value, ConvertError> {
    let empty = InferTensorContents::default();
    let c = contents.unwrap_or(&empty);
    let float = |v: f64| Number::from_f64(v).map_or(Value::Null, Value::Number);
    let (field, values): (&'static str, Vec<Value>) = match input.datatype.as_str() {
        "BOOL" => (
            "bool_contents",
            c.bool_contents.iter().map(|&b| Value::Bool(b)).collect(),
        ),
        "INT8" | "INT16" | "INT32" => (
            "int_contents",
            c.int_contents.iter().map(|&v| Value::from(v)).collect(),
        ),
        "INT64" => (
            "int64_contents",
            c.int64_contents.iter().map(|&v| Value::from(v)).collect(),
        ),
        "UINT8" | "UINT16" | "UINT32" => (
            "uint_contents",
            c.uint_contents.iter().map(|&v| Value::from(v)).collect(),
        ),
        "UINT64" => (
            "uint64_contents",
            c.uint64_contents.iter().map(|&v| Value::from(v)).collect(),
        ),
        "FP32" => (
            "fp32_contents",
            c.fp32_contents.iter().map(|&v| float(v as f64)).collect(),
        ),
        "FP64" => (
            "fp64_contents",
            c.fp64_contents.iter().map(|&v| float(v)).collect(),
        ),
        "FP16" | "BF16" => {
            return Err(ConvertError::RawOnly {
                name: input.name.clone(),
                datatype: input.datatype.clone(),
            })
        }
        _ => ("", Vec::new()),
    };
    if values.is_empty() && has_values(c) && !field.is_empty() {
        return Err(ConvertError::WrongField {
            name: input.name.clone(),
            datatype: input.datatype.clone(),
            field,
        });
    }
    Ok(Value::Array(values))
}

/// The selected outputs (model output index; the REST binary flag does not apply) as a gRPC
/// response with raw contents.
pub fn response(
    served: &ServedModel,
    id: Option<String>,
    outputs: &[Tensor],
    selected: &[(usize, bool)],
) -> ModelInferResponse {
    let mut listed = Vec::with_capacity(selected.len());
    let mut raw = Vec::with_capacity(selected.len());
    for &(i, _) in selected {
        let tensor = &outputs[i];
        listed.push(InferOutputTensor {
            name: served.model.outputs()[i].name.clone(),
            datatype: tensor.dtype().kserve_name().to_string(),
            shape: tensor.shape().iter().map(|&d| d as i64).collect(),
            parameters: Default::default(),
            contents: None,
        });
        raw.push(tensor.le_bytes().to_vec());
    }
    ModelInferResponse {
        model_name: served.name.clone(),
        model_version: served.version.map(|v| v.to_string()).unwrap_or_default(),
        id: id.unwrap_or_default(),
        parameters: Default::default(),
        outputs: listed,
        raw_output_contents: raw,
    }
}
