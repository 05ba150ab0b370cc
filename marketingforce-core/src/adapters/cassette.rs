//! Record and replay HTTP exchanges with a platform: the fixture format of the protocol fakes.
//!
//! A *cassette* is a JSON Lines file, one [`Exchange`] per line: a request matcher and the
//! response to give when it matches. Blank lines and lines starting with `#` are comments.
//!
//! ```text
//! # token expires mid-run: the first draft/add is refused, the retry with a new token works
//! {"request":{"method":"GET","path":"/cgi-bin/token","query":{"grant_type":"client_credential"}},"response":{"json":{"access_token":"T1","expires_in":7200}}}
//! {"request":{"method":"POST","path":"/cgi-bin/draft/add","query":{"access_token":"T1"}},"response":{"json":{"errcode":42001,"errmsg":"access_token expired"}}}
//! {"request":{"method":"GET","path":"/cgi-bin/token"},"response":{"json":{"access_token":"T2","expires_in":7200}}}
//! {"request":{"method":"POST","path":"/cgi-bin/draft/add","json":{"articles":[{"title":"选购指南"}]}},"response":{"json":{"media_id":"MEDIA_1"}}}
//! ```
//!
//! **Matching.** A request matches an exchange when the method and path are equal, every
//! `query` parameter of the matcher has the same value in the request (the request may carry
//! more; a matcher value `*` or `REDACTED` accepts any value), and the matcher's `json`, if any, is *contained* in the request body: objects by key
//! (the request may have more keys), arrays element by element, scalars by equality. Replay
//! hands out the first unused exchange that matches, in file order, so a file reads as the
//! session it records; an exchange with `"repeat": true` may serve any number of requests.
//!
//! **Recording.** An HTTP connector given a [`Recorder`] writes every exchange it makes in this
//! format. Secrets are scrubbed before anything is written: query parameters such as
//! `access_token`, `secret` and `corpsecret` are dropped or replaced by `REDACTED`, and JSON
//! fields named in [`Recorder::redact_fields`] (by default `access_token`) are replaced in
//! request and response bodies. Connectors add the personal-data fields of their platform
//! (names, mobiles, avatars, remarks) to that list; review a recording before committing it
//! all the same.
//!
//! ```
//! use std::collections::BTreeMap;
//! use marketingforce_core::adapters::cassette::{Cassette, ObservedRequest};
//!
//! let mut tape = Cassette::from_jsonl(r#"
//! {"request":{"method":"POST","path":"/cgi-bin/freepublish/get","json":{"publish_id":"P1"}},"response":{"json":{"publish_id":"P1","publish_status":1}}}
//! {"request":{"method":"POST","path":"/cgi-bin/freepublish/get","json":{"publish_id":"P1"}},"response":{"json":{"publish_id":"P1","publish_status":0}}}
//! "#).unwrap();
//! let poll = ObservedRequest::new("POST", "/cgi-bin/freepublish/get")
//!     .query("access_token", "T1")
//!     .json(serde_json::json!({"publish_id": "P1"}));
//! assert_eq!(tape.answer(&poll).unwrap().json.unwrap()["publish_status"], 1);
//! assert_eq!(tape.answer(&poll).unwrap().json.unwrap()["publish_status"], 0);
//! assert!(tape.answer(&poll).is_none());
//! assert!(tape.unused().is_empty());
//! ```

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The value that replaces a scrubbed secret or personal field.
pub const REDACTED: &str = "REDACTED";

/// What a request must look like to be answered by an exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestMatcher {
    /// HTTP method (`GET`, `POST`), compared without regard to case.
    pub method: String,
    /// The path, without query (`/cgi-bin/draft/add`).
    pub path: String,
    /// Query parameters that must be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// A JSON value the request body must contain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
}

/// The response an exchange gives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecordedResponse {
    /// HTTP status (default 200).
    #[serde(default = "ok_status")]
    pub status: u16,
    /// Response headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// A JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub json: Option<Value>,
    /// A text body, used when `json` is absent (e.g. a deliberately malformed answer).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

