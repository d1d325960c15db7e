//! maas: train a classifier, publish it as ONNX to a model store, answer predictions with tract.
//!
//! The library holds the whole product; the `maas` CLI and the Lambda functions only adapt it.
//!
//! - [`data`]: reading labelled CSV data sets and splitting them.
//! - [`datagen`]: synthetic data sets of any shape (the reference benchmark shape).
//! - [`training`]: the MLP classifier; trained with candle's autodiff and Adam (feature `train`).
//! - [`evaluation`]: accuracy, precision, recall, F1 and the confusion matrix.
//! - [`export`]: writing a trained model as ONNX with `tract_onnx::pb`.
//! - [`manifest`]: the JSON description published beside each model.
//! - `pipeline`: the `maas train` job end to end (feature `train`, on by default).
//! - [`store`]: the versioned model store and model references.
//! - [`inference`]: loading an ONNX model with tract and running it.
//! - `report`: the model card and the training report's pictures (feature `train`).
//! - [`protocol`]: request and response types of the prediction protocols (native, KServe V2, TF Serving).
//! - [`server`]: the HTTP API (one axum router for `maas serve` and Lambda).

pub mod data;
pub mod datagen;
pub mod evaluation;
pub mod export;
pub mod inference;
pub mod manifest;
#[cfg(feature = "train")]
pub mod pipeline;
pub mod protocol;
#[cfg(feature = "train")]
pub mod report;
pub mod server;
pub mod store;
pub mod training;

/// The version of maas that produced a model, written into every manifest.
pub const MAAS_VERSION: &str = env!("CARGO_PKG_VERSION");
