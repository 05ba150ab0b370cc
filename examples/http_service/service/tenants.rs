//! `POST /tenants` and `GET /tenants/{tenant}`.
//!
//! Creating a tenant provisions it on a bundle of the built-in product catalog for a one-year
//! term from today (tenant time zone): the bundle's modules, seats (per account for True Client
//! Standard) and included usage quotas become a grant in the entitlement registry, and a staff
//! account for the API is registered in the CRM. Payment and the quote → contract flow are the
//! vendor's back office (see `marketingforce::modules::subscriptions`); this service is what a
//! tenant's integrations call once it is live.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::{DateTime, Months, NaiveDate, Utc};
use marketingforce::core::storage::{Batch, Expect, Idempotent};
use marketingforce::core::tenant::{Tenant, TenantId};
use marketingforce::crm::ids::UserId;
use marketingforce::crm::staff::{Role, Staff};
use marketingforce::modules::catalog::{Metering, ModuleId};
use marketingforce::modules::entitlements::{
    Grant, GrantId, GrantSource, QuotaGrant, QuotaSource, SeatGrant,
};
use marketingforce::modules::products::{Bundle, BundlePricing};
use marketingforce::modules::ModulesError;
use serde::{Deserialize, Serialize};

use super::directory::{Provisioning, TenantRecord, OPERATOR_SCOPE};
use super::extract::{IdempotencyKey, JsonBody};
use super::idempotency::{once, Reply};
use super::problem::Problem;
use super::state::AppState;

/// The body of `POST /tenants`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewTenant {
    /// Legal or display name (1–200 characters).
    pub name: String,
    /// A bundle of the product catalog, e.g. `tcloud.basic` or `trueclient.standard`.
    pub bundle: String,
    /// Accounts, for bundles sold per account (at least the bundle's minimum); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<u32>,
    /// Modules bought on top of the bundle (e.g. `mf.lead_management`, which lead capture
    /// needs), each with the usage its catalog entry includes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add_ons: Vec<ModuleId>,
}

/// A tenant as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TenantView {
    /// The profile.
    #[serde(flatten)]
    pub tenant: Tenant,
    /// The bundle.
    pub bundle: String,
    /// Accounts bought (per-account bundles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub accounts: Option<u32>,
    /// First day of the term.
    pub term_start: NaiveDate,
    /// Day after the term.
    pub term_end: NaiveDate,
    /// Modules enabled today (with the modules they require).
    pub modules: Vec<ModuleId>,
    /// Seats per seat-limited module.
    pub seat_limits: BTreeMap<ModuleId, u32>,
    /// When the tenant was created.
    pub created_at: DateTime<Utc>,
}

/// `POST /tenants`.
pub async fn create(
    State(state): State<AppState>,
    key: IdempotencyKey,
    JsonBody(request): JsonBody<NewTenant>,
) -> Result<Response, Problem> {
    once(
        &state,
        OPERATOR_SCOPE,
        &key,
        "create_tenant",
        &request,
        |idem| provision(&state, idem, &request),
    )
    .await
}

/// `GET /tenants/{tenant}`.
pub async fn get(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let view = view(&state, &record).await?;
    Ok(Reply::new(StatusCode::OK, &view)?.into_response(false))
}

async fn provision(
    state: &AppState,
    idem: Idempotent,
    request: &NewTenant,
) -> Result<(Reply, Batch), Problem> {
    let bundle = state
        .products()
        .require_bundle(&request.bundle, "bundle")?
        .clone();
    check_accounts(&bundle, request.accounts)?;
    // The plan validates the name; a stored plan was validated when it was made.
    let record = state
        .directory()
        .plan(idem.key(), idem.fingerprint().as_str(), || {
            plan(state, &bundle, request)
        })
        .await?;
    let tenant = record.tenant.id;
    // Each step is idempotent, so a retry after a crash resumes here with the same plan.
    let staff = Staff::new(
        record.api_user,
        tenant,
        "HTTP API",
        Role::Admin,
        1,
        record.created_at,
    );
    state.crm().upsert_staff(&tenant, staff).await?;
    state.registry().grant(record.grant.clone()).await?;
    state.handle(&record).await?;
    let body = view(state, &record).await?;
    let mut batch = Batch::new();
    batch.put_entity(&OPERATOR_SCOPE, &record, Expect::Any)?;
    batch.delete_entity::<Provisioning>(idem.key(), Expect::Any);
    let reply = Reply::new(StatusCode::CREATED, &body)?.at(format!("/tenants/{tenant}"));
    Ok((reply, batch))
}

