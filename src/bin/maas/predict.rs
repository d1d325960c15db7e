//! `maas predict`: JSON or CSV rows from a file or standard input, answered as JSON.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;

use maas::protocol::{self, Batch, PredictRequest};
use maas::store::ModelRef;

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

fn read_input(path: &Path) -> Result<String> {
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
    let batch = if is_json {
        let request: PredictRequest = serde_json::from_str(&text).with_context(|| {
            format!(
                "{} is not a valid request: expected {{\"inputs\": [[number, ...], ...]}}",
                args.input.display()
            )
        })?;
        Batch::from_rows(&request.inputs, model.n_features)?
    } else {
        Batch::from_csv(&text, model.n_features, &model.feature_names)?
    };
    let response = protocol::predict(model, &served.name, served.version, &batch)?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}
