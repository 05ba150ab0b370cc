//! The OpenAI-compatible chat-completions backend (feature `openai`).
//!
//! Works with any server that speaks `POST {base_url}/chat/completions`: DeepSeek, Qwen
//! (DashScope compatible mode), vLLM, Ollama, llama.cpp server, OpenAI. The prompt is built from
//! the [`TextRequest`]; the answer (plain or streamed as server-sent events) is parsed into an
//! [`Article`] whose links and contact block are guaranteed to be present and whose keyword
//! density is measured.
//!
//! Failure handling ([`LlmError`]): 401/403 are not retried; 429 and 5xx are retried with
//! exponential backoff (honouring `Retry-After`, capped); connection failures and timeouts
//! before a response are retried; a stream cut after content started is reported, not retried
//! (the partial answer has been delivered and billed). Provider-specific fields
//! (`reasoning_content`, unknown `finish_reason` values, `choices: null` in the final usage
//! chunk) are tolerated.
//!
//! Plain HTTP is built in (local vLLM, Ollama, llama.cpp). For HTTPS endpoints enable a TLS
//! backend of `reqwest` in your own manifest, e.g. `reqwest = { version = "0.13", features =
//! ["rustls"] }`; Cargo's feature unification turns it on for this client too.

use std::time::Duration;

use async_trait::async_trait;
use marketingforce_core::adapters::generation::{
    Article, Language, Provenance, TextGenerator, TextRequest, TokenUsage,
};
use serde::{Deserialize, Serialize};

use super::document::{Block, Document, Span};
use super::{check_url, density, markdown, validate_request, TextLimits};
use crate::error::{ContentError, LlmError, Result};

/// The backend name recorded in provenance.
pub const OPENAI_BACKEND: &str = "openai-compatible";

/// Connection settings.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Base URL up to `/v1` (e.g. `http://127.0.0.1:11434/v1`).
    pub base_url: String,
    /// API key (sent as a bearer token), if the server needs one.
    pub api_key: Option<String>,
    /// Model name (`deepseek-chat`, `qwen-plus`, `llama3.1:8b`, …).
    pub model: String,
    /// Stream the answer (server-sent events).
    pub stream: bool,
    /// Time to connect.
    pub connect_timeout: Duration,
    /// Time for a whole non-streamed answer, or for the response headers of a stream.
    pub timeout: Duration,
    /// Longest silence allowed between two stream chunks.
    pub stream_idle_timeout: Duration,
    /// Retries after the first attempt (429, 5xx, connection failures, timeouts).
    pub max_retries: u32,
    /// First backoff; doubles per retry.
    pub backoff: Duration,
    /// Longest backoff (also caps `Retry-After`).
    pub max_backoff: Duration,
    /// Sampling temperature.
    pub temperature: Option<f32>,
    /// Most tokens to generate.
    pub max_tokens: Option<u32>,
}

impl OpenAiConfig {
    /// Settings for `base_url` and `model` with defaults: streaming, 10 s connect, 120 s
    /// answer, 30 s stream idle, 3 retries from 500 ms up to 8 s.
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> OpenAiConfig {
        OpenAiConfig {
            base_url: base_url.into(),
            api_key: None,
            model: model.into(),
            stream: true,
            connect_timeout: Duration::from_secs(10),
            timeout: Duration::from_secs(120),
            stream_idle_timeout: Duration::from_secs(30),
            max_retries: 3,
            backoff: Duration::from_millis(500),
            max_backoff: Duration::from_secs(8),
            temperature: Some(0.7),
            max_tokens: None,
        }
    }

    /// Set the API key.
    #[must_use]
    pub fn api_key(mut self, key: impl Into<String>) -> OpenAiConfig {
        self.api_key = Some(key.into());
        self
    }
}

/// A chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChatMessage {
    /// `system`, `user` or `assistant`.
    pub role: String,
    /// The text.
    pub content: String,
}

