//! The `maas` command line: adapts the library's jobs (train, eval, predict, publish, models,
//! serve, datagen) to flags, progress bars, tables and exit codes.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

use maas::data::{CsvRows, Dataset, BUNDLED_DIGITS_NAME};
use maas::datagen::{self, DataSpec};
use maas::evaluation;
use maas::inference::LoadedModel;
use maas::manifest::ModelDescription;
use maas::pipeline::{self, TrainJob};
use maas::protocol::{self, Batch, PredictRequest};
use maas::report;
use maas::server::{self, state::ModelHandle, state::ServerConfig};
use maas::store::{self, ModelRef, Selector, Store, StoreLocation, TransferProgress};
use maas::training::{EpochSummary, LrSchedule, TrainConfig, TrainingObserver};

#[derive(Parser)]
#[command(
    name = "maas",
    version,
    about = "Model as a service: train, publish and serve ONNX classifiers"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a classifier on a CSV data set, evaluate it, export ONNX and publish it to a store.
    Train(TrainArgs),
    /// Measure a published model (or a bare .onnx file) on a labelled CSV data set.
    Eval(EvalArgs),
    /// Predict with a published model (or a bare .onnx file) on JSON or CSV rows.
    Predict(PredictArgs),
    /// Publish an ONNX classifier trained elsewhere (scikit-learn, PyTorch, Keras) to a store.
    Publish(PublishArgs),
    /// List, show, promote and roll back published models.
    #[command(subcommand)]
    Models(ModelsCommand),
    /// Serve a model over HTTP: the same API as the Lambda function (native, KServe V2, TF Serving).
    Serve(ServeArgs),
    /// Write a synthetic CSV data set (default: the 20000 × 1000, 10-class reference shape).
    Datagen(DatagenArgs),
}

#[derive(Args)]
struct TrainArgs {
    /// CSV with a header line (a path or s3://bucket/key): one label column, the other columns
    /// numeric features.
    /// Without it, the bundled handwritten digits data set (1797 rows, 64 features, 10 classes).
    #[arg(long)]
    data: Option<PathBuf>,
    /// Model name in the store (default: the data file's stem, `digits` for the bundled data).
    #[arg(long)]
    name: Option<String>,
    /// Model store: a folder or s3://bucket[/prefix].
    #[arg(long, default_value = "models")]
    store: String,
    /// Name of the label column.
    #[arg(long, default_value = "label")]
    label_column: String,
    /// Refuse a data set whose values need more memory than this (4 bytes a value); the file
    /// itself streams through and is never held.
    #[arg(long, default_value_t = maas::data::DEFAULT_MAX_DATA_MIB)]
    max_data_mib: usize,
    /// Hidden layer widths, comma-separated (e.g. 256,128).
    #[arg(long, value_delimiter = ',', default_value = "512")]
    hidden: Vec<usize>,
    #[arg(long, default_value_t = 10)]
    epochs: usize,
    #[arg(long, default_value_t = 32)]
    batch_size: usize,
    /// Adam learning rate.
    #[arg(long, default_value_t = 1e-3, allow_negative_numbers = true)]
    learning_rate: f64,
    /// L1 penalty on the layer weights.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l1: f64,
    /// L2 penalty on the layer weights.
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    l2: f64,
    /// Fraction of each class held out as test rows for the reported metrics.
    #[arg(long, default_value_t = 0.2)]
    test_split: f64,
    /// Fraction of the remaining rows of each class kept for validation (the per-epoch curves
    /// and early stopping).
    #[arg(long, default_value_t = 0.1)]
    validation_split: f64,
    /// Stop after N epochs without a lower validation loss and keep the best epoch's weights.
    #[arg(long, value_name = "N")]
    patience: Option<usize>,
    /// Learning-rate schedule: constant, cosine (decay towards 0 over the epochs) or
    /// step:EVERY:FACTOR (e.g. step:5:0.5 halves the rate every 5 epochs).
    #[arg(long, default_value = "constant")]
    lr_schedule: LrSchedule,
    /// Seed of the split, the initial weights and the batch order: same seed, same model bytes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Threads for training's matrix products and element-wise steps. On the reference model
    /// (batch 32) one thread measured fastest on 2 cores (see BENCHMARKS.md); more can pay for
    /// wider layers or larger batches.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..))]
    threads: u16,
}

