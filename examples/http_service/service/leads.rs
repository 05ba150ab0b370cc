//! Leads: `POST /tenants/{tenant}/leads` (capture with dedupe), `GET …/leads/{lead}` (masked
//! view) and `GET …/leads` (masked views of live leads, keyset-paginated).
//!
//! Leads are read as the tenant's API staff account without a stated purpose, so every personal
//! field comes back masked (`138****5678`) and no plaintext leaves the service; unmasked reads
//! belong to staff-facing tools that log a purpose. A lead of another tenant is not found.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use marketingforce::core::storage::{Collection, Cursor, PageRequest};
use marketingforce::crm::ids::LeadId;
use marketingforce::crm::model::{Lead, LeadStatus};
use marketingforce::crm::request::CaptureRequest;
use marketingforce::crm::{CaptureOutcome, LeadView};
use serde::{Deserialize, Serialize};

use super::directory::TenantRecord;
use super::extract::{IdempotencyKey, JsonBody, Params};
use super::idempotency::{domain_key, once, Reply};
use super::problem::Problem;
use super::state::AppState;

/// Query of `GET …/leads`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    /// Page size, 1 to [`ServiceConfig::max_page`](super::ServiceConfig::max_page) (default 20).
    #[serde(default)]
    pub limit: Option<usize>,
    /// Continue after this lead id (the `next` of the previous page).
    #[serde(default)]
    pub after: Option<String>,
}

/// A page of leads.
#[derive(Debug, Clone, Serialize)]
pub struct LeadPage {
    /// Live leads in id order, masked. Merged and erased leads are skipped, so a page can be
    /// shorter than `limit` and still have a `next`.
    pub items: Vec<LeadView>,
    /// The `after` of the next page, if there is one.
    pub next: Option<String>,
}

/// `POST /tenants/{tenant}/leads`: 201 when a lead was created, 200 when the capture merged
/// into (or repeated) an existing one; `Location` names the lead either way.
pub async fn capture(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    key: IdempotencyKey,
    JsonBody(request): JsonBody<CaptureRequest>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let id = record.tenant.id;
    once(&state, id, &key, "capture_lead", &request, |_| async {
        let outcome = state
            .crm()
            .capture(&id, request.clone(), &domain_key(&key)?)
            .await?;
        let status = match outcome {
            CaptureOutcome::Created { .. } => StatusCode::CREATED,
            _ => StatusCode::OK,
        };
        let location = format!("/tenants/{id}/leads/{}", outcome.lead());
        Ok((
            Reply::new(status, &outcome)?.at(location),
            Default::default(),
        ))
    })
    .await
}

/// `GET /tenants/{tenant}/leads/{lead}`.
pub async fn get(
    State(state): State<AppState>,
    Path((tenant, lead)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let lead: LeadId = lead
        .parse()
        .map_err(|_| Problem::not_found(format!("lead {lead} not found")))?;
    let view = masked(&state, &record, &lead).await?;
    Ok(Reply::new(StatusCode::OK, &view)?.into_response(false))
}

/// `GET /tenants/{tenant}/leads?limit=&after=`.
pub async fn list(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    Params(query): Params<ListQuery>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let max = state.config().max_page;
    let limit = query.limit.unwrap_or(20.min(max));
    if !(1..=max).contains(&limit) {
        return Err(Problem::validation(
            "limit",
            format!("{limit} is outside 1-{max}"),
        ));
    }
    let after = match query.after {
        Some(a) => {
            let id: LeadId = a.parse().map_err(|e: marketingforce::core::Error| {
                Problem::validation("after", e.to_string())
            })?;
            Some(Cursor::after(id.to_string()))
        }
        None => None,
    };
    // The CRM lists leads whole (`Crm::all_leads`); its lead records are a typed collection
    // (`Lead: Entity`, no personal data), read here a page at a time.
    let page = Collection::<Lead>::new(state.store().clone())
        .list(&record.tenant.id, &PageRequest { limit, after })
        .await?;
    let mut items = Vec::with_capacity(page.items.len());
    for v in page.items {
        if v.value.status == LeadStatus::Active {
            items.push(masked(&state, &record, &v.value.id).await?);
        }
    }
    let body = LeadPage {
        items,
        next: page.next.map(|c| c.key().to_string()),
    };
    Ok(Reply::new(StatusCode::OK, &body)?.into_response(false))
}

async fn masked(
    state: &AppState,
    record: &TenantRecord,
    lead: &LeadId,
) -> Result<LeadView, Problem> {
    Ok(state
        .crm()
        .view_lead(&record.tenant.id, &record.api_user, lead, None)
        .await?)
}
