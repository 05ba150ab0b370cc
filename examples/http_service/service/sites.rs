//! Official sites: `PUT /tenants/{tenant}/sites/{site}` (register or update a site model),
//! `GET …/sites/{site}/analytics` (engagement by page, source, region, day, …), and the public
//! routes the published pages call — the beacon (`POST /mf/collect/start`, `POST
//! /mf/collect/events`) and the contact forms (`POST /mf/forms/{site}/{form}`).
//!
//! The public routes take no bearer token (browsers call them): the collector checks the
//! `Origin` against the site's own, verifies the signed page-view token on every beacon,
//! filters bots and refuses oversized or malformed bodies; a form is validated field by field,
//! rate limited per client and site (counted in the store, so across instances), and a filled
//! honeypot is answered like a success while nothing reaches the CRM. Every beacon is committed
//! before it is answered (a durable collector), so any instance may take any request.
//!
//! # Several instances
//!
//! Beacons name a site id, not a tenant: which tenant owns which site is kept in the store
//! under the operator's scope (an ownership record, created conditionally, so one site id has
//! one owner) together with a journal of registrations. Each instance keeps the sites it knows
//! in memory, as a cache: when a beacon or a form names a site it does not know, it reads the
//! journal's tail, loads the sites registered since, and tries once more. A site registered on
//! one instance is served by every other one from its first beacon.

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::header::{CONTENT_TYPE, ORIGIN, REFERER, USER_AGENT};
use axum::http::{request::Parts, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, NaiveDate, Utc};
use marketingforce::core::error::Classification;
use marketingforce::core::storage::{Batch, Collection, Entity, Expect};
use marketingforce::core::tenant::TenantId;
use marketingforce::core::ErrorKind;
use marketingforce::sites::analytics::{
    CollectEndpoint, CollectRequest, Collector, Dimension, EngagementRow, VisitAnalytics,
};
use marketingforce::sites::attribution::{origin_of, ClientInfo};
use marketingforce::sites::forms::{FormService, FormSubmission, SubmitOutcome};
use marketingforce::sites::model::Site;
use marketingforce::sites::SitesError;
use serde::{Deserialize, Serialize};
use serde_json::json;
use tokio::sync::Mutex;

use super::directory::OPERATOR_SCOPE;
use super::problem::Problem;
use super::serve::PeerAddr;
use super::state::AppState;

/// The journal (operator scope) of site registrations, one entry per `PUT`.
const REGISTRATIONS: &str = "http_service.site_registrations";
/// How many registrations a catch-up reads at once.
const CATCH_UP_PAGE: usize = 256;
/// The longest analytics period, in days.
const MAX_REPORT_DAYS: i64 = 366;

/// A tenant's site model, as last registered.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SiteRecord {
    /// The owner.
    pub tenant: TenantId,
    /// The model.
    pub site: Site,
    /// When it was last registered.
    pub updated_at: DateTime<Utc>,
}

impl Entity for SiteRecord {
    const COLLECTION: &'static str = "http_service.sites";
    fn key(&self) -> String {
        self.site.id.clone()
    }
    fn tenant(&self) -> Option<&TenantId> {
        Some(&self.tenant)
    }
}

/// Who owns a site id (operator scope): created once, conditionally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct SiteOwner {
    site: String,
    tenant: TenantId,
}

impl Entity for SiteOwner {
    const COLLECTION: &'static str = "http_service.site_owners";
    fn key(&self) -> String {
        self.site.clone()
    }
}

/// The sites this instance serves: the collector's registry and the models forms need, kept
/// current from the registrations journal.
#[derive(Debug)]
pub struct SiteCache {
    models: std::sync::RwLock<BTreeMap<String, (TenantId, Arc<Site>)>>,
    /// The journal position read up to; held while catching up so one task reads at a time.
    position: Mutex<u64>,
}

impl SiteCache {
    /// An empty cache (everything is loaded from the store on first use).
    pub fn new() -> SiteCache {
        SiteCache {
            models: std::sync::RwLock::new(BTreeMap::new()),
            position: Mutex::new(0),
        }
    }

    fn get(&self, site: &str) -> Option<(TenantId, Arc<Site>)> {
        self.models
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(site)
            .cloned()
    }

    fn remember(&self, state: &AppState, tenant: TenantId, site: Site) -> Result<(), Problem> {
        state
            .collector()
            .registry()
            .register(tenant, &site, &[])
            .map_err(problem)?;
        self.models
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(site.id.clone(), (tenant, Arc::new(site)));
        Ok(())
    }

