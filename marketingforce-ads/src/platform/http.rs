//! An [`AdPlatform`] over HTTP, speaking a documented JSON protocol with configurable report
//! field names and money units.
//!
//! # Protocol
//!
//! Every request carries `Authorization: Bearer <token>`; bodies are JSON. Every response is an
//! envelope `{"code": 0, "message": "OK", "data": …}`; a non-zero `code` is a refusal carrying
//! the platform's `message`. HTTP 429 and 5xx are retried with exponential backoff
//! (`backoff_ms`, doubling, `max_retries` times) and then reported as retryable backend errors;
//! a request that exceeds `timeout_ms` is a [`Error::Timeout`] (the outcome is unknown).
//!
//! | Call | Request | `data` of the response |
//! |---|---|---|
//! | open account | `POST /accounts` `{request_id, advertiser_name, licence_number, industry, currency}` | `{account_id, status, reason?, balance}` |
//! | read account | `GET /accounts/{account_id}` | same |
//! | top up | `POST /accounts/{account_id}/topups` `{request_id, amount}` | `{request_id, status: succeeded\|processing\|failed, reason?, platform_ref}` |
//! | top-up status | `GET /accounts/{account_id}/topups/{request_id}` (HTTP 404: never received) | same |
//! | create campaign | `POST /campaigns` `{request_id, account_id, name, objective, pricing_model: cpc\|cpm\|cpt, bid, cpt_period?, daily_budget?, total_budget?, start, end?, audience}` | `{campaign_id, status}` |
//! | campaign status | `POST /campaigns/{campaign_id}/status` `{account_id, status: active\|paused\|ended}` | `{campaign_id, status}` |
//! | place ad | `POST /ads` `{request_id, account_id, campaign_id, creative_id, title, body, media, landing_url, approval_ref}` | `{ad_id}` |
//! | daily report | `GET /reports/daily?account_id=…&date=YYYY-MM-DD` | `{report_id, revision, complete, currency, <list>: [row…]}` |
//! | conversions | `GET /conversions?account_id=…&date=…` | `{list: [{order_id, click_id, campaign_id, click_time, conversion_time, order_value?}]}` |
//! | rebate statement | `GET /rebates/statement?from=…&to=…` | `{statement_id, gross_spend, lines: [{kind: standard\|progressive, basis, rate, amount}], total}` |
//!
//! Report rows use the field names of [`ReportFields`] (by default the Ocean Engine style
//! `campaign_id`, `stat_cost`, `show_cnt`, `click_cnt`, `convert_cnt` in a `list`). Every money
//! field (balances, amounts, bids, budgets, costs) is an integer in the configured
//! [`MoneyUnit`] — minor units (fen), thousandths of a minor unit, or micros — or, for
//! [`MoneyUnit::Major`], a decimal string. JSON floats are refused, never rounded silently. Dates
//! are `YYYY-MM-DD`, instants RFC 3339, rates decimal strings (`"0.05"`).

use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use marketingforce_core::adapters::ad_platform::{
    AdPlatform, CampaignRequest, CampaignStatus, ConversionEvent, CptPeriod, DailyReport,
    OpenAccountRequest, PerformanceLine, PlaceAdRequest, PlacedAd, PlatformAccount,
    PlatformAccountStatus, PlatformCampaign, Pricing, RebateKind, RebateLine, RebateStatement,
    RebateStatementRequest, ReportRequest, TopUpReceipt, TopUpRequest, TopUpStatus,
};
use marketingforce_core::money::{parse_decimal, Currency, Decimal, Money, Rate};
use marketingforce_core::telemetry;
use marketingforce_core::{Error, Result};
use reqwest::{Method, StatusCode};
use rust_decimal::prelude::ToPrimitive;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::config::Config;