fn check_accounts(bundle: &Bundle, accounts: Option<u32>) -> Result<(), Problem> {
    match (&bundle.pricing, accounts) {
        (BundlePricing::PerAccount { min_accounts, .. }, Some(n)) if n < *min_accounts => {
            Err(ModulesError::BelowMinimumSeats {
                bundle: bundle.id.to_string(),
                minimum: *min_accounts,
                requested: n,
            }
            .into())
        }
        (BundlePricing::PerAccount { min_accounts, .. }, None) => Err(Problem::validation(
            "accounts",
            format!(
                "{} is sold per account: give at least {min_accounts} accounts",
                bundle.id
            ),
        )),
        (BundlePricing::Flat { .. }, Some(_)) => Err(Problem::validation(
            "accounts",
            format!("{} is sold flat; accounts do not apply", bundle.id),
        )),
        _ => Ok(()),
    }
}

/// The ids, dates and grant of a new tenant.
fn plan(state: &AppState, bundle: &Bundle, request: &NewTenant) -> Result<TenantRecord, Problem> {
    let ids = state.ids().as_ref();
    let tenant = Tenant::new(TenantId::generate(ids), request.name.trim())?;
    let created_at = state.clock().now();
    let start = state.clock().today(tenant.time_zone);
    let end = start
        .checked_add_months(Months::new(12))
        .ok_or_else(|| Problem::internal(format!("no date 12 months after {start}")))?;
    let seats = match &bundle.pricing {
        BundlePricing::PerAccount { seat_modules, .. } => seat_modules
            .iter()
            .map(|m| SeatGrant {
                module: m.clone(),
                seats: request.accounts.unwrap_or_default(),
            })
            .collect(),
        _ => bundle
            .included_seats
            .iter()
            .map(|s| SeatGrant {
                module: s.module.clone(),
                seats: s.seats,
            })
            .collect(),
    };
    let mut modules = bundle.modules.clone();
    let mut quotas: Vec<QuotaGrant> = bundle
        .included_usage
        .iter()
        .map(|u| QuotaGrant {
            unit: u.unit.clone(),
            quantity: u.quantity,
            period: u.period,
            source: QuotaSource::Included,
        })
        .collect();
    for (i, id) in request.add_ons.iter().enumerate() {
        let field = format!("add_ons[{i}]");
        let module = state
            .registry()
            .catalog()
            .get(id)
            .ok_or_else(|| Problem::validation(field.clone(), format!("no module {id}")))?;
        if modules.contains(id) {
            return Err(Problem::validation(
                field,
                format!("{id} is already in {} (or listed twice)", bundle.id),
            ));
        }
        modules.push(id.clone());
        if let Metering::Usage {
            unit,
            included,
            period,
        } = &module.metering
        {
            quotas.push(QuotaGrant {
                unit: unit.clone(),
                quantity: *included,
                period: *period,
                source: QuotaSource::Included,
            });
        }
    }
    let grant = Grant {
        id: GrantId::generate(ids),
        tenant: tenant.id,
        source: GrantSource::Manual {
            reason: format!("bundle {} provisioned through the HTTP API", bundle.id),
        },
        start,
        end,
        modules,
        seats,
        quotas,
    };
    grant.validate(state.registry().catalog())?;
    Ok(TenantRecord {
        tenant,
        bundle: bundle.id.to_string(),
        accounts: request.accounts,
        grant,
        api_user: UserId::generate(ids),
        created_at,
    })
}

async fn view(state: &AppState, record: &TenantRecord) -> Result<TenantView, Problem> {
    let report = state.registry().load(&record.tenant.id).await?.report();
    Ok(TenantView {
        tenant: record.tenant.clone(),
        bundle: record.bundle.clone(),
        accounts: record.accounts,
        term_start: record.grant.start,
        term_end: record.grant.end,
        modules: report.modules,
        seat_limits: report.seat_limits,
        created_at: record.created_at,
    })
}
