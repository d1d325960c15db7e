//! The manifest published beside every model version: identity, checksum, interface, labels,
//! metrics and how the model was trained. The same JSON in a folder store and on S3.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::contract::{Task, TensorSpec};
use crate::metrics::{Metrics, RegressionMetrics};

mod training;

pub use training::{
    DataRecord, EpochSummary, LrSchedule, ScheduleError, TrainConfig, TrainingRecord,
};

/// The manifest layout this maas writes and the newest it reads.
pub const MANIFEST_FORMAT: u32 = 1;

/// A published model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    /// Layout version of this document; a reader refuses a newer one.
    pub format: u32,
    pub name: String,
    pub version: u64,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
    /// The maas version that published it.
    pub maas_version: String,
    pub model: ModelFile,
    /// Files published beside the model (report.md, curves.png, confusion.png for a model
    /// maas trained), each with its checksum.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<AttachedFile>,
    #[serde(flatten)]
    pub description: ModelDescription,
}

/// A file published beside a model version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttachedFile {
    pub file: String,
    /// e.g. `text/markdown`, `image/png`.
    pub media_type: String,
    pub sha256: String,
    pub size_bytes: u64,
}

/// The model file of a version and its checksum.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelFile {
    pub file: String,
    pub sha256: String,
    pub size_bytes: u64,
}

/// What a publisher knows about the model before it has a version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDescription {
    /// Every input of the graph.
    pub inputs: Vec<TensorSpec>,
    /// Every output of the graph.
    pub outputs: Vec<TensorSpec>,
    /// What the model answers; absent in manifests written before maas recorded it (a model
    /// with a `probabilities` output is then a classifier).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<Task>,
    /// The output a classifier or regressor answers with.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answer_output: Option<String>,
    /// Class labels in output order.
    pub labels: Vec<String>,
    #[serde(default)]
    pub feature_names: Vec<String>,
    /// A classifier's metrics on the held-out test rows, when the model was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<Metrics>,
    /// A regressor's metrics on the held-out test rows, when the model was evaluated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression_metrics: Option<RegressionMetrics>,
    /// How the model was trained, when maas trained it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training: Option<TrainingRecord>,
    /// What a text-generation model's files say (its tokenizer and configuration).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation: Option<TextDescription>,
    /// The rows explanations are computed against, when the version carries them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<BackgroundRecord>,
}

/// A version's background for explanations: the attachment that holds it (its checksum and
/// size are in the attachments), how many rows and how they were chosen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BackgroundRecord {
    /// The attachment, `background.json`.
    pub file: String,
    /// Rows held.
    pub rows: usize,
    /// How the rows were chosen.
    pub source: String,
}

/// A text-generation model as its tokenizer and configuration files describe it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TextDescription {
    /// Entries of the logits.
    pub vocabulary_size: usize,
    /// Tokens of prompt and completion together, when `config.json` says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_length: Option<usize>,
    /// Ids that end a generation.
    pub eos_token_ids: Vec<u32>,
    /// Special tokens by role (`bos_token`, `eos_token`, …).
    pub special_tokens: std::collections::BTreeMap<String, String>,
    /// Whether the chat routes can render a conversation.
    pub chat_template: bool,
}
