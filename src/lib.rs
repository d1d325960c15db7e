//! maas: train a classifier, publish it as ONNX to a model store, answer predictions with tract.
//!
//! The library holds the whole product; the `maas` CLI and the Lambda functions only adapt it.
//!
//! Serving (always built; what the Lambda functions use):
//! - [`contract`]: the ONNX names and metadata keys maas writes and reads, and [`contract::TensorSpec`].
//! - [`metrics`]: classification metrics as data (computed by training and evaluation, kept in manifests).
//! - [`manifest`]: the JSON description published beside each model.
//! - [`store`]: the versioned model store (bytes and manifests, folder or S3) and model references.
//! - `objects` (with `native`): objects in a folder or on S3, the one I/O layer under the store,
//!   batch scoring and data reading.
//! - [`tensor`]: request tensors (datatype, shape, values) checked before anything is sized by them.
//! - [`inference`]: loading any ONNX model tract runs and running it on checked tensors.
//! - [`loader`]: a model reference to a model ready to answer (store, then inference).
//! - [`protocol`]: request and response types of the prediction protocols (native, KServe V2, TF Serving).
//! - [`server`]: the HTTP API (one axum router for `maas serve` and Lambda).
//! - [`batch`]: batch scoring of objects (CSV or JSON lines, folders or S3, whole or by byte
//!   range) into answer files: `maas batch` and the batch function.
//!
//! The Lambda functions' JSON logs (feature `lambda-logging`): `logging`.
//!
//! The long-running server's extras (feature `serve`, with the CLI): `grpc`, KServe V2 over
//! gRPC, and the Prometheus metrics in `server::prometheus`.
//!
//! Without the feature `native` (on for the CLI and the Lambda functions) the serving core
//! builds for wasm32-unknown-unknown: no store I/O, tokio threads, sockets or files, inference
//! on the calling thread; the host hands the model over ([`server::state::ModelHandle::fixed`]).
//!
//! Training and evaluation (feature `train`, on by default; the functions build without it):
//! - `data`: reading labelled CSV data sets (files or S3) and splitting them.
//! - `datagen`: synthetic data sets of any shape (the reference benchmark shape).
//! - `training`: the MLP classifier, trained with candle's autodiff and Adam.
//! - `evaluation`: a model measured on a labelled data set (`maas eval`).
//! - `export`: writing a trained model as ONNX with `tract_onnx::pb`.
//! - `report`: the model card and the training report's pictures.
//! - `pipeline`: the `maas train` job end to end, with the export's parity check.

// without `native` (the edge worker's wasm32 build) the store's I/O and the model handle's
// refresh are left out, and some of what they share goes unused
#![cfg_attr(not(feature = "native"), allow(dead_code))]

#[cfg(feature = "native")]
pub mod batch;
pub mod clock;
pub mod contract;
#[cfg(feature = "train")]
pub mod data;
#[cfg(feature = "train")]
pub mod datagen;
#[cfg(feature = "train")]
pub mod evaluation;
pub mod explain;
#[cfg(feature = "train")]
pub mod export;
pub(crate) mod features;
#[cfg(feature = "generation")]
pub mod generation;
#[cfg(feature = "serve")]
pub mod grpc;
pub mod image;
pub mod inference;
pub mod loader;
#[cfg(feature = "lambda-logging")]
pub mod logging;
pub mod manifest;
#[cfg(all(feature = "native", target_os = "linux"))]
pub mod memory;
pub mod metrics;
pub(crate) mod number;
#[cfg(feature = "native")]
pub mod objects;
#[cfg(feature = "train")]
pub mod pipeline;
pub mod protocol;
#[cfg(feature = "train")]
pub mod report;
pub mod server;
pub mod store;
pub mod tensor;
#[cfg(feature = "train")]
pub mod training;

/// The version of maas that produced a model, written into every manifest.
pub const MAAS_VERSION: &str = env!("CARGO_PKG_VERSION");
