//! `maas publish`: an ONNX classifier trained elsewhere, described from its graph and published.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use maas::contract::Task;
use maas::inference::LoadedModel;
use maas::store::StoreLocation;

use crate::progress::open_store;

#[derive(Args)]
pub struct PublishArgs {
    /// The ONNX file: any model tract runs (numeric inputs and outputs of any rank).
    #[arg(long)]
    pub onnx: PathBuf,
    #[arg(long)]
    pub name: String,
    /// Model store: a folder or s3://bucket[/prefix].
    #[arg(long, default_value = "models")]
    pub store: String,
    /// Class labels in output order, comma-separated (default: the model's metadata, or 0..C-1).
    #[arg(long, value_delimiter = ',')]
    pub labels: Option<Vec<String>>,
    /// What the model answers: classifier (labelled probabilities), regression (values) or
    /// tensor (its outputs as they are). Default: classifier when it has a `probabilities`
    /// output, tensor otherwise.
    #[arg(long)]
    pub task: Option<Task>,
    /// The output a classifier or regressor answers with (default: its only float output, or
    /// `probabilities`/`predictions`).
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
}

pub async fn run(args: PublishArgs) -> Result<()> {
    let bytes = std::fs::read(&args.onnx)
        .with_context(|| format!("cannot read {}", args.onnx.display()))?;
    let mut model = LoadedModel::from_bytes(&bytes)
        .with_context(|| format!("{} cannot be served", args.onnx.display()))?;
    crate::model_flags::apply(&mut model, args.task, args.output.as_deref(), args.labels)?;
    if let Some(reason) = model.per_shape_reason() {
        // served all the same, but each new set of input shapes types and optimises the graph
        eprintln!(
            "note: tract types this graph only with concrete input shapes, so it is served with a plan per shape, made on first use (the last 8 kept): {reason}"
        );
    }
    let description = model.description();
    let location: StoreLocation = args.store.parse()?;
    let manifest = open_store(location.clone())
        .publish(&args.name, &bytes, description)
        .await?;
    println!(
        "published {} version {} to {location} (model.onnx {} bytes, sha256 {}); alias latest -> {}",
        manifest.name, manifest.version, manifest.model.size_bytes, manifest.model.sha256, manifest.version
    );
    println!(
        "model reference: {location}/{}@{}",
        manifest.name, manifest.version
    );
    Ok(())
}
