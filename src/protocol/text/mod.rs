//! The text-generation protocols: the OpenAI API's completions and chat completions
//! (`openai`) and the KServe / Triton generate extension (`generate`). Both take the same
//! generation parameters, read here once into the engine's [`GenerationRequest`]; no I/O.

pub mod generate;
pub mod openai;

use serde::Deserialize;

use crate::generation::{GenerationRequest, Prompt, SamplingOptions};

/// A request field the generation cannot take, named as the client sent it (OpenAI's `param`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ParamError {
    pub param: Option<&'static str>,
    pub message: String,
}

impl ParamError {
    pub fn new(param: &'static str, message: impl Into<String>) -> Self {
        ParamError {
            param: Some(param),
            message: message.into(),
        }
    }
}

/// `stop`: one string or several.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum StopField {
    One(String),
    Many(Vec<String>),
}

/// Most stop strings one request may name (OpenAI's limit).
pub const MAX_STOP_STRINGS: usize = 4;

/// The generation parameters both protocols take (OpenAI's names; `top_k` and
/// `repetition_penalty` as vLLM and KServe's Hugging Face runtime take them). Numbers are
/// read wide so that a negative or fractional value is refused with its name, not as a type
/// error.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct TextParameters {
    #[serde(default)]
    pub max_tokens: Option<i64>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub top_p: Option<f64>,
    #[serde(default)]
    pub top_k: Option<i64>,
    #[serde(default)]
    pub seed: Option<i64>,
    #[serde(default)]
    pub stop: Option<StopField>,
    #[serde(default)]
    pub repetition_penalty: Option<f64>,
    #[serde(default)]
    pub frequency_penalty: Option<f64>,
    #[serde(default)]
    pub presence_penalty: Option<f64>,
}

impl TextParameters {
    /// `other`'s fields where it has them, these elsewhere.
    pub fn overridden_by(self, other: TextParameters) -> TextParameters {
        TextParameters {
            max_tokens: other.max_tokens.or(self.max_tokens),
            temperature: other.temperature.or(self.temperature),
            top_p: other.top_p.or(self.top_p),
            top_k: other.top_k.or(self.top_k),
            seed: other.seed.or(self.seed),
            stop: other.stop.or(self.stop),
            repetition_penalty: other.repetition_penalty.or(self.repetition_penalty),
            frequency_penalty: other.frequency_penalty.or(self.frequency_penalty),
            presence_penalty: other.presence_penalty.or(self.presence_penalty),
        }
    }

    /// The engine's request for `prompt`; the ranges of the sampling options are the
    /// engine's to check ([`crate::generation::Sampler::new`]), the shapes of the fields here.
    pub fn request(&self, prompt: Prompt) -> Result<GenerationRequest, ParamError> {
        let max_tokens = match self.max_tokens {
            None => None,
            Some(n) if n < 1 => {
                return Err(ParamError::new(
                    "max_tokens",
                    format!("max_tokens is {n}: ask for at least 1 token"),
                ))
            }
            Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        };
        let top_k = match self.top_k {
            None | Some(-1) | Some(0) => 0,
            Some(k) if k < 0 => {
                return Err(ParamError::new(
                    "top_k",
                    format!("top_k is {k}: use a positive number, or 0 or -1 for all tokens"),
                ))
            }
            Some(k) => usize::try_from(k).unwrap_or(usize::MAX),
        };
        let defaults = SamplingOptions::default();
        let float = |value: Option<f64>, default: f32| value.map_or(default, |v| v as f32);
        let stop = match &self.stop {
            None => Vec::new(),
            Some(StopField::One(s)) => vec![s.clone()],
            Some(StopField::Many(many)) => many.clone(),
        };
        if stop.len() > MAX_STOP_STRINGS {
            return Err(ParamError::new(
                "stop",
                format!(
                    "stop has {} strings: send at most {MAX_STOP_STRINGS}",
                    stop.len()
                ),
            ));
        }
        if stop.iter().any(String::is_empty) {
            return Err(ParamError::new("stop", "stop strings must not be empty"));
        }
        Ok(GenerationRequest {
            prompt,
            max_tokens,
            sampling: SamplingOptions {
                temperature: float(self.temperature, defaults.temperature),
                top_p: float(self.top_p, defaults.top_p),
                top_k,
                // a negative seed is as good a seed as its bits
                seed: self.seed.map(|s| s as u64),
                repetition_penalty: float(self.repetition_penalty, defaults.repetition_penalty),
                frequency_penalty: float(self.frequency_penalty, defaults.frequency_penalty),
                presence_penalty: float(self.presence_penalty, defaults.presence_penalty),
            },
            stop,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parameters(json: &str) -> TextParameters {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn fields_become_the_engine_request_and_bad_shapes_are_named() {
        let request = parameters(
            r#"{"max_tokens": 5, "temperature": 0, "top_k": -1, "seed": -3, "stop": "\n"}"#,
        )
        .request(Prompt::Text("hi".into()))
        .unwrap();
        assert_eq!(request.max_tokens, Some(5));
        assert_eq!(request.sampling.temperature, 0.0);
        assert_eq!(request.sampling.top_k, 0);
        assert_eq!(request.sampling.seed, Some(u64::MAX - 2));
        assert_eq!(request.stop, vec!["\n".to_string()]);
        for (json, param) in [
            (r#"{"max_tokens": 0}"#, "max_tokens"),
            (r#"{"max_tokens": -4}"#, "max_tokens"),
            (r#"{"top_k": -2}"#, "top_k"),
            (r#"{"stop": ["a", "b", "c", "d", "e"]}"#, "stop"),
            (r#"{"stop": [""]}"#, "stop"),
        ] {
            let error = parameters(json)
                .request(Prompt::Text("hi".into()))
                .unwrap_err();
            assert_eq!(error.param, Some(param), "{json}: {error}");
        }
    }

    #[test]
    fn later_parameters_override_earlier_ones() {
        let merged = parameters(r#"{"max_tokens": 5, "seed": 1}"#)
            .overridden_by(parameters(r#"{"max_tokens": 7}"#));
        assert_eq!((merged.max_tokens, merged.seed), (Some(7), Some(1)));
    }
}