impl ChatMessage {
    /// A system message.
    pub fn system(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: "system".into(),
            content: content.into(),
        }
    }
    /// A user message.
    pub fn user(content: impl Into<String>) -> ChatMessage {
        ChatMessage {
            role: "user".into(),
            content: content.into(),
        }
    }
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FinishReason {
    /// Natural end.
    Stop,
    /// Token limit.
    Length,
    /// The provider's content filter.
    ContentFilter,
    /// Tool calls.
    ToolCalls,
    /// Anything else a provider sends (kept verbatim).
    Other(String),
}

impl FinishReason {
    fn parse(s: &str) -> FinishReason {
        match s {
            "stop" | "eos" | "end_turn" => FinishReason::Stop,
            "length" | "max_tokens" => FinishReason::Length,
            "content_filter" | "sensitive" => FinishReason::ContentFilter,
            "tool_calls" | "function_call" => FinishReason::ToolCalls,
            other => FinishReason::Other(other.to_string()),
        }
    }

    /// The reason as text.
    pub fn as_str(&self) -> &str {
        match self {
            FinishReason::Stop => "stop",
            FinishReason::Length => "length",
            FinishReason::ContentFilter => "content_filter",
            FinishReason::ToolCalls => "tool_calls",
            FinishReason::Other(s) => s,
        }
    }
}

/// A complete answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChatCompletion {
    /// The answer text.
    pub content: String,
    /// Reasoning text of reasoning models (`reasoning_content`), kept apart from the answer.
    pub reasoning: String,
    /// Why it stopped, if the server said.
    pub finish_reason: Option<FinishReason>,
    /// Token usage, if the server reported it.
    pub usage: Option<TokenUsage>,
    /// The model that answered, if the server said.
    pub model: Option<String>,
}

/// One event of a streamed answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StreamEvent {
    /// More answer text.
    Content(String),
    /// More reasoning text.
    Reasoning(String),
    /// The finish reason.
    Finish(FinishReason),
    /// Token usage (usually in a final chunk).
    Usage(TokenUsage),
}

// --- wire types (lenient: unknown fields ignored, most fields optional) -----------------------

#[derive(Serialize)]
struct WireRequest<'a> {
    model: &'a str,
    messages: &'a [ChatMessage],
    stream: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    stream_options: Option<StreamOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    temperature: Option<f32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    max_tokens: Option<u32>,
}

#[derive(Serialize)]
struct StreamOptions {
    include_usage: bool,
}

#[derive(Deserialize, Default)]
struct WireUsage {
    #[serde(default)]
    prompt_tokens: u64,
    #[serde(default)]
    completion_tokens: u64,
    #[serde(default)]
    total_tokens: u64,
}

impl From<WireUsage> for TokenUsage {
    fn from(u: WireUsage) -> TokenUsage {
        TokenUsage {
            prompt_tokens: u.prompt_tokens,
            completion_tokens: u.completion_tokens,
            total_tokens: if u.total_tokens == 0 {
                u.prompt_tokens.saturating_add(u.completion_tokens)
            } else {
                u.total_tokens
            },
        }
    }
}

#[derive(Deserialize, Default)]
struct WireMessage {
    #[serde(default)]
    content: Option<String>,
    #[serde(default)]
    reasoning_content: Option<String>,
}

#[derive(Deserialize)]
struct WireChoice {
    #[serde(default)]
    message: Option<WireMessage>,
    #[serde(default)]
    delta: Option<WireMessage>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct WireResponse {
    #[serde(default)]
    choices: Option<Vec<WireChoice>>,
    #[serde(default)]
    usage: Option<WireUsage>,
    #[serde(default)]
    model: Option<String>,
}

#[derive(Deserialize)]
struct WireErrorBody {
    error: WireErrorDetail,
}

#[derive(Deserialize)]
struct WireErrorDetail {
    #[serde(default)]
    message: String,
}

fn excerpt(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    s.chars().take(200).collect()
}

fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<WireErrorBody>(body)
        .map(|e| e.error.message)
        .ok()
        .filter(|m| !m.is_empty())
        .unwrap_or_else(|| excerpt(body))
}

