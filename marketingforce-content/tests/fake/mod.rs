//! A loopback protocol fake driven by a cassette (`marketingforce_core::adapters::cassette`):
//! each request is answered by the first unused matching exchange; requests nothing matches get
//! HTTP 418 and are kept for the test to report.
#![allow(dead_code)]

use std::path::Path;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use marketingforce_core::adapters::cassette::{Cassette, Exchange, ObservedRequest};

/// A request as the fake saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub request: ObservedRequest,
    pub content_type: String,
    pub raw: Vec<u8>,
    pub matched: bool,
}

#[derive(Clone)]
struct Shared {
    tape: Arc<Mutex<Cassette>>,
    seen: Arc<Mutex<Vec<Seen>>>,
}

/// A running fake.
pub struct Fake {
    pub base: String,
    shared: Shared,
}

/// Read a cassette from the crate's `tests/fixtures`.
pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Several fixtures played one after the other.
pub fn tape(names: &[&str]) -> Cassette {
    let text: Vec<String> = names.iter().map(|n| fixture(n)).collect();
    Cassette::from_jsonl(&text.join("\n")).expect("fixtures parse")
}

async fn answer(
    State(s): State<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let request = ObservedRequest::new(method.as_str(), uri.path())
        .query_string(uri.query().unwrap_or(""))
        .body(&body);
    let content_type = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let reply = s
        .tape
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .answer(&request);
    s.seen
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Seen {
            request,
            content_type,
            raw: body.to_vec(),
            matched: reply.is_some(),
        });
    match reply {
        Some(r) => {
            let mut resp = (
                StatusCode::from_u16(r.status).unwrap_or(StatusCode::OK),
                r.body(),
            )
                .into_response();
            let content_type = if r.json.is_some() {
                "application/json"
            } else {
                "text/plain"
            };
            resp.headers_mut()
                .insert("content-type", content_type.parse().expect("header"));
            for (k, v) in &r.headers {
                if let (Ok(k), Ok(v)) =
                    (axum::http::HeaderName::from_bytes(k.as_bytes()), v.parse())
                {
                    resp.headers_mut().insert(k, v);
                }
            }
            resp
        }
        None => (
            StatusCode::IM_A_TEAPOT,
            "no exchange in the cassette matches",
        )
            .into_response(),
    }
}

impl Fake {
    /// Serve `tape` on 127.0.0.1 (an ephemeral port).
    pub async fn start(tape: Cassette) -> Fake {
        let shared = Shared {
            tape: Arc::new(Mutex::new(tape)),
            seen: Arc::default(),
        };
        let app = Router::new().fallback(answer).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind loopback");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Fake { base, shared }
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.shared
            .seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Requests to `path`.
    pub fn calls(&self, path: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.request.path == path)
            .collect()
    }

    /// Exchanges never played (repeatable ones excluded).
    pub fn unused(&self) -> Vec<Exchange> {
        self.shared
            .tape
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .unused()
            .into_iter()
            .cloned()
            .collect()
    }

    /// Fail unless every request matched and every exchange was played.
    pub fn assert_played(&self) {
        let unmatched: Vec<_> = self
            .seen()
            .into_iter()
            .filter(|s| !s.matched)
            .map(|s| s.request)
            .collect();
        assert!(
            unmatched.is_empty(),
            "requests no exchange matched: {unmatched:#?}"
        );
        let unused = self.unused();
        assert!(unused.is_empty(), "exchanges never played: {unused:#?}");
    }
}
