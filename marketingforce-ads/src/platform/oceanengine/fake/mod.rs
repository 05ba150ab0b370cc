//! A loopback protocol fake of the Ocean Engine Marketing API (feature `testing`).
//!
//! [`FakeOceanEngine::start`] serves `http://127.0.0.1:<port>/open_api/` with the documented
//! requests and answers of the endpoints the connector uses — OAuth (codes, access tokens that
//! expire, refresh tokens that work once), advertiser info and funds, the agent's advertisers,
//! agent transfers (idempotent by `biz_request_no`), API 2 campaigns and v3.0 projects and
//! promotions (with batch `errors`), and paginated reports at every level in both models. It
//! checks what the connector sends (the `Access-Token` header, required parameters, numbers
//! where the platform wants numbers, `page_size` ≤ 1000) and answers a refusal (code 40001)
//! when a request is off-protocol, so a test fails on a wire mistake.
//!
//! Faults on demand: [`throttle`](FakeOceanEngine::throttle) (code 40100),
//! [`expire_access_tokens`](FakeOceanEngine::expire_access_tokens) (code 40102),
//! [`refuse_status_change`](FakeOceanEngine::refuse_status_change) (a partial failure),
//! [`lose_next_answer`](FakeOceanEngine::lose_next_answer) (acts, then answers HTTP 504), and
//! any scripted answer from a [`Fixture`] ([`script`](FakeOceanEngine::script)): scripted
//! entries take precedence, so the repository's fixtures reproduce malformed JSON, floats,
//! unknown enum values and oversized pages byte for byte.
//!
//! ```
//! use marketingforce_ads::platform::oceanengine::fake::{FakeAdvertiser, FakeOceanEngine, FakeSetup};
//!
//! # tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap().block_on(async {
//! let fake = FakeOceanEngine::start(FakeSetup::default()).await.unwrap();
//! fake.add_advertiser(FakeAdvertiser::new("1760000000000001", "91310000MA1FL8XQ30"));
//! fake.issue_auth_code("code-1");
//! assert!(fake.base_url().starts_with("http://127.0.0.1:"));
//! assert!(fake.base_url().ends_with("/open_api/"));
//! # });
//! ```
//!
//! The codes the fake answers for refusals the public documentation does not pin down (a bad
//! authorisation code, a reused refresh token) are chosen to exercise the connector's classes;
//! see [`codes`](super::codes).

mod delivery;
mod state;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};

use axum::body::Body;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::Router;
use chrono::NaiveDate;

use super::record::{Fixture, ReplayTransport};
use super::reports::ReportLevel;
use super::transport::{HttpMethod, WireRequest};

pub use state::{FakeAdvertiser, FakeCall, FakeRow, FakeSetup};

use state::Inner;

/// The server and its state; stops when dropped.
#[derive(Debug)]
pub struct FakeOceanEngine {
    shared: Arc<Shared>,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
}