/// A streamed answer: read events with [`ChatStream::next_event`].
#[derive(Debug)]
pub struct ChatStream {
    response: reqwest::Response,
    endpoint: String,
    idle: Duration,
    buf: Vec<u8>,
    pending: std::collections::VecDeque<StreamEvent>,
    done: bool,
    finished: bool,
    received_chars: usize,
    model: Option<String>,
}

impl ChatStream {
    /// The next event; `None` after `[DONE]` (or a clean end after a finish reason).
    ///
    /// # Errors
    /// [`LlmError::Timeout`] when the server stays silent too long, [`LlmError::StreamCut`]
    /// when the connection ends before the answer, [`LlmError::Malformed`] for a chunk that is
    /// not JSON.
    pub async fn next_event(&mut self) -> Option<std::result::Result<StreamEvent, LlmError>> {
        loop {
            if let Some(e) = self.pending.pop_front() {
                return Some(Ok(e));
            }
            if self.done {
                return None;
            }
            if let Some(event) = take_event(&mut self.buf) {
                if let Err(e) = self.handle_event(&event) {
                    self.done = true;
                    return Some(Err(e));
                }
                continue;
            }
            match tokio::time::timeout(self.idle, self.response.chunk()).await {
                Err(_) => {
                    self.done = true;
                    return Some(Err(LlmError::Timeout {
                        endpoint: self.endpoint.clone(),
                        after: self.idle,
                        phase: "stream".into(),
                    }));
                }
                Ok(Ok(Some(bytes))) => self.buf.extend_from_slice(&bytes),
                Ok(Ok(None)) => {
                    self.done = true;
                    // A last event without its blank line.
                    if !self.buf.iter().all(u8::is_ascii_whitespace) {
                        let rest = std::mem::take(&mut self.buf);
                        if let Err(e) = self.handle_event(&rest) {
                            return Some(Err(e));
                        }
                    }
                    if self.finished {
                        continue;
                    }
                    return Some(Err(LlmError::StreamCut {
                        endpoint: self.endpoint.clone(),
                        received_chars: self.received_chars,
                        reason: "the connection closed before [DONE] or a finish reason".into(),
                    }));
                }
                Ok(Err(e)) => {
                    self.done = true;
                    if self.finished {
                        continue;
                    }
                    return Some(Err(LlmError::StreamCut {
                        endpoint: self.endpoint.clone(),
                        received_chars: self.received_chars,
                        reason: format!("the connection broke: {e}"),
                    }));
                }
            }
        }
    }

    fn handle_event(&mut self, event: &[u8]) -> std::result::Result<(), LlmError> {
        let text = String::from_utf8_lossy(event);
        let mut data = String::new();
        for line in text.lines() {
            let line = line.trim_end_matches('\r');
            if let Some(d) = line.strip_prefix("data:") {
                if !data.is_empty() {
                    data.push('\n');
                }
                data.push_str(d.strip_prefix(' ').unwrap_or(d));
            }
            // `event:`, `id:`, `retry:` and `:` comments (keep-alives) are ignored.
        }
        let data = data.trim();
        if data.is_empty() {
            return Ok(());
        }
        if data == "[DONE]" {
            self.done = true;
            self.finished = true;
            return Ok(());
        }
        let chunk: WireResponse = serde_json::from_str(data).map_err(|e| LlmError::Malformed {
            endpoint: self.endpoint.clone(),
            reason: e.to_string(),
            excerpt: data.chars().take(200).collect(),
        })?;
        if self.model.is_none() {
            self.model = chunk.model;
        }
        for choice in chunk.choices.unwrap_or_default() {
            if let Some(delta) = choice.delta.or(choice.message) {
                if let Some(r) = delta.reasoning_content.filter(|r| !r.is_empty()) {
                    self.pending.push_back(StreamEvent::Reasoning(r));
                }
                if let Some(c) = delta.content.filter(|c| !c.is_empty()) {
                    self.received_chars += c.chars().count();
                    self.pending.push_back(StreamEvent::Content(c));
                }
            }
            if let Some(f) = choice.finish_reason {
                self.finished = true;
                self.pending
                    .push_back(StreamEvent::Finish(FinishReason::parse(&f)));
            }
        }
        if let Some(u) = chunk.usage {
            self.pending.push_back(StreamEvent::Usage(u.into()));
        }
        Ok(())
    }