/// The unit of money amounts on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum MoneyUnit {
    /// Decimal strings in the currency unit (`"12.34"`).
    Major,
    /// Integers in minor units (fen for CNY).
    Minor,
    /// Integers in thousandths of a minor unit (厘 of a fen: 1 yuan = 100,000).
    MilliMinor,
    /// Integers in millionths of the currency unit.
    Micros,
}

impl MoneyUnit {
    /// How many wire units make one currency unit (for a currency with 2 minor digits).
    pub fn per_unit(self, currency: Currency) -> Decimal {
        let minor = Decimal::from(10i64.pow(currency.minor_units()));
        match self {
            MoneyUnit::Major => Decimal::ONE,
            MoneyUnit::Minor => minor,
            MoneyUnit::MilliMinor => minor * Decimal::ONE_THOUSAND,
            MoneyUnit::Micros => Decimal::from(1_000_000),
        }
    }

    /// Decode a wire amount, naming `field` on error.
    ///
    /// # Errors
    /// A JSON float, a non-numeric string, or a fractional value for an integer unit.
    pub fn decode(self, value: &Value, currency: Currency, field: &str) -> Result<Money> {
        let raw = match value {
            Value::Number(n) => match n.as_i64() {
                Some(i) => Decimal::from(i),
                None => {
                    return Err(Error::validation(
                        field,
                        format!("{n} is not an integer; money is never accepted as a float"),
                    ))
                }
            },
            Value::String(s) => parse_decimal(s, field)?,
            other => {
                return Err(Error::validation(
                    field,
                    format!("expected an amount, got {other}"),
                ))
            }
        };
        if self != MoneyUnit::Major && raw.fract() != Decimal::ZERO {
            return Err(Error::validation(
                field,
                format!("{raw} is not a whole number of {self:?} units"),
            ));
        }
        let amount = raw
            .checked_div(self.per_unit(currency))
            .ok_or_else(|| Error::validation(field, "amount out of range"))?;
        let mut amount = amount.normalize();
        if amount.scale() < currency.minor_units() {
            amount.rescale(currency.minor_units());
        }
        Ok(Money::new(amount, currency))
    }

    /// Encode an amount.
    ///
    /// # Errors
    /// An amount finer than the unit.
    pub fn encode(self, money: &Money, field: &str) -> Result<Value> {
        if self == MoneyUnit::Major {
            return Ok(Value::String(money.amount().to_string()));
        }
        let scaled = money.amount() * self.per_unit(money.currency());
        if scaled.fract() != Decimal::ZERO {
            return Err(Error::validation(
                field,
                format!("{money} is finer than a {self:?} unit"),
            ));
        }
        let n = scaled
            .to_i64()
            .ok_or_else(|| Error::validation(field, format!("{money} is too large")))?;
        Ok(Value::from(n))
    }
}

/// Field names of report rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ReportFields {
    /// The array of rows inside `data`.
    pub list: String,
    /// Campaign id.
    pub campaign_id: String,
    /// Cost (in the money unit).
    pub cost: String,
    /// Impressions.
    pub impressions: String,
    /// Clicks.
    pub clicks: String,
    /// Conversions.
    pub conversions: String,
}

impl Default for ReportFields {
    fn default() -> Self {
        ReportFields {
            list: "list".into(),
            campaign_id: "campaign_id".into(),
            cost: "stat_cost".into(),
            impressions: "show_cnt".into(),
            clicks: "click_cnt".into(),
            conversions: "convert_cnt".into(),
        }
    }
}

/// Settings of an [`HttpAdPlatform`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HttpPlatformConfig {
    /// The platform code.
    pub code: String,
    /// Base URL, e.g. `https://ad.example.com/open_api/v1`.
    pub base_url: String,
    /// Bearer token.
    pub token: String,
    /// Currency of the accounts.
    #[serde(default)]
    pub currency: Currency,
    /// Unit of money on the wire.
    pub money_unit: MoneyUnit,
    /// Report row field names.
    #[serde(default)]
    pub report_fields: ReportFields,
    /// Per-request timeout.
    #[serde(default = "default_timeout")]
    pub timeout_ms: u64,
    /// Retries of 429/5xx answers.
    #[serde(default = "default_retries")]
    pub max_retries: u32,
    /// First backoff, doubling on each retry.
    #[serde(default = "default_backoff")]
    pub backoff_ms: u64,
}

