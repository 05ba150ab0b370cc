//! Advertiser accounts: information and status (`2/advertiser/info/`), funds
//! (`2/advertiser/fund/get/`), the agent's advertisers (`2/agent/advertiser/select/`), linking
//! an account the agent opened to our customer, and agent transfers
//! (`v3.0/cg_transfer/create_transfer/`, `v3.0/cg_transfer/query_transfer_detail/`).
//!
//! Money: balances arrive as JSON numbers in yuan and are read exactly; transfers go out and
//! come back in whole fen.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use marketingforce_core::adapters::ad_platform::{
    OpenAccountRequest, PlatformAccount, PlatformAccountStatus, TopUpReceipt, TopUpRequest,
    TopUpStatus,
};
use marketingforce_core::money::Money;
use marketingforce_core::storage::Entity;
use marketingforce_core::{Error, Result};

use super::client::Call;
use super::codes::{ObjectFailure, OceanEngineError};
use super::json::Out;
use super::platform::{request_key, OceanEnginePlatform};
use super::wire;

/// An advertiser account's review/delivery status (`status` of `2/advertiser/info/`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum AdvertiserStatus {
    /// `STATUS_ENABLE`: reviewed, can deliver.
    Enable,
    /// `STATUS_DISABLE`: disabled.
    Disable,
    /// `STATUS_LIMIT`: restricted.
    Limit,
    /// `STATUS_PENDING_CONFIRM`, `STATUS_PENDING_VERIFIED`, `STATUS_PENDING_CONFIRM_MODIFY`,
    /// `STATUS_WAIT_FOR_BPM_AUDIT`, `STATUS_WAIT_FOR_PUBLIC_AUTH`,
    /// `STATUS_SELF_SERVICE_UNAUDITED`: waiting for a review (the wire value kept).
    Pending(String),
    /// `STATUS_CONFIRM_FAIL`, `STATUS_CONFIRM_MODIFY_FAIL`: the review refused it (may be fixed).
    ReviewRefused(String),
    /// `STATUS_CONFIRM_FAIL_END`: refused for good.
    RefusedForGood,
    /// A value this release does not know, kept as sent (and reported as a notice).
    Unknown(String),
}

impl AdvertiserStatus {
    /// Read the wire value.
    pub fn from_wire(s: &str) -> AdvertiserStatus {
        match s {
            "STATUS_ENABLE" => AdvertiserStatus::Enable,
            "STATUS_DISABLE" => AdvertiserStatus::Disable,
            "STATUS_LIMIT" => AdvertiserStatus::Limit,
            "STATUS_PENDING_CONFIRM"
            | "STATUS_PENDING_VERIFIED"
            | "STATUS_PENDING_CONFIRM_MODIFY"
            | "STATUS_WAIT_FOR_BPM_AUDIT"
            | "STATUS_WAIT_FOR_PUBLIC_AUTH"
            | "STATUS_SELF_SERVICE_UNAUDITED" => AdvertiserStatus::Pending(s.to_string()),
            "STATUS_CONFIRM_FAIL" | "STATUS_CONFIRM_MODIFY_FAIL" => {
                AdvertiserStatus::ReviewRefused(s.to_string())
            }
            "STATUS_CONFIRM_FAIL_END" => AdvertiserStatus::RefusedForGood,
            other => AdvertiserStatus::Unknown(other.to_string()),
        }
    }

    /// The account status the rest of the SDK sees. Only `STATUS_ENABLE` is active; anything
    /// unknown is treated as suspended (no top-ups, no delivery) until a person looks.
    pub fn account_status(&self, reason: &str) -> PlatformAccountStatus {
        let why = |what: &str| {
            if reason.is_empty() {
                what.to_string()
            } else {
                format!("{what}: {reason}")
            }
        };
        match self {
            AdvertiserStatus::Enable => PlatformAccountStatus::Active,
            AdvertiserStatus::RefusedForGood => PlatformAccountStatus::Closed,
            AdvertiserStatus::Disable => PlatformAccountStatus::Suspended {
                reason: why("disabled (STATUS_DISABLE)"),
            },
            AdvertiserStatus::Limit => PlatformAccountStatus::Suspended {
                reason: why("restricted (STATUS_LIMIT)"),
            },
            AdvertiserStatus::Pending(s) => PlatformAccountStatus::Suspended {
                reason: why(&format!("waiting for review ({s})")),
            },
            AdvertiserStatus::ReviewRefused(s) => PlatformAccountStatus::Suspended {
                reason: why(&format!("refused by review ({s})")),
            },
            AdvertiserStatus::Unknown(s) => PlatformAccountStatus::Suspended {
                reason: why(&format!("unrecognised status {s}")),
            },
        }
    }
}

