//! The OpenAI API as the official clients speak it: `completions` and `chat.completions`
//! request bodies read into the engine's requests, and the response objects, the streamed
//! chunks and the error body written with every field the `openai` package reads.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{ParamError, TextParameters};
use crate::generation::{ChatMessage, Completion, GenerationRequest, Prompt};

/// `stream_options`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct StreamOptions {
    /// A last chunk with no choices and the usage.
    #[serde(default)]
    pub include_usage: Option<bool>,
}

/// What both request bodies share beside the generation parameters: the fields that select
/// the model, ask for a stream, or ask for what maas does not do (refused, not ignored).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct Common {
    /// The model's name; absent means the served model.
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub stream: Option<bool>,
    #[serde(default)]
    pub stream_options: Option<StreamOptions>,
    #[serde(default)]
    pub n: Option<i64>,
    #[serde(default)]
    pub logprobs: Option<Value>,
    #[serde(default)]
    pub top_logprobs: Option<Value>,
    #[serde(default)]
    pub logit_bias: Option<serde_json::Map<String, Value>>,
    #[serde(flatten)]
    pub parameters: TextParameters,
}

impl Common {
    /// Whether the answer streams.
    pub fn streams(&self) -> bool {
        self.stream == Some(true)
    }

    /// Whether the stream ends with a usage chunk.
    pub fn include_usage(&self) -> bool {
        self.stream_options
            .as_ref()
            .and_then(|o| o.include_usage)
            .unwrap_or(false)
    }

    fn refuse_unsupported(&self) -> Result<(), ParamError> {
        if self.n.is_some_and(|n| n != 1) {
            return Err(ParamError::new(
                "n",
                "maas answers one choice per prompt: send n = 1 (or leave it out)",
            ));
        }
        let asked = |v: &Option<Value>| {
            v.as_ref()
                .is_some_and(|v| !v.is_null() && *v != Value::Bool(false))
        };
        if asked(&self.logprobs) || asked(&self.top_logprobs) {
            return Err(ParamError::new(
                "logprobs",
                "maas does not return log probabilities: leave logprobs out",
            ));
        }
        if self.logit_bias.as_ref().is_some_and(|m| !m.is_empty()) {
            return Err(ParamError::new(
                "logit_bias",
                "maas does not take logit_bias: leave it out",
            ));
        }
        Ok(())
    }
}

/// `POST /v1/completions`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CompletionRequest {
    pub prompt: PromptField,
    #[serde(default)]
    pub echo: Option<bool>,
    #[serde(default)]
    pub suffix: Option<String>,
    #[serde(default)]
    pub best_of: Option<i64>,
    #[serde(flatten)]
    pub common: Common,
}

/// `prompt`: a text or a list of texts (one choice each). Token ids are refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum PromptField {
    One(String),
    Many(Vec<String>),
    Other(Value),
}

/// Most prompts one completions request may carry.
pub const MAX_PROMPTS: usize = 16;

impl CompletionRequest {
    /// One engine request per prompt, in order (`choices[i]` answers `prompt[i]`).
    pub fn requests(&self) -> Result<Vec<GenerationRequest>, ParamError> {
        self.common.refuse_unsupported()?;
        if self.echo == Some(true) {
            return Err(ParamError::new(
                "echo",
                "maas does not echo the prompt: leave echo out",
            ));
        }
        if self.suffix.as_ref().is_some_and(|s| !s.is_empty()) {
            return Err(ParamError::new(
                "suffix",
                "maas does not insert text (suffix): leave it out",
            ));
        }
        if self.best_of.is_some_and(|n| n != 1) {
            return Err(ParamError::new(
                "best_of",
                "maas answers one choice per prompt: send best_of = 1 (or leave it out)",
            ));
        }
        let prompts = match &self.prompt {
            PromptField::One(text) => vec![text.clone()],
            PromptField::Many(texts) if texts.is_empty() => {
                return Err(ParamError::new("prompt", "prompt is an empty list"))
            }
            PromptField::Many(texts) if texts.len() > MAX_PROMPTS => {
                return Err(ParamError::new(
                    "prompt",
                    format!(
                        "prompt has {} texts: send at most {MAX_PROMPTS} per request",
                        texts.len()
                    ),
                ))
            }
            PromptField::Many(texts) => texts.clone(),
            PromptField::Other(_) => {
                return Err(ParamError::new(
                    "prompt",
                    "prompt must be a string or a list of strings (token ids are not taken)",
                ))
            }
        };
        prompts
            .into_iter()
            .map(|text| self.common.parameters.request(Prompt::Text(text)))
            .collect()
    }
}