fn default_timeout() -> u64 {
    10_000
}
fn default_retries() -> u32 {
    3
}
fn default_backoff() -> u64 {
    200
}

impl Config for HttpPlatformConfig {
    fn validate(&self) -> crate::Result<()> {
        if !(self.base_url.starts_with("http://") || self.base_url.starts_with("https://")) {
            return Err(crate::AdsError::validation(
                "base_url",
                "must be an http(s) URL",
            ));
        }
        if self.code.trim().is_empty() {
            return Err(crate::AdsError::validation("code", "must not be blank"));
        }
        if self.timeout_ms == 0 {
            return Err(crate::AdsError::validation(
                "timeout_ms",
                "must be positive",
            ));
        }
        Ok(())
    }
}

/// The HTTP adapter (see the [module docs](crate::platform::http)).
#[derive(Debug, Clone)]
pub struct HttpAdPlatform {
    config: HttpPlatformConfig,
    client: reqwest::Client,
}

impl HttpAdPlatform {
    /// An adapter with `config`.
    ///
    /// # Errors
    /// An invalid configuration, or a client that cannot be built.
    pub fn new(config: HttpPlatformConfig) -> crate::Result<HttpAdPlatform> {
        config.validate()?;
        let client = reqwest::Client::builder()
            .timeout(Duration::from_millis(config.timeout_ms))
            .build()
            .map_err(|e| Error::backend("http", false, e))?;
        Ok(HttpAdPlatform { config, client })
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.config.base_url.trim_end_matches('/'))
    }

    fn money(&self, value: &Value, field: &str) -> Result<Money> {
        self.config
            .money_unit
            .decode(value, self.config.currency, field)
    }

    fn wire(&self, money: &Money, field: &str) -> Result<Value> {
        self.config.money_unit.encode(money, field)
    }

    fn backend(&self, retryable: bool, message: String) -> Error {
        Error::backend_message(self.config.code.clone(), retryable, message)
    }

    /// Send a request; `Ok(None)` for HTTP 404 when `allow_missing`.
    async fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        allow_missing: bool,
    ) -> Result<Option<Value>> {
        let mut attempt = 0u32;
        loop {
            let url = self.url(path);
            let mut req = self
                .client
                .request(method.clone(), url.as_str())
                .bearer_auth(&self.config.token)
                .query(query);
            if let Some(b) = body {
                req = req.json(b);
            }
            let result = telemetry::http::request(
                &self.config.code,
                method.as_str(),
                url.as_str(),
                attempt + 1,
                req.send(),
                |r| r.as_ref().ok().map(|r| r.status().as_u16()),
            )
            .await;
            let response = match result {
                Ok(r) => r,
                Err(e) if e.is_timeout() => {
                    return Err(Error::Timeout {
                        operation: format!("{} {method} {path}", self.config.code),
                    })
                }
                Err(e) => {
                    if attempt < self.config.max_retries && e.is_connect() {
                        self.backoff(attempt, None).await;
                        attempt += 1;
                        continue;
                    }
                    return Err(Error::backend(self.config.code.clone(), e.is_connect(), e));
                }
            };
            let status = response.status();
            if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
                let text = response.text().await.unwrap_or_default();
                if attempt < self.config.max_retries {
                    self.backoff(attempt, Some(status.as_u16())).await;
                    attempt += 1;
                    continue;
                }
                return Err(self.backend(
                    true,
                    format!(
                        "HTTP {status} after {} retries: {text}",
                        self.config.max_retries
                    ),
                ));
            }
            if status == StatusCode::NOT_FOUND && allow_missing {
                return Ok(None);
            }
            let text = response
                .text()
                .await
                .map_err(|e| Error::backend(self.config.code.clone(), true, e))?;
            if !status.is_success() {
                return Err(self.backend(false, format!("HTTP {status}: {text}")));
            }
            let envelope: Value =
                serde_json::from_str(&text).map_err(|e| Error::Serialization {
                    what: format!("{} response to {method} {path}", self.config.code),
                    reason: e.to_string(),
                })?;
            let code = envelope.get("code").and_then(Value::as_i64).unwrap_or(-1);
            if code != 0 {
                let message = envelope
                    .get("message")
                    .and_then(Value::as_str)
                    .unwrap_or("no message");
                return Err(self.backend(
                    false,
                    format!("platform refused {method} {path}: code {code}: {message}"),
                ));
            }
            return Ok(Some(envelope.get("data").cloned().unwrap_or(Value::Null)));
        }
    }

    async fn backoff(&self, attempt: u32, status: Option<u16>) {
        let ms = self
            .config
            .backoff_ms
            .saturating_mul(1u64 << attempt.min(10));
        let wait = Duration::from_millis(ms);
        telemetry::http::retrying(&self.config.code, attempt + 1, status, wait);
        tokio::time::sleep(wait).await;
    }

    async fn get(&self, path: &str, query: &[(&str, String)]) -> Result<Value> {
        self.call(Method::GET, path, query, None, false)
            .await
            .map(Option::unwrap_or_default)
    }

    async fn post(&self, path: &str, body: &Value) -> Result<Value> {
        self.call(Method::POST, path, &[], Some(body), false)
            .await
            .map(Option::unwrap_or_default)
    }

    fn account_of(&self, data: &Value) -> Result<PlatformAccount> {
        let status = match str_field(data, "status")?.as_str() {
            "active" => PlatformAccountStatus::Active,
            "suspended" => PlatformAccountStatus::Suspended {
                reason: data
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            },
            "closed" => PlatformAccountStatus::Closed,
            other => {
                return Err(Error::validation(
                    "status",
                    format!("unknown account status {other:?}"),
                ))
            }
        };
        Ok(PlatformAccount {
            account_id: str_field(data, "account_id")?,
            status,
            balance: self.money(field(data, "balance")?, "balance")?,
        })
    }

    fn receipt_of(&self, data: &Value, amount: Money) -> Result<TopUpReceipt> {
        let status = match str_field(data, "status")?.as_str() {
            "succeeded" => TopUpStatus::Succeeded,
            "processing" => TopUpStatus::Processing,
            "failed" => TopUpStatus::Failed {
                reason: data
                    .get("reason")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
            },
            other => {
                return Err(Error::validation(
                    "status",
                    format!("unknown top-up status {other:?}"),
                ))
            }
        };
        let amount = match data.get("amount") {
            Some(v) => self.money(v, "amount")?,
            None => amount,
        };
        Ok(TopUpReceipt {
            request_id: str_field(data, "request_id")?,
            account_id: data
                .get("account_id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            amount,
            status,
            platform_ref: data
                .get("platform_ref")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
        })
    }
}

