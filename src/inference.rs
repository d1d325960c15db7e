//! Inference with tract: load any ONNX classifier once (optimised plan, symbolic batch) and run
//! it on row-major float32 batches. Reads labels and feature names from `metadata_props`.

use std::sync::Arc;

use tract_onnx::prelude::*;

pub use crate::contract::TensorSpec;
use crate::contract::{BATCH_DIM, FEATURE_NAMES_KEY, LABELS_KEY, OUTPUT_NAME};

/// Sets how many threads tract's matrix products use in this process: `1` runs them on the
/// calling thread; more run large products on a thread pool of that size.
///
/// Returns an error message when the pool cannot be started (the caller keeps one thread).
pub fn set_threads(threads: usize) -> Result<(), String> {
    use tract_linalg::multithread::{set_default_executor, Executor};
    if threads <= 1 {
        set_default_executor(Executor::SingleThread);
        return Ok(());
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .thread_name(|i| format!("maas-inference-{i}"))
        .num_threads(threads)
        .build()
        .map_err(|e| format!("cannot start {threads} inference threads: {e}"))?;
    set_default_executor(Executor::MultiThread(Arc::new(pool)));
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum InferenceError {
    #[error("not a loadable ONNX model: {0}")]
    Load(String),
    #[error("unsupported model: {0}")]
    Unsupported(String),
    #[error("the model uses {}, which tract cannot run: re-export the model without {} (fold preprocessing into the network, use standard ONNX operators) or serve it with another runtime", .operators.join(", "), if .operators.len() == 1 { "it" } else { "them" })]
    UnsupportedOperators { operators: Vec<String> },
    #[error("the model expects {expected} features per row, got {got}")]
    FeatureCount { expected: usize, got: usize },
    #[error("model execution failed: {0}")]
    Run(String),
    #[error("{given} labels were given but the model outputs {classes} classes")]
    LabelCount { given: usize, classes: usize },
}

/// A model ready to answer: tract's optimised plan plus what callers need to know about it.
#[derive(Clone)]
pub struct LoadedModel {
    plan: Arc<TypedRunnableModel>,
    pub input: TensorSpec,
    pub output: TensorSpec,
    pub n_features: usize,
    /// Class labels in output order (`"0"`, `"1"`, … when the model does not name them).
    pub labels: Vec<String>,
    /// Feature names in input order, when the model carries them.
    pub feature_names: Vec<String>,
}

impl std::fmt::Debug for LoadedModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedModel")
            .field("input", &self.input)
            .field("output", &self.output)
            .field("labels", &self.labels)
            .finish_non_exhaustive()
    }
}

fn tract_dtype_name(dt: DatumType) -> String {
    match dt {
        DatumType::F32 => "float32".into(),
        DatumType::F64 => "float64".into(),
        DatumType::I64 => "int64".into(),
        DatumType::I32 => "int32".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

fn spec(model: &TypedModel, outlet: OutletId, name: String) -> Result<TensorSpec, InferenceError> {
    let fact = model
        .outlet_fact(outlet)
        .map_err(|e| InferenceError::Load(format!("{e:#}")))?;
    Ok(TensorSpec {
        name,
        dtype: tract_dtype_name(fact.datum_type),
        shape: fact
            .shape
            .iter()
            .map(|d| d.as_i64().unwrap_or(-1))
            .collect(),
    })
}

/// The feature count of a graph whose single input is declared float32 `[?, F]`.
fn declared_feature_count(proto: &tract_onnx::pb::ModelProto) -> Option<usize> {
    use tract_onnx::pb::tensor_shape_proto::dimension::Value;
    use tract_onnx::pb::type_proto;
    let graph = proto.graph.as_ref()?;
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let mut inputs = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(&i.name.as_str()));
    let input = inputs.next()?;
    if inputs.next().is_some() {
        return None;
    }
    let Some(type_proto::Value::TensorType(tensor)) = input.r#type.as_ref()?.value.as_ref() else {
        return None;
    };
    if tensor.elem_type != tract_onnx::pb::tensor_proto::DataType::Float as i32 {
        return None;
    }
    match tensor.shape.as_ref()?.dim.as_slice() {
        [_, second] => match second.value {
            Some(Value::DimValue(f)) if f > 0 => Some(f as usize),
            _ => None,
        },
        _ => None,
    }
}

