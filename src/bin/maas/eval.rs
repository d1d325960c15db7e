//! `maas eval`: a classifier or regressor measured on a labelled data set, printed as a table
//! or JSON.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;

use maas::contract::Task;
use maas::data::CsvRows;
use maas::evaluation;
use maas::report;
use maas::store::ModelRef;

use crate::progress::TransferBar;

#[derive(Args)]
pub struct EvalArgs {
    /// `<store>/<name>`, `<store>/<name>@<version>`, `<store>/<name>@<alias>` or a .onnx file.
    #[arg(long)]
    pub model: String,
    /// Labelled CSV with a header line (a path or s3://bucket/key), like `maas train --data`.
    #[arg(long)]
    pub data: PathBuf,
    /// Name of the label column; for a regressor, its target columns comma-separated, in
    /// output order.
    #[arg(long, value_delimiter = ',', default_value = "label")]
    pub label_column: Vec<String>,
    /// Class labels of a bare .onnx file in output order, comma-separated (default: the
    /// model's metadata or manifest, or 0..C-1).
    #[arg(long, value_delimiter = ',')]
    pub labels: Option<Vec<String>>,
    /// What a bare .onnx file answers: classifier or regression (default: its metadata or
    /// manifest; a model with a `probabilities` output is a classifier).
    #[arg(long)]
    pub task: Option<Task>,
    /// The output a bare classifier or regressor answers with (with --task; default: its only
    /// float output, or `probabilities`/`predictions`).
    #[arg(long, value_name = "NAME")]
    pub output: Option<String>,
    /// Print the metrics as JSON.
    #[arg(long)]
    pub json: bool,
    /// Also draw the confusion matrix to this PNG file (classifiers).
    #[arg(long, value_name = "PNG")]
    pub confusion: Option<PathBuf>,
}

/// What `maas eval --json` prints for a regressor.
#[derive(serde::Serialize)]
struct RegressionEvaluation {
    metrics: maas::metrics::RegressionMetrics,
}

pub async fn run(args: EvalArgs) -> Result<()> {
    let reference: ModelRef = args.model.parse()?;
    let served = maas::loader::load_with_progress(&reference, TransferBar::for_terminal()).await?;
    // the one owner of the model unless a text-generation model shares it
    let mut model = std::sync::Arc::try_unwrap(served.model).map_err(|_| {
        anyhow::anyhow!(
            "maas eval measures classifiers and regressors; {} is a text-generation model",
            args.model
        )
    })?;
    crate::model_flags::apply(
        &mut model,
        args.task,
        args.output.as_deref(),
        args.labels.clone(),
    )?;
    // the data streams through the model one batch at a time, whatever its size
    let source = args.data.to_string_lossy().to_string();
    let reader = maas::data::open_source(&source).await?;
    let label_columns = args.label_column.clone();
    if model.task() == Task::Regression {
        if args.confusion.is_some() {
            bail!("--confusion draws a classifier's confusion matrix; this model is a regressor");
        }
        let metrics = tokio::task::spawn_blocking(move || {
            let rows = CsvRows::with_labels(reader, &source, &label_columns)?;
            evaluation::evaluate_regression(&model, rows, &label_columns, &source)
        })
        .await
        .context("the evaluation stopped")?
        .with_context(|| format!("cannot evaluate {reference} on {}", args.data.display()))?;
        if args.json {
            let outcome = RegressionEvaluation { metrics };
            println!("{}", serde_json::to_string_pretty(&outcome)?);
        } else {
            println!("{reference} on {}: {metrics}", args.data.display());
        }
        return Ok(());
    }
    if label_columns.len() != 1 {
        bail!(
            "a classifier has one label column; {} were given ({})",
            label_columns.len(),
            label_columns.join(", ")
        );
    }
    let outcome = tokio::task::spawn_blocking(move || {
        let rows = CsvRows::new(reader, &source, &label_columns[0])?;
        evaluation::evaluate(&model, rows, &source)
    })
    .await
    .context("the evaluation stopped")?
    .with_context(|| format!("cannot evaluate {reference} on {}", args.data.display()))?;
    if !outcome.unknown_labels.is_empty() {
        eprintln!(
            "warning: {} has labels the model does not know ({}); their rows count as errors",
            args.data.display(),
            outcome.unknown_labels.join(", ")
        );
    }
    if let Some(path) = &args.confusion {
        let m = &outcome.metrics;
        let title = format!(
            "{reference} on {}: {} rows, accuracy {:.4}",
            args.data.file_name().unwrap_or_default().to_string_lossy(),
            m.rows,
            m.accuracy
        );
        let png = report::confusion_png(m, &title)?;
        std::fs::write(path, png).with_context(|| format!("cannot write {}", path.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        println!(
            "{reference} on {}: {}",
            args.data.display(),
            outcome.metrics
        );
        if let Some(path) = &args.confusion {
            println!("confusion matrix drawn to {}", path.display());
        }
    }
    Ok(())
}
