//! The ONNX contract between the exporter and the runtime: the graph's input and output names,
//! its symbolic batch dimension and the `metadata_props` keys maas reads and writes.
//!
//! [`crate::export`] writes models that follow it; [`crate::inference`] reads any model and
//! uses it where a model follows it (labels, feature names, the preferred output).

use serde::{Deserialize, Serialize};

/// The ONNX operator set maas exports.
pub const OPSET: i64 = 13;
/// ONNX IR version 8 (ONNX 1.10+), read by onnxruntime and tract alike.
pub const IR_VERSION: i64 = 8;
/// Name of the graph input of a maas model.
pub const INPUT_NAME: &str = "input";
/// Name of the class-probabilities output; a model with several outputs is served from the one
/// with this name.
pub const OUTPUT_NAME: &str = "probabilities";
/// Name of a maas regressor's output, the values `[batch, targets]` in the targets' units.
pub const REGRESSION_OUTPUT_NAME: &str = "predictions";
/// The symbolic batch dimension.
pub const BATCH_DIM: &str = "batch";
/// `metadata_props` key of the class labels in output order, a JSON array of strings.
pub const LABELS_KEY: &str = "labels";
/// `metadata_props` key of a regressor's target names in output order, a JSON array of strings.
pub const TARGETS_KEY: &str = "targets";
/// `metadata_props` key of the feature names in input order, a JSON array of strings.
pub const FEATURE_NAMES_KEY: &str = "feature_names";

/// Name, element type and shape of a model input or output; `-1` marks a symbolic dimension.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TensorSpec {
    pub name: String,
    /// ONNX-style lower-case type name, e.g. `float32`.
    pub dtype: String,
    pub shape: Vec<i64>,
    /// The name of each dimension of `shape` that is symbolic (`batch_size`,
    /// `past_sequence_length + sequence_length`), `None` for a fixed one; empty in manifests
    /// written before maas kept the names, and for graphs typed per shape.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dim_names: Vec<Option<String>>,
}

impl TensorSpec {
    /// A spec whose dimensions are all fixed but a leading `-1` batch (`batch`).
    pub fn batched(name: &str, dtype: &str, shape: Vec<i64>) -> TensorSpec {
        let dim_names = shape
            .iter()
            .map(|&d| (d < 0).then(|| BATCH_DIM.to_string()))
            .collect();
        TensorSpec {
            name: name.to_string(),
            dtype: dtype.to_string(),
            shape,
            dim_names,
        }
    }

    /// Each dimension as a person reads it: its number, or its symbol's name (`batch` for a
    /// leading symbolic dimension a manifest did not name, `?` for any other).
    pub fn dim_labels(&self) -> Vec<String> {
        self.shape
            .iter()
            .enumerate()
            .map(|(j, &n)| match self.dim_names.get(j) {
                _ if n >= 0 => n.to_string(),
                Some(Some(name)) => name.clone(),
                _ if j == 0 => BATCH_DIM.to_string(),
                _ => "?".to_string(),
            })
            .collect()
    }
}

/// `metadata_props` key of the task a maas export performs (`classifier` or `regression`).
pub const TASK_KEY: &str = "task";

/// What a model answers, which decides how the native route and `maas predict` present it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    /// Class probabilities `[batch, classes]`: answered with labels.
    Classifier,
    /// Values `[batch, targets]` in the targets' units.
    Regression,
    /// Any tensors: answered as they come out.
    #[default]
    Tensor,
    /// A decoder-only language model with its tokenizer: answers text (it also answers its
    /// tensors, one forward pass, on the tensor routes).
    #[serde(rename = "text-generation")]
    TextGeneration,
}

impl std::fmt::Display for Task {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Task::Classifier => "classifier",
            Task::Regression => "regression",
            Task::Tensor => "tensor",
            Task::TextGeneration => "text-generation",
        })
    }
}

impl std::str::FromStr for Task {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "classifier" => Ok(Task::Classifier),
            "regression" => Ok(Task::Regression),
            "tensor" => Ok(Task::Tensor),
            "text-generation" => Ok(Task::TextGeneration),
            other => Err(format!(
                "unknown task '{other}': use classifier, regression or tensor (text-generation models are published with --hf-dir)"
            )),
        }
    }
}