/// An advertiser account as `2/advertiser/info/` describes it (no contact fields are asked for).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvertiserInfo {
    /// The advertiser id.
    pub id: String,
    /// The account name.
    pub name: String,
    /// Status.
    pub status: AdvertiserStatus,
    /// The review's reason, when refused.
    pub reason: String,
    /// The business licence number (unified social credit code) on the account.
    pub licence_number: String,
}

/// An account's funds (`2/advertiser/fund/get/`), exact.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fund {
    /// The advertiser id.
    pub advertiser_id: String,
    /// Total balance (账户总余额).
    pub balance: Money,
    /// Balance available for delivery (账户可用总余额).
    pub valid_balance: Money,
    /// Cash balance.
    pub cash: Money,
    /// Grant (赠款) balance.
    pub grant: Money,
}

/// The state of an agent transfer (`transfer_status`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum TransferState {
    /// `NO_TRANSFER`: not started.
    NotStarted,
    /// `TRANSFER_ING`: in progress.
    InProgress,
    /// `TRANSFER_SUCCESS`: done (final).
    Succeeded,
    /// `TRANSFER_FAILED`: refused, nothing moved (final).
    Failed,
    /// `TRANSFER_PART`: partly done (final).
    Partial,
    /// A value this release does not know.
    Unknown(String),
}

impl TransferState {
    /// Read the wire value.
    pub fn from_wire(s: &str) -> TransferState {
        match s {
            "NO_TRANSFER" => TransferState::NotStarted,
            "TRANSFER_ING" => TransferState::InProgress,
            "TRANSFER_SUCCESS" => TransferState::Succeeded,
            "TRANSFER_FAILED" => TransferState::Failed,
            "TRANSFER_PART" => TransferState::Partial,
            other => TransferState::Unknown(other.to_string()),
        }
    }
}

/// An agent transfer as `query_transfer_detail` reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    /// The platform's transfer number.
    pub serial: String,
    /// State.
    pub state: TransferState,
    /// Total amount (exact, from fen).
    pub amount: Money,
    /// Why it failed, when it did.
    pub fail_reason: String,
}

/// Which request linked an advertiser account to a customer (collection
/// `ads.oceanengine.links`): two customers never get the same account, and a replayed
/// `open_account` gets the account it got the first time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountLink {
    /// The advertiser id.
    pub advertiser_id: String,
    /// Hash of the `OpenAccountRequest::request_id` that linked it.
    pub request: String,
}

impl Entity for AccountLink {
    const COLLECTION: &'static str = "ads.oceanengine.links";
    fn key(&self) -> String {
        self.advertiser_id.clone()
    }
}

pub(crate) fn check_id(id: &str, field: &str) -> Result<()> {
    if super::config::all_digits(id) {
        Ok(())
    } else {
        Err(Error::validation(
            field,
            format!("{id:?} is not an Ocean Engine account id"),
        ))
    }
}

impl OceanEnginePlatform {
    /// Accounts' information and status (up to 100 ids per call; more are fetched in chunks).
    ///
    /// # Errors
    /// A validation error on a non-numeric id, platform errors.
    pub async fn advertiser_info(&self, ids: &[String]) -> Result<Vec<AdvertiserInfo>> {
        let mut out = Vec::with_capacity(ids.len());
        for (i, id) in ids.iter().enumerate() {
            check_id(id, &format!("ids[{i}]"))?;
        }
        for chunk in ids.chunks(100) {
            let call = Call::get("2/advertiser/info/")
                .json_param(
                    "advertiser_ids",
                    &Out::Arr(chunk.iter().map(|id| Out::id(id)).collect()),
                )
                .json_param(
                    "fields",
                    &Out::strs(["id", "name", "status", "reason", "license_no"]),
                );
            let data = self.client.call(&call).await?;
            // The data is the list itself (older answers wrap it in `list`).
            let rows: &[Value] = match &data {
                Value::Array(rows) => rows,
                other => wire::rows(other, "list", "data")?,
            };
            for (i, row) in rows.iter().enumerate() {
                let path = format!("data[{i}]");
                let status_text = wire::opt_text(row, "status", &path)?;
                let status = AdvertiserStatus::from_wire(&status_text);
                if let AdvertiserStatus::Unknown(s) = &status {
                    self.client.notice(
                        "advertiser.status",
                        s,
                        "treated as suspended until a person looks",
                    );
                }
                out.push(AdvertiserInfo {
                    id: wire::id(wire::field(row, "id", &path)?, &wire::at(&path, "id"))?,
                    name: wire::opt_text(row, "name", &path)?,
                    status,
                    reason: wire::opt_text(row, "reason", &path)?,
                    licence_number: wire::opt_text(row, "license_no", &path)?,
                });
            }
        }
        Ok(out)
    }

