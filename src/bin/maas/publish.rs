//! `maas publish`: an ONNX model trained elsewhere, described from its graph, or a text-generation
//! export folder with its tokenizer and configuration files, published.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use maas::contract::Task;
use maas::explain::BackgroundFile;
use maas::inference::LoadedModel;
use maas::store::{Attachment, StoreLocation};

use crate::progress::open_store;

#[derive(Args)]
pub struct PublishArgs {
    /// The ONNX file: any model tract runs (numeric inputs and outputs of any rank).
    #[arg(long, required_unless_present = "hf_dir", conflicts_with = "hf_dir")]
    pub onnx: Option<PathBuf>,
    /// A text-generation model: the folder `optimum-cli export onnx --task
    /// text-generation-with-past` writes (model.onnx, tokenizer.json and their configuration
    /// files), published as one version with every file checksummed in the manifest.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["labels", "task", "output"])]
    pub hf_dir: Option<PathBuf>,
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
    /// Rows explanations fill absent features from (`maas explain`, the explain routes): CSV
    /// or JSON lines of the model's features, a few dozen representative rows (at most 100).
    #[arg(long, value_name = "FILE", conflicts_with = "hf_dir")]
    pub background: Option<PathBuf>,
}

pub async fn run(args: PublishArgs) -> Result<()> {
    let location: StoreLocation = args.store.parse()?;
    let manifest = match (&args.onnx, &args.hf_dir) {
        (_, Some(dir)) => {
            maas::loader::publish_export_folder(&open_store(location.clone()), &args.name, dir)
                .await?
        }
        (Some(onnx), None) => {
            let (bytes, model) = onnx_file(onnx, &args)?;
            let mut description = model.description();
            let background = match &args.background {
                Some(path) => Some(background_file(path, &model)?),
                None => None,
            };
            description.background = background.as_ref().map(BackgroundFile::record);
            let attachments: Vec<Attachment> =
                background.map(|b| b.attachment()).into_iter().collect();
            open_store(location.clone())
                .publish_with(&args.name, &bytes, description, |_| attachments)
                .await?
        }
        (None, None) => bail!("name the model: --onnx FILE or --hf-dir DIR"),
    };
    println!(
        "published {} version {} to {location} (model.onnx {} bytes, sha256 {}{}); alias latest -> {}",
        manifest.name,
        manifest.version,
        manifest.model.size_bytes,
        manifest.model.sha256,
        if manifest.attachments.is_empty() {
            String::new()
        } else {
            format!(
                "; with {}",
                manifest.attachments.iter().map(|a| a.file.as_str()).collect::<Vec<_>>().join(", ")
            )
        },
        manifest.version
    );
    println!(
        "model reference: {location}/{}@{}",
        manifest.name, manifest.version
    );
    Ok(())
}

/// `--background`: rows of the model's features, checked against it.
fn background_file(path: &Path, model: &LoadedModel) -> Result<BackgroundFile> {
    let Some(features) = model.n_features() else {
        bail!(
            "--background needs a model with one [batch, features] float32 input; this one takes {}",
            model.inputs().iter().map(|i| format!("'{}' {} {:?}", i.name, i.dtype, i.shape)).collect::<Vec<_>>().join(", ")
        );
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the background {}", path.display()))?;
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().to_string(),
    );
    Ok(BackgroundFile::from_rows_text(
        &text,
        &name,
        features,
        model.feature_names(),
    )?)
}

/// A bare ONNX file, loaded and described by its graph and the flags.
fn onnx_file(onnx: &Path, args: &PublishArgs) -> Result<(Vec<u8>, LoadedModel)> {
    let bytes = std::fs::read(onnx).with_context(|| format!("cannot read {}", onnx.display()))?;
    let mut model = LoadedModel::from_bytes(&bytes)
        .with_context(|| format!("{} cannot be served", onnx.display()))?;
    crate::model_flags::apply(
        &mut model,
        args.task,
        args.output.as_deref(),
        args.labels.clone(),
    )?;
    if let Some(reason) = model.per_shape_reason() {
        // served all the same, but each new set of input shapes types and optimises the graph
        eprintln!(
            "note: tract types this graph only with concrete input shapes, so it is served with a plan per shape, made on first use (the last 8 kept): {reason}"
        );
    }
    Ok((bytes, model))
}
