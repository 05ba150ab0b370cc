//! An HTTP service that embeds the Marketingforce SDK, written as a library-like module: build
//! an [`AppState`] over any [`Store`](marketingforce::core::storage::Store), hand it to
//! [`serve`] (the [`router`] behind connection limits: header-read and idle timeouts, a cap on
//! connections, see [`ServiceConfig`]). The example binary (`main.rs`) does that from
//! environment variables; `tests/http_service.rs` does it on `127.0.0.1:0`, also with two
//! instances over one store (several processes may share a SQLite file or a PostgreSQL
//! database: quotas, lead dedupe and idempotency keys hold across them).
//!
//! # Authentication
//!
//! With an [`Authenticator`] (the binary: `MF_TOKENS`), every request needs
//! `Authorization: Bearer <token>`; the token names a tenant (or the operator) and a [`Role`].
//! The tenant comes from the credential: a path naming another tenant is 403 `forbidden`, as
//! is `POST /tenants` by anyone but the operator and a write by a `reader`. A missing or
//! unknown token is 401 `unauthenticated` with `WWW-Authenticate: Bearer`. Without an
//! authenticator the service is **open** (every caller is the operator): for development and
//! the loopback tests only.
//!
//! # Endpoints
//!
//! | method | path | what | success |
//! |---|---|---|---|
//! | `POST` | `/tenants` | create a tenant on a bundle (`{"name", "bundle", "accounts"?}`) | 201 + `Location` |
//! | `GET` | `/tenants/{tenant}` | the tenant, its term, modules and seat limits | 200 |
//! | `POST` | `/tenants/{tenant}/leads` | capture a lead (a CRM `CaptureRequest`); dedupe decides | 201 created / 200 merged or unchanged |
//! | `GET` | `/tenants/{tenant}/leads?limit=&after=` | live leads, masked, keyset-paginated | 200 |
//! | `GET` | `/tenants/{tenant}/leads/{lead}` | one lead, masked | 200 |
//! | `POST` | `/tenants/{tenant}/usage` | consume `{"unit", "quantity"}` against the tenant's quota | 200 |
//! | `GET` | `/tenants/{tenant}/usage` | balances of every unit with a quota today | 200 |
//! | `GET` | `/tenants/{tenant}/usage/{unit}` | the balance of one unit | 200 |
//! | `POST` | `/tenants/{tenant}/settlements/{month}` | settle a month of ad operations (`{"mode"}` optional, default `final`) | 200 |
//! | `GET` | `/tenants/{tenant}/settlements/{month}` | the settled month: record, figures from the ledger, invoices | 200 |
//! | `PUT` | `/tenants/{tenant}/sites/{site}` | register or replace an official site's model (`marketingforce::sites::model::Site`, validated) | 201 / 200 |
//! | `GET` | `/tenants/{tenant}/sites/{site}/analytics?from=&to=&by=` | engagement per page, source, region, day, … | 200 |
//! | `POST` | `/mf/collect/start`, `/mf/collect/events` | **public**: the sites' beacon (page view, dwell, scroll, load, form start/submit) | 200 token / 204 |
//! | `POST` | `/mf/forms/{site}/{form}` | **public**: a site's contact form → CRM lead with consent and attribution | 200 |
//! | `POST` | `/tenants/{tenant}/webhooks` | register a webhook endpoint (`{"url", "events"?}`); the answer holds its signing `secret` | 201 + `Location` |
//! | `GET` | `/tenants/{tenant}/webhooks` | the tenant's endpoints, without secrets | 200 |
//! | `DELETE` | `/tenants/{tenant}/webhooks/{webhook}` | remove an endpoint | 204 |
//! | `GET` | `/metrics` | Prometheus text format of the SDK's metrics (feature `metrics`; operator only) | 200 |
//!
//! Domain events (a lead captured, a quota at 80%, …) reach the tenants' webhook endpoints
//! through [`dispatch`], a background task next to the server (see [`webhooks`]). Telemetry:
//! [`telemetry`].
//!
//! # Idempotency
//!
//! Every `POST` requires an `Idempotency-Key` header (1–128 visible ASCII characters; a quoted
//! structured-field string is accepted too). Keys are scoped to the tenant (for `POST /tenants`,
//! to the operator). The first *successful* response is recorded with a fingerprint of the
//! operation and its decoded body; a replay with the same key and request returns the recorded
//! status, `Location` and body, with `Idempotent-Replayed: true`, and changes nothing. A replay
//! with a different request is refused with 422. A refused request (4xx) records nothing and
//! changed nothing, so the same key can be retried after fixing the cause. A 5xx records no
//! reply but does **not** promise that nothing changed (a commit may have landed before its
//! acknowledgement was lost): retry it with the same key, which replays or finishes the
//! request exactly once. The recorded fingerprint is an HMAC under the tenant's fingerprint
//! key (requests carry mobile numbers), never a plain hash of the request. Under the HTTP record
//! the SDK's own idempotency keys (lead captures, usage events) are derived from the same header,
//! so a crash between the domain commit and the HTTP record still runs the command once.
//! Tenant creation writes a provisioning plan (ids, grant, dates) under the key first, so a
//! retried creation resumes with the same tenant id instead of leaving an orphan.
//!
//! # Errors: `application/problem+json` (RFC 9457)
//!
//! Every error body has `type` (a `tag:` URI naming the problem), `title`, `status`, `detail`,
//! and, for bad input, `field` (the path of the offending field, e.g. `product_interest[1]`).
//! The SDK's errors are answered by their [`ErrorKind`](marketingforce::core::ErrorKind) (one
//! table in `problem.rs`, the same for every crate), and carry `code`, the error's stable code
//! (`no_identity`, `month_not_over`, `seat_limit_reached`, …: what a client switches on), and
//! `retryable`; a 404 carries neither.
//!
//! | status | `type` suffix | when |
//! |---|---|---|
//! | 400 | `missing-idempotency-key`, `invalid-idempotency-key` | a `POST` without a usable key |
//! | 400 | `malformed-json` | the body is not JSON (syntax, truncation, trailing data) |
//! | 401 | `unauthenticated` | no or an unknown bearer token (`WWW-Authenticate: Bearer`) |
//! | 403 | `forbidden` | the token's tenant is not the path's, or its role may not do this; the tenant did not buy the module (`not_entitled`, with `module` and `offered_in`) |
//! | 403 | `limit-exceeded` | a seat count, credit limit, budget or points balance would be exceeded, or the tenant has no quota of the unit at all (`no_quota`, with `unit` and `can_buy`): waiting will not help |
//! | 404 | `not-found` | unknown route, tenant, lead, settlement; a resource of another tenant (isolation is indistinguishable from absence) |
//! | 405 | `method-not-allowed` | e.g. `DELETE` on a route |
//! | 409 | `conflict`, `invalid-state`, `request-in-progress` | a concurrent change won, also by another instance over the store (`Retry-After`; the conflicting write did not land, retry with the same key); a state machine refused (`lead_merged` with the `survivor`; `month_not_over`, `previous_month_unsettled`, `missing_reports` for a settlement; …); the same key is still running |
//! | 410 | `lead-erased` | the lead's personal data was erased (PIPL) |
//! | 413 | `payload-too-large` | the body exceeds [`ServiceConfig::body_limit`] |
//! | 415 | `unsupported-media-type` | a body that is not `application/json` |
//! | 422 | `validation` (+ `field` where the input names one) | well-formed JSON with bad values or fields, or without any identity (`no_identity`) |
//! | 422 | `idempotency-key-reused` | the key was first used for a different request (following the IETF Idempotency-Key draft: 422, not 409, because retrying cannot succeed) |
//! | 422 | `rejected` | an ad platform, a channel or a hosted third-party module refused the request for a business reason |
//! | 429 | `quota-exceeded` | a finite quota is used up for its window (`remaining`, `limit`, `window_end` and `can_buy` pack offers are members). 429 rather than 402 because the quota resets at `window_end` and no payment protocol is involved |
//! | 429 | `rate-limited` | a rate limit (`Retry-After`) |
//! | 503 | `backend-unavailable` | the store, or a platform behind an adapter, is unavailable (`Retry-After: 1`); retry with the same key |
//! | 503 | `outcome-unknown` | a commit's acknowledgement was lost or timed out (`code` says which): the request **may have taken effect**; retry with the same `Idempotency-Key` to learn which (`Retry-After: 1`) |
//! | 500 | `internal` | anything else; details go to the log, not to the client |