#[derive(Args)]
struct EvalArgs {
    /// `<store>/<name>`, `<store>/<name>@<version>`, `<store>/<name>@<alias>` or a .onnx file.
    #[arg(long)]
    model: String,
    /// Labelled CSV with a header line (a path or s3://bucket/key), like `maas train --data`.
    #[arg(long)]
    data: PathBuf,
    /// Name of the label column.
    #[arg(long, default_value = "label")]
    label_column: String,
    /// Class labels of a bare .onnx file in output order, comma-separated (default: the
    /// model's metadata or manifest, or 0..C-1).
    #[arg(long, value_delimiter = ',')]
    labels: Option<Vec<String>>,
    /// Print the metrics as JSON.
    #[arg(long)]
    json: bool,
    /// Also draw the confusion matrix to this PNG file.
    #[arg(long, value_name = "PNG")]
    confusion: Option<PathBuf>,
}

#[derive(Args)]
struct PredictArgs {
    /// `<store>/<name>`, `<store>/<name>@<version>`, `<store>/<name>@<alias>` or a .onnx file.
    #[arg(long)]
    model: String,
    /// JSON `{"inputs": [[...], ...]}` or CSV rows of features (`-` reads standard input).
    #[arg(long)]
    input: PathBuf,
}

#[derive(Args)]
struct PublishArgs {
    /// The ONNX file: one float32 [batch, features] input, float32 [batch, classes] probabilities.
    #[arg(long)]
    onnx: PathBuf,
    #[arg(long)]
    name: String,
    /// Model store: a folder or s3://bucket[/prefix].
    #[arg(long, default_value = "models")]
    store: String,
    /// Class labels in output order, comma-separated (default: the model's metadata, or 0..C-1).
    #[arg(long, value_delimiter = ',')]
    labels: Option<Vec<String>>,
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Versions of a model with created time, size, accuracy and the aliases on each.
    List {
        /// `<store>/<name>`.
        reference: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// The model card of a version (default: alias latest): data, training, metrics, usage.
    Show {
        /// `<store>/<name>[@version|@alias]`.
        reference: String,
        /// Print the manifest as JSON instead.
        #[arg(long)]
        json: bool,
    },
    /// Point an alias at a version: `maas models promote models/digits@3 --alias prod`.
    Promote {
        /// `<store>/<name>@<version>`.
        reference: String,
        #[arg(long)]
        alias: String,
    },
    /// Move an alias back to the version it held before its last move.
    Rollback {
        /// `<store>/<name>`.
        reference: String,
        #[arg(long)]
        alias: String,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// `<store>/<name>`, `<store>/<name>@<version>`, `<store>/<name>@<alias>` or a .onnx file.
    #[arg(long, env = "MAAS_MODEL")]
    model: String,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    #[arg(long, default_value_t = 8080)]
    port: u16,
}

#[derive(Args)]
struct DatagenArgs {
    /// Where to write the CSV.
    #[arg(long)]
    output: PathBuf,
    #[arg(long, default_value_t = 20_000)]
    rows: usize,
    #[arg(long, default_value_t = 1000)]
    features: usize,
    #[arg(long, default_value_t = 10)]
    classes: usize,
    /// Noise around the class centres (higher is harder).
    #[arg(long, default_value_t = 4.0)]
    noise: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,aws_config=error")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    if let Command::Train(args) = &cli.command {
        // candle sizes its GEMM threads by RAYON_NUM_THREADS and its element-wise thread pool
        // by CANDLE_NUM_THREADS, read when they first run: set both before any thread starts
        let threads = args.threads.to_string();
        std::env::set_var("RAYON_NUM_THREADS", &threads);
        std::env::set_var("CANDLE_NUM_THREADS", &threads);
    }
    // one thread for the one-shot commands: a process that answers once starts faster and
    // peaks lower without a worker pool; serving and training get a worker per core
    let runtime = match &cli.command {
        Command::Serve(_) | Command::Train(_) => tokio::runtime::Runtime::new(),
        _ => tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build(),
    };
    let runtime = match runtime {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Train(args) => train(args).await,
            Command::Eval(args) => eval(args).await,
            Command::Predict(args) => predict(args).await,
            Command::Serve(args) => serve(args).await,
            Command::Publish(args) => publish(args).await,
            Command::Models(command) => models(command).await,
            Command::Datagen(args) => datagen(args),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Draws one progress bar per epoch on a terminal; silent otherwise.
struct EpochBars {
    visible: bool,
    bar: Option<ProgressBar>,
    loss_sum: f64,
    batches: usize,
}

impl TrainingObserver for EpochBars {
    fn epoch_started(&mut self, epoch: usize, epochs: usize, batches: usize) {
        if !self.visible {
            return;
        }
        let bar = ProgressBar::new(batches as u64);
        let style = ProgressStyle::with_template(
            "{prefix} [{bar:30}] {pos}/{len} batches {msg} ({elapsed})",
        )
        .map(|s| s.progress_chars("=> "))
        .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar.set_prefix(format!(
            "epoch {epoch:>width$}/{epochs}",
            width = epochs.to_string().len()
        ));
        self.bar = Some(bar);
        self.loss_sum = 0.0;
        self.batches = 0;
    }

    fn batch_finished(&mut self, loss: f32) {
        if let Some(bar) = &self.bar {
            self.loss_sum += loss as f64;
            self.batches += 1;
            bar.set_message(format!("loss {:.4}", self.loss_sum / self.batches as f64));
            bar.inc(1);
        }
    }

    fn epoch_finished(&mut self, s: &EpochSummary) {
        if let Some(bar) = self.bar.take() {
            bar.finish_with_message(format!(
                "loss {:.4}  acc {:.4}  val_loss {:.4}  val_acc {:.4}",
                s.train_loss, s.train_accuracy, s.validation_loss, s.validation_accuracy
            ));
        }
    }
}

/// A byte progress bar for large model transfers, drawn only on a terminal.
#[derive(Default)]
struct TransferBar {
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl TransferBar {
    /// A shared bar when stderr is a terminal.
    fn for_terminal() -> Option<Arc<dyn TransferProgress>> {
        std::io::stderr()
            .is_terminal()
            .then(|| Arc::new(TransferBar::default()) as Arc<dyn TransferProgress>)
    }
}

impl TransferProgress for TransferBar {
    fn started(&self, what: &str, total: u64) {
        let bar = ProgressBar::new(total);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec}, {eta})",
        ) {
            bar.set_style(style.progress_chars("=> "));
        }
        bar.set_message(what.to_string());
        if let Ok(mut slot) = self.bar.lock() {
            *slot = Some(bar);
        }
    }

    fn advanced(&self, bytes: u64) {
        if let Ok(slot) = self.bar.lock() {
            if let Some(bar) = slot.as_ref() {
                bar.inc(bytes);
            }
        }
    }

    fn finished(&self) {
        if let Ok(mut slot) = self.bar.lock() {
            if let Some(bar) = slot.take() {
                bar.finish_and_clear();
            }
        }
    }
}

/// Opens a store, with progress bars for large transfers on a terminal.
fn open_store(location: StoreLocation) -> Store {
    let store = Store::open(location);
    match TransferBar::for_terminal() {
        Some(bar) => store.with_progress(bar),
        None => store,
    }
}

/// A data file (a path or an s3:// URL) as a blocking reader, for a blocking task.
async fn open_data(path: &Path) -> Result<Box<dyn std::io::Read + Send>> {
    let url = path.to_string_lossy();
    if url.starts_with("s3://") {
        let stream = store::open_url(&url).await?;
        return Ok(Box::new(tokio_util::io::SyncIoBridge::new(stream)));
    }
    let file = std::fs::File::open(path).map_err(|source| maas::data::DataError::Read {
        path: url.to_string(),
        source,
    })?;
    Ok(Box::new(std::io::BufReader::new(file)))
}

/// Reads a labelled data set from a path or an s3:// URL, streaming it through the parser and
/// keeping at most `max_mib` MiB of values.
async fn read_dataset(path: &Path, label_column: &str, max_mib: usize) -> Result<Dataset> {
    let source = path.to_string_lossy().to_string();
    let reader = open_data(path).await?;
    let label_column = label_column.to_string();
    let dataset = tokio::task::spawn_blocking(move || {
        Dataset::from_reader_within(reader, &source, &label_column, max_mib)
    })
    .await
    .context("the data reader stopped")??;
    Ok(dataset)
}

async fn train(args: TrainArgs) -> Result<()> {
    let data = match &args.data {
        Some(path) => read_dataset(path, &args.label_column, args.max_data_mib).await?,
        None => Dataset::bundled_digits()?,
    };
    let name = match args.name {
        Some(name) => name,
        None => match &args.data {
            Some(path) => path
                .file_stem()
                .and_then(|s| s.to_str())
                .map(str::to_string)
                .context("cannot derive a model name from --data; pass --name")?,
            None => "digits".to_string(),
        },
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
    };
    let d = &job.data;
    println!(
        "data: {} ({} rows, {} features, {} classes)",
        if d.source == BUNDLED_DIGITS_NAME {
            "bundled handwritten digits"
        } else {
            &d.source
        },
        d.rows(),
        d.n_features(),
        d.classes.len()
    );
    let mut bars = EpochBars {
        visible: std::io::stderr().is_terminal(),
        bar: None,
        loss_sum: 0.0,
        batches: 0,
    };
    let outcome = pipeline::train_and_publish(&job, &mut bars).await?;
    let m = &outcome.manifest;
    let training = m.description.training.as_ref();
    if let Some((t, kept)) =
        training.and_then(|t| Some((t, t.history.iter().find(|e| e.epoch == t.kept_epoch)?)))
    {
        println!(
            "ran {} of {} epochs; kept epoch {} (validation loss {:.4}, accuracy {:.4})",
            t.epochs_run,
            job.config.epochs,
            t.kept_epoch,
            kept.validation_loss,
            kept.validation_accuracy
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

async fn eval(args: EvalArgs) -> Result<()> {
    let reference: ModelRef = args.model.parse()?;
    let mut fetched = store::fetch_with_progress(&reference, TransferBar::for_terminal()).await?;
    let mut model = fetched
        .load()
        .with_context(|| format!("cannot load model {reference}"))?;
    if let Some(labels) = args.labels {
        if labels.len() != model.n_classes() {
            bail!(
                "--labels names {} classes but the model outputs {}",
                labels.len(),
                model.n_classes()
            );
        }
        model.labels = labels;
    }
    // the data streams through the model one batch at a time, whatever its size
    let source = args.data.to_string_lossy().to_string();
    let reader = open_data(&args.data).await?;
    let label_column = args.label_column.clone();
    let outcome = tokio::task::spawn_blocking(move || {
        let rows = CsvRows::new(reader, &source, &label_column)?;
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

async fn predict(args: PredictArgs) -> Result<()> {
    let reference: ModelRef = args.model.parse()?;
    let mut fetched = store::fetch_with_progress(&reference, TransferBar::for_terminal()).await?;
    let model = fetched
        .load()
        .with_context(|| format!("cannot load model {reference}"))?;
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
    let (name, version) = match (&fetched.manifest, &reference) {
        (Some(m), _) => (m.name.clone(), Some(m.version)),
        (None, ModelRef::File(path)) => (
            path.file_stem()
                .and_then(|s| s.to_str())
                .unwrap_or("model")
                .to_string(),
            None,
        ),
        (None, ModelRef::Stored { name, .. }) => (name.clone(), None),
    };
    let response = protocol::predict(&model, &name, version, &batch)?;
    println!("{}", serde_json::to_string_pretty(&response)?);
    Ok(())
}

async fn publish(args: PublishArgs) -> Result<()> {
    let bytes = std::fs::read(&args.onnx)
        .with_context(|| format!("cannot read {}", args.onnx.display()))?;
    let model = LoadedModel::from_bytes(&bytes)
        .with_context(|| format!("{} cannot be served", args.onnx.display()))?;
    let labels = match args.labels {
        Some(labels) if labels.len() != model.n_classes() => bail!(
            "--labels names {} classes but the model outputs {}",
            labels.len(),
            model.n_classes()
        ),
        Some(labels) => labels,
        None => model.labels.clone(),
    };
    let description = ModelDescription {
        inputs: vec![model.input.clone()],
        outputs: vec![model.output.clone()],
        labels,
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

/// The store, name and selector of a stored-model reference (a bare file is refused).
fn stored(reference: &str) -> Result<(Store, String, Selector)> {
    match reference.parse::<ModelRef>()? {
        ModelRef::Stored {
            store,
            name,
            selector,
        } => Ok((Store::open(store), name, selector)),
        ModelRef::File(path) => bail!(
            "{} is a file; this command needs a stored model, <store>/<name>",
            path.display()
        ),
    }
}

async fn models(command: ModelsCommand) -> Result<()> {
    match command {
        ModelsCommand::List { reference, json } => {
            let (store, name, _) = stored(&reference)?;
            let versions = store.list(&name).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&versions)?);
                return Ok(());
            }
            println!(
                "{:>7}  {:<20}  {:>12}  {:>8}  aliases",
                "version", "created", "bytes", "accuracy"
            );
            for v in versions {
                let m = &v.manifest;
                let created = m
                    .created_at
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_default();
                let accuracy = m
                    .description
                    .metrics
                    .as_ref()
                    .map(|x| format!("{:.4}", x.accuracy))
                    .unwrap_or_else(|| "-".into());
                println!(
                    "{:>7}  {:<20}  {:>12}  {:>8}  {}",
                    m.version,
                    created.get(..19).unwrap_or(&created),
                    m.model.size_bytes,
                    accuracy,
                    v.aliases.join(", ")
                );
            }
        }
        ModelsCommand::Show { reference, json } => {
            let (store, name, selector) = stored(&reference)?;
            let version = store.resolve(&name, &selector).await?;
            let manifest = store.manifest(&name, version).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&manifest)?);
            } else {
                print!(
                    "{}",
                    report::model_card(&manifest, &store.location().to_string())
                );
            }
        }
        ModelsCommand::Promote { reference, alias } => {
            let (store, name, selector) = stored(&reference)?;
            let Selector::Version(version) = selector else {
                bail!("promote needs a version: {reference} should end with @<version>");
            };
            store.set_alias(&name, &alias, version).await?;
            println!("{name}@{alias} -> version {version}");
        }
        ModelsCommand::Rollback { reference, alias } => {
            let (store, name, _) = stored(&reference)?;
            let version = store.rollback(&name, &alias).await?;
            println!("{name}@{alias} -> version {version} (rolled back)");
        }
    }
    Ok(())
}

async fn serve(args: ServeArgs) -> Result<()> {
    let config = ServerConfig::from_env()?;
    if let Err(e) = maas::inference::set_threads(config.inference_threads) {
        tracing::warn!("{e}; inference runs on one thread");
    }
    let reference: ModelRef = args.model.parse()?;
    let handle = ModelHandle::load(reference.clone(), config.refresh).await;
    let model = handle
        .current()
        .map_err(|reason| anyhow::anyhow!("cannot serve {reference}: {reason}"))?;
    let listener = tokio::net::TcpListener::bind((args.host.as_str(), args.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", args.host, args.port))?;
    let address = listener.local_addr()?;
    println!(
        "serving {} version {} (sha256 {}, loaded in {:.1} ms) on http://{address}",
        model.name,
        model
            .version
            .map(|v| v.to_string())
            .unwrap_or_else(|| "-".into()),
        model.sha256,
        model.load_time.as_secs_f64() * 1e3
    );
    drop(model);
    let app = server::router(handle, config);
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
        .context("the server failed")?;
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM, letting requests in flight finish.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

fn datagen(args: DatagenArgs) -> Result<()> {
    let spec = DataSpec {
        rows: args.rows,
        features: args.features,
        classes: args.classes,
        noise: args.noise,
        seed: args.seed,
    };
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create folder {}", parent.display()))?;
    }
    let file = std::fs::File::create(&args.output)
        .with_context(|| format!("cannot create {}", args.output.display()))?;
    let mut out = std::io::BufWriter::new(file);
    datagen::write_csv(&spec, &mut out)?;
    println!(
        "wrote {} rows × {} features, {} classes to {}",
        spec.rows,
        spec.features,
        spec.classes,
        args.output.display()
    );
    Ok(())
}