    /// Read the registrations committed since the last catch-up and load their sites.
    async fn catch_up(&self, state: &AppState) -> Result<(), Problem> {
        let mut position = self.position.lock().await;
        let records = Collection::<SiteRecord>::new(state.store().clone());
        loop {
            let entries = state
                .store()
                .read_journal(&OPERATOR_SCOPE, REGISTRATIONS, *position, CATCH_UP_PAGE)
                .await?;
            let Some(last) = entries.last().map(|e| e.seq) else {
                return Ok(());
            };
            for entry in &entries {
                let owner: SiteOwner = serde_json::from_slice(&entry.payload)
                    .map_err(|e| Problem::internal(format!("site registration: {e}")))?;
                // The record was committed before its registration entry.
                if let Some(record) = records.get(&owner.tenant, &owner.site).await? {
                    self.remember(state, owner.tenant, record.value.site)?;
                }
            }
            *position = last;
        }
    }

    /// The site `id`, catching up with the store once when it is not known here.
    async fn lookup(&self, state: &AppState, id: &str) -> Result<(TenantId, Arc<Site>), Problem> {
        if let Some(found) = self.get(id) {
            return Ok(found);
        }
        self.catch_up(state).await?;
        self.get(id)
            .ok_or_else(|| Problem::not_found(format!("no site {id}")))
    }
}

impl Default for SiteCache {
    fn default() -> Self {
        SiteCache::new()
    }
}

fn problem(e: SitesError) -> Problem {
    match e {
        SitesError::Core(core) => core.into(),
        SitesError::Crm(crm) => crm.into(),
        SitesError::Modules(m) => m.into(),
        SitesError::FormRejected { form, errors } => Problem::validation(
            errors
                .first()
                .map_or_else(|| "fields".to_string(), |f| f.field.clone()),
            format!("form {form} has {} field(s) in error", errors.len()),
        )
        .with("errors", &errors),
        other => {
            let wait = match &other {
                SitesError::RateLimited {
                    retry_after_secs, ..
                } => Some(*retry_after_secs),
                _ => None,
            };
            let p = Problem::classified(&other, other.to_string());
            match wait {
                Some(secs) => p.retry_after(secs.max(1)),
                None => p,
            }
        }
    }
}

/// `PUT /tenants/{tenant}/sites/{site}`: register (or replace) a site model. The model is
/// validated (errors name the path, e.g. `pages[2].blocks[0].title`); the site id must match
/// the path and may belong to one tenant only (409 otherwise). 201 on the first registration,
/// 200 after. Safe to retry: the same body gives the same state.
pub async fn put(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    Json(site): Json<Site>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let tenant = record.tenant.id;
    if site.id != id {
        return Err(Problem::validation(
            "id",
            format!("the body's site id differs from the path's ({id})"),
        ));
    }
    site.validate().map_err(problem)?;
    let owners = Collection::<SiteOwner>::new(state.store().clone());
    let existing = owners.get(&OPERATOR_SCOPE, &id).await?;
    if let Some(owner) = &existing {
        if owner.value.tenant != tenant {
            return Err(Problem::classified(
                &Classification::new(ErrorKind::InvalidState, "site_owned"),
                format!("site id {id} belongs to another tenant"),
            ));
        }
    }
    // The model first, then the ownership and its registration entry: an instance that reads
    // the entry always finds the model.
    Collection::<SiteRecord>::new(state.store().clone())
        .upsert(
            &tenant,
            &SiteRecord {
                tenant,
                site: site.clone(),
                updated_at: state.clock().now(),
            },
        )
        .await?;
    let owner = SiteOwner {
        site: id.clone(),
        tenant,
    };
    let mut batch = Batch::new();
    let expect = match &existing {
        Some(v) => Expect::Version(v.version),
        None => Expect::Absent,
    };
    batch.put_entity(&OPERATOR_SCOPE, &owner, expect)?;
    batch.append_json(REGISTRATIONS, &owner)?;
    state.store().commit(&OPERATOR_SCOPE, batch).await?;
    state.sites().catch_up(&state).await?;
    let status = if existing.is_some() {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok((
        status,
        Json(json!({"site": id, "pages": site.pages.len(), "forms": site.forms.len()})),
    )
        .into_response())
}

/// Query of `GET …/sites/{site}/analytics`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyticsQuery {
    /// First day (tenant time zone), `YYYY-MM-DD`.
    pub from: NaiveDate,
    /// Last day, inclusive; at most 366 days after `from`.
    pub to: NaiveDate,
    /// Group by `page`, `source`, `source_detail`, `keyword`, `region`, `day` or `variant`
    /// (default `day`).
    #[serde(default)]
    pub by: Option<Dimension>,
}

