//! The background as a version stores it: `background.json` beside the model, rows of the
//! model's features and a line saying how they were chosen.

use serde::{Deserialize, Serialize};

use super::{Background, ExplainError};
use crate::manifest::BackgroundRecord;
use crate::protocol::Batch;
use crate::store::Attachment;

/// The attachment that holds a version's background.
pub const BACKGROUND_FILE: &str = "background.json";

/// `background.json`: the rows (each the model's features, in order) and their provenance.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackgroundFile {
    /// How the rows were chosen, e.g. "50 training rows drawn with seed 7".
    pub source: String,
    /// Rows of features (float32, as the model takes them, so they read back as written).
    pub rows: Vec<Vec<f32>>,
}

/// Why a background file cannot serve a model.
#[derive(Debug, thiserror::Error)]
pub enum BackgroundFileError {
    /// Not the JSON layout above.
    #[error("{file} is not a background: {message} (expected {{\"source\": \"...\", \"rows\": [[number, ...], ...]}})")]
    Layout {
        /// The file read.
        file: String,
        /// What serde said.
        message: String,
    },
    /// Rows that do not fit the model, or too many of them.
    #[error("{file}: {message}")]
    Rows {
        /// The file read.
        file: String,
        /// What is wrong with them.
        message: String,
    },
}

impl BackgroundFile {
    /// The rows checked against a model of `features` features.
    pub fn background(
        &self,
        features: usize,
        file: &str,
    ) -> Result<Background, BackgroundFileError> {
        let rows_error = |message: String| BackgroundFileError::Rows {
            file: file.to_string(),
            message,
        };
        let rows: Vec<Vec<f64>> = self
            .rows
            .iter()
            .map(|r| r.iter().map(|&v| f64::from(v)).collect())
            .collect();
        let batch = Batch::from_rows(&rows, features).map_err(|e| rows_error(e.to_string()))?;
        Background::new(batch.values, features).map_err(|e: ExplainError| rows_error(e.to_string()))
    }

    /// Rows given by a user (`maas publish --background`): CSV (a header naming the model's
    /// features picks them by name, as `maas predict` reads CSV) or JSON lines, each a list
    /// of the features; `file` names them in messages and in the record of how they were made.
    pub fn from_rows_text(
        text: &str,
        file: &str,
        features: usize,
        feature_names: &[String],
    ) -> Result<BackgroundFile, BackgroundFileError> {
        let rows_error = |message: String| BackgroundFileError::Rows {
            file: file.to_string(),
            message,
        };
        let batch = if file.to_ascii_lowercase().ends_with(".csv") {
            Batch::from_csv(text, features, feature_names).map_err(|e| rows_error(e.to_string()))?
        } else {
            let mut rows = Vec::new();
            for (i, line) in text.lines().enumerate() {
                if line.trim().is_empty() {
                    continue;
                }
                let row: serde_json::Value = serde_json::from_str(line)
                    .map_err(|e| rows_error(format!("line {}: {e}", i + 1)))?;
                rows.push(row);
            }
            Batch::from_json_rows(&serde_json::Value::Array(rows), features, "rows")
                .map_err(|e| rows_error(e.to_string()))?
        };
        let background = Background::new(batch.values, features)
            .map_err(|e: ExplainError| rows_error(e.to_string()))?;
        Ok(BackgroundFile::of(
            &background,
            format!("{} rows from {file}", background.len()),
        ))
    }

    /// A background's rows with how they were chosen.
    pub fn of(background: &Background, source: String) -> BackgroundFile {
        BackgroundFile {
            source,
            rows: (0..background.len())
                .map(|r| background.row(r).to_vec())
                .collect(),
        }
    }

    /// Parses `background.json`'s bytes.
    pub fn parse(bytes: &[u8], file: &str) -> Result<BackgroundFile, BackgroundFileError> {
        serde_json::from_slice(bytes).map_err(|e| BackgroundFileError::Layout {
            file: file.to_string(),
            message: e.to_string(),
        })
    }

    /// The file's bytes.
    pub fn to_json(&self) -> Vec<u8> {
        // rows of finite numbers and a string always serialise
        serde_json::to_vec(self).unwrap_or_default()
    }

    /// The manifest's record of this background.
    pub fn record(&self) -> BackgroundRecord {
        BackgroundRecord {
            file: BACKGROUND_FILE.to_string(),
            rows: self.rows.len(),
            source: self.source.clone(),
        }
    }

    /// The attachment a version publishes it as.
    pub fn attachment(&self) -> Attachment {
        Attachment {
            file: BACKGROUND_FILE.to_string(),
            media_type: "application/json".to_string(),
            bytes: self.to_json(),
        }
    }
}
