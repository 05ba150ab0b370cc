//! Settlement: `POST /tenants/{tenant}/settlements/{month}` settles a month of the tenant's ad
//! operations (customer and platform rebates on the gross and net bases, invoices, all posted to
//! the double-entry ledger in one commit); `GET` reads the settled month back from the ledger.
//!
//! The ad business itself (customers, platforms, accounts, campaigns, spend reports) runs
//! through [`AdOps`](marketingforce::ads::AdOps), which [`AppState::ads`] hands out per tenant.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use marketingforce::ads::agreement::ServiceType;
use marketingforce::ads::ops::SettlementRecord;
use marketingforce::ads::period::Month;
use marketingforce::ads::receivables::Invoice;
use marketingforce::ads::settlement::{SettlementFigures, SettlementMode, Summary};
use serde::{Deserialize, Serialize};

use super::extract::{IdempotencyKey, JsonOrEmpty};
use super::idempotency::{once, Reply};
use super::problem::Problem;
use super::state::AppState;

/// The body of `POST …/settlements/{month}` (may be empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettlement {
    /// `final` (default): refuse while report days are missing; `provisional`: settle what is
    /// known and post corrections later.
    #[serde(default = "final_mode")]
    pub mode: SettlementMode,
}

fn final_mode() -> SettlementMode {
    SettlementMode::Final
}

impl Default for RunSettlement {
    fn default() -> Self {
        RunSettlement { mode: final_mode() }
    }
}

/// A settled month as read back.
#[derive(Debug, Clone, Serialize)]
pub struct SettledMonth {
    /// The month.
    pub month: Month,
    /// When and how it was settled.
    pub record: SettlementRecord,
    /// Totals over every line.
    pub overall: Summary,
    /// Totals per service type (solution = gross basis, distribution = net basis).
    pub by_service_type: Vec<(ServiceType, Summary)>,
    /// The figures, derived from the ledger alone.
    pub figures: SettlementFigures,
    /// The customer invoices of the month.
    pub invoices: Vec<Invoice>,
}

fn month_of(raw: &str) -> Result<Month, Problem> {
    raw.parse::<Month>().map_err(Problem::from)
}

/// `POST /tenants/{tenant}/settlements/{month}`.
pub async fn run(
    State(state): State<AppState>,
    Path((tenant, month)): Path<(String, String)>,
    key: IdempotencyKey,
    JsonOrEmpty(request): JsonOrEmpty<RunSettlement>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let month = month_of(&month)?;
    let fingerprinted = (month, &request);
    once(
        &state,
        record.tenant.id,
        &key,
        "settle_month",
        &fingerprinted,
        |_| async {
            let ads = state.ads(&record).await?;
            let statement = ads.settle_month(month, request.mode).await?;
            Ok((Reply::new(StatusCode::OK, &statement)?, Default::default()))
        },
    )
    .await
}

/// `GET /tenants/{tenant}/settlements/{month}`: 404 until the month is settled.
pub async fn read(
    State(state): State<AppState>,
    Path((tenant, month)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let month = month_of(&month)?;
    let ads = state.ads(&record).await?;
    let settled = ads
        .settlement_record(month)
        .await?
        .ok_or_else(|| Problem::not_found(format!("settlement of {month} not found")))?;
    let figures = ads.settlement_figures(month).await?;
    let mut invoices = Vec::new();
    for exposure in ads.exposures().await? {
        invoices.extend(
            ads.invoices_of(&exposure.customer)
                .await?
                .into_iter()
                .filter(|i| i.month == month),
        );
    }
    let body = SettledMonth {
        month,
        record: settled,
        overall: figures.overall(),
        by_service_type: figures.by_service_type(),
        figures,
        invoices,
    };
    Ok(Reply::new(StatusCode::OK, &body)?.into_response(false))
}
