//! An axum [`Router`] for the collector and the form service (feature `axum`): mount it in
//! your service next to the site's files.
//!
//! | route | handler |
//! |---|---|
//! | `POST <collect>/start` | [`Collector::handle`] (start a page view, answer its token) |
//! | `POST <collect>/events` | [`Collector::handle`] (a beacon) |
//! | `POST <forms>/{site}/{form}` | [`FormService::submit`] (JSON from the page's script, or a plain form post) |
//!
//! `<collect>` and `<forms>` default to `/mf/collect` and `/mf/forms` (a site's
//! [`Endpoints`](crate::model::Endpoints)). Bodies above 16 KiB are refused before they are
//! read. The client address comes from axum's `ConnectInfo` when the server provides it, or
//! from `X-Forwarded-For` when [`SitesHttp::trust_forwarded_for`] is set (behind your proxy).
//! [`static_files`] serves a [`RenderedSite`].

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Path, State};
use axum::http::header::{CONTENT_TYPE, ORIGIN, REFERER, USER_AGENT};
use axum::http::{request::Parts, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::Router;
use marketingforce_core::tenant::TenantId;
use serde_json::json;

use crate::analytics::{CollectEndpoint, CollectRequest, Collector};
use crate::attribution::{origin_of, percent_decode, ClientInfo};
use crate::error::SitesError;
use crate::forms::{FormService, FormSubmission, SubmitOutcome};
use crate::model::Site;
use crate::render::RenderedSite;

/// Largest body the routes read.
pub const MAX_BODY_BYTES: usize = 16 * 1024;

/// The state behind the router: the collector, the form service and the sites they serve.
#[derive(Debug, Clone)]
pub struct SitesHttp {
    collector: Arc<Collector>,
    forms: Arc<FormService>,
    sites: Arc<HashMap<String, (TenantId, Arc<Site>)>>,
    trust_forwarded: bool,
}

impl SitesHttp {
    /// State for `collector` and `forms`, with no sites yet.
    pub fn new(collector: Arc<Collector>, forms: Arc<FormService>) -> SitesHttp {
        SitesHttp {
            collector,
            forms,
            sites: Arc::new(HashMap::new()),
            trust_forwarded: false,
        }
    }

    /// Accept form posts for `site` of `tenant` (register it with the collector's
    /// [`SiteRegistry`](crate::analytics::SiteRegistry) for beacons).
    #[must_use]
    pub fn site(mut self, tenant: TenantId, site: Site) -> SitesHttp {
        Arc::make_mut(&mut self.sites).insert(site.id.clone(), (tenant, Arc::new(site)));
        self
    }

    /// Take the client address from the first `X-Forwarded-For` entry (only behind a proxy
    /// you run, which sets it).
    #[must_use]
    pub fn trust_forwarded_for(mut self, yes: bool) -> SitesHttp {
        self.trust_forwarded = yes;
        self
    }

    fn client(&self, parts: &Parts) -> ClientInfo {
        let h = &parts.headers;
        let text = |name| {
            h.get(name)
                .and_then(|v: &axum::http::HeaderValue| v.to_str().ok())
                .map(str::to_string)
        };
        let forwarded = self
            .trust_forwarded
            .then(|| text("x-forwarded-for"))
            .flatten()
            .and_then(|v| {
                v.split(',')
                    .next()
                    .and_then(|ip| ip.trim().parse::<IpAddr>().ok())
            });
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip());
        ClientInfo {
            ip: forwarded.or(peer),
            user_agent: text(USER_AGENT.as_str()),
            origin: text(ORIGIN.as_str())
                .or_else(|| text(REFERER.as_str()).and_then(|r| origin_of(&r))),
        }
    }
}

/// The router with the routes above, under `collect` and `forms` prefixes.
pub fn router(state: SitesHttp, collect: &str, forms: &str) -> Router {
    let collect = collect.trim_end_matches('/');
    let forms = forms.trim_end_matches('/');
    Router::new()
        .route(&format!("{collect}/start"), post(start))
        .route(&format!("{collect}/events"), post(events))
        .route(&format!("{forms}/{{site}}/{{form}}"), post(submit))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

fn respond(r: crate::analytics::CollectResponse) -> Response {
    let status = StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if r.content_type.is_empty() {
        status.into_response()
    } else {
        (status, [(CONTENT_TYPE, r.content_type)], r.body).into_response()
    }
}

async fn start(State(s): State<SitesHttp>, parts: Parts, body: Bytes) -> Response {
    let client = s.client(&parts);
    respond(
        s.collector
            .handle(CollectRequest {
                endpoint: CollectEndpoint::Start,
                body: &body,
                client: &client,
            })
            .await,
    )
}

async fn events(State(s): State<SitesHttp>, parts: Parts, body: Bytes) -> Response {
    let client = s.client(&parts);
    respond(
        s.collector
            .handle(CollectRequest {
                endpoint: CollectEndpoint::Events,
                body: &body,
                client: &client,
            })
            .await,
    )
}

/// Whether a posted `_consent` value gives consent: the rendered checkbox's `yes`, or what
/// other forms send for a ticked box (`on`, `true`, `1`). Anything else — `false`, `0`, `no`,
/// an empty value — is no consent.
fn consents(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "yes" | "on" | "true" | "1"
    )
}

