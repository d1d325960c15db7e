//! Chat templates rendered as transformers renders them (`apply_chat_template(messages,
//! add_generation_prompt=True)`): Jinja through minijinja, with the environment transformers
//! sets up (`trim_blocks`, `lstrip_blocks`, loop controls, `raise_exception`, `tojson`,
//! `strftime_now`) and the special tokens as variables.

use minijinja::{Environment, ErrorKind, Value};
use serde::{Deserialize, Serialize};

/// One message of a conversation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    pub role: String,
    pub content: String,
}

/// Why a conversation could not be turned into a prompt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChatError {
    #[error("this model has no chat template (tokenizer_config.json's chat_template or chat_template.jinja): send a plain prompt to the completions route")]
    NoTemplate,
    #[error("the chat template does not compile: {0}")]
    Syntax(String),
    /// The template refused the conversation (its `raise_exception`, e.g. an unknown role).
    #[error("the chat template refused the messages: {0}")]
    Refused(String),
    #[error("the chat template failed: {0}")]
    Render(String),
    #[error("the conversation is empty: send at least one message")]
    NoMessages,
}

/// A compiled chat template with the special tokens it may name.
pub struct ChatTemplate {
    env: Environment<'static>,
    tokens: Vec<(String, String)>,
}

impl std::fmt::Debug for ChatTemplate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChatTemplate").finish_non_exhaustive()
    }
}

const NAME: &str = "chat";

fn raise_exception(message: String) -> Result<Value, minijinja::Error> {
    Err(minijinja::Error::new(ErrorKind::InvalidOperation, message))
}

/// transformers' `strftime_now`, over UTC (what a Lambda function's clock is).
fn strftime_now(format: String) -> Result<Value, minijinja::Error> {
    // the crate's clock: `time`'s own panics on wasm32 (the edge)
    let now = time::OffsetDateTime::from_unix_timestamp(crate::clock::unix_seconds() as i64)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    // the directives templates use (`%d %B %Y`, `%Y-%m-%d`); a fuller strftime is no crate's
    // job that a template needs
    let month = now.month().to_string();
    let text = format
        .replace("%Y", &now.year().to_string())
        .replace("%m", &format!("{:02}", u8::from(now.month())))
        .replace("%d", &format!("{:02}", now.day()))
        .replace("%B", &month)
        .replace("%b", &month[..3.min(month.len())]);
    Ok(Value::from(text))
}

impl ChatTemplate {
    /// Compiles `source`; `tokens` are the special tokens (`bos_token` → `<s>`, …) the template
    /// sees as variables.
    pub fn new(source: &str, tokens: Vec<(String, String)>) -> Result<ChatTemplate, ChatError> {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.add_function("raise_exception", raise_exception);
        env.add_function("strftime_now", strftime_now);
        env.add_template_owned(NAME, source.to_string())
            .map_err(|e| ChatError::Syntax(format!("{e:#}")))?;
        Ok(ChatTemplate { env, tokens })
    }

    /// The prompt for `messages`, ending with the assistant's turn when
    /// `add_generation_prompt`.
    pub fn render(
        &self,
        messages: &[ChatMessage],
        add_generation_prompt: bool,
    ) -> Result<String, ChatError> {
        if messages.is_empty() {
            return Err(ChatError::NoMessages);
        }
        let template = self
            .env
            .get_template(NAME)
            .map_err(|e| ChatError::Render(e.to_string()))?;
        let mut context: std::collections::BTreeMap<&str, Value> = self
            .tokens
            .iter()
            .map(|(k, v)| (k.as_str(), Value::from(v.as_str())))
            .collect();
        context.insert("messages", Value::from_serialize(messages));
        context.insert("add_generation_prompt", Value::from(add_generation_prompt));
        context.insert("tools", Value::from(()));
        template.render(context).map_err(|e| match e.kind() {
            ErrorKind::InvalidOperation => {
                ChatError::Refused(e.detail().unwrap_or_default().to_string())
            }
            _ => ChatError::Render(format!("{e:#}")),
        })
    }

    /// Renders a system-and-user conversation, as publishing does: a template that cannot
    /// render one is refused then, not at the first request. A template that refuses the
    /// system role is tried with the user's message alone.
    pub fn check(&self) -> Result<(), ChatError> {
        let user = ChatMessage {
            role: "user".into(),
            content: "Hello".into(),
        };
        let system = ChatMessage {
            role: "system".into(),
            content: "You are helpful.".into(),
        };
        match self.render(&[system, user.clone()], true) {
            Ok(_) => Ok(()),
            Err(ChatError::Refused(_)) => self.render(&[user], true).map(|_| ()),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chatml() -> ChatTemplate {
        let source = "{% for message in messages %}{% if message['role'] not in ['system', 'user', 'assistant'] %}{{ raise_exception('unknown role: ' + message['role']) }}{% endif %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
        ChatTemplate::new(source, vec![("eos_token".into(), "<|endoftext|>".into())]).unwrap()
    }

    #[test]
    fn chatml_renders_as_transformers_and_refuses_an_unknown_role() {
        let t = chatml();
        let user = ChatMessage {
            role: "user".into(),
            content: "Hi".into(),
        };
        assert_eq!(
            t.render(std::slice::from_ref(&user), true).unwrap(),
            "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"
        );
        let odd = ChatMessage {
            role: "wizard".into(),
            content: "x".into(),
        };
        assert_eq!(
            t.render(&[odd], true),
            Err(ChatError::Refused("unknown role: wizard".into()))
        );
        assert_eq!(t.render(&[], true), Err(ChatError::NoMessages));
        assert!(t.check().is_ok());
        assert!(matches!(
            ChatTemplate::new("{% for %}", vec![]),
            Err(ChatError::Syntax(_))
        ));
    }
}