    /// Read the rest of the stream into a completion, calling `on_content` with each piece.
    ///
    /// # Errors
    /// As [`next_event`](ChatStream::next_event).
    pub async fn collect(
        mut self,
        on_content: &mut (dyn FnMut(&str) + Send),
    ) -> std::result::Result<ChatCompletion, LlmError> {
        let mut c = ChatCompletion {
            content: String::new(),
            reasoning: String::new(),
            finish_reason: None,
            usage: None,
            model: None,
        };
        while let Some(event) = self.next_event().await {
            match event? {
                StreamEvent::Content(s) => {
                    on_content(&s);
                    c.content.push_str(&s);
                }
                StreamEvent::Reasoning(s) => c.reasoning.push_str(&s),
                StreamEvent::Finish(f) => c.finish_reason = Some(f),
                StreamEvent::Usage(u) => c.usage = Some(u),
            }
        }
        c.model = self.model.take();
        Ok(c)
    }
}

/// Take one complete SSE event (up to a blank line) off the front of `buf`.
fn take_event(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut i = 0;
    while i + 1 < buf.len() {
        if buf[i] == b'\n' && buf[i + 1] == b'\n' {
            let event: Vec<u8> = buf.drain(..i + 2).collect();
            return Some(event);
        }
        if buf[i] == b'\n' && buf[i + 1] == b'\r' && buf.get(i + 2) == Some(&b'\n') {
            let event: Vec<u8> = buf.drain(..i + 3).collect();
            return Some(event);
        }
        i += 1;
    }
    None
}

/// A client of an OpenAI-compatible chat-completions server, and a [`TextGenerator`].
///
/// ```no_run
/// use marketingforce_content::text::openai::{OpenAiCompatible, OpenAiConfig};
/// use marketingforce_core::adapters::generation::{Materials, TextRequest};
///
/// # async fn run() -> Result<(), marketingforce_content::ContentError> {
/// let llm = OpenAiCompatible::new(OpenAiConfig::new("http://127.0.0.1:11434/v1", "qwen2.5:7b"))?;
/// let request = TextRequest::new("chemicals", "环氧地坪施工要点")
///     .materials(Materials { product_name: Some("环氧地坪涂料".into()), ..Materials::default() });
/// let article = llm.generate_article(&request).await?;
/// println!("{}", article.title);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct OpenAiCompatible {
    config: OpenAiConfig,
    client: reqwest::Client,
    limits: TextLimits,
}

impl OpenAiCompatible {
    /// A client for `config`.
    ///
    /// # Errors
    /// A validation error on `base_url` or `model`.
    pub fn new(config: OpenAiConfig) -> Result<OpenAiCompatible> {
        check_url("base_url", &config.base_url)?;
        if config.model.trim().is_empty() {
            return Err(ContentError::validation("model", "must not be blank"));
        }
        let client = reqwest::Client::builder()
            .connect_timeout(config.connect_timeout)
            .no_proxy()
            .build()
            .map_err(|e| {
                ContentError::validation("base_url", format!("cannot build HTTP client: {e}"))
            })?;
        Ok(OpenAiCompatible {
            config,
            client,
            limits: TextLimits::default(),
        })
    }

