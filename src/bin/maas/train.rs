//! `maas train`: flags to a training job, progress bars per epoch, the outcome printed.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

use maas::contract::Task;
use maas::data::{Dataset, BUNDLED_DIGITS_NAME};
use maas::pipeline::{self, TrainJob};
use maas::store::StoreLocation;
use maas::training::{LrSchedule, TrainConfig};

use crate::progress::EpochBars;

#[derive(Args)]
pub struct TrainArgs {
    /// CSV with a header line (a path or s3://bucket/key): the label column(s), the other
    /// columns numeric features.
    /// Without it, the bundled handwritten digits data set (1797 rows, 64 features, 10 classes).
    #[arg(long)]
    pub data: Option<PathBuf>,
    /// What to learn: `classifier` (softmax, categorical cross-entropy, one label column) or
    /// `regression` (linear output, mean squared error, one or more numeric target columns).
    #[arg(long, default_value = "classifier", value_parser = parse_task)]
    pub task: Task,
    /// Model name in the store (default: the data file's stem, `digits` for the bundled data).
    #[arg(long)]
    pub name: Option<String>,
    /// Model store: a folder or s3://bucket[/prefix].
    #[arg(long, default_value = "models")]
    pub store: String,
    /// Name of the label column; for a regression, the target column or several
    /// comma-separated (answered in that order).
    #[arg(long, value_delimiter = ',', default_value = "label")]
    pub label_column: Vec<String>,
    /// Refuse a data set whose values need more memory than this (4 bytes a value); the file
    /// itself streams through and is never held.
    #[arg(long, default_value_t = maas::data::DEFAULT_MAX_DATA_MIB)]
    pub max_data_mib: usize,
    /// Hidden layer widths, comma-separated (e.g. 256,128).
    #[arg(long, value_delimiter = ',', default_value = "512")]
    pub hidden: Vec<usize>,
    #[arg(long, default_value_t = 10)]
    pub epochs: usize,
    #[arg(long, default_value_t = 32)]
    pub batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    pub learning_rate: f64,
    /// L1 penalty on the layer weights.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l1: f64,
    /// L2 penalty on the layer weights.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l2: f64,
    /// Fraction of each class (of all rows, for a regression) held out as test rows for the
    /// reported metrics.
    #[arg(long, default_value_t = 0.2)]
    pub test_split: f64,
    /// Fraction of the remaining rows of each class kept for validation (the per-epoch curves
    /// and early stopping).
    #[arg(long, default_value_t = 0.1)]
    pub validation_split: f64,
    /// Stop after N epochs without a lower validation loss and keep the best epoch's weights.
    #[arg(long, value_name = "N")]
    pub patience: Option<usize>,
    /// Learning-rate schedule: constant, cosine (decay towards 0 over the epochs) or
    /// step:EVERY:FACTOR (e.g. step:5:0.5 halves the rate every 5 epochs).
    #[arg(long, default_value = "constant")]
    pub lr_schedule: LrSchedule,
    /// Seed of the split, the initial weights and the batch order: same seed, same model bytes.
    #[arg(long, default_value_t = 42)]
    pub seed: u64,
    /// Threads for training's matrix products and element-wise steps. On the reference model
    /// (batch 32) one thread measured fastest on 2 cores (see BENCHMARKS.md); more can pay for
    /// wider layers or larger batches.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: u16,
    /// Training rows stored beside the model as the background of explanations (`maas
    /// explain`, the explain routes), drawn with the seed; at most 100, 0 stores none. Each
    /// row costs one model row per coalition an explanation evaluates.
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u16).range(0..=100))]
    pub background_rows: u16,
}

pub async fn run(args: TrainArgs) -> Result<()> {
    let source = args.data.as_ref().map(|p| p.to_string_lossy().to_string());
    let data = match &source {
        Some(source) => {
            maas::data::read_dataset(source, args.task, &args.label_column, args.max_data_mib)
                .await?
        }
        None if args.task == Task::Regression => anyhow::bail!(
            "--task regression needs --data with numeric target columns (the bundled data set \
             is a classification); e.g. --data tests/data/diabetes.csv --label-column progression"
        ),
        None => Dataset::bundled_digits()?,
    };
    let name = match args.name {
        Some(name) => name,
        None => pipeline::default_model_name(&data)?,
    };
    let store: StoreLocation = args.store.parse()?;
    let job = TrainJob {
        data,
        name,
        store,
        config: TrainConfig {
            hidden: args.hidden,
            epochs: args.epochs,
            batch_size: args.batch_size,
            learning_rate: args.learning_rate,
            l1: args.l1,
            l2: args.l2,
            seed: args.seed,
            patience: args.patience,
            lr_schedule: args.lr_schedule,
        },
        test_split: args.test_split,
        validation_split: args.validation_split,
        background_rows: args.background_rows.into(),
    };
    let d = &job.data;
    println!(
        "data: {} ({} rows, {} features, {})",
        if d.source == BUNDLED_DIGITS_NAME {
            "bundled handwritten digits"
        } else {
            &d.source
        },
        d.rows(),
        d.n_features(),
        match d.task {
            Task::Regression => format!("targets {}", d.label_columns.join(", ")),
            _ => format!("{} classes", d.classes.len()),
        }
    );
    let mut bars = EpochBars::on_terminal();
    let outcome = pipeline::train_and_publish(&job, &mut bars).await?;
    let m = &outcome.manifest;
    let training = m.description.training.as_ref();
    if let Some((t, kept)) =
        training.and_then(|t| Some((t, t.history.iter().find(|e| e.epoch == t.kept_epoch)?)))
    {
        println!(
            "ran {} of {} epochs; kept epoch {} (validation loss {:.4}{})",
            t.epochs_run,
            job.config.epochs,
            t.kept_epoch,
            kept.validation_loss,
            kept.validation_accuracy
                .map(|a| format!(", accuracy {a:.4}"))
                .unwrap_or_default()
        );
        println!(
            "training: {} rows × {} epochs in {:.2} s ({:.0} samples/s)",
            t.data.training_rows,
            t.epochs_run,
            outcome.training_seconds,
            outcome.samples_per_second
        );
    }
    println!("\ntest {}", outcome.metrics);
    println!(
        "published {} version {} to {} (model.onnx {} bytes, sha256 {}); alias latest -> {}",
        m.name, m.version, job.store, m.model.size_bytes, m.model.sha256, m.version
    );
    let files: Vec<&str> = m.attachments.iter().map(|a| a.file.as_str()).collect();
    println!(
        "report: {} in {}/{}/versions/{}/ (`maas models show {}/{}@{}` prints the card)",
        files.join(", "),
        job.store,
        m.name,
        m.version,
        job.store,
        m.name,
        m.version
    );
    println!("model reference: {}/{}@{}", job.store, m.name, m.version);
    Ok(())
}

/// `classifier` or `regression`: what `maas train` can learn.
fn parse_task(text: &str) -> Result<Task, String> {
    match text.parse::<Task>()? {
        Task::Tensor | Task::TextGeneration => Err(
            "maas trains a classifier or a regression; `tensor` and `text-generation` are for \
             models published with `maas publish`"
                .into(),
        ),
        task => Ok(task),
    }
}