fn ok_status() -> u16 {
    200
}

impl RecordedResponse {
    /// The body as bytes (`json` encoded, else `text`, else empty).
    pub fn body(&self) -> Vec<u8> {
        match (&self.json, &self.text) {
            (Some(v), _) => serde_json::to_vec(v).unwrap_or_default(),
            (None, Some(t)) => t.clone().into_bytes(),
            (None, None) => Vec::new(),
        }
    }
}

/// One request and the response to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Exchange {
    /// What the request must look like.
    pub request: RequestMatcher,
    /// What to answer.
    pub response: RecordedResponse,
    /// Whether the exchange may answer any number of matching requests.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub repeat: bool,
    /// A note for readers of the fixture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// A request as a fake server (or a recorder) saw it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ObservedRequest {
    /// HTTP method.
    pub method: String,
    /// Path without query.
    pub path: String,
    /// Query parameters.
    pub query: BTreeMap<String, String>,
    /// The body, when it is JSON.
    pub json: Option<Value>,
}

impl ObservedRequest {
    /// A request without query or body.
    pub fn new(method: impl Into<String>, path: impl Into<String>) -> ObservedRequest {
        ObservedRequest {
            method: method.into(),
            path: path.into(),
            ..ObservedRequest::default()
        }
    }

    /// Add a query parameter.
    #[must_use]
    pub fn query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.insert(name.into(), value.into());
        self
    }

    /// Set a JSON body.
    #[must_use]
    pub fn json(mut self, body: Value) -> Self {
        self.json = Some(body);
        self
    }

    /// Set the body from raw bytes: kept when it parses as JSON, ignored otherwise (multipart
    /// uploads are matched by method, path and query).
    #[must_use]
    pub fn body(mut self, bytes: &[u8]) -> Self {
        self.json = serde_json::from_slice(bytes).ok();
        self
    }

    /// Parse a query string (`a=1&b=x%20y`).
    #[must_use]
    pub fn query_string(mut self, raw: &str) -> Self {
        for pair in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            self.query.insert(percent_decode(k), percent_decode(v));
        }
        self
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `pattern` is contained in `value` (see the module documentation).
pub fn json_contains(value: &Value, pattern: &Value) -> bool {
    match (value, pattern) {
        (Value::Object(v), Value::Object(p)) => p
            .iter()
            .all(|(k, pv)| v.get(k).is_some_and(|vv| json_contains(vv, pv))),
        (Value::Array(v), Value::Array(p)) => {
            v.len() == p.len() && v.iter().zip(p).all(|(vv, pv)| json_contains(vv, pv))
        }
        _ => value == pattern,
    }
}

impl RequestMatcher {
    /// Whether `request` matches.
    pub fn matches(&self, request: &ObservedRequest) -> bool {
        self.method.eq_ignore_ascii_case(&request.method)
            && self.path == request.path
            && self.query.iter().all(|(k, v)| match request.query.get(k) {
                Some(got) => v == got || v == "*" || v == REDACTED,
                None => false,
            })
            && match (&self.json, &request.json) {
                (None, _) => true,
                (Some(p), Some(v)) => json_contains(v, p),
                (Some(_), None) => false,
            }
    }
}

/// A loaded cassette being replayed.
#[derive(Debug, Clone, Default)]
pub struct Cassette {
    exchanges: Vec<Exchange>,
    used: Vec<bool>,
}

impl Cassette {
    /// A cassette of `exchanges`.
    pub fn new(exchanges: Vec<Exchange>) -> Cassette {
        let used = vec![false; exchanges.len()];
        Cassette { exchanges, used }
    }