fn field<'a>(v: &'a Value, name: &str) -> Result<&'a Value> {
    v.get(name)
        .ok_or_else(|| Error::validation(name, "missing from the platform's response"))
}

fn str_field(v: &Value, name: &str) -> Result<String> {
    match field(v, name)? {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(Error::validation(
            name,
            format!("expected a string, got {other}"),
        )),
    }
}

fn count_field(v: &Value, name: &str, path: &str) -> Result<u64> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => n
            .as_u64()
            .ok_or_else(|| Error::validation(path, format!("{n} is not a non-negative integer"))),
        Some(Value::String(s)) => s
            .parse()
            .map_err(|_| Error::validation(path, format!("{s:?} is not a count"))),
        Some(other) => Err(Error::validation(
            path,
            format!("expected a count, got {other}"),
        )),
    }
}

fn date_field(v: &Value, name: &str) -> Result<NaiveDate> {
    str_field(v, name)?
        .parse()
        .map_err(|e| Error::validation(name, format!("not a YYYY-MM-DD date: {e}")))
}

fn instant_field(v: &Value, name: &str) -> Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(&str_field(v, name)?)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| Error::validation(name, format!("not RFC 3339: {e}")))
}

fn campaign_status(s: &str) -> Result<CampaignStatus> {
    match s {
        "active" => Ok(CampaignStatus::Active),
        "paused" => Ok(CampaignStatus::Paused),
        "ended" => Ok(CampaignStatus::Ended),
        other => Err(Error::validation(
            "status",
            format!("unknown campaign status {other:?}"),
        )),
    }
}

