//! Record a session with real credentials, replay it in tests: the fixture format.
//!
//! A fixture is a JSON Lines file: one exchange per line, a request **matcher** and the
//! **response** to give when a request matches. Blank lines and lines starting with `#` are
//! comments.
//!
//! ```text
//! # A campaign report, page 1 of 2.
//! {"request":{"method":"GET","path":"2/report/campaign/get/","query":{"advertiser_id":"1760000000000001","page":"1"}},"response":{"status":200,"body":{"code":0,"message":"OK","request_id":"r1","data":{"list":[…],"page_info":{"page":1,"page_size":2,"total_number":3,"total_page":2}}}}}
//! {"request":{"method":"POST","path":"oauth2/refresh_token/"},"response":{"status":200,"body":{…}}, "repeat": true}
//! {"request":{"method":"GET","path":"2/advertiser/info/"},"response":{"status":502,"body_text":"<html>Bad Gateway</html>"}}
//! ```
//!
//! - `request.method` and `request.path` (below the base URL) must equal the request's;
//!   `request.query` lists parameters that must be present with these values (others are
//!   ignored; JSON-valued parameters such as `fields` compare as JSON); `request.body` lists
//!   top-level members of a POST body that must be present with these values.
//! - `response.body` is served **byte for byte** as written in the file (so a fixture can hold
//!   `0.30000000000000004` or `1.2e3` to test how money is read); `response.body_text` serves a
//!   non-JSON body (an HTML error page, a truncated document).
//! - Entries are used once, first match first, unless `"repeat": true`.
//!
//! [`ReplayTransport`] serves a fixture in place of the network; the loopback protocol fake
//! (feature `testing`) serves the same entries over HTTP. [`RecordingTransport`] wraps the real
//! transport and appends every exchange to a file in this format, **redacted**: the
//! `Access-Token` header is never written, request members `secret`, `auth_code`,
//! `refresh_token`, `access_token` and response members `access_token`, `refresh_token` become
//! `"REDACTED"`, and so do personal contact fields (`email`, `phonenumber`, `contacter`,
//! `telephone`, `mobile`, `address`). Per-call trace ids in the query (`biz_request_no` of a
//! transfer query) are left out of the matchers. Review a recording before committing it all
//! the same.
//!
//! ```no_run
//! # async fn record() -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use marketingforce_ads::platform::oceanengine::{HttpTransport, RecordingTransport, DEFAULT_BASE_URL};
//!
//! let real = HttpTransport::new(DEFAULT_BASE_URL, Duration::from_secs(15), 16 << 20)?;
//! let recorder = RecordingTransport::create(Arc::new(real), "session.jsonl")?;
//! // OceanEnginePlatform::new(…)?.with_transport(Arc::new(recorder)); then use it as usual.
//! # Ok(()) }
//! ```

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use marketingforce_core::{Error, Result};

use super::json::{self, quote, Rewrite};
use super::transport::{HttpMethod, Transport, TransportError, WireRequest, WireResponse};

/// Request members never written to a recording.
pub const REQUEST_SECRETS: &[&str] = &["secret", "auth_code", "refresh_token", "access_token"];
/// Response members never written to a recording.
pub const RESPONSE_SECRETS: &[&str] = &["access_token", "refresh_token"];
/// Query parameters that differ on every call (a per-request trace id) and are left out of
/// recorded matchers, so a replay matches a new run.
pub const VOLATILE_QUERY: &[&str] = &["biz_request_no"];
/// Personal contact fields never written to a recording.
pub const PERSONAL_FIELDS: &[&str] = &[
    "email",
    "phonenumber",
    "contacter",
    "telephone",
    "mobile",
    "address",
];

/// Which requests an entry answers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestMatcher {
    /// The method.
    pub method: HttpMethod,
    /// The path below the base URL.
    pub path: String,
    /// Query parameters that must be present with these values.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub query: BTreeMap<String, String>,
    /// Top-level body members that must be present with these values (numbers as their text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<BTreeMap<String, Value>>,
}

impl RequestMatcher {
    /// Whether a request matches.
    pub fn matches(&self, request: &WireRequest) -> bool {
        if self.method != request.method || self.path != request.path {
            return false;
        }
        let query_ok = self.query.iter().all(|(k, want)| {
            request
                .query
                .iter()
                .any(|(name, got)| name == k && same_text(want, got))
        });
        if !query_ok {
            return false;
        }
        match &self.body {
            None => true,
            Some(wanted) => {
                let Some(got) = request.body.as_deref().and_then(quoted_value) else {
                    return false;
                };
                wanted.iter().all(|(k, v)| got.get(k) == Some(v))
            }
        }
    }
}

