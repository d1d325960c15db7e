//! `maas predict`: JSON or CSV rows from a file or standard input, answered as JSON.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;

use maas::protocol::{self, Batch, PredictRequest};
use maas::store::ModelRef;
use maas::tensor::Tensor;

use crate::progress::TransferBar;

#[derive(Args)]
pub struct PredictArgs {
    /// `<store>/<name>`, `<store>/<name>@<version>`, `<store>/<name>@<alias>` or a .onnx file.
    #[arg(long)]
    pub model: String,
    /// JSON `{"inputs": [[...], ...]}` or CSV rows of features (`-` reads standard input).
    #[arg(long)]
    pub input: PathBuf,
}

pub(crate) fn read_input(path: &Path) -> Result<String> {
    if path == Path::new("-") {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("cannot read standard input")?;
        return Ok(text);
    }
    std::fs::read_to_string(path)
        .with_context(|| format!("cannot read input file {}", path.display()))
}

pub async fn run(args: PredictArgs) -> Result<()> {
    let reference: ModelRef = args.model.parse()?;
    let served = maas::loader::load_with_progress(&reference, TransferBar::for_terminal()).await?;
    let model = &served.model;
    let text = read_input(&args.input)?;
    let is_json = match args.input.extension().and_then(|e| e.to_str()) {
        Some(ext) if ext.eq_ignore_ascii_case("json") => true,
        Some(ext) if ext.eq_ignore_ascii_case("csv") => false,
        _ => text.trim_start().starts_with('{'),
    };
    // a tensor may hold no more elements than the input has bytes
    let max_elements = text.len().max(1);
    let tensors = if is_json {
        let request: PredictRequest = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid request: expected {{\"inputs\": [[number, ...], ...]}} or {{\"inputs\": {{\"<input>\": [...]}}}}",
                args.input.display()
            )
        })?;
        protocol::native_tensors(&request.inputs, model, max_elements)?
    } else {
        let Some(features) = model.n_features() else {
            bail!(
                "CSV rows need a model with one [batch, features] float32 input; this one takes {}: send JSON {{\"inputs\": {{\"<input>\": [...]}}}}",
                model.inputs().iter().map(|i| format!("'{}' {} {:?}", i.name, i.dtype, i.shape)).collect::<Vec<_>>().join(", ")
            );
        };
        let batch = Batch::from_csv(&text, features, model.feature_names())?;
        let name = model.inputs().first().map_or("input", |i| i.name.as_str());
        vec![Tensor::from_f32(
            name,
            vec![batch.rows, features],
            &batch.values,
        )?]
    };
    let outputs = model.run(&tensors)?;
    let response = protocol::native_response(model, &served.name, served.version, outputs)?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}
