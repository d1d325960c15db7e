//! The hostile-request corpus (`tests/corpus/hostile-requests.json`, written by
//! `tests/python/make_hostile_corpus.py`): malformed requests with the status and error text
//! the API must answer. Shared by the router tests and the Lambda event tests.

use serde::Deserialize;

/// One malformed request and the answer it must get.
#[derive(Debug, Clone, Deserialize)]
pub struct Case {
    pub name: String,
    pub method: String,
    pub path: String,
    /// `None` sends no Content-Type header.
    pub content_type: Option<String>,
    body: Option<String>,
    body_hex: Option<String>,
    body_repeat: Option<Repeat>,
    /// More request headers (e.g. Inference-Header-Content-Length).
    #[serde(default)]
    pub headers: std::collections::BTreeMap<String, String>,
    pub status: u16,
    /// A substring of the JSON error message.
    pub error: String,
    /// The request field an OpenAI error must name (`error.param`), for the generation cases.
    // read by tests/text_serving.rs only
    #[allow(dead_code)]
    #[serde(default)]
    pub param: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
struct Repeat {
    head: String,
    unit: String,
    times: usize,
    tail: String,
}

impl Case {
    /// The request body's bytes.
    pub fn body(&self) -> Vec<u8> {
        if let Some(hex_text) = &self.body_hex {
            return hex::decode(hex_text).expect("body_hex is hex");
        }
        if let Some(r) = &self.body_repeat {
            let mut body =
                String::with_capacity(r.head.len() + r.unit.len() * r.times + r.tail.len());
            body.push_str(&r.head);
            for _ in 0..r.times {
                body.push_str(&r.unit);
            }
            body.push_str(&r.tail);
            return body.into_bytes();
        }
        self.body.clone().unwrap_or_default().into_bytes()
    }
}

// for the HTTP tests; the Lambda event tests build their own requests from the fields
#[allow(dead_code)]
impl Case {
    /// Every request header, the content type included.
    pub fn all_headers(&self) -> Vec<(&str, &str)> {
        let mut headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(ct) = &self.content_type {
            headers.push(("content-type", ct.as_str()));
        }
        headers
    }

    /// The request for the router in-process.
    pub fn request(&self) -> axum::http::Request<axum::body::Body> {
        let mut request = axum::http::Request::builder()
            .method(self.method.as_str())
            .uri(self.path.as_str());
        for (name, value) in self.all_headers() {
            request = request.header(name, value.as_bytes());
        }
        request
            .body(axum::body::Body::from(self.body()))
            .expect("a request")
    }

    /// Why an HTTP answer is not the one this case must get (its status, a JSON content type,
    /// an error containing the expected text); `None` when it is.
    pub fn mismatch(&self, status: u16, content_type: Option<&str>, error: &str) -> Option<String> {
        (status != self.status
            || content_type != Some("application/json")
            || !error.contains(&self.error))
        .then(|| {
            format!(
                "{}: {status} {content_type:?} {error:.300} (expected {} '{}')",
                self.name, self.status, self.error
            )
        })
    }
}

/// Every case of the corpus.
#[allow(dead_code)]
pub fn hostile_requests() -> Vec<Case> {
    // relative to this file, so that every crate of the workspace finds it
    serde_json::from_str(include_str!("../corpus/hostile-requests.json"))
        .expect("the corpus parses")
}

/// The generation routes' corpus (`tests/corpus/hostile-generation.json`, from the same script),
/// for a router serving the Llama fixture with `MAAS_MAX_TOKENS=100`.
#[allow(dead_code)]
pub fn hostile_generation() -> Vec<Case> {
    serde_json::from_str(include_str!("../corpus/hostile-generation.json"))
        .expect("the corpus parses")
}