fn status_name(s: CampaignStatus) -> &'static str {
    match s {
        CampaignStatus::Active => "active",
        CampaignStatus::Paused => "paused",
        CampaignStatus::Ended => "ended",
    }
}

#[async_trait]
impl AdPlatform for HttpAdPlatform {
    fn platform_code(&self) -> &str {
        &self.config.code
    }

    async fn open_account(&self, request: &OpenAccountRequest) -> Result<PlatformAccount> {
        let data = self
            .post("/accounts", &serde_json::to_value(request)?)
            .await?;
        self.account_of(&data)
    }

    async fn account(&self, account_id: &str) -> Result<PlatformAccount> {
        match self
            .call(
                Method::GET,
                &format!("/accounts/{account_id}"),
                &[],
                None,
                true,
            )
            .await?
        {
            Some(data) => self.account_of(&data),
            None => Err(Error::not_found("ad account", account_id)),
        }
    }

    async fn top_up(&self, request: &TopUpRequest) -> Result<TopUpReceipt> {
        request.validate()?;
        let body = json!({
            "request_id": request.request_id,
            "amount": self.wire(&request.amount, "amount")?,
        });
        let data = self
            .post(&format!("/accounts/{}/topups", request.account_id), &body)
            .await?;
        self.receipt_of(&data, request.amount)
    }

    async fn top_up_status(
        &self,
        account_id: &str,
        request_id: &str,
    ) -> Result<Option<TopUpReceipt>> {
        let path = format!("/accounts/{account_id}/topups/{request_id}");
        match self.call(Method::GET, &path, &[], None, true).await? {
            Some(data) => {
                let amount = self.money(field(&data, "amount")?, "amount")?;
                self.receipt_of(&data, amount).map(Some)
            }
            None => Ok(None),
        }
    }

    async fn create_campaign(&self, request: &CampaignRequest) -> Result<PlatformCampaign> {
        request.pricing.validate("pricing")?;
        let (model, period) = match request.pricing {
            Pricing::Cpc { .. } => ("cpc", None),
            Pricing::Cpm { .. } => ("cpm", None),
            Pricing::Cpt { period, .. } => (
                "cpt",
                Some(match period {
                    CptPeriod::Hour => "hour",
                    CptPeriod::Day => "day",
                }),
            ),
        };
        let budget = |m: &Option<Money>, f: &str| -> Result<Value> {
            m.as_ref().map_or(Ok(Value::Null), |m| self.wire(m, f))
        };
        let body = json!({
            "request_id": request.request_id,
            "account_id": request.account_id,
            "name": request.name,
            "objective": request.objective,
            "pricing_model": model,
            "bid": self.wire(&request.pricing.amount(), "bid")?,
            "cpt_period": period,
            "daily_budget": budget(&request.daily_budget, "daily_budget")?,
            "total_budget": budget(&request.total_budget, "total_budget")?,
            "start": request.start.to_string(),
            "end": request.end.map(|d| d.to_string()),
            "audience": request.audience,
        });
        let data = self.post("/campaigns", &body).await?;
        Ok(PlatformCampaign {
            campaign_id: str_field(&data, "campaign_id")?,
            account_id: request.account_id.clone(),
            status: campaign_status(&str_field(&data, "status")?)?,
        })
    }