    /// An account's funds, exact.
    ///
    /// # Errors
    /// A validation error on a bad id or amount, platform errors.
    pub async fn fund(&self, advertiser_id: &str) -> Result<Fund> {
        check_id(advertiser_id, "advertiser_id")?;
        let call = Call::get("2/advertiser/fund/get/")
            .for_advertiser(advertiser_id)
            .param("advertiser_id", advertiser_id);
        let data = self.client.call(&call).await?;
        let c = self.client.config.currency;
        let dp = self.client.config.money_decimals;
        Ok(Fund {
            advertiser_id: advertiser_id.to_string(),
            balance: wire::money(
                wire::field(&data, "balance", "data")?,
                "data.balance",
                c,
                dp,
            )?,
            valid_balance: wire::money_or_zero(&data, "valid_balance", "data", c, dp)?,
            cash: wire::money_or_zero(&data, "cash", "data", c, dp)?,
            grant: wire::money_or_zero(&data, "grant", "data", c, dp)?,
        })
    }

    /// The advertiser ids under the configured agent, all pages.
    ///
    /// # Errors
    /// [`OceanEngineError::Unsupported`] without `agent_id`, platform errors.
    pub async fn agent_advertisers(&self) -> Result<Vec<String>> {
        let agent = self.agent("agent_advertisers")?;
        let mut ids = Vec::new();
        let mut page = 1u64;
        loop {
            let call = Call::get("2/agent/advertiser/select/")
                .param("advertiser_id", agent.clone())
                .param("page", page.to_string())
                .param("page_size", "100");
            let data = self.client.call(&call).await?;
            for (i, v) in wire::rows(&data, "list", "data")?.iter().enumerate() {
                ids.push(wire::id(v, &format!("data.list[{i}]"))?);
            }
            let info = wire::page_info(&data, "data")?;
            if info.total_page <= page || page >= u64::from(self.client.config.max_report_pages) {
                return Ok(ids);
            }
            page += 1;
        }
    }

    pub(crate) fn agent(&self, operation: &str) -> Result<String> {
        self.client.config.agent_id.clone().ok_or_else(|| {
            OceanEngineError::Unsupported {
                operation: operation.to_string(),
                why: "set `agent_id` in the configuration: it is an agent (代理商) operation"
                    .into(),
            }
            .into_core()
        })
    }

    /// Status and balance of an account.
    pub(crate) async fn platform_account(&self, advertiser_id: &str) -> Result<PlatformAccount> {
        check_id(advertiser_id, "account_id")?;
        let info = self
            .advertiser_info(&[advertiser_id.to_string()])
            .await?
            .into_iter()
            .find(|i| i.id == advertiser_id)
            .ok_or_else(|| Error::not_found("Ocean Engine advertiser", advertiser_id))?;
        let fund = self.fund(advertiser_id).await?;
        Ok(PlatformAccount {
            account_id: advertiser_id.to_string(),
            status: info.status.account_status(&info.reason),
            balance: fund.balance,
        })
    }