impl LoadedModel {
    /// Parses, types and optimises an ONNX model. The model must take one float32 input
    /// `[batch, features]` and give float32 probabilities `[batch, classes]` (an output named
    /// `probabilities` is preferred; otherwise the first float32 output is used).
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, InferenceError> {
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_read(&mut &*bytes)
            .map_err(|e| InferenceError::Load(format!("{e:#}")))?;
        Self::from_proto(&onnx, proto)
    }

    /// As [`LoadedModel::from_bytes`], releasing the file's bytes as soon as they are parsed so
    /// that they never sit in memory beside tract's copy of the weights.
    pub fn from_vec(bytes: Vec<u8>) -> Result<Self, InferenceError> {
        let onnx = tract_onnx::onnx();
        let proto = onnx
            .proto_model_for_read(&mut bytes.as_slice())
            .map_err(|e| InferenceError::Load(format!("{e:#}")))?;
        drop(bytes);
        Self::from_proto(&onnx, proto)
    }

    fn from_proto(
        onnx: &tract_onnx::Onnx,
        proto: tract_onnx::pb::ModelProto,
    ) -> Result<Self, InferenceError> {
        let load = |e: TractError| InferenceError::Load(format!("{e:#}"));
        let metadata = |key: &str| -> Vec<String> {
            proto
                .metadata_props
                .iter()
                .find(|p| p.key == key)
                .and_then(|p| serde_json::from_str(&p.value).ok())
                .unwrap_or_default()
        };
        let (labels, feature_names) = (metadata(LABELS_KEY), metadata(FEATURE_NAMES_KEY));
        // name every operator tract lacks up front, rather than tract's error for the first
        let mut missing: Vec<String> = Vec::new();
        for node in proto.graph.iter().flat_map(|g| &g.node) {
            if !onnx.op_register.0.contains_key(&node.op_type) {
                let domain = if node.domain.is_empty() {
                    "ai.onnx"
                } else {
                    &node.domain
                };
                let name = format!("operator '{}' ({domain})", node.op_type);
                if !missing.contains(&name) {
                    missing.push(name);
                }
            }
        }
        if !missing.is_empty() {
            return Err(InferenceError::UnsupportedOperators { operators: missing });
        }
        let mut inference_model = onnx.model_for_proto_model(&proto).map_err(load)?;
        let declared_features = declared_feature_count(&proto);
        // tract holds its own copy of the weights from here on
        drop(proto);
        // Exporters such as skl2onnx leave the batch dimension unnamed, which tract cannot type:
        // give a float32 [batch, F] input a symbolic batch.
        if let Some(features) = declared_features {
            let batch = inference_model.symbols.sym(BATCH_DIM);
            let fact = InferenceFact::dt_shape(
                DatumType::F32,
                [TDim::from(batch), TDim::from(features as i64)],
            );
            inference_model.set_input_fact(0, fact).map_err(load)?;
        }
        let mut model = inference_model.into_typed().map_err(load)?;

        let inputs = model.input_outlets().map_err(load)?.to_vec();
        if inputs.len() != 1 {
            return Err(InferenceError::Unsupported(format!(
                "maas serves models with one input, this one has {}",
                inputs.len()
            )));
        }
        let input_name = model.node(inputs[0].node).name.clone();
        let input = spec(&model, inputs[0], input_name)?;
        if input.dtype != "float32" || input.shape.len() != 2 || input.shape[1] < 1 {
            return Err(InferenceError::Unsupported(format!(
                "the input '{}' is {} {:?}; maas needs float32 [batch, features] with a fixed feature count",
                input.name, input.dtype, input.shape
            )));
        }
        let outputs = model.output_outlets().map_err(load)?.to_vec();
        let label_of = |o: &OutletId| {
            model
                .outlet_label(*o)
                .unwrap_or(&model.node(o.node).name)
                .to_string()
        };
        let chosen = outputs
            .iter()
            .find(|o| label_of(o) == OUTPUT_NAME)
            .or_else(|| {
                outputs.iter().find(|o| {
                    model
                        .outlet_fact(**o)
                        .map(|f| f.datum_type == DatumType::F32)
                        .unwrap_or(false)
                })
            })
            .copied()
            .ok_or_else(|| {
                InferenceError::Unsupported("the model has no float32 output".to_string())
            })?;
        let output = spec(&model, chosen, label_of(&chosen))?;
        model.select_output_outlets(&[chosen]).map_err(load)?;
        let n_classes = match output.shape.last() {
            Some(&c) if c > 0 => c as usize,
            _ if !labels.is_empty() => labels.len(),
            _ => {
                return Err(InferenceError::Unsupported(format!(
                    "the output '{}' has shape {:?}; the class count must be fixed",
                    output.name, output.shape
                )))
            }
        };
        let labels = if labels.len() == n_classes {
            labels
        } else {
            (0..n_classes).map(|i| i.to_string()).collect()
        };
        let plan = model
            .into_optimized()
            .map_err(load)?
            .into_runnable()
            .map_err(load)?;
        Ok(LoadedModel {
            plan,
            n_features: input.shape[1] as usize,
            input,
            output,
            labels,
            feature_names,
        })
    }