/// `GET /tenants/{tenant}/sites/{site}/analytics?from=&to=&by=`: page views, sessions,
/// visitors, dwell, scroll, form starts and submissions, bounce and conversion rates per group.
pub async fn analytics(
    State(state): State<AppState>,
    Path((tenant, id)): Path<(String, String)>,
    Query(q): Query<AnalyticsQuery>,
) -> Result<Json<Vec<EngagementRow>>, Problem> {
    let record = state.tenant(&tenant).await?;
    let tenant = record.tenant.id;
    if q.to < q.from {
        return Err(Problem::validation("to", "must not be before from"));
    }
    if (q.to - q.from).num_days() >= MAX_REPORT_DAYS {
        return Err(Problem::validation(
            "to",
            format!("the period is limited to {MAX_REPORT_DAYS} days"),
        ));
    }
    let owner = Collection::<SiteOwner>::new(state.store().clone())
        .get(&OPERATOR_SCOPE, &id)
        .await?;
    if owner.is_none_or(|o| o.value.tenant != tenant) {
        return Err(Problem::not_found(format!("no site {id}")));
    }
    let rows = state
        .analytics()
        .report(
            &tenant,
            Some(&id),
            q.from,
            q.to,
            q.by.unwrap_or(Dimension::Day),
        )
        .await
        .map_err(problem)?;
    Ok(Json(rows))
}

fn client(parts: &Parts) -> ClientInfo {
    let h = &parts.headers;
    let text = |name: &str| h.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    ClientInfo {
        ip: parts
            .extensions
            .get::<ConnectInfo<PeerAddr>>()
            .map(|c| c.0 .0.ip()),
        user_agent: text(USER_AGENT.as_str()),
        origin: text(ORIGIN.as_str())
            .or_else(|| text(REFERER.as_str()).and_then(|r| origin_of(&r))),
    }
}

/// The site a beacon names (a start names it; events carry only the token).
fn named_site(body: &[u8]) -> Option<String> {
    #[derive(Deserialize)]
    struct Named {
        site: String,
    }
    serde_json::from_slice::<Named>(body).ok().map(|n| n.site)
}

async fn collect(
    state: &AppState,
    endpoint: CollectEndpoint,
    parts: &Parts,
    body: &[u8],
) -> Response {
    let client = client(parts);
    let request = CollectRequest {
        endpoint,
        body,
        client: &client,
    };
    let collector: &Collector = state.collector();
    let mut answer = collector.handle(request).await;
    // A site registered on another instance since: catch up once and try again.
    if answer.body.windows(12).any(|w| w == b"unknown_site") {
        let known_now = match named_site(body) {
            Some(site) => state.sites().lookup(state, &site).await.is_ok(),
            None => state.sites().catch_up(state).await.is_ok(),
        };
        if known_now {
            answer = collector.handle(request).await;
        }
    }
    let status = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if answer.content_type.is_empty() {
        status.into_response()
    } else {
        (status, [(CONTENT_TYPE, answer.content_type)], answer.body).into_response()
    }
}

/// `POST /mf/collect/start`: a page view starts; 200 with its signed token.
pub async fn collect_start(State(state): State<AppState>, parts: Parts, body: Bytes) -> Response {
    collect(&state, CollectEndpoint::Start, &parts, &body).await
}

/// `POST /mf/collect/events`: a beacon (dwell, scroll, load, form start and submit); 204.
pub async fn collect_events(State(state): State<AppState>, parts: Parts, body: Bytes) -> Response {
    collect(&state, CollectEndpoint::Events, &parts, &body).await
}

/// `POST /mf/forms/{site}/{form}`: a contact form, as JSON. 200 `{"accepted": true}` when it
/// was taken (a filled honeypot gets the same answer, and nothing reaches the CRM); 422 listing
/// every field in error (names and reasons, never the values); 429 when the client sends too
/// many. A retry with the same `submission` id is answered the same and captures once.
pub async fn submit_form(
    State(state): State<AppState>,
    Path((site, form)): Path<(String, String)>,
    parts: Parts,
    body: Bytes,
) -> Result<Response, Problem> {
    let submission: FormSubmission = serde_json::from_slice(&body).map_err(|e| {
        // The category only: the message could quote a field's value.
        let what = match e.classify() {
            serde_json::error::Category::Data => "unexpected fields or types",
            serde_json::error::Category::Eof => "truncated",
            _ => "syntax",
        };
        Problem::malformed_json(format!("the form is not the expected JSON ({what})"))
    })?;
    let (tenant, model) = state.sites().lookup(&state, &site).await?;
    let outcome = state
        .forms()
        .submit(&tenant, &model, &form, submission, &client(&parts))
        .await
        .map_err(problem)?;
    let submission = match outcome {
        SubmitOutcome::Accepted { submission, .. } => Some(submission),
        SubmitOutcome::Discarded => None,
    };
    Ok(Json(json!({"accepted": true, "submission": submission})).into_response())
}

/// The services behind the routes above, built once per state.
#[derive(Debug)]
pub struct SiteServices {
    /// Beacons.
    pub collector: Collector,
    /// Forms → CRM.
    pub forms: FormService,
    /// Engagement reports.
    pub analytics: Arc<VisitAnalytics>,
    /// Known sites.
    pub cache: SiteCache,
}
