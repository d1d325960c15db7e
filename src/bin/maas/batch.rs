//! `maas batch`: every object under an input folder or S3 prefix (and byte ranges of large
//! ones) scored by N parallel workers into the same output files the batch function writes.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};

use maas::batch::{self, BatchSettings, Piece};
use maas::objects::{list, Location};
use maas::store::ModelRef;

use crate::progress::TransferBar;

#[derive(Args)]
pub struct BatchArgs {
    /// `<store>/<name>[@version|@alias]` or a .onnx file.
    #[arg(long, env = "MAAS_MODEL")]
    pub model: String,
    /// A file, a folder (its files), `s3://bucket/key` or `s3://bucket/prefix/` (every object).
    #[arg(long)]
    pub input: String,
    /// The output folder or `s3://bucket/prefix/`: `<key>.out.jsonl` and `<key>.errors.jsonl`.
    #[arg(long)]
    pub output: String,
    /// Objects (or ranges) scored at once.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..))]
    pub workers: u16,
    /// Input columns (or JSON fields) copied to each answer line, comma-separated (e.g. id).
    #[arg(long, value_delimiter = ',', env = "MAAS_BATCH_KEEP_COLUMNS")]
    pub keep_columns: Vec<String>,
    /// Objects larger than this are scored as ranges of this many MiB (outputs
    /// `<key>.<start>-<end>.out.jsonl`, in the order of the object's lines).
    #[arg(long, default_value_t = 256, value_parser = clap::value_parser!(u64).range(1..))]
    pub range_mib: u64,
}

/// Outputs of earlier runs found under the input are not inputs.
fn is_output(location: &Location) -> bool {
    let name = location.file_name();
    name.ends_with(".out.jsonl") || name.ends_with(".errors.jsonl")
}

pub async fn run(args: BatchArgs) -> Result<()> {
    let reference: ModelRef = args.model.parse()?;
    let model = Arc::new(
        maas::loader::load_with_progress(&reference, TransferBar::for_terminal())
            .await
            .with_context(|| format!("cannot load {reference}"))?,
    );
    let input: Location = args.input.parse()?;
    let output: Location = args.output.parse()?;
    let objects = list(&input)
        .await
        .with_context(|| format!("cannot list {input}"))?;
    let range = args.range_mib << 20;
    let mut pieces = Vec::new();
    let mut total_bytes = 0;
    for (source, size) in objects.into_iter().filter(|(l, _)| !is_output(l)) {
        total_bytes += size;
        if size > range {
            pieces.extend(batch::ranges(size, range).into_iter().map(|r| Piece {
                source: source.clone(),
                range: Some(r),
            }));
        } else {
            pieces.push(Piece {
                source,
                range: None,
            });
        }
    }
    if pieces.is_empty() {
        bail!("nothing to score under {input}");
    }
    let settings = Arc::new(BatchSettings {
        output,
        keep: args.keep_columns.clone(),
    });
    let rows = Arc::new(AtomicU64::new(0));
    let bar = std::io::stderr().is_terminal().then(|| {
        let bar = ProgressBar::new(pieces.len() as u64);
        let style = ProgressStyle::with_template("[{bar:30}] {pos}/{len} pieces {msg} ({elapsed})")
            .map(|s| s.progress_chars("=> "))
            .unwrap_or_else(|_| ProgressStyle::default_bar());
        bar.set_style(style);
        bar
    });
    let started = std::time::Instant::now();
    let queue = Arc::new(tokio::sync::Mutex::new(
        pieces.clone().into_iter().enumerate(),
    ));
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..args.workers {
        let (queue, model, settings, rows, bar) = (
            queue.clone(),
            model.clone(),
            settings.clone(),
            rows.clone(),
            bar.clone(),
        );
        workers.spawn(async move {
            let mut done = Vec::new();
            loop {
                let Some((index, piece)) = queue.lock().await.next() else {
                    return done;
                };
                let counted = AtomicU64::new(0);
                let progress = |n: u64| {
                    let before = counted.swap(n, Ordering::Relaxed);
                    let all = rows.fetch_add(n - before, Ordering::Relaxed) + n - before;
                    if let Some(bar) = &bar {
                        let seconds = started.elapsed().as_secs_f64().max(1e-3);
                        bar.set_message(format!("{all} rows, {:.0} rows/s", all as f64 / seconds));
                    }
                };
                let outcome = batch::score(model.clone(), &settings, &piece, None, &progress).await;
                if let Some(bar) = &bar {
                    bar.inc(1);
                }
                done.push((index, piece, outcome));
            }
        });
    }
    let mut outcomes = Vec::new();
    while let Some(finished) = workers.join_next().await {
        outcomes.extend(finished.context("a batch worker stopped")?);
    }
    // reports in the order of the input (and of each object's ranges)
    outcomes.sort_by_key(|(index, _, _)| *index);
    let outcomes: Vec<_> = outcomes
        .into_iter()
        .map(|(_, piece, outcome)| (piece, outcome))
        .collect();
    if let Some(bar) = &bar {
        bar.finish_and_clear();
    }
    let seconds = started.elapsed().as_secs_f64();
    let mut failed_pieces = 0;
    let (mut scored, mut failed, mut skipped) = (0u64, 0u64, 0usize);
    for (piece, outcome) in &outcomes {
        match outcome {
            Ok(report) => {
                scored += report.scored;
                failed += report.failed;
                skipped += report.skipped as usize;
                if let Some(errors) = &report.errors_output {
                    eprintln!(
                        "warning: {} lines of {} could not be scored: see {errors}",
                        report.failed, report.source
                    );
                }
            }
            Err(e) => {
                failed_pieces += 1;
                eprintln!(
                    "error: {}{}: {e}",
                    piece.source,
                    piece
                        .range
                        .map(|(s, e)| format!(" [{s}, {e})"))
                        .unwrap_or_default()
                );
            }
        }
    }
    let reports: Vec<&batch::Report> = outcomes
        .iter()
        .filter_map(|(_, o)| o.as_ref().ok())
        .collect();
    println!("{}", serde_json::to_string_pretty(&reports)?);
    eprintln!(
        "{} pieces of {} ({:.1} MiB) in {seconds:.2} s: {scored} rows scored ({:.0} rows/s), {failed} failed, {skipped} pieces skipped (already scored)",
        outcomes.len(),
        input,
        total_bytes as f64 / (1 << 20) as f64,
        scored as f64 / seconds.max(1e-9)
    );
    if failed_pieces > 0 {
        bail!(
            "{failed_pieces} of {} pieces could not be scored",
            outcomes.len()
        );
    }
    Ok(())
}