mod auth;
mod config;
mod directory;
mod extract;
mod idempotency;
mod leads;
mod problem;
mod serve;
mod settlement;
mod sites;
mod state;
pub mod telemetry;
mod tenants;
mod usage;
pub mod webhooks;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post, put};
use axum::Router;

pub use auth::{Authenticator, Principal, Role, TokenTable};
pub use config::{ServiceConfig, StoreUrl};
pub use directory::{Provisioning, TenantRecord, OPERATOR_SCOPE};
pub use idempotency::Reply;
pub use problem::Problem;
pub use serve::{serve, GuardedListener};
pub use sites::SiteRecord;
pub use state::{AppState, AppStateBuilder};
pub use webhooks::{dispatch, WebhookRecord};

/// The service's routes over `state`, with the body limit of its configuration.
pub fn router(state: AppState) -> Router {
    let body_limit = state.config().body_limit;
    let api = Router::new()
        .route("/tenants", post(tenants::create))
        .route("/tenants/{tenant}", get(tenants::get))
        .route(
            "/tenants/{tenant}/leads",
            post(leads::capture).get(leads::list),
        )
        .route("/tenants/{tenant}/leads/{lead}", get(leads::get))
        .route(
            "/tenants/{tenant}/usage",
            post(usage::consume).get(usage::balances),
        )
        .route("/tenants/{tenant}/usage/{unit}", get(usage::balance))
        .route(
            "/tenants/{tenant}/settlements/{month}",
            post(settlement::run).get(settlement::read),
        )
        .route("/tenants/{tenant}/sites/{site}", put(sites::put))
        .route(
            "/tenants/{tenant}/sites/{site}/analytics",
            get(sites::analytics),
        )
        .route(
            "/tenants/{tenant}/webhooks",
            post(webhooks::create).get(webhooks::list),
        )
        .route(
            "/tenants/{tenant}/webhooks/{webhook}",
            delete(webhooks::delete),
        );
    #[cfg(feature = "metrics")]
    let api = api.route("/metrics", get(telemetry::metrics));
    let api = api
        .fallback(unknown_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            auth::require,
        ));
    // What the published pages call from visitors' browsers: no bearer token (the collector
    // checks origins and signed page-view tokens; forms are validated and rate limited).
    let public = Router::new()
        .route(PUBLIC_COLLECT_START, post(sites::collect_start))
        .route(PUBLIC_COLLECT_EVENTS, post(sites::collect_events))
        .route(PUBLIC_FORMS, post(sites::submit_form))
        .layer(DefaultBodyLimit::max(PUBLIC_BODY_LIMIT.min(body_limit)));
    api.merge(public)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(telemetry::trace_request))
        .with_state(state)
}

/// Largest body of a beacon or a form (what a page sends is small).
const PUBLIC_BODY_LIMIT: usize = 16 * 1024;
/// The beacon's page-view start (the sites' default `collect` endpoint).
const PUBLIC_COLLECT_START: &str = "/mf/collect/start";
/// The beacon's events.
const PUBLIC_COLLECT_EVENTS: &str = "/mf/collect/events";
/// Contact forms of the sites.
const PUBLIC_FORMS: &str = "/mf/forms/{site}/{form}";

async fn unknown_route(uri: axum::http::Uri) -> Problem {
    Problem::not_found(format!("no route {}", uri.path()))
}

async fn method_not_allowed(method: axum::http::Method, uri: axum::http::Uri) -> Problem {
    Problem::method_not_allowed(&method, uri.path())
}