    fn endpoint(&self) -> String {
        format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        )
    }

    async fn send(
        &self,
        messages: &[ChatMessage],
        stream: bool,
    ) -> std::result::Result<reqwest::Response, LlmError> {
        let endpoint = self.endpoint();
        let body = WireRequest {
            model: &self.config.model,
            messages,
            stream,
            stream_options: stream.then_some(StreamOptions {
                include_usage: true,
            }),
            temperature: self.config.temperature,
            max_tokens: self.config.max_tokens,
        };
        let body = serde_json::to_vec(&body).map_err(|e| LlmError::Malformed {
            endpoint: endpoint.clone(),
            reason: e.to_string(),
            excerpt: String::new(),
        })?;
        let mut attempt = 0u32;
        loop {
            attempt += 1;
            let mut rb = self
                .client
                .post(&endpoint)
                .header("content-type", "application/json")
                .header(
                    "accept",
                    if stream {
                        "text/event-stream"
                    } else {
                        "application/json"
                    },
                )
                .body(body.clone());
            if let Some(k) = &self.config.api_key {
                rb = rb.bearer_auth(k);
            }
            let outcome = marketingforce_core::telemetry::http::request(
                "openai-compatible",
                "POST",
                &endpoint,
                attempt,
                tokio::time::timeout(self.config.timeout, rb.send()),
                |r| match r {
                    Ok(Ok(resp)) => Some(resp.status().as_u16()),
                    _ => None,
                },
            )
            .await;
            let (err, retry_after) = match outcome {
                Err(_) => (
                    LlmError::Timeout {
                        endpoint: endpoint.clone(),
                        after: self.config.timeout,
                        phase: "request".into(),
                    },
                    None,
                ),
                Ok(Err(e)) if e.is_timeout() => (
                    LlmError::Timeout {
                        endpoint: endpoint.clone(),
                        after: self.config.timeout,
                        phase: "request".into(),
                    },
                    None,
                ),
                Ok(Err(e)) => (
                    LlmError::Connect {
                        endpoint: endpoint.clone(),
                        message: e.to_string(),
                    },
                    None,
                ),
                Ok(Ok(resp)) => {
                    let status = resp.status().as_u16();
                    if (200..300).contains(&status) {
                        return Ok(resp);
                    }
                    let retry_after = resp
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    let body = tokio::time::timeout(self.config.timeout, resp.bytes())
                        .await
                        .ok()
                        .and_then(|r| r.ok())
                        .unwrap_or_default();
                    let message = error_message(&body);
                    match status {
                        401 | 403 => {
                            return Err(LlmError::Unauthorized {
                                endpoint,
                                status,
                                message,
                            })
                        }
                        429 => (
                            LlmError::RateLimited {
                                endpoint: endpoint.clone(),
                                attempts: attempt,
                                retry_after,
                                message,
                            },
                            retry_after,
                        ),
                        500..=599 => (
                            LlmError::Server {
                                endpoint: endpoint.clone(),
                                status,
                                attempts: attempt,
                                message,
                            },
                            retry_after,
                        ),
                        _ => {
                            return Err(LlmError::Rejected {
                                endpoint,
                                status,
                                message,
                            })
                        }
                    }
                }
            };
            if attempt > self.config.max_retries {
                return Err(err);
            }
            let backoff = self
                .config
                .backoff
                .saturating_mul(1u32 << (attempt - 1).min(16))
                .max(retry_after.unwrap_or_default())
                .min(self.config.max_backoff);
            let status = match &err {
                LlmError::RateLimited { .. } => Some(429),
                LlmError::Server { status, .. } => Some(*status),
                _ => None,
            };
            marketingforce_core::telemetry::http::retrying(
                "openai-compatible",
                attempt,
                status,
                backoff,
            );
            tokio::time::sleep(backoff).await;
        }
    }

    /// Ask for a complete (non-streamed) answer.
    ///
    /// # Errors
    /// See [`LlmError`].
    pub async fn chat(
        &self,
        messages: &[ChatMessage],
    ) -> std::result::Result<ChatCompletion, LlmError> {
        let endpoint = self.endpoint();
        let resp = self.send(messages, false).await?;
        let body = match tokio::time::timeout(self.config.timeout, resp.bytes()).await {
            Err(_) => {
                return Err(LlmError::Timeout {
                    endpoint,
                    after: self.config.timeout,
                    phase: "request".into(),
                })
            }
            Ok(Err(e)) => {
                return Err(LlmError::StreamCut {
                    endpoint,
                    received_chars: 0,
                    reason: format!("the body broke off: {e}"),
                })
            }
            Ok(Ok(b)) => b,
        };
        let wire: WireResponse =
            serde_json::from_slice(&body).map_err(|e| LlmError::Malformed {
                endpoint: endpoint.clone(),
                reason: e.to_string(),
                excerpt: excerpt(&body),
            })?;
        let choice = wire.choices.and_then(|c| c.into_iter().next());
        let (message, finish) = match choice {
            Some(c) => (c.message.or(c.delta).unwrap_or_default(), c.finish_reason),
            None => {
                return Err(LlmError::Malformed {
                    endpoint,
                    reason: "no choices in the answer".into(),
                    excerpt: excerpt(&body),
                })
            }
        };
        Ok(ChatCompletion {
            content: message.content.unwrap_or_default(),
            reasoning: message.reasoning_content.unwrap_or_default(),
            finish_reason: finish.as_deref().map(FinishReason::parse),
            usage: wire.usage.map(Into::into),
            model: wire.model,
        })
    }

    /// Ask for a streamed answer.
    ///
    /// # Errors
    /// See [`LlmError`] (errors before the stream starts).
    pub async fn chat_stream(
        &self,
        messages: &[ChatMessage],
    ) -> std::result::Result<ChatStream, LlmError> {
        let response = self.send(messages, true).await?;
        Ok(ChatStream {
            response,
            endpoint: self.endpoint(),
            idle: self.config.stream_idle_timeout,
            buf: Vec::new(),
            pending: Default::default(),
            done: false,
            finished: false,
            received_chars: 0,
            model: None,
        })
    }

    /// The answer to `messages`, streamed or not as configured; `on_content` sees streamed text
    /// as it arrives.
    ///
    /// # Errors
    /// See [`LlmError`].
    pub async fn complete(
        &self,
        messages: &[ChatMessage],
        on_content: &mut (dyn FnMut(&str) + Send),
    ) -> std::result::Result<ChatCompletion, LlmError> {
        if self.config.stream {
            self.chat_stream(messages).await?.collect(on_content).await
        } else {
            let c = self.chat(messages).await?;
            on_content(&c.content);
            Ok(c)
        }
    }

    /// Draft an article.
    ///
    /// # Errors
    /// Validation errors for the request; [`ContentError::Llm`] for the endpoint's failures
    /// (including [`LlmError::Empty`] for an answer without text).
    pub async fn generate_article(&self, req: &TextRequest) -> Result<Article> {
        validate_request(req, &self.limits)?;
        let messages = build_prompt(req);
        let completion = self.complete(&messages, &mut |_| {}).await?;
        if completion.content.trim().is_empty() {
            return Err(LlmError::Empty {
                endpoint: self.endpoint(),
                finish_reason: completion.finish_reason.map(|f| f.as_str().to_string()),
            }
            .into());
        }
        let mut article = article_from_answer(req, &completion.content);
        article.provenance = Provenance {
            backend: OPENAI_BACKEND.into(),
            template: None,
            model: Some(
                completion
                    .model
                    .unwrap_or_else(|| self.config.model.clone()),
            ),
            seed: None,
            usage: completion.usage,
        };
        Ok(article)
    }
}