/// Equal text, or equal JSON (for parameters such as `fields=["stat_cost"]`).
fn same_text(want: &str, got: &str) -> bool {
    want == got || matches!((quoted_value(want), quoted_value(got)), (Some(a), Some(b)) if a == b)
}

/// Parse JSON with every number kept as its literal text.
fn quoted_value(text: &str) -> Option<Value> {
    let quoted = json::rewrite(
        text,
        Rewrite {
            quote_numbers: true,
            ..Rewrite::default()
        },
    )
    .ok()?;
    serde_json::from_str(&quoted).ok()
}

/// One exchange of a fixture.
#[derive(Debug, Clone, PartialEq)]
pub struct FixtureEntry {
    /// Which requests it answers.
    pub request: RequestMatcher,
    /// The answer.
    pub response: WireResponse,
    /// Whether it answers any number of requests (otherwise once).
    pub repeat: bool,
    /// Its line in the file (1-based), for messages.
    pub line: usize,
}

/// A parsed fixture file.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Fixture {
    entries: Vec<FixtureEntry>,
}

impl Fixture {
    /// Parse JSON Lines text.
    ///
    /// # Errors
    /// A validation error naming the line and member (`line 7.response.status`).
    pub fn parse(text: &str) -> Result<Fixture> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let trimmed = line.trim();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            entries.push(parse_line(trimmed, i + 1)?);
        }
        Ok(Fixture { entries })
    }

    /// Read and parse a fixture file.
    ///
    /// # Errors
    /// I/O errors (as a backend error) and parse errors.
    pub fn load(path: impl AsRef<Path>) -> Result<Fixture> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|e| {
            Error::backend_message("fixture", false, format!("{}: {e}", path.display()))
        })?;
        Fixture::parse(&text)
    }

    /// The entries in file order.
    pub fn entries(&self) -> &[FixtureEntry] {
        &self.entries
    }

    /// The fixture line recording `request` and `response`, redacted (see the module docs).
    pub fn line_for(request: &WireRequest, response: &WireResponse) -> String {
        let mut all_secret: Vec<&str> = REQUEST_SECRETS.to_vec();
        all_secret.extend_from_slice(RESPONSE_SECRETS);
        all_secret.extend_from_slice(PERSONAL_FIELDS);
        // Secret members are left out of the matcher (not compared), not redacted in it.
        let body = request.body.as_deref().and_then(|b| {
            let redacted = json::rewrite(
                b,
                Rewrite {
                    quote_numbers: true,
                    redact: &all_secret,
                },
            )
            .ok()?;
            let mut members = serde_json::from_str::<BTreeMap<String, Value>>(&redacted).ok()?;
            members.retain(|k, _| !all_secret.contains(&k.as_str()));
            Some(members)
        });
        let matcher = RequestMatcher {
            method: request.method,
            path: request.path.clone(),
            query: request
                .query
                .iter()
                .filter(|(k, _)| !VOLATILE_QUERY.contains(&k.as_str()))
                .cloned()
                .collect(),
            body,
        };
        let request_json = serde_json::to_string(&matcher).unwrap_or_else(|_| "{}".into());
        let response_json = match json::rewrite(
            &response.body,
            Rewrite {
                quote_numbers: false,
                redact: &all_secret,
            },
        ) {
            Ok(body) => format!(r#"{{"status":{},"body":{body}}}"#, response.status),
            Err(_) => format!(
                r#"{{"status":{},"body_text":{}}}"#,
                response.status,
                quote(&response.body)
            ),
        };
        format!(r#"{{"request":{request_json},"response":{response_json}}}"#)
    }
}

fn parse_line(line: &str, n: usize) -> Result<FixtureEntry> {
    let here = |what: &str| format!("line {n}{what}");
    let bad = |what: &str, reason: String| Error::validation(here(what), reason);
    let members = json::members(line).map_err(|e| bad("", e.to_string()))?;
    let mut request = None;
    let mut response = None;
    let mut repeat = false;
    for (key, raw) in members {
        match key.as_str() {
            "request" => {
                let v = quoted_value(raw).ok_or_else(|| bad(".request", "not JSON".into()))?;
                request = Some(
                    serde_json::from_value::<RequestMatcher>(v)
                        .map_err(|e| bad(".request", e.to_string()))?,
                );
            }
            "response" => response = Some(parse_response(raw).map_err(|(m, r)| bad(m, r))?),
            "repeat" => {
                repeat = match raw {
                    "true" => true,
                    "false" => false,
                    _ => return Err(bad(".repeat", "must be true or false".into())),
                }
            }
            other => return Err(bad("", format!("unknown member {other:?}"))),
        }
    }
    Ok(FixtureEntry {
        request: request.ok_or_else(|| bad(".request", "missing".into()))?,
        response: response.ok_or_else(|| bad(".response", "missing".into()))?,
        repeat,
        line: n,
    })
}

fn parse_response(raw: &str) -> std::result::Result<WireResponse, (&'static str, String)> {
    let members = json::members(raw).map_err(|e| (".response", e.to_string()))?;
    let mut status = None;
    let mut body = None;
    for (key, value) in members {
        match key.as_str() {
            "status" => {
                status =
                    Some(value.parse::<u16>().map_err(|_| {
                        (".response.status", format!("{value} is not an HTTP status"))
                    })?)
            }
            "body" => body = Some(value.to_string()),
            "body_text" => {
                body =
                    Some(serde_json::from_str::<String>(value).map_err(|_| {
                        (".response.body_text", "must be a JSON string".to_string())
                    })?)
            }
            other => return Err((".response", format!("unknown member {other:?}"))),
        }
    }
    Ok(WireResponse {
        status: status.ok_or((".response.status", "missing".to_string()))?,
        body: body.ok_or((".response.body", "missing (or body_text)".to_string()))?,
    })
}

/// Serves a fixture in place of the network.
#[derive(Debug)]
pub struct ReplayTransport {
    entries: Mutex<Vec<(FixtureEntry, bool)>>,
}

impl ReplayTransport {
    /// A transport answering from `fixture`.
    pub fn new(fixture: Fixture) -> ReplayTransport {
        ReplayTransport {
            entries: Mutex::new(fixture.entries.into_iter().map(|e| (e, false)).collect()),
        }
    }

    /// The answer of the first unused entry matching `request` (marking it used).
    pub fn take(&self, request: &WireRequest) -> Option<WireResponse> {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        let (entry, used) = entries
            .iter_mut()
            .find(|(e, used)| (e.repeat || !*used) && e.request.matches(request))?;
        *used = true;
        Some(entry.response.clone())
    }

    /// Lines of the entries no request used (a test can require a fixture to be consumed).
    pub fn unused(&self) -> Vec<usize> {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .filter(|(_, used)| !used)
            .map(|(e, _)| e.line)
            .collect()
    }
}

#[async_trait]
impl Transport for ReplayTransport {
    async fn send(
        &self,
        request: &WireRequest,
    ) -> std::result::Result<WireResponse, TransportError> {
        self.take(request).ok_or_else(|| {
            TransportError::Other(format!(
                "no fixture entry matches {} {} {:?}",
                request.method, request.path, request.query
            ))
        })
    }
}

/// Wraps a transport and appends every exchange to a fixture file, redacted.
#[derive(Debug)]
pub struct RecordingTransport {
    inner: Arc<dyn Transport>,
    out: Mutex<File>,
}

impl RecordingTransport {
    /// Record into `path` (created, or appended to).
    ///
    /// # Errors
    /// The file cannot be opened.
    pub fn create(
        inner: Arc<dyn Transport>,
        path: impl AsRef<Path>,
    ) -> std::io::Result<RecordingTransport> {
        let out = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)?;
        Ok(RecordingTransport {
            inner,
            out: Mutex::new(out),
        })
    }
}