/// One message as clients send it: `content` a string or a list of text parts.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct MessageField {
    pub role: String,
    #[serde(default)]
    pub content: Option<ContentField>,
}

/// `content`: a string, or parts of which maas reads the text ones.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum ContentField {
    Text(String),
    Parts(Vec<ContentPart>),
}

/// One part of a message's content.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ContentPart {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub text: Option<String>,
}

/// `POST /v1/chat/completions`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ChatRequest {
    pub messages: Vec<MessageField>,
    /// The newer name of `max_tokens`.
    #[serde(default)]
    pub max_completion_tokens: Option<i64>,
    #[serde(default)]
    pub tools: Option<Vec<Value>>,
    #[serde(default)]
    pub response_format: Option<Value>,
    #[serde(flatten)]
    pub common: Common,
}

impl ChatRequest {
    /// The engine's request: the conversation for the model's chat template.
    pub fn request(&self) -> Result<GenerationRequest, ParamError> {
        self.common.refuse_unsupported()?;
        if self.tools.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(ParamError::new(
                "tools",
                "maas does not call tools: leave tools out",
            ));
        }
        if let Some(format) = &self.response_format {
            if format.get("type").and_then(Value::as_str) != Some("text") {
                return Err(ParamError::new(
                    "response_format",
                    "maas answers plain text: send response_format {\"type\": \"text\"} or leave it out",
                ));
            }
        }
        if self.messages.is_empty() {
            return Err(ParamError::new(
                "messages",
                "messages is empty: send at least one message",
            ));
        }
        let messages = self
            .messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let content = match &m.content {
                    None => String::new(),
                    Some(ContentField::Text(text)) => text.clone(),
                    Some(ContentField::Parts(parts)) => {
                        let mut text = String::new();
                        for part in parts {
                            match (part.kind.as_str(), &part.text) {
                                ("text", Some(t)) => text.push_str(t),
                                (kind, _) => {
                                    return Err(ParamError::new(
                                        "messages",
                                        format!(
                                            "messages[{i}] has a '{kind}' part: maas reads text parts only"
                                        ),
                                    ))
                                }
                            }
                        }
                        text
                    }
                };
                Ok(ChatMessage {
                    role: m.role.clone(),
                    content,
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut parameters = self.common.parameters.clone();
        if self.max_completion_tokens.is_some() {
            parameters.max_tokens = self.max_completion_tokens;
        }
        parameters.request(Prompt::Chat(messages))
    }
}

/// Token counts of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub prompt_tokens: usize,
    pub completion_tokens: usize,
    pub total_tokens: usize,
}

impl Usage {
    /// The counts of finished completions.
    pub fn of<'a>(completions: impl IntoIterator<Item = &'a Completion>) -> Usage {
        let (mut prompt, mut completion) = (0, 0);
        for c in completions {
            prompt += c.prompt_tokens;
            completion += c.tokens.len();
        }
        Usage {
            prompt_tokens: prompt,
            completion_tokens: completion,
            total_tokens: prompt + completion,
        }
    }
}

/// What each response object and chunk carries beside its choices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Envelope {
    /// `cmpl-…` or `chatcmpl-…`, the same in every chunk of a stream.
    pub id: String,
    /// Unix seconds.
    pub created: u64,
    pub model: String,
}