    /// `open_account`: link an account the agent opened (in the agent console, with the
    /// platform's qualification review) for the customer's licence number.
    pub(crate) async fn link_account(
        &self,
        request: &OpenAccountRequest,
    ) -> Result<PlatformAccount> {
        let mine = request_key(&request.request_id);
        let licence = request.licence_number.trim().to_ascii_uppercase();
        if licence.is_empty() {
            return Err(Error::validation("licence_number", "must not be blank"));
        }
        let ids = self.agent_advertisers().await?;
        let mut candidates = Vec::new();
        for chunk in ids.chunks(100) {
            for info in self.advertiser_info(chunk).await? {
                if info.licence_number.trim().to_ascii_uppercase() == licence {
                    candidates.push(info.id);
                }
            }
        }
        let links =
            marketingforce_core::storage::Collection::<AccountLink>::new(self.store.clone());
        // A replay gets the account it got the first time.
        for id in &candidates {
            if let Some(l) = links.get(&self.tenant, id).await? {
                if l.value.request == mine {
                    return self.platform_account(id).await;
                }
            }
        }
        for id in &candidates {
            let link = AccountLink {
                advertiser_id: id.clone(),
                request: mine.clone(),
            };
            match links.insert(&self.tenant, &link).await {
                Ok(_) => return self.platform_account(id).await,
                Err(Error::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(Error::not_found(
            "unlinked Ocean Engine advertiser account with the customer's licence number under agent",
            self.agent("open_account")?,
        ))
    }

    /// `top_up`: an agent transfer into the account, idempotent by the request id (sent as
    /// `biz_request_no`, which the platform treats as the transfer's idempotency key).
    pub(crate) async fn transfer_in(&self, request: &TopUpRequest) -> Result<TopUpReceipt> {
        request.validate()?;
        check_id(&request.account_id, "account_id")?;
        let agent = self.agent("top_up")?;
        if request.amount.currency() != self.client.config.currency {
            return Err(Error::validation(
                "amount",
                format!(
                    "must be in {}, the account's currency",
                    self.client.config.currency
                ),
            ));
        }
        // Whole fen (validated above), never rounded.
        let fen = request
            .amount
            .to_minor()
            .ok_or_else(|| Error::validation("amount", "must be a whole number of fen"))?;
        let biz = request_key(&request.request_id);
        let body = Out::obj([
            ("biz_request_no", Out::str(&biz)),
            ("agent_id", Out::id(&agent)),
            ("account_id", Out::id(&agent)),
            (
                "target_account_detail_list",
                Out::Arr(vec![Out::obj([
                    ("account_id", Out::id(&request.account_id)),
                    (
                        "transfer_capital_detail_list",
                        Out::Arr(vec![Out::obj([
                            ("capital_type", Out::str(&self.client.config.capital_type)),
                            ("transfer_balance", Out::int(fen)),
                        ])]),
                    ),
                ])]),
            ),
            ("transfer_direction", Out::str("TRANSFER_IN")),
        ]);
        let call = Call::post("v3.0/cg_transfer/create_transfer/", body)
            .for_advertiser(&request.account_id);
        let data = match self.client.call(&call).await {
            Ok(data) => data,
            Err(e) => {
                // A replay the platform refuses as a duplicate: the first attempt's transfer
                // exists and is the answer.
                if matches!(
                    OceanEngineError::find(&e),
                    Some(OceanEngineError::Refused { .. })
                ) {
                    if let Ok(Some(t)) = self.transfer(&request.request_id).await {
                        let serial = t.serial.clone();
                        return Ok(self.receipt(request, serial, Some(t)));
                    }
                }
                return Err(e);
            }
        };
        let serial = wire::opt_text(&data, "transfer_serial", "data")?;
        // The creation only says "accepted"; the detail says whether it is done.
        let state = match self.transfer(&request.request_id).await {
            Ok(Some(t)) => Some(t),
            Ok(None) | Err(_) => None,
        };
        Ok(self.receipt(request, serial, state))
    }

    fn receipt(
        &self,
        request: &TopUpRequest,
        serial: String,
        transfer: Option<Transfer>,
    ) -> TopUpReceipt {
        let (status, platform_ref, amount) = match transfer {
            None => (TopUpStatus::Processing, serial, request.amount),
            Some(t) => {
                let status = match &t.state {
                    TransferState::Succeeded => TopUpStatus::Succeeded,
                    TransferState::Failed => TopUpStatus::Failed {
                        reason: if t.fail_reason.is_empty() {
                            "TRANSFER_FAILED".into()
                        } else {
                            t.fail_reason.clone()
                        },
                    },
                    TransferState::NotStarted | TransferState::InProgress => {
                        TopUpStatus::Processing
                    }
                    TransferState::Partial => TopUpStatus::Processing,
                    TransferState::Unknown(s) => {
                        self.client.notice(
                            "transfer.status",
                            s,
                            "treated as processing: ask again",
                        );
                        TopUpStatus::Processing
                    }
                };
                let amount = if t.amount.is_zero() {
                    request.amount
                } else {
                    t.amount
                };
                (
                    status,
                    if t.serial.is_empty() {
                        serial
                    } else {
                        t.serial
                    },
                    amount,
                )
            }
        };
        TopUpReceipt {
            request_id: request.request_id.clone(),
            account_id: request.account_id.clone(),
            amount,
            status,
            platform_ref,
        }
    }

    /// The transfer made for `request_id`, or `None` when the platform has none.
    ///
    /// # Errors
    /// [`OceanEngineError::PartialFailure`] for a transfer the platform split (`TRANSFER_PART`,
    /// final: reconcile by hand), platform errors.
    pub async fn transfer(&self, request_id: &str) -> Result<Option<Transfer>> {
        let agent = self.agent("top_up_status")?;
        let call = Call::get("v3.0/cg_transfer/query_transfer_detail/")
            .param("biz_request_no", request_key(&super::auth::nonce()))
            .param("agent_id", agent)
            .param("transfer_biz_request_no", request_key(request_id));
        let data = self.client.call(&call).await?;
        if data.is_null() || wire::opt_text(&data, "transfer_serial", "data")?.is_empty() {
            return Ok(None);
        }
        let state_text = wire::opt_text(&data, "transfer_status", "data")?;
        let state = TransferState::from_wire(&state_text);
        let fen = wire::count(&data, "transfer_amount", "data")?;
        let fen = i64::try_from(fen)
            .map_err(|_| Error::validation("data.transfer_amount", "out of range"))?;
        let mut fail_reason = String::new();
        let mut failures = Vec::new();
        for (i, target) in wire::rows(&data, "transfer_target_record_list", "data")?
            .iter()
            .enumerate()
        {
            let path = format!("data.transfer_target_record_list[{i}]");
            for (j, capital) in wire::rows(target, "transfer_capital_record_list", &path)?
                .iter()
                .enumerate()
            {
                let reason = wire::opt_text(
                    capital,
                    "fail_reason",
                    &format!("{path}.transfer_capital_record_list[{j}]"),
                )?;
                if !reason.is_empty() {
                    fail_reason = reason.clone();
                    failures.push(ObjectFailure {
                        id: wire::opt_text(target, "target_account_id", &path)?,
                        code: None,
                        message: reason,
                    });
                }
            }
        }
        if state == TransferState::Partial {
            return Err(OceanEngineError::PartialFailure {
                endpoint: "v3.0/cg_transfer/query_transfer_detail/".into(),
                failures,
            }
            .into_core());
        }
        Ok(Some(Transfer {
            serial: wire::opt_text(&data, "transfer_serial", "data")?,
            state,
            amount: Money::from_minor(fen, self.client.config.currency),
            fail_reason,
        }))
    }

    /// `top_up_status`.
    pub(crate) async fn transfer_status(
        &self,
        account_id: &str,
        request_id: &str,
    ) -> Result<Option<TopUpReceipt>> {
        check_id(account_id, "account_id")?;
        let Some(t) = self.transfer(request_id).await? else {
            return Ok(None);
        };
        let request = TopUpRequest {
            request_id: request_id.to_string(),
            account_id: account_id.to_string(),
            amount: t.amount,
        };
        let serial = t.serial.clone();
        Ok(Some(self.receipt(&request, serial, Some(t))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_conservatively() {
        assert_eq!(
            AdvertiserStatus::from_wire("STATUS_ENABLE").account_status(""),
            PlatformAccountStatus::Active
        );
        assert_eq!(
            AdvertiserStatus::from_wire("STATUS_CONFIRM_FAIL_END").account_status(""),
            PlatformAccountStatus::Closed
        );
        let unknown = AdvertiserStatus::from_wire("STATUS_FROZEN_2027");
        assert_eq!(
            unknown,
            AdvertiserStatus::Unknown("STATUS_FROZEN_2027".into())
        );
        match unknown.account_status("") {
            PlatformAccountStatus::Suspended { reason } => {
                assert!(reason.contains("STATUS_FROZEN_2027"))
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            TransferState::from_wire("TRANSFER_ING"),
            TransferState::InProgress
        );
        assert!(check_id("17600000000000001", "a").is_ok());
        assert!(check_id("17a", "a").is_err());
    }
}
