//! The `maas` command line: adapts the library's jobs (train, eval, predict, explain, generate, publish,
//! models, serve, datagen) to flags, progress bars, tables and exit codes. One file per command.

mod batch;
mod datagen;
mod eval;
mod explain;
mod generate;
mod model_flags;
mod models;
mod predict;
mod progress;
mod publish;
mod serve;
mod train;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "maas",
    version,
    about = "Model as a service: train models, publish them as ONNX and serve any model tract runs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train a classifier on a CSV data set, evaluate it, export ONNX and publish it to a store.
    Train(train::TrainArgs),
    /// Measure a published model (or a bare .onnx file) on a labelled CSV data set.
    Eval(eval::EvalArgs),
    /// Predict with a published model (or a bare .onnx file) on JSON or CSV rows.
    Predict(predict::PredictArgs),
    /// Explain a published model's predictions: Shapley attributions of each feature against
    /// the background stored beside it (exact for few features, KernelSHAP beyond).
    Explain(explain::ExplainArgs),
    /// Generate text with a decoder-only model (a Hugging Face optimum export), printed as it
    /// comes.
    Generate(generate::GenerateArgs),
    /// Publish an ONNX model trained elsewhere (scikit-learn, PyTorch, Keras, a Hugging Face
    /// optimum text-generation export) to a store.
    Publish(publish::PublishArgs),
    /// List, show, promote and roll back published models.
    #[command(subcommand)]
    Models(models::ModelsCommand),
    /// Serve a model over HTTP: the same API as the Lambda function (native, KServe V2, TF Serving).
    Serve(serve::ServeArgs),
    /// Score every object under a folder or S3 prefix into answer files (what the batch
    /// function does for one object), with parallel workers.
    Batch(batch::BatchArgs),
    /// Write a synthetic CSV data set (default: the 20000 × 1000, 10-class reference shape).
    Datagen(datagen::DatagenArgs),
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
        Command::Serve(_) | Command::Train(_) | Command::Batch(_) => tokio::runtime::Runtime::new(),
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
            Command::Train(args) => train::run(args).await,
            Command::Eval(args) => eval::run(args).await,
            Command::Predict(args) => predict::run(args).await,
            Command::Explain(args) => explain::run(args).await,
            Command::Generate(args) => generate::run(args).await,
            Command::Serve(args) => serve::run(args).await,
            Command::Publish(args) => publish::run(args).await,
            Command::Models(command) => models::run(command).await,
            Command::Batch(args) => batch::run(args).await,
            Command::Datagen(args) => datagen::run(args),
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
