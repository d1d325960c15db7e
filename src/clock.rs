//! Monotonic time for timing requests: std's `Instant`, except on wasm32-unknown-unknown, where
//! std has no clock and the host (the edge worker's JavaScript) lends its own through the
//! imported function `maas_now_ms`; and the wall clock's Unix seconds.

#[cfg(not(target_arch = "wasm32"))]
pub use std::time::Instant;

#[cfg(target_arch = "wasm32")]
mod host {
    use std::time::Duration;

    #[link(wasm_import_module = "maas")]
    extern "C" {
        /// Milliseconds from any fixed origin (the host's `performance.now()` or `Date.now()`).
        fn maas_now_ms() -> f64;
    }

    /// A point in the host's time.
    #[derive(Debug, Clone, Copy, PartialEq, PartialOrd)]
    pub struct Instant(f64);

    impl Instant {
        pub fn now() -> Instant {
            // SAFETY: the host function takes nothing and returns a number.
            Instant(unsafe { maas_now_ms() })
        }

        pub fn elapsed(&self) -> Duration {
            Instant::now().duration_since(*self)
        }

        pub fn duration_since(&self, earlier: Instant) -> Duration {
            Duration::from_secs_f64(((self.0 - earlier.0) / 1e3).max(0.0))
        }
    }

    impl std::ops::Add<Duration> for Instant {
        type Output = Instant;
        fn add(self, d: Duration) -> Instant {
            Instant(self.0 + d.as_secs_f64() * 1e3)
        }
    }
}

#[cfg(target_arch = "wasm32")]
pub use host::Instant;

/// Seconds since the Unix epoch, for the timestamps protocols carry (OpenAI's `created`, a
/// chat template's `strftime_now`). The edge host lends no wall clock yet: 0 there.
pub fn unix_seconds() -> u64 {
    #[cfg(not(target_arch = "wasm32"))]
    {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs())
    }
    #[cfg(target_arch = "wasm32")]
    {
        0
    }
}
