//! Admission and the inference pool: at most `MAAS_MAX_CONCURRENCY` inferences at once, a brief
//! wait (`MAAS_ADMISSION_WAIT_MS`) for a free slot and then a refusal, never an unbounded queue;
//! inference on tokio's blocking pool, so a large batch never stalls the accept loop or the
//! health checks; and the request's deadline (`MAAS_REQUEST_TIMEOUT_MS`, or a gRPC client's).

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio::time::Instant;

/// Why a request was not run to its end.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Every slot stayed taken for the whole wait.
    #[error("the server is at its limit of {limit} concurrent inferences (MAAS_MAX_CONCURRENCY) and none freed up within {waited_ms} ms; retry shortly")]
    Busy { limit: usize, waited_ms: u64 },
    /// The deadline passed, waiting for a slot or running.
    #[error("the request's deadline of {timeout_ms} ms passed before its inference finished")]
    DeadlineExceeded { timeout_ms: u64 },
    /// The inference task ended without an answer (a bug: it panicked).
    #[error("the inference stopped without an answer: {0}")]
    Stopped(String),
}

/// A taken slot: one of the `MAAS_MAX_CONCURRENCY`, given back when dropped.
#[derive(Debug)]
pub struct Slot(tokio::sync::OwnedSemaphorePermit);

/// The deadline of a request that arrived at `started` and may take `timeout`, as
/// [`Admission::run`] takes it; none without threads (the edge worker), where work runs inline
/// at once and there is no deadline to keep.
pub fn deadline(
    started: crate::clock::Instant,
    timeout: Option<Duration>,
) -> Option<(Instant, Duration)> {
    #[cfg(feature = "native")]
    {
        timeout.map(|t| (Instant::from_std(started) + t, t))
    }
    #[cfg(not(feature = "native"))]
    {
        let _ = (started, timeout);
        None
    }
}

/// Runs `work` holding `slot` and frees it when the work ends: on the blocking pool, detached
/// (the caller follows it through what the work sends), or inline without threads.
pub fn spawn_holding(slot: Slot, work: impl FnOnce() + Send + 'static) {
    let work = move || {
        work();
        drop(slot);
    };
    #[cfg(feature = "native")]
    drop(tokio::task::spawn_blocking(work));
    #[cfg(not(feature = "native"))]
    work();
}

/// The concurrency limit shared by every protocol of a server.
#[derive(Debug)]
pub struct Admission {
    slots: Arc<Semaphore>,
    limit: usize,
    wait: Duration,
}

impl Admission {
    /// At most `limit` inferences at once (at least one); a request waits up to `wait` for a slot.
    pub fn new(limit: usize, wait: Duration) -> Self {
        let limit = limit.max(1);
        Admission {
            slots: Arc::new(Semaphore::new(limit)),
            limit,
            wait,
        }
    }

    /// The limit.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Inferences running now.
    pub fn in_flight(&self) -> usize {
        self.limit - self.slots.available_permits()
    }

    /// Runs `work` on the blocking pool once a slot is free, and answers with its result. The
    /// wait for a slot ends at the admission wait or the deadline, whichever comes first; the
    /// answer is awaited until the deadline (`timeout` is the deadline's length, for the
    /// message). Work that outlives its deadline keeps its slot until it ends: the limit holds
    /// for what actually runs.
    pub async fn run<T: Send + 'static>(
        &self,
        deadline: Option<(Instant, Duration)>,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        self.run_sized(deadline, false, work).await
    }

    /// [`Admission::run`]; `small` work (well under a millisecond) runs on the calling thread
    /// once admitted: handing it to the blocking pool would cost more than it takes (a thread
    /// wake-up each way doubled the batch-1 handler's time), and it cannot stall anything.
    pub async fn run_sized<T: Send + 'static>(
        &self,
        deadline: Option<(Instant, Duration)>,
        small: bool,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        let slot = self.admit(deadline).await?;
        self.execute(slot.0, deadline, small, work).await
    }

    /// Waits for a free slot as [`Admission::run`] does, for work that runs longer than one
    /// call (a generation streams its tokens while it holds the slot); the slot is freed
    /// when the returned [`Slot`] is dropped.
    pub async fn admit(&self, deadline: Option<(Instant, Duration)>) -> Result<Slot, Refusal> {
        // a free slot is taken at once, without arming a timer
        if let Ok(permit) = self.slots.clone().try_acquire_owned() {
            return Ok(Slot(permit));
        }
        let started = Instant::now();
        let mut wait_until = started + self.wait;
        if let Some((at, _)) = deadline {
            wait_until = wait_until.min(at);
        }
        match tokio::time::timeout_at(wait_until, self.slots.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Slot(permit)),
            // the semaphore is never closed
            Ok(Err(closed)) => Err(Refusal::Stopped(closed.to_string())),
            Err(_) => Err(match deadline {
                Some((at, timeout)) if at <= Instant::now() => Refusal::DeadlineExceeded {
                    timeout_ms: timeout.as_millis() as u64,
                },
                _ => Refusal::Busy {
                    limit: self.limit,
                    waited_ms: started.elapsed().as_millis() as u64,
                },
            }),
        }
    }

    async fn execute<T: Send + 'static>(
        &self,
        permit: tokio::sync::OwnedSemaphorePermit,
        deadline: Option<(Instant, Duration)>,
        small: bool,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Refusal> {
        let expired = |timeout: Duration| Refusal::DeadlineExceeded {
            timeout_ms: timeout.as_millis() as u64,
        };
        // wasm32 (the edge worker) has no threads to hand work to
        if small || cfg!(not(feature = "native")) {
            let answer = work();
            drop(permit);
            return Ok(answer);
        }
        let task = tokio::task::spawn_blocking(move || {
            let answer = work();
            drop(permit);
            answer
        });
        match deadline {
            None => task.await.map_err(|e| Refusal::Stopped(e.to_string())),
            Some((at, timeout)) => match tokio::time::timeout_at(at, task).await {
                Ok(joined) => joined.map_err(|e| Refusal::Stopped(e.to_string())),
                Err(_) => Err(expired(timeout)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn past_the_limit_a_request_waits_briefly_then_is_refused() {
        let admission = Arc::new(Admission::new(1, Duration::from_millis(50)));
        let (release, hold) = mpsc::channel::<()>();
        let busy = {
            let admission = admission.clone();
            tokio::spawn(async move {
                admission
                    .run(None, move || {
                        let _ = hold.recv();
                        1
                    })
                    .await
            })
        };
        while admission.in_flight() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let refused = admission.run(None, || 2).await;
        assert!(
            matches!(refused, Err(Refusal::Busy { limit: 1, waited_ms }) if waited_ms >= 50),
            "{refused:?}"
        );
        release.send(()).unwrap();
        assert_eq!(busy.await.unwrap(), Ok(1));
        assert_eq!(admission.in_flight(), 0);
        assert_eq!(admission.run(None, || 3).await, Ok(3));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_deadline_ends_the_wait_for_the_answer_but_the_slot_stays_taken() {
        let admission = Admission::new(1, Duration::from_secs(5));
        let (release, hold) = mpsc::channel::<()>();
        let timeout = Duration::from_millis(30);
        let late = admission
            .run(Some((Instant::now() + timeout, timeout)), move || {
                let _ = hold.recv();
            })
            .await;
        assert_eq!(late, Err(Refusal::DeadlineExceeded { timeout_ms: 30 }));
        // the work still runs: its slot is not handed to another request
        assert_eq!(admission.in_flight(), 1);
        release.send(()).unwrap();
        while admission.in_flight() == 1 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }
}
