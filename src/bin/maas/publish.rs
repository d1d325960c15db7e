//! `maas publish`: an ONNX classifier trained elsewhere, described from its graph and published.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use maas::inference::LoadedModel;
use maas::manifest::ModelDescription;
use maas::store::StoreLocation;

use crate::progress::open_store;

#[derive(Args)]
pub struct PublishArgs {
    /// The ONNX file: one float32 [batch, features] input, float32 [batch, classes] probabilities.
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
}

pub async fn run(args: PublishArgs) -> Result<()> {
    let bytes = std::fs::read(&args.onnx)
        .with_context(|| format!("cannot read {}", args.onnx.display()))?;
    let mut model = LoadedModel::from_bytes(&bytes)
        .with_context(|| format!("{} cannot be served", args.onnx.display()))?;
    if let Some(labels) = args.labels {
        model.set_labels(labels).context("--labels")?;
    }
    let description = ModelDescription {
        inputs: vec![model.input.clone()],
        outputs: vec![model.output.clone()],
        labels: model.labels.clone(),
        feature_names: model.feature_names.clone(),
        metrics: None,
        training: None,
    };
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