#[derive(Debug)]
struct Shared {
    inner: Mutex<Inner>,
    scripted: Mutex<Option<ReplayTransport>>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl FakeOceanEngine {
    /// Start the fake on an ephemeral loopback port (needs a Tokio runtime with I/O).
    ///
    /// # Errors
    /// The port cannot be bound.
    pub async fn start(setup: FakeSetup) -> std::io::Result<FakeOceanEngine> {
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner::new(setup)),
            scripted: Mutex::new(None),
        });
        let app = Router::new().fallback(handle).with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async {
                    let _ = stopped.await;
                })
                .await;
        });
        Ok(FakeOceanEngine {
            shared,
            addr,
            stop: Some(stop),
        })
    }

    /// The base URL to configure the connector with.
    pub fn base_url(&self) -> String {
        format!("http://{}/open_api/", self.addr)
    }

    /// Serve these entries before any behaviour (each once, unless `repeat`).
    pub fn script(&self, fixture: Fixture) {
        *self
            .shared
            .scripted
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(ReplayTransport::new(fixture));
    }

    /// Lines of scripted entries not served yet.
    pub fn unused_script(&self) -> Vec<usize> {
        self.shared
            .scripted
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_ref()
            .map(ReplayTransport::unused)
            .unwrap_or_default()
    }

    /// Accept `code` once at `oauth2/access_token/`.
    pub fn issue_auth_code(&self, code: &str) {
        self.shared.lock().auth_codes.insert(code.to_string());
    }

    /// Add an advertiser account under the agent.
    pub fn add_advertiser(&self, advertiser: FakeAdvertiser) {
        self.shared.lock().add_advertiser(advertiser);
    }

    /// Change an account's status (any wire value, known or not).
    pub fn set_status(&self, advertiser_id: &str, status: &str) {
        if let Some(a) = self.shared.lock().advertisers.get_mut(advertiser_id) {
            a.status = status.to_string();
        }
    }

    /// An account's balance in fen.
    pub fn balance_fen(&self, advertiser_id: &str) -> Option<i64> {
        self.shared
            .lock()
            .advertisers
            .get(advertiser_id)
            .map(|a| a.balance_fen)
    }

    /// Report rows of an advertiser for a day at a level (ids of campaigns/projects or
    /// ads/promotions; the advertiser level has one row, its id ignored).
    pub fn set_report(
        &self,
        advertiser_id: &str,
        date: NaiveDate,
        level: ReportLevel,
        rows: Vec<FakeRow>,
    ) {
        self.shared
            .lock()
            .reports
            .insert((advertiser_id.to_string(), date, level), rows);
    }

    /// Answer the next `n` API calls with code 40100 (too many requests).
    pub fn throttle(&self, n: u32) {
        self.shared.lock().throttle = n;
    }

    /// Every access token issued so far is now expired (code 40102).
    pub fn expire_access_tokens(&self) {
        for valid in self.shared.lock().access_tokens.values_mut() {
            *valid = false;
        }
    }

    /// Status changes of this object are refused in the batch answer's `errors`.
    pub fn refuse_status_change(&self, id: &str) {
        self.shared.lock().refused_ids.insert(id.to_string());
    }

    /// The next call to `path` is carried out but answered with HTTP 504 (a lost answer).
    pub fn lose_next_answer(&self, path: &str) {
        self.shared.lock().lose_answer.insert(path.to_string());
    }

    /// The calls received, in order (no tokens, no bodies).
    pub fn calls(&self) -> Vec<FakeCall> {
        self.shared.lock().calls.clone()
    }

    /// How many calls were made to `path`.
    pub fn count(&self, path: &str) -> usize {
        self.shared
            .lock()
            .calls
            .iter()
            .filter(|c| c.path == path)
            .count()
    }

    /// Refresh attempts with a refresh token that had already been used (must stay 0).
    pub fn refresh_token_reuses(&self) -> usize {
        self.shared.lock().refresh_reuses
    }

    /// The literal text of a number the connector sent, by object id and member
    /// (e.g. a project's `budget`), to check that amounts went out exactly.
    pub fn sent_number(&self, id: &str, member: &str) -> Option<String> {
        self.shared
            .lock()
            .sent_numbers
            .get(&(id.to_string(), member.to_string()))
            .cloned()
    }

    /// Ids of the projects (or API 2 campaigns) of an advertiser, and their status words.
    pub fn campaigns(&self, advertiser_id: &str) -> Vec<(String, String)> {
        self.shared.lock().campaign_statuses(advertiser_id)
    }

    /// Ids of the promotions of an advertiser.
    pub fn promotions(&self, advertiser_id: &str) -> Vec<String> {
        self.shared.lock().promotion_ids(advertiser_id)
    }
}

impl Drop for FakeOceanEngine {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn reply(status: u16, body: String) -> Response {
    Response::builder()
        .status(StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR))
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body))
        .unwrap_or_default()
}

async fn handle(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: String,
) -> Response {
    let Some(path) = uri.path().strip_prefix("/open_api/") else {
        return reply(404, "{\"code\":40400,\"message\":\"not found\"}".into());
    };
    let query: Vec<(String, String)> = uri
        .query()
        .and_then(|q| reqwest::Url::parse(&format!("http://fake/?{q}")).ok())
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default();
    let request = WireRequest {
        method: if method == Method::POST {
            HttpMethod::Post
        } else {
            HttpMethod::Get
        },
        path: path.to_string(),
        query,
        body: (method == Method::POST).then_some(body),
        access_token: headers
            .get("access-token")
            .and_then(|v| v.to_str().ok())
            .map(super::Secret::new),
    };
    let scripted = shared
        .scripted
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .and_then(|s| s.take(&request));
    let mut inner = shared.lock();
    inner.log(&request);
    if let Some(answer) = scripted {
        return reply(answer.status, answer.body);
    }
    let (status, body) = inner.serve(&request);
    reply(status, body)
}
