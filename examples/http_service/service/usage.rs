//! Usage: `POST /tenants/{tenant}/usage` consumes metered units against the tenant's quotas;
//! `GET …/usage` and `GET …/usage/{unit}` read the balances.
//!
//! A consume is checked and applied in memory under the tenant's lock (concurrent callers never
//! exceed a quota) and answered once its usage event is durable (group commit shared with
//! concurrent callers). The usage event key is derived from the `Idempotency-Key`, so the
//! meter itself counts a retried key once even if the HTTP record was lost.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::NaiveDate;
use marketingforce::modules::catalog::UsageUnit;
use marketingforce::modules::metering::UnitBalance;
use serde::{Deserialize, Serialize};

use super::extract::{IdempotencyKey, JsonBody};
use super::idempotency::{domain_key, once, Reply};
use super::problem::Problem;
use super::state::AppState;

/// The body of `POST …/usage`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consume {
    /// The unit, e.g. `articles_published`, or a third-party `vendor.unit`.
    pub unit: UsageUnit,
    /// Units to consume (at least 1).
    pub quantity: u64,
}

/// The balances of a tenant on a date.
#[derive(Debug, Clone, Serialize)]
pub struct Balances {
    /// Today in the tenant's time zone.
    pub date: NaiveDate,
    /// Every unit with a quota valid today.
    pub units: Vec<UnitBalance>,
}

/// `POST /tenants/{tenant}/usage`.
pub async fn consume(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
    key: IdempotencyKey,
    JsonBody(request): JsonBody<Consume>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let id = record.tenant.id;
    once(&state, id, &key, "consume_usage", &request, |_| async {
        let meter = state.registry().load(&id).await?.meter();
        let consumed = meter
            .consume_durable(&request.unit, request.quantity, &domain_key(&key)?)
            .await?;
        Ok((Reply::new(StatusCode::OK, &consumed)?, Default::default()))
    })
    .await
}

/// `GET /tenants/{tenant}/usage`.
pub async fn balances(
    State(state): State<AppState>,
    Path(tenant): Path<String>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let meter = state.registry().load(&record.tenant.id).await?.meter();
    let body = Balances {
        date: state.clock().today(record.tenant.time_zone),
        units: meter.balances(),
    };
    Ok(Reply::new(StatusCode::OK, &body)?.into_response(false))
}

/// `GET /tenants/{tenant}/usage/{unit}`: an unknown unit is 404; a unit without quota today has
/// a zero balance.
pub async fn balance(
    State(state): State<AppState>,
    Path((tenant, unit)): Path<(String, String)>,
) -> Result<Response, Problem> {
    let record = state.tenant(&tenant).await?;
    let unit: UsageUnit = unit
        .parse()
        .map_err(|_| Problem::not_found(format!("usage unit {unit} not found")))?;
    let meter = state.registry().load(&record.tenant.id).await?.meter();
    Ok(Reply::new(StatusCode::OK, &meter.balance(&unit))?.into_response(false))
}