    async fn set_campaign_status(
        &self,
        account_id: &str,
        campaign_id: &str,
        status: CampaignStatus,
    ) -> Result<PlatformCampaign> {
        let body = json!({"account_id": account_id, "status": status_name(status)});
        let data = self
            .post(&format!("/campaigns/{campaign_id}/status"), &body)
            .await?;
        Ok(PlatformCampaign {
            campaign_id: campaign_id.to_string(),
            account_id: account_id.to_string(),
            status: campaign_status(&str_field(&data, "status")?)?,
        })
    }

    async fn place_ad(&self, request: &PlaceAdRequest) -> Result<PlacedAd> {
        let data = self.post("/ads", &serde_json::to_value(request)?).await?;
        Ok(PlacedAd {
            ad_id: str_field(&data, "ad_id")?,
            campaign_id: request.campaign_id.clone(),
        })
    }

    async fn daily_report(&self, request: &ReportRequest) -> Result<DailyReport> {
        let data = self
            .get(
                "/reports/daily",
                &[
                    ("account_id", request.account_id.clone()),
                    ("date", request.date.to_string()),
                ],
            )
            .await?;
        let f = &self.config.report_fields;
        let currency = match data.get("currency").and_then(Value::as_str) {
            Some(c) => c.parse()?,
            None => self.config.currency,
        };
        let rows = match data.get(&f.list) {
            Some(Value::Array(rows)) => rows.as_slice(),
            Some(Value::Null) | None => &[],
            Some(other) => {
                return Err(Error::validation(
                    f.list.clone(),
                    format!("expected an array, got {other}"),
                ))
            }
        };
        let mut lines = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let path = |name: &str| format!("{}[{i}].{name}", f.list);
            let campaign_id = str_field(row, &f.campaign_id)
                .map_err(|e| e.in_field(format!("{}[{i}]", f.list)))?;
            let cost = row
                .get(&f.cost)
                .ok_or_else(|| Error::validation(path(&f.cost), "missing"))?;
            lines.push(PerformanceLine {
                campaign_id,
                impressions: count_field(row, &f.impressions, &path(&f.impressions))?,
                clicks: count_field(row, &f.clicks, &path(&f.clicks))?,
                conversions: count_field(row, &f.conversions, &path(&f.conversions))?,
                spend: self
                    .config
                    .money_unit
                    .decode(cost, currency, &path(&f.cost))?,
            });
        }
        Ok(DailyReport {
            report_id: str_field(&data, "report_id")?,
            revision: u32::try_from(count_field(&data, "revision", "revision")?)
                .map_err(|_| Error::validation("revision", "too large"))?,
            account_id: request.account_id.clone(),
            date: request.date,
            currency,
            complete: data
                .get("complete")
                .and_then(Value::as_bool)
                .unwrap_or(false),
            lines,
        })
    }

    async fn conversions(&self, request: &ReportRequest) -> Result<Vec<ConversionEvent>> {
        let data = self
            .get(
                "/conversions",
                &[
                    ("account_id", request.account_id.clone()),
                    ("date", request.date.to_string()),
                ],
            )
            .await?;
        let rows = data
            .get("list")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        rows.iter()
            .enumerate()
            .map(|(i, row)| {
                let at = |e: Error| e.in_field(format!("list[{i}]"));
                Ok(ConversionEvent {
                    order_id: str_field(row, "order_id").map_err(at)?,
                    click_id: str_field(row, "click_id").map_err(at)?,
                    campaign_id: str_field(row, "campaign_id").map_err(at)?,
                    clicked_at: instant_field(row, "click_time").map_err(at)?,
                    converted_at: instant_field(row, "conversion_time").map_err(at)?,
                    order_value: match row.get("order_value") {
                        None | Some(Value::Null) => None,
                        Some(v) => Some(self.money(v, "order_value").map_err(at)?),
                    },
                })
            })
            .collect()
    }

    async fn rebate_statement(&self, request: &RebateStatementRequest) -> Result<RebateStatement> {
        let data = self
            .get(
                "/rebates/statement",
                &[
                    ("from", request.from.to_string()),
                    ("to", request.to.to_string()),
                ],
            )
            .await?;
        let rows = data
            .get("lines")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let mut lines = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let at = |e: Error| e.in_field(format!("lines[{i}]"));
            let kind = match str_field(row, "kind").map_err(at)?.as_str() {
                "standard" => RebateKind::Standard,
                "progressive" => RebateKind::Progressive,
                other => {
                    return Err(Error::validation(
                        format!("lines[{i}].kind"),
                        format!("unknown kind {other:?}"),
                    ))
                }
            };
            lines.push(RebateLine {
                kind,
                basis: self
                    .money(field(row, "basis").map_err(at)?, "basis")
                    .map_err(at)?,
                rate: Rate::parse_field(&str_field(row, "rate").map_err(at)?, "rate")
                    .map_err(at)?,
                amount: self
                    .money(field(row, "amount").map_err(at)?, "amount")
                    .map_err(at)?,
            });
        }
        Ok(RebateStatement {
            statement_id: str_field(&data, "statement_id")?,
            from: data
                .get("from")
                .map_or(Ok(request.from), |_| date_field(&data, "from"))?,
            to: data
                .get("to")
                .map_or(Ok(request.to), |_| date_field(&data, "to"))?,
            gross_spend: self.money(field(&data, "gross_spend")?, "gross_spend")?,
            lines,
            total: self.money(field(&data, "total")?, "total")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_units_round_trip_exactly() {
        let cny = Currency::CNY;
        let m = MoneyUnit::Minor
            .decode(&json!(123456), cny, "cost")
            .unwrap();
        assert_eq!(m.to_string(), "1234.56 CNY");
        let m = MoneyUnit::MilliMinor
            .decode(&json!(1234567), cny, "cost")
            .unwrap();
        assert_eq!(m.amount().to_string(), "12.34567");
        let m = MoneyUnit::Micros
            .decode(&json!(1_500_000), cny, "cost")
            .unwrap();
        assert_eq!(m.amount().normalize().to_string(), "1.5");
        let m = MoneyUnit::Major
            .decode(&json!("88.80"), cny, "cost")
            .unwrap();
        assert_eq!(m.to_string(), "88.80 CNY");
        assert_eq!(
            MoneyUnit::MilliMinor
                .encode(&Money::cny("1.23").unwrap(), "x")
                .unwrap(),
            json!(123000)
        );
        assert_eq!(
            MoneyUnit::Minor
                .encode(&Money::cny("1.23").unwrap(), "x")
                .unwrap(),
            json!(123)
        );
        assert!(MoneyUnit::Minor
            .encode(&Money::cny("1.234").unwrap(), "x")
            .is_err());
        let e = MoneyUnit::Minor
            .decode(&json!(12.5), cny, "list[3].stat_cost")
            .unwrap_err();
        assert!(e.to_string().contains("list[3].stat_cost"), "{e}");
        assert!(MoneyUnit::Minor.decode(&json!("12.5"), cny, "c").is_err());
        assert!(MoneyUnit::Minor.decode(&json!(true), cny, "c").is_err());
    }

    #[test]
    fn config_refuses_bad_urls() {
        let mut c = HttpPlatformConfig {
            code: "x".into(),
            base_url: "ftp://x".into(),
            token: "t".into(),
            currency: Currency::CNY,
            money_unit: MoneyUnit::Minor,
            report_fields: ReportFields::default(),
            timeout_ms: 100,
            max_retries: 0,
            backoff_ms: 1,
        };
        assert_eq!(
            HttpAdPlatform::new(c.clone()).unwrap_err().field(),
            Some("base_url")
        );
        c.base_url = "http://127.0.0.1:1".into();
        assert!(HttpAdPlatform::new(c).is_ok());
    }
}