#[async_trait]
impl TextGenerator for OpenAiCompatible {
    fn backend(&self) -> &str {
        OPENAI_BACKEND
    }

    async fn generate(&self, request: &TextRequest) -> marketingforce_core::Result<Article> {
        self.generate_article(request).await.map_err(Into::into)
    }
}

/// The chat messages for a request: a system message with the rules (including the Advertising
/// Law's ban on absolute terms and the answer format) and a user message with the facts.
pub fn build_prompt(req: &TextRequest) -> Vec<ChatMessage> {
    let m = &req.materials;
    let zh = req.language == Language::ZhCn;
    let target = req.length.target(req.language);
    let system = if zh {
        format!(
            "你是资深的{}行业营销文案编辑。根据用户提供的资料撰写一篇营销文章。要求：\n\
             1. 只使用资料中的事实，不编造数据、资质和客户名称；\n\
             2. 遵守《广告法》：不得使用“最”“第一”“顶级”“国家级”“唯一”“100%”等绝对化用语，不作保证性承诺；\n\
             3. 自然地使用关键词，核心关键词密度约2%–8%；\n\
             4. 语气：{}；读者：{}；正文约{}字，使用Markdown小标题和列表；\n\
             5. 严格按以下格式输出：第一行“标题：…”，第二行“摘要：…”，然后一行“正文：”，之后是Markdown正文。",
            req.industry,
            tone_zh(req.tone),
            if req.audience == marketingforce_core::adapters::generation::Audience::B2b { "企业采购决策者" } else { "普通消费者" },
            target
        )
    } else {
        format!(
            "You are a senior marketing copywriter for the {} industry. Write a marketing article from the user's materials. Rules:\n\
             1. Use only facts from the materials; never invent figures, certifications or customers.\n\
             2. No superlatives or absolute claims (best, No. 1, top, only, 100%) and no guarantees.\n\
             3. Use the keywords naturally; main keyword density about 2-8%.\n\
             4. Tone: {:?}; audience: {:?}; about {} words; Markdown subheadings and lists.\n\
             5. Output exactly: first line 'Title: ...', second line 'Abstract: ...', then a line 'Body:', then the Markdown body.",
            req.industry, req.tone, req.audience, target
        )
    };
    let mut user = String::new();
    let label = |zh_l: &str, en_l: &str| {
        if zh {
            zh_l.to_string()
        } else {
            en_l.to_string()
        }
    };
    user.push_str(&format!("{}{}\n", label("主题：", "Topic: "), req.topic));
    if !req.keywords.is_empty() {
        user.push_str(&format!(
            "{}{}\n",
            label("关键词：", "Keywords: "),
            req.keywords.join(if zh { "、" } else { ", " })
        ));
    }
    if let Some(p) = &m.product_name {
        user.push_str(&format!("{}{}\n", label("产品：", "Product: "), p));
    }
    for s in &m.product_specs {
        user.push_str(&format!(
            "{}{}: {}\n",
            label("参数 ", "Spec "),
            s.name,
            s.value
        ));
    }
    for u in &m.use_cases {
        user.push_str(&format!("{}{}\n", label("应用场景：", "Use case: "), u));
    }
    for h in &m.highlights {
        user.push_str(&format!("{}{}\n", label("特点：", "Highlight: "), h));
    }
    if !m.regions.is_empty() {
        user.push_str(&format!(
            "{}{}\n",
            label("服务地区：", "Regions served: "),
            m.regions.join(if zh { "、" } else { ", " })
        ));
    }
    for l in &m.links {
        user.push_str(&format!(
            "{}[{}]({})\n",
            label("链接：", "Link: "),
            l.text,
            l.url
        ));
    }
    if let Some(n) = &m.notes {
        user.push_str(&format!("{}{}\n", label("补充资料：", "Notes: "), n));
    }
    vec![ChatMessage::system(system), ChatMessage::user(user)]
}