impl Envelope {
    /// A new id with `prefix`, unique within the process and unlikely to repeat across them.
    pub fn new(prefix: &str, created: u64, model: &str) -> Envelope {
        use std::hash::{BuildHasher, Hasher};
        static CALLS: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        let call = CALLS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        hasher.write_u64(call);
        Envelope {
            id: format!("{prefix}-{:016x}{call:08x}", hasher.finish()),
            created,
            model: model.to_string(),
        }
    }

    fn object(&self, object: &str, choices: Value, usage: Option<Usage>) -> Value {
        serde_json::json!({
            "id": self.id,
            "object": object,
            "created": self.created,
            "model": self.model,
            "system_fingerprint": concat!("maas-", env!("CARGO_PKG_VERSION")),
            "choices": choices,
            "usage": usage,
        })
    }
}

/// The `text_completion` object of finished completions, `choices[i]` for `completions[i]`.
pub fn completion_response(envelope: &Envelope, completions: &[Completion]) -> Value {
    let choices = completions
        .iter()
        .enumerate()
        .map(|(index, c)| {
            serde_json::json!({
                "index": index,
                "text": c.text,
                "finish_reason": c.finish_reason.as_str(),
                "logprobs": null,
            })
        })
        .collect();
    envelope.object(
        "text_completion",
        Value::Array(choices),
        Some(Usage::of(completions)),
    )
}

/// The `chat.completion` object of a finished completion.
pub fn chat_response(envelope: &Envelope, completion: &Completion) -> Value {
    let choices = serde_json::json!([{
        "index": 0,
        "message": {"role": "assistant", "content": completion.text},
        "finish_reason": completion.finish_reason.as_str(),
        "logprobs": null,
    }]);
    envelope.object("chat.completion", choices, Some(Usage::of([completion])))
}

/// Which chunk of a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Chunk<'a> {
    /// Chat only, first: the assistant's role.
    Role,
    /// A piece of choice `index`'s text.
    Text { index: usize, text: &'a str },
    /// Choice `index` ended.
    Finished {
        index: usize,
        completion: &'a Completion,
    },
    /// Last, when `include_usage` asked for it: no choices.
    Usage(Usage),
}

/// The streamed object of a chunk: `text_completion` chunks for completions,
/// `chat.completion.chunk` with `delta`s for chat. `usage` is null on every chunk but the
/// usage one when `include_usage` is set, and absent otherwise.
pub fn chunk(envelope: &Envelope, chat: bool, include_usage: bool, chunk: Chunk<'_>) -> Value {
    let choice = |index: usize, delta: Value, text: &str, finish: Option<&str>| {
        if chat {
            serde_json::json!({"index": index, "delta": delta, "finish_reason": finish, "logprobs": null})
        } else {
            serde_json::json!({"index": index, "text": text, "finish_reason": finish, "logprobs": null})
        }
    };
    let (choices, usage) = match chunk {
        Chunk::Role => (
            vec![choice(
                0,
                serde_json::json!({"role": "assistant", "content": ""}),
                "",
                None,
            )],
            None,
        ),
        Chunk::Text { index, text } => (
            vec![choice(
                index,
                serde_json::json!({"content": text}),
                text,
                None,
            )],
            None,
        ),
        Chunk::Finished { index, completion } => (
            vec![choice(
                index,
                serde_json::json!({}),
                "",
                Some(completion.finish_reason.as_str()),
            )],
            None,
        ),
        Chunk::Usage(usage) => (Vec::new(), Some(usage)),
    };
    let object = if chat {
        "chat.completion.chunk"
    } else {
        "text_completion"
    };
    let mut value = envelope.object(object, Value::Array(choices), usage);
    if !include_usage {
        if let Some(map) = value.as_object_mut() {
            map.remove("usage");
        }
    }
    value
}

/// OpenAI's error body: `{"error": {"message", "type", "param", "code"}}`.
pub fn error_body(status: u16, message: &str, param: Option<&str>, code: Option<&str>) -> Value {
    let kind = match status {
        401 => "authentication_error",
        404 => "invalid_request_error",
        429 => "rate_limit_error",
        s if s >= 500 => "server_error",
        _ => "invalid_request_error",
    };
    serde_json::json!({
        "error": {"message": message, "type": kind, "param": param, "code": code}
    })
}

