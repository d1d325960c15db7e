//! Choosing the next token from the logits: greedy at temperature 0, else seeded sampling with
//! temperature, top-k and top-p (nucleus), after the repetition penalty (transformers' rule)
//! and the frequency and presence penalties (OpenAI's rule) are applied, in transformers'
//! order.

use std::hash::{BuildHasher, Hasher};

use rand_chacha::rand_core::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// What a client asks of the sampling, as it asked (checked by [`Sampler::new`]).
#[derive(Debug, Clone, PartialEq)]
pub struct SamplingOptions {
    /// 0 is greedy; above 0 the logits are divided by it before sampling.
    pub temperature: f32,
    /// Keep the smallest set of most likely tokens whose probability reaches this, in (0, 1].
    pub top_p: f32,
    /// Keep the `top_k` most likely tokens; 0 keeps all.
    pub top_k: usize,
    /// The same seed (and request) gives the same text; `None` draws one.
    pub seed: Option<u64>,
    /// transformers' `repetition_penalty` (1 is none) over the prompt and the text so far.
    pub repetition_penalty: f32,
    /// OpenAI's `frequency_penalty` and `presence_penalty`, in [-2, 2], over the text so far.
    pub frequency_penalty: f32,
    pub presence_penalty: f32,
}

impl Default for SamplingOptions {
    fn default() -> Self {
        SamplingOptions {
            temperature: 1.0,
            top_p: 1.0,
            top_k: 0,
            seed: None,
            repetition_penalty: 1.0,
            frequency_penalty: 0.0,
            presence_penalty: 0.0,
        }
    }
}

/// A sampling option out of its range; the field is named as clients send it.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{field} is {value}: {rule}")]
pub struct BadOption {
    pub field: &'static str,
    pub value: String,
    pub rule: &'static str,
}

/// Checked sampling options and the random stream they draw from.
#[derive(Debug, Clone)]
pub struct Sampler {
    options: SamplingOptions,
    rng: ChaCha8Rng,
    /// How often each generated token came, for the frequency and presence penalties.
    counts: std::collections::HashMap<u32, u32>,
}

fn check(ok: bool, field: &'static str, value: f32, rule: &'static str) -> Result<(), BadOption> {
    if ok {
        Ok(())
    } else {
        Err(BadOption {
            field,
            value: value.to_string(),
            rule,
        })
    }
}

/// A seed for a request that names none: different for every call.
fn drawn_seed() -> u64 {
    static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u64(CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed));
    hasher.finish()
}

impl Sampler {
    pub fn new(options: SamplingOptions) -> Result<Sampler, BadOption> {
        let o = &options;
        check(
            o.temperature.is_finite() && o.temperature >= 0.0,
            "temperature",
            o.temperature,
            "use a number from 0 (greedy) up",
        )?;
        check(
            o.top_p > 0.0 && o.top_p <= 1.0,
            "top_p",
            o.top_p,
            "use a number in (0, 1]",
        )?;
        check(
            o.repetition_penalty.is_finite() && o.repetition_penalty > 0.0,
            "repetition_penalty",
            o.repetition_penalty,
            "use a positive number (1 is none)",
        )?;
        for (field, value) in [
            ("frequency_penalty", o.frequency_penalty),
            ("presence_penalty", o.presence_penalty),
        ] {
            check(
                (-2.0..=2.0).contains(&value),
                field,
                value,
                "use a number from -2 to 2",
            )?;
        }
        let seed = o.seed.unwrap_or_else(drawn_seed);
        Ok(Sampler {
            rng: ChaCha8Rng::seed_from_u64(seed),
            options,
            counts: Default::default(),
        })
    }

    /// Whether the choice is the most likely token (no randomness involved).
    pub fn is_greedy(&self) -> bool {
        self.options.temperature == 0.0 || self.options.top_k == 1
    }

    /// Picks the next token from `logits` (one per vocabulary entry); `context` is every token
    /// so far (prompt and generated), for the repetition penalty. `logits` is used as scratch.
    pub fn next(&mut self, logits: &mut [f32], context: &[u32]) -> u32 {
        self.penalise(logits, context);
        let token = if self.is_greedy() {
            argmax(logits)
        } else {
            self.sample(logits)
        };
        *self.counts.entry(token).or_default() += 1;
        token
    }

    fn penalise(&self, logits: &mut [f32], context: &[u32]) {
        let o = &self.options;
        if o.repetition_penalty != 1.0 {
            let mut seen = std::collections::HashSet::new();
            for &t in context {
                if let Some(l) = logits.get_mut(t as usize).filter(|_| seen.insert(t)) {
                    *l = if *l < 0.0 {
                        *l * o.repetition_penalty
                    } else {
                        *l / o.repetition_penalty
                    };
                }
            }
        }
        if o.frequency_penalty != 0.0 || o.presence_penalty != 0.0 {
            for (&t, &n) in &self.counts {
                if let Some(l) = logits.get_mut(t as usize) {
                    *l -= n as f32 * o.frequency_penalty + o.presence_penalty;
                }
            }
        }
    }