    /// Parse JSON Lines.
    ///
    /// # Errors
    /// A validation error naming the line (`line 3`) and what is wrong with it.
    pub fn from_jsonl(text: &str) -> Result<Cassette> {
        let mut exchanges = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let ex: Exchange = serde_json::from_str(line)
                .map_err(|e| Error::validation(format!("line {}", i + 1), e.to_string()))?;
            exchanges.push(ex);
        }
        Ok(Cassette::new(exchanges))
    }

    /// Read a cassette file.
    ///
    /// # Errors
    /// I/O errors (as backend errors) and parse errors naming the line.
    pub fn load(path: impl AsRef<Path>) -> Result<Cassette> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::backend_message("cassette", false, format!("{}: {e}", path.display()))
        })?;
        Cassette::from_jsonl(&text).map_err(|e| e.in_field(path.display().to_string()))
    }

    /// The response for `request`: the first unused matching exchange, in order.
    pub fn answer(&mut self, request: &ObservedRequest) -> Option<RecordedResponse> {
        let i = self
            .exchanges
            .iter()
            .zip(&self.used)
            .position(|(e, used)| (!used || e.repeat) && e.request.matches(request))?;
        self.used[i] = true;
        Some(self.exchanges[i].response.clone())
    }

    /// Exchanges never used (a replay that left some means the connector did not make the
    /// calls the recording expects).
    pub fn unused(&self) -> Vec<&Exchange> {
        self.exchanges
            .iter()
            .zip(&self.used)
            .filter(|(e, used)| !**used && !e.repeat)
            .map(|(e, _)| e)
            .collect()
    }

    /// Every exchange.
    pub fn exchanges(&self) -> &[Exchange] {
        &self.exchanges
    }
}

/// Where a [`Recorder`] writes.
enum Sink {
    File(PathBuf),
    Memory(Vec<Exchange>),
}

/// Writes the exchanges of a live session as a cassette, secrets scrubbed.
pub struct Recorder {
    sink: Mutex<Sink>,
    redact_query: Vec<String>,
    drop_query: Vec<String>,
    redact_fields: Vec<String>,
}

impl fmt::Debug for Recorder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sink = match &*self.sink.lock().unwrap_or_else(PoisonError::into_inner) {
            Sink::File(p) => format!("file {}", p.display()),
            Sink::Memory(v) => format!("memory ({} exchanges)", v.len()),
        };
        f.debug_struct("Recorder")
            .field("sink", &sink)
            .field("redact_fields", &self.redact_fields)
            .finish()
    }
}

impl Recorder {
    fn with_sink(sink: Sink) -> Recorder {
        Recorder {
            sink: Mutex::new(sink),
            redact_query: vec![
                "secret".into(),
                "corpsecret".into(),
                "appsecret".into(),
                "code".into(),
            ],
            drop_query: vec!["access_token".into()],
            redact_fields: vec!["access_token".into()],
        }
    }

    /// Append exchanges to the file at `path` (created if missing).
    pub fn to_file(path: impl Into<PathBuf>) -> Recorder {
        Recorder::with_sink(Sink::File(path.into()))
    }

    /// Keep exchanges in memory (see [`Recorder::recorded`]).
    pub fn in_memory() -> Recorder {
        Recorder::with_sink(Sink::Memory(Vec::new()))
    }