    pub fn n_classes(&self) -> usize {
        self.labels.len()
    }

    /// Names the classes (a manifest's labels, `--labels`): one label per output class.
    pub fn set_labels(&mut self, labels: Vec<String>) -> Result<(), InferenceError> {
        if labels.len() != self.n_classes() {
            return Err(InferenceError::LabelCount {
                given: labels.len(),
                classes: self.n_classes(),
            });
        }
        self.labels = labels;
        Ok(())
    }

    /// Class probabilities `[rows, classes]` row-major for `rows` rows of raw features.
    pub fn predict(&self, x: &[f32], rows: usize) -> Result<Vec<f32>, InferenceError> {
        if x.len() != rows * self.n_features {
            return Err(InferenceError::FeatureCount {
                expected: self.n_features,
                got: x.len() / rows.max(1),
            });
        }
        let run = |e: TractError| InferenceError::Run(format!("{e:#}"));
        let input = Tensor::from_shape(&[rows, self.n_features], x).map_err(run)?;
        let outputs = self.plan.run(tvec!(input.into())).map_err(run)?;
        let view = outputs[0].to_plain_array_view::<f32>().map_err(run)?;
        let probabilities: Vec<f32> = view.iter().copied().collect();
        if probabilities.len() != rows * self.n_classes() {
            return Err(InferenceError::Run(format!(
                "the model returned {} values for {rows} rows of {} classes",
                probabilities.len(),
                self.n_classes()
            )));
        }
        Ok(probabilities)
    }
}

/// Index of the largest value of each row of row-major `probabilities` (`classes` wide);
/// the first one wins a tie.
pub fn argmax_rows(probabilities: &[f32], classes: usize) -> Vec<u32> {
    probabilities
        .chunks_exact(classes)
        .map(|row| {
            let mut best = 0;
            for (i, p) in row.iter().enumerate() {
                if *p > row[best] {
                    best = i;
                }
            }
            best as u32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argmax_takes_the_first_of_a_tie() {
        assert_eq!(argmax_rows(&[0.1, 0.8, 0.1, 0.5, 0.5, 0.0], 3), [1, 0]);
    }
}
