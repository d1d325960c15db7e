//! The generate extension of the Open Inference Protocol (KServe's, as Triton also serves it):
//! `{"text_input": "...", "parameters": {...}}` in, `{"text_output": "..."}` out, and for
//! `generate_stream` one event per piece of text, the last with `done: true`. Parameters may
//! also sit at the top level, as Triton's clients send them.

use serde::Deserialize;
use serde_json::Value;

use super::{ParamError, TextParameters};
use crate::generation::{Completion, GenerationRequest, Prompt};

/// `POST /v2/models/{name}/generate` and `generate_stream`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct GenerateRequest {
    pub text_input: String,
    /// A request id, echoed in the answer.
    #[serde(default)]
    pub id: Option<String>,
    #[serde(default)]
    pub parameters: Option<TextParameters>,
    #[serde(flatten)]
    pub top_level: TextParameters,
}

impl GenerateRequest {
    /// The engine's request (`parameters` win over the same fields at the top level).
    pub fn request(&self) -> Result<GenerationRequest, ParamError> {
        let parameters = match &self.parameters {
            Some(p) => self.top_level.clone().overridden_by(p.clone()),
            None => self.top_level.clone(),
        };
        parameters.request(Prompt::Text(self.text_input.clone()))
    }
}

/// Names the answer is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answering<'a> {
    pub model_name: &'a str,
    pub model_version: Option<u64>,
    pub id: Option<&'a str>,
}

impl Answering<'_> {
    fn object(&self, text: &str) -> serde_json::Map<String, Value> {
        let mut map = serde_json::Map::new();
        map.insert("model_name".into(), self.model_name.into());
        map.insert(
            "model_version".into(),
            self.model_version
                .map_or(Value::Null, |v| v.to_string().into()),
        );
        if let Some(id) = self.id {
            map.insert("id".into(), id.into());
        }
        map.insert("text_output".into(), text.into());
        map
    }

    fn finished(&self, text: &str, completion: &Completion) -> serde_json::Map<String, Value> {
        let mut map = self.object(text);
        map.insert(
            "finish_reason".into(),
            completion.finish_reason.as_str().into(),
        );
        map.insert(
            "usage".into(),
            serde_json::json!({
                "prompt_tokens": completion.prompt_tokens,
                "completion_tokens": completion.tokens.len(),
                "total_tokens": completion.prompt_tokens + completion.tokens.len(),
            }),
        );
        map
    }

    /// The answer of `generate`.
    pub fn response(&self, completion: &Completion) -> Value {
        Value::Object(self.finished(&completion.text, completion))
    }

    /// One event of `generate_stream`: a piece of text.
    pub fn piece(&self, text: &str) -> Value {
        let mut map = self.object(text);
        map.insert("done".into(), false.into());
        Value::Object(map)
    }

    /// The last event of `generate_stream`: no text, why it ended, the token counts.
    pub fn last(&self, completion: &Completion) -> Value {
        let mut map = self.finished("", completion);
        map.insert("done".into(), true.into());
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_at_either_level_and_the_answer_shape() {
        let request: GenerateRequest = serde_json::from_str(
            r#"{"text_input": "hi", "max_tokens": 3, "temperature": 0, "parameters": {"max_tokens": 5}}"#,
        )
        .unwrap();
        let request = request.request().unwrap();
        assert_eq!(request.max_tokens, Some(5));
        assert_eq!(request.sampling.temperature, 0.0);
        let completion = Completion {
            text: "yo".into(),
            tokens: vec![4, 5],
            finish_reason: crate::generation::FinishReason::Stop,
            prompt_tokens: 1,
            timings: Default::default(),
        };
        let answering = Answering {
            model_name: "m",
            model_version: Some(2),
            id: Some("r1"),
        };
        let answer = answering.response(&completion);
        assert_eq!(answer["text_output"], "yo");
        assert_eq!(answer["model_version"], "2");
        assert_eq!(answer["id"], "r1");
        assert_eq!(answer["finish_reason"], "stop");
        assert_eq!(answering.piece("y")["done"], false);
        assert_eq!(answering.last(&completion)["done"], true);
        assert_eq!(answering.last(&completion)["usage"]["total_tokens"], 3);
    }
}