    /// Also replace these JSON fields (anywhere in request and response bodies) by
    /// [`REDACTED`].
    #[must_use]
    pub fn redact_fields<I, S>(mut self, fields: I) -> Recorder
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.redact_fields
            .extend(fields.into_iter().map(Into::into));
        self
    }

    /// The JSON fields replaced by [`REDACTED`].
    pub fn redacted_fields(&self) -> &[String] {
        &self.redact_fields
    }

    /// The exchange as it would be written: secrets and listed fields scrubbed.
    pub fn scrub(&self, request: &ObservedRequest, response: &RecordedResponse) -> Exchange {
        let mut query = BTreeMap::new();
        for (k, v) in &request.query {
            if self.drop_query.iter().any(|d| d == k) {
                continue;
            }
            let v = if self.redact_query.iter().any(|r| r == k) {
                REDACTED.to_string()
            } else {
                v.clone()
            };
            query.insert(k.clone(), v);
        }
        let mut response = response.clone();
        if let Some(j) = response.json.as_mut() {
            redact(j, &self.redact_fields);
        }
        let json = request.json.clone().map(|mut j| {
            redact(&mut j, &self.redact_fields);
            j
        });
        Exchange {
            request: RequestMatcher {
                method: request.method.to_ascii_uppercase(),
                path: request.path.clone(),
                query,
                json,
            },
            response,
            repeat: false,
            note: None,
        }
    }

    /// Record one exchange.
    ///
    /// # Errors
    /// A backend error when the file cannot be written.
    pub fn record(&self, request: &ObservedRequest, response: &RecordedResponse) -> Result<()> {
        let exchange = self.scrub(request, response);
        let mut sink = self.sink.lock().unwrap_or_else(PoisonError::into_inner);
        match &mut *sink {
            Sink::Memory(v) => v.push(exchange),
            Sink::File(path) => {
                let mut line = serde_json::to_string(&exchange)?;
                line.push('\n');
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&*path)
                    .and_then(|mut f| f.write_all(line.as_bytes()))
                    .map_err(|e| {
                        Error::backend_message(
                            "recorder",
                            false,
                            format!("{}: {e}", path.display()),
                        )
                    })?;
            }
        }
        Ok(())
    }

    /// The exchanges recorded in memory (empty for a file recorder).
    pub fn recorded(&self) -> Vec<Exchange> {
        match &*self.sink.lock().unwrap_or_else(PoisonError::into_inner) {
            Sink::Memory(v) => v.clone(),
            Sink::File(_) => Vec::new(),
        }
    }
}

fn redact(v: &mut Value, fields: &[String]) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if fields.iter().any(|f| f == k) {
                    *child = redacted_like(child);
                } else {
                    redact(child, fields);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|c| redact(c, fields)),
        _ => {}
    }
}

/// A scrubbed value of the same shape (a list stays a list, so decoders still accept it).
fn redacted_like(v: &Value) -> Value {
    match v {
        Value::Array(items) => Value::Array(items.iter().map(redacted_like).collect()),
        Value::Null => Value::Null,
        _ => Value::String(REDACTED.into()),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn containment_and_order() {
        assert!(json_contains(
            &json!({"a": 1, "b": [{"x": 1, "y": 2}]}),
            &json!({"b": [{"x": 1}]})
        ));
        assert!(!json_contains(&json!({"b": [1, 2]}), &json!({"b": [1]})));
        let mut c = Cassette::from_jsonl(
            "# comment\n\n{\"request\":{\"method\":\"get\",\"path\":\"/t\"},\"response\":{\"json\":{\"n\":1}},\"repeat\":true}\n",
        )
        .unwrap();
        let r = ObservedRequest::new("GET", "/t").query_string("a=1&b=x%20y+z");
        assert_eq!(r.query["b"], "x y z");
        assert!(c.answer(&r).is_some() && c.answer(&r).is_some());
        assert!(c.unused().is_empty());
        let bad = Cassette::from_jsonl("{\"request\":{}}\n").unwrap_err();
        assert!(bad.to_string().contains("line 1"), "{bad}");
    }

    #[test]
    fn recordings_carry_no_secrets() {
        let rec = Recorder::in_memory().redact_fields(["name", "remark_mobiles"]);
        let req = ObservedRequest::new("GET", "/cgi-bin/gettoken")
            .query("corpid", "ww1")
            .query("corpsecret", "s3cr3t")
            .query("access_token", "TOKEN");
        let resp = RecordedResponse {
            status: 200,
            headers: BTreeMap::new(),
            json: Some(json!({"access_token": "TOKEN", "expires_in": 7200,
                "external_contact": {"name": "张三", "remark_mobiles": ["13800000000"]}})),
            text: None,
        };
        rec.record(&req, &resp).unwrap();
        let line = serde_json::to_string(&rec.recorded()).unwrap();
        for leaked in ["s3cr3t", "TOKEN", "张三", "13800000000"] {
            assert!(!line.contains(leaked), "{leaked} in {line}");
        }
        assert!(line.contains("\"corpid\":\"ww1\""));
        // What was recorded replays.
        let mut tape = Cassette::new(rec.recorded());
        assert!(tape.answer(&req).is_some());
    }
}