fn from_urlencoded(body: &[u8]) -> FormSubmission {
    let mut s = FormSubmission::default();
    for pair in String::from_utf8_lossy(body).split('&').take(64) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let (k, v) = (percent_decode(k), percent_decode(v));
        match k.as_str() {
            "website" => s.website = v,
            "_consent" => s.consent = consents(&v),
            "_consent_version" => s.consent_version = Some(v),
            "_page" => s.page = v,
            "_locale" => s.locale = serde_json::from_value(json!(v)).ok(),
            k if k.starts_with('_') => {}
            _ => {
                s.fields.insert(k, v);
            }
        }
    }
    s
}

async fn submit(
    State(s): State<SitesHttp>,
    Path((site_id, form)): Path<(String, String)>,
    parts: Parts,
    body: Bytes,
) -> Response {
    let client = s.client(&parts);
    let Some((tenant, site)) = s.sites.get(&site_id).cloned() else {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"detail": "unknown site"})),
        )
            .into_response();
    };
    let headers: &HeaderMap = &parts.headers;
    let urlencoded = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let submission = if urlencoded {
        from_urlencoded(&body)
    } else {
        match serde_json::from_slice::<FormSubmission>(&body) {
            Ok(x) => x,
            Err(_) => {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"detail": "malformed submission"})),
                )
                    .into_response()
            }
        }
    };
    match s
        .forms
        .submit(&tenant, &site, &form, submission, &client)
        .await
    {
        Ok(SubmitOutcome::Accepted { submission, .. }) => (
            StatusCode::OK,
            axum::Json(json!({"outcome": "accepted", "submission": submission})),
        )
            .into_response(),
        // A bot is answered like a person, so it learns nothing.
        Ok(SubmitOutcome::Discarded) => {
            (StatusCode::OK, axum::Json(json!({"outcome": "accepted"}))).into_response()
        }
        Err(SitesError::FormRejected { errors, .. }) => {
            let errors: Vec<_> = errors
                .iter()
                .map(|e| json!({"field": e.field, "message": e.reason}))
                .collect();
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(json!({"errors": errors})),
            )
                .into_response()
        }
        Err(SitesError::RateLimited {
            retry_after_secs, ..
        }) => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", retry_after_secs.to_string())],
            axum::Json(json!({"detail": "too many submissions, try again later"})),
        )
            .into_response(),
        Err(SitesError::Core(marketingforce_core::Error::NotFound { .. })) => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"detail": "unknown form"})),
        )
            .into_response(),
        Err(_) => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"detail": "please retry"})),
        )
            .into_response(),
    }
}

/// The content type of a site file.
pub fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "xml" => "application/xml",
        "txt" => "text/plain; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "mp4" => "video/mp4",
        "vtt" => "text/vtt",
        _ => "application/octet-stream",
    }
}

/// A router serving the files of a rendered site (`/` and `/dir/` serve `index.html`).
pub fn static_files(site: Arc<RenderedSite>) -> Router {
    Router::new().fallback(move |uri: axum::http::Uri| {
        let site = site.clone();
        async move {
            let mut path = uri.path().trim_start_matches('/').to_string();
            if path.is_empty() || path.ends_with('/') {
                path.push_str("index.html");
            }
            match site.files.get(&path) {
                Some(bytes) => {
                    ([(CONTENT_TYPE, content_type(&path))], bytes.clone()).into_response()
                }
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_ticked_box_posts_consent() {
        for (body, given) in [
            ("_consent=yes", true),
            ("_consent=on", true),
            ("_consent=TRUE", true),
            ("_consent=1", true),
            ("_consent=false", false),
            ("_consent=0", false),
            ("_consent=no", false),
            ("_consent=", false),
            ("name=x", false),
        ] {
            assert_eq!(from_urlencoded(body.as_bytes()).consent, given, "{body}");
        }
    }
}
