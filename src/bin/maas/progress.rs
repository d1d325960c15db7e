//! Progress on a terminal: a bar per training epoch and byte bars for large model transfers;
//! nothing is drawn when stderr is not a terminal.

use std::io::IsTerminal;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};

use maas::store::{Store, StoreLocation, TransferProgress};
use maas::training::{EpochSummary, TrainingObserver};

/// Draws one progress bar per epoch on a terminal; silent otherwise.
pub struct EpochBars {
    visible: bool,
    bar: Option<ProgressBar>,
    loss_sum: f64,
    batches: usize,
}

impl EpochBars {
    /// Bars when stderr is a terminal, nothing otherwise.
    pub fn on_terminal() -> Self {
        EpochBars {
            visible: std::io::stderr().is_terminal(),
            bar: None,
            loss_sum: 0.0,
            batches: 0,
        }
    }
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
            bar.finish_with_message(match (s.train_accuracy, s.validation_accuracy) {
                (Some(acc), Some(val_acc)) => format!(
                    "loss {:.4}  acc {acc:.4}  val_loss {:.4}  val_acc {val_acc:.4}",
                    s.train_loss, s.validation_loss
                ),
                _ => format!(
                    "loss {:.4}  val_loss {:.4}",
                    s.train_loss, s.validation_loss
                ),
            });
        }
    }
}

/// A byte progress bar for large model transfers, drawn only on a terminal.
#[derive(Default)]
pub struct TransferBar {
    bar: std::sync::Mutex<Option<ProgressBar>>,
}

impl TransferBar {
    /// A shared bar when stderr is a terminal.
    pub fn for_terminal() -> Option<Arc<dyn TransferProgress>> {
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
pub fn open_store(location: StoreLocation) -> Store {
    let store = Store::open(location);
    match TransferBar::for_terminal() {
        Some(bar) => store.with_progress(bar),
        None => store,
    }
}