    fn sample(&mut self, logits: &[f32]) -> u32 {
        let o = &self.options;
        let t = o.temperature.max(f32::MIN_POSITIVE);
        // the candidates, most likely first (ties by id, so the order is reproducible)
        let mut order: Vec<u32> = (0..logits.len() as u32).collect();
        order.sort_by(|&a, &b| {
            logits[b as usize]
                .total_cmp(&logits[a as usize])
                .then(a.cmp(&b))
        });
        if o.top_k > 0 {
            order.truncate(o.top_k);
        }
        let top = logits[order[0] as usize];
        let mut weights: Vec<f64> = order
            .iter()
            .map(|&i| (((logits[i as usize] - top) / t) as f64).exp())
            .collect();
        let total: f64 = weights.iter().sum();
        if o.top_p < 1.0 {
            let mut kept = 0.0;
            let mut keep = weights.len();
            for (n, w) in weights.iter().enumerate() {
                kept += w / total;
                if kept >= o.top_p as f64 {
                    keep = n + 1;
                    break;
                }
            }
            weights.truncate(keep);
            order.truncate(keep);
        }
        let total: f64 = weights.iter().sum();
        // a uniform draw in [0, total): 53 random bits, as a float's mantissa holds
        let mut draw = (self.rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
        for (&token, w) in order.iter().zip(&weights) {
            if draw < *w {
                return token;
            }
            draw -= w;
        }
        order[order.len() - 1]
    }
}

/// The index of the largest value; the first one wins a tie (as `torch.argmax`).
pub fn argmax(values: &[f32]) -> u32 {
    let mut best = 0;
    for (i, v) in values.iter().enumerate() {
        if *v > values[best] {
            best = i;
        }
    }
    best as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sampler(options: SamplingOptions) -> Sampler {
        Sampler::new(options).unwrap()
    }

    #[test]
    fn greedy_takes_the_most_likely_and_top_k_1_is_greedy() {
        let logits = [0.1, 2.0, 2.0, -1.0];
        let greedy = SamplingOptions {
            temperature: 0.0,
            ..Default::default()
        };
        assert_eq!(sampler(greedy).next(&mut logits.clone(), &[]), 1);
        let top1 = SamplingOptions {
            top_k: 1,
            seed: Some(3),
            ..Default::default()
        };
        assert_eq!(sampler(top1).next(&mut logits.clone(), &[]), 1);
    }

    #[test]
    fn a_seed_gives_the_same_draws_and_another_seed_others() {
        let draws = |seed| {
            let mut s = sampler(SamplingOptions {
                seed: Some(seed),
                ..Default::default()
            });
            (0..64)
                .map(|_| s.next(&mut [0.0; 16], &[]))
                .collect::<Vec<_>>()
        };
        assert_eq!(draws(7), draws(7));
        assert_ne!(draws(7), draws(8));
    }

    #[test]
    fn top_p_keeps_the_nucleus_only() {
        // probabilities about 0.84, 0.11, 0.04, 0.01: top_p 0.5 leaves the first alone
        let mut s = sampler(SamplingOptions {
            top_p: 0.5,
            seed: Some(1),
            ..Default::default()
        });
        for _ in 0..50 {
            assert_eq!(s.next(&mut [4.0, 2.0, 1.0, 0.0], &[]), 0);
        }
    }

    #[test]
    fn penalties_lower_what_came_before() {
        let mut s = sampler(SamplingOptions {
            temperature: 0.0,
            repetition_penalty: 4.0,
            ..Default::default()
        });
        // token 0 leads, but it is in the context: 2.0 / 4 falls below token 1's 1.0
        assert_eq!(s.next(&mut [2.0, 1.0], &[0]), 1);
        let mut s = sampler(SamplingOptions {
            temperature: 0.0,
            presence_penalty: 2.0,
            ..Default::default()
        });
        assert_eq!(s.next(&mut [2.0, 1.0], &[]), 0);
        assert_eq!(s.next(&mut [2.0, 1.0], &[]), 1);
    }

    #[test]
    fn options_out_of_range_are_refused_naming_the_field() {
        for (options, field) in [
            (
                SamplingOptions {
                    temperature: -1.0,
                    ..Default::default()
                },
                "temperature",
            ),
            (
                SamplingOptions {
                    top_p: 0.0,
                    ..Default::default()
                },
                "top_p",
            ),
            (
                SamplingOptions {
                    top_p: 1.5,
                    ..Default::default()
                },
                "top_p",
            ),
            (
                SamplingOptions {
                    frequency_penalty: 3.0,
                    ..Default::default()
                },
                "frequency_penalty",
            ),
            (
                SamplingOptions {
                    repetition_penalty: 0.0,
                    ..Default::default()
                },
                "repetition_penalty",
            ),
        ] {
            assert_eq!(Sampler::new(options).unwrap_err().field, field);
        }
    }
}