#[async_trait]
impl Transport for RecordingTransport {
    async fn send(
        &self,
        request: &WireRequest,
    ) -> std::result::Result<WireResponse, TransportError> {
        let response = self.inner.send(request).await?;
        let line = Fixture::line_for(request, &response);
        let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
        writeln!(out, "{line}")
            .map_err(|e| TransportError::Other(format!("cannot write the recording: {e}")))?;
        Ok(response)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::platform::oceanengine::Secret;

    fn get(path: &str, query: &[(&str, &str)]) -> WireRequest {
        WireRequest {
            method: HttpMethod::Get,
            path: path.into(),
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: None,
            access_token: Some(Secret::new("at-live-1")),
        }
    }

    #[test]
    fn entries_match_by_path_query_subset_and_json_equality() {
        let fixture = Fixture::parse(concat!(
            "# comment\n\n",
            r#"{"request":{"method":"GET","path":"2/report/campaign/get/","query":{"page":"2","fields":"[\"stat_cost\", \"show_cnt\"]"}},"response":{"status":200,"body":{"code":0,"data":{"stat_cost":0.30000000000000004}}}}"#,
            "\n",
            r#"{"request":{"method":"GET","path":"x/"},"response":{"status":502,"body_text":"<html>"}, "repeat": true}"#,
        ))
        .unwrap();
        let replay = ReplayTransport::new(fixture);
        let r = get(
            "2/report/campaign/get/",
            &[
                ("advertiser_id", "1"),
                ("page", "2"),
                ("fields", r#"["stat_cost","show_cnt"]"#),
            ],
        );
        let answer = replay.take(&r).unwrap();
        assert_eq!(
            answer.body,
            r#"{"code":0,"data":{"stat_cost":0.30000000000000004}}"#
        );
        assert!(replay.take(&r).is_none(), "used once");
        assert_eq!(replay.take(&get("x/", &[])).unwrap().status, 502);
        assert_eq!(replay.take(&get("x/", &[])).unwrap().body, "<html>");
        assert!(replay.unused().is_empty());
        assert!(replay
            .take(&get("2/report/campaign/get/", &[("page", "3")]))
            .is_none());
    }

    #[test]
    fn recorded_lines_are_redacted_and_replay_identically() {
        let request = WireRequest {
            method: HttpMethod::Post,
            path: "oauth2/refresh_token/".into(),
            query: vec![],
            body: Some(r#"{"app_id":1690000000000001,"secret":"app-secret","grant_type":"refresh_token","refresh_token":"rt-old"}"#.into()),
            access_token: None,
        };
        let response = WireResponse {
            status: 200,
            body: r#"{"code":0,"message":"OK","data":{"access_token":"at-new","refresh_token":"rt-new","expires_in":86400,"email":"x@example.com"}}"#.into(),
        };
        let line = Fixture::line_for(&request, &response);
        for secret in ["app-secret", "rt-old", "at-new", "rt-new", "x@example.com"] {
            assert!(!line.contains(secret), "{secret} leaked: {line}");
        }
        let fixture = Fixture::parse(&line).unwrap();
        let entry = &fixture.entries()[0];
        assert_eq!(entry.request.path, "oauth2/refresh_token/");
        assert!(entry.response.body.contains("\"expires_in\":86400"));
        // The recorded matcher matches the same request again (secrets are not compared).
        assert!(entry.request.matches(&request));
        let mut other = request.clone();
        other.body = Some(r#"{"app_id":1690000000000001,"grant_type":"auth_code"}"#.into());
        assert!(!entry.request.matches(&other));
        // A non-JSON body is kept as text.
        // A per-call trace id does not pin the matcher.
        let mut query = get(
            "v3.0/cg_transfer/query_transfer_detail/",
            &[
                ("biz_request_no", "trace-1"),
                ("transfer_biz_request_no", "k"),
            ],
        );
        let line = Fixture::line_for(&query, &response);
        assert!(!line.contains("trace-1"), "{line}");
        query.query[0].1 = "trace-2".into();
        assert!(Fixture::parse(&line).unwrap().entries()[0]
            .request
            .matches(&query));
        let html = WireResponse {
            status: 502,
            body: "<html>Bad Gateway</html>".into(),
        };
        let line = Fixture::line_for(&get("2/advertiser/info/", &[]), &html);
        assert_eq!(Fixture::parse(&line).unwrap().entries()[0].response, html);
    }

    #[test]
    fn bad_lines_name_the_line_and_member() {
        let e = Fixture::parse("\n{\"request\":{\"method\":\"GET\",\"path\":\"x/\"},\"response\":{\"status\":\"ok\",\"body\":{}}}")
            .unwrap_err();
        assert!(e.to_string().contains("line 2.response.status"), "{e}");
        let e = Fixture::parse("{\"request\":{\"method\":\"PUT\",\"path\":\"x/\"},\"response\":{\"status\":200,\"body\":{}}}")
            .unwrap_err();
        assert!(e.to_string().contains("line 1.request"), "{e}");
        assert!(Fixture::parse("not json").is_err());
    }
}