fn tone_zh(t: marketingforce_core::adapters::generation::Tone) -> &'static str {
    use marketingforce_core::adapters::generation::Tone;
    match t {
        Tone::Professional => "专业、客观",
        Tone::Friendly => "亲切、易懂",
        Tone::Persuasive => "有说服力，结尾有明确的行动号召",
        Tone::Formal => "正式、庄重",
        _ => "专业、客观",
    }
}

/// Parse the model's answer (`标题：/摘要：/正文：` or `Title:/Abstract:/Body:`, or free
/// Markdown) into an article; links and the contact block are added when the model left them
/// out, and keyword density is measured.
pub fn article_from_answer(req: &TextRequest, answer: &str) -> Article {
    let zh = req.language == Language::ZhCn;
    let mut title = String::new();
    let mut summary = String::new();
    let mut body_lines: Vec<&str> = Vec::new();
    let mut in_body = false;
    for line in answer.lines() {
        let t = line
            .trim()
            .trim_start_matches('#')
            .trim()
            .trim_matches('*')
            .trim();
        if !in_body {
            if let Some(v) = strip_label(t, &["标题：", "标题:", "Title:"]) {
                title = v.to_string();
                continue;
            }
            if let Some(v) = strip_label(t, &["摘要：", "摘要:", "Abstract:", "Summary:"]) {
                summary = v.to_string();
                continue;
            }
            if let Some(v) = strip_label(t, &["正文：", "正文:", "Body:"]) {
                in_body = true;
                if !v.is_empty() {
                    body_lines.push(v);
                }
                continue;
            }
            if title.is_empty() && !t.is_empty() {
                title = t.to_string();
                continue;
            }
        }
        in_body = true;
        body_lines.push(line);
    }
    let mut doc = markdown::parse(&body_lines.join("\n"));
    if summary.is_empty() {
        summary = doc
            .blocks
            .iter()
            .find_map(|b| match b {
                Block::Paragraph(s) => Some(s.iter().map(Span::text).collect::<String>()),
                _ => None,
            })
            .unwrap_or_default();
    }
    if title.is_empty() {
        title = req.topic.clone();
    }
    // Links the model left out.
    let present: Vec<String> = doc
        .blocks
        .iter()
        .flat_map(|b| match b {
            Block::Paragraph(s) => s.clone(),
            Block::List(items) => items.iter().flatten().cloned().collect(),
            _ => Vec::new(),
        })
        .filter_map(|s| match s {
            Span::Link(l) => Some(l.url),
            _ => None,
        })
        .collect();
    let missing: Vec<_> = req
        .materials
        .links
        .iter()
        .filter(|l| !present.contains(&l.url))
        .cloned()
        .collect();
    if !missing.is_empty() {
        let mut spans = vec![Span::Text(if zh {
            "延伸阅读：".into()
        } else {
            "Further reading: ".into()
        })];
        for (i, l) in missing.into_iter().enumerate() {
            if i > 0 {
                spans.push(Span::Text(if zh { "、".into() } else { ", ".into() }));
            }
            spans.push(Span::Link(l));
        }
        doc.blocks.push(Block::Paragraph(spans));
    }
    let lines = req
        .materials
        .contact
        .as_ref()
        .map(|c| super::offline::contact_lines(c, req.language))
        .unwrap_or_default();
    let contact_block = if lines.is_empty() {
        None
    } else {
        doc.blocks.push(Block::Contact {
            heading: if zh {
                "联系我们".into()
            } else {
                "Contact us".into()
            },
            lines: lines.clone(),
        });
        Some(lines.join("\n"))
    };
    let plain = format!("{summary}\n{}", doc.plain_text());
    let links = collect_links(&doc);
    Article {
        keywords: density::measure(&title, &plain, &req.keywords, req.language),
        body_markdown: doc.to_markdown(),
        body_html: doc.to_html(),
        title,
        summary,
        links,
        contact_block,
        language: req.language,
        provenance: Provenance::default(),
    }
}

fn collect_links(doc: &Document) -> Vec<marketingforce_core::adapters::generation::Link> {
    let mut out = Vec::new();
    for b in &doc.blocks {
        let spans: Vec<&Span> = match b {
            Block::Paragraph(s) => s.iter().collect(),
            Block::List(items) => items.iter().flatten().collect(),
            _ => Vec::new(),
        };
        for s in spans {
            if let Span::Link(l) = s {
                if !out.contains(l) {
                    out.push(l.clone());
                }
            }
        }
    }
    out
}

fn strip_label<'a>(line: &'a str, labels: &[&str]) -> Option<&'a str> {
    labels.iter().find_map(|l| {
        if line.len() >= l.len()
            && line
                .get(..l.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(l))
        {
            line.get(l.len()..).map(str::trim)
        } else {
            None
        }
    })
}