/// `GET /v1/models`' entry for a model.
pub fn model_entry(name: &str, created: u64) -> Value {
    serde_json::json!({"id": name, "object": "model", "created": created, "owned_by": "maas"})
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::generation::FinishReason;

    #[test]
    fn requests_read_prompts_messages_and_refuse_what_maas_does_not_do() {
        let request: CompletionRequest = serde_json::from_str(
            r#"{"model": "m", "prompt": ["a", "b"], "max_tokens": 3, "user": "x"}"#,
        )
        .unwrap();
        let requests = request.requests().unwrap();
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[1].prompt, Prompt::Text("b".into()));
        assert_eq!(requests[1].max_tokens, Some(3));

        let chat: ChatRequest = serde_json::from_str(
            r#"{"messages": [{"role": "user", "content": [{"type": "text", "text": "hi"}]}], "max_completion_tokens": 4, "stream": true, "stream_options": {"include_usage": true}}"#,
        )
        .unwrap();
        let request = chat.request().unwrap();
        assert_eq!(request.max_tokens, Some(4));
        assert!(chat.common.streams() && chat.common.include_usage());
        assert_eq!(
            request.prompt,
            Prompt::Chat(vec![ChatMessage {
                role: "user".into(),
                content: "hi".into()
            }])
        );

        for (json, param) in [
            (r#"{"prompt": "a", "n": 2}"#, "n"),
            (r#"{"prompt": "a", "logprobs": 2}"#, "logprobs"),
            (r#"{"prompt": "a", "echo": true}"#, "echo"),
            (r#"{"prompt": [1, 2]}"#, "prompt"),
            (r#"{"prompt": []}"#, "prompt"),
        ] {
            let request: CompletionRequest = serde_json::from_str(json).unwrap();
            assert_eq!(request.requests().unwrap_err().param, Some(param), "{json}");
        }
        for (json, param) in [
            (r#"{"messages": []}"#, "messages"),
            (
                r#"{"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}"#,
                "messages",
            ),
            (
                r#"{"messages": [{"role": "user", "content": "a"}], "tools": [{}]}"#,
                "tools",
            ),
        ] {
            let request: ChatRequest = serde_json::from_str(json).unwrap();
            assert_eq!(request.request().unwrap_err().param, Some(param), "{json}");
        }
    }

    #[test]
    fn responses_and_chunks_carry_what_the_client_reads() {
        let envelope = Envelope::new("chatcmpl", 7, "m");
        assert!(envelope.id.starts_with("chatcmpl-"));
        assert_ne!(envelope.id, Envelope::new("chatcmpl", 7, "m").id);
        let completion = Completion {
            text: "hé".into(),
            tokens: vec![1, 2],
            finish_reason: FinishReason::Length,
            prompt_tokens: 3,
            timings: Default::default(),
        };
        let chat = chat_response(&envelope, &completion);
        assert_eq!(chat["object"], "chat.completion");
        assert_eq!(chat["choices"][0]["message"]["content"], "hé");
        assert_eq!(chat["choices"][0]["finish_reason"], "length");
        assert_eq!(chat["usage"]["total_tokens"], 5);
        let text = chunk(
            &envelope,
            true,
            false,
            Chunk::Text {
                index: 0,
                text: "h",
            },
        );
        assert_eq!(text["choices"][0]["delta"]["content"], "h");
        assert!(text.get("usage").is_none());
        let usage = chunk(
            &envelope,
            false,
            true,
            Chunk::Usage(Usage::of([&completion])),
        );
        assert_eq!(usage["choices"], serde_json::json!([]));
        assert_eq!(usage["usage"]["completion_tokens"], 2);
        let error = error_body(400, "bad", Some("top_p"), None);
        assert_eq!(error["error"]["type"], "invalid_request_error");
        assert_eq!(error["error"]["param"], "top_p");
    }
}
