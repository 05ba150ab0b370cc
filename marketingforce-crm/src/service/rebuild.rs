//! Reading what a rebuild of a tenant's state needs from its leads and vaults.
//!
//! A process rebuilds a tenant's state at its first command for the tenant and whenever
//! another process wrote the tenant since (`Crm::state`), so its time is paid per command
//! under random routing. The leads and vaults are read a page at a time; a
//! page's records are decoded over the cores — a lead only as far as the state needs it
//! ([`LeadOutline`]), a vault opened and turned into the match keys of its contributions — and
//! handed back in key order, so the state is built exactly as from whole collections.
//!
//! The threads only read a page; the calling thread, which read it, frees it (see [`par`]).

use std::collections::BTreeMap;

use marketingforce_core::storage::{decode_record, Entity, PageRequest, Record};
use marketingforce_core::tenant::TenantId;
use serde::Deserialize;

use super::Crm;
use crate::crypto::TenantIndexer;
use crate::dedupe::MatchKeys;
use crate::error::Result;
use crate::ids::{LeadId, UserId};
use crate::model::{Lead, LeadStatus, Stage, VaultRecord};
use crate::par;

/// Records per read.
const PAGE: usize = 1_000;

/// What a rebuild reads of a stored [`Lead`]: the fields below, under the same names and
/// defaults; the rest of the record is skipped, not decoded.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub(super) struct LeadOutline {
    pub(super) id: LeadId,
    pub(super) status: LeadStatus,
    pub(super) stage: Stage,
    #[serde(default)]
    pub(super) owner: Option<UserId>,
    #[serde(default)]
    pub(super) separated_from: Vec<LeadId>,
}

impl LeadOutline {
    pub(super) fn decode(record: &Record) -> Result<LeadOutline> {
        Ok(decode_record(Lead::COLLECTION, record)?)
    }

    /// The owner the lead's open load counts against, as [`super::load_holder`] tells of a
    /// whole lead.
    pub(super) fn holder(&self) -> Option<UserId> {
        match self.status {
            LeadStatus::Active if self.stage.is_open() => self.owner,
            _ => None,
        }
    }
}

/// Every page of `collection`, in key order, each mapped by `f` (on the calling thread).
async fn each_page(
    crm: &Crm,
    tenant: &TenantId,
    collection: &str,
    mut f: impl FnMut(&[Record]) -> Result<()>,
) -> Result<()> {
    let mut page = PageRequest::first(PAGE);
    loop {
        let p = crm.store.list(tenant, collection, &page).await?;
        f(&p.items)?;
        match p.next {
            Some(c) => page = PageRequest::next(PAGE, c),
            None => return Ok(()),
        }
    }
}

/// The outline of every lead of `tenant`, in key order.
pub(super) async fn lead_outlines(crm: &Crm, tenant: &TenantId) -> Result<Vec<LeadOutline>> {
    let mut out = Vec::new();
    each_page(crm, tenant, Lead::COLLECTION, |records| {
        for outline in par::map(records, LeadOutline::decode) {
            out.push(outline?);
        }
        Ok(())
    })
    .await?;
    Ok(out)
}

/// The match keys of every vault's contributions, by the lead each was captured as (in lead
/// order, the vault's own lead included, with no keys when it holds no contribution of its
/// own), vault by vault in key order: `load` gets them in the order a rebuild loads them into
/// the engine.
pub(super) async fn vault_keys(
    crm: &Crm,
    tenant: &TenantId,
    indexer: &TenantIndexer,
    mut load: impl FnMut(LeadId, Vec<MatchKeys>),
) -> Result<()> {
    each_page(crm, tenant, VaultRecord::COLLECTION, |records| {
        let keyed = par::map(records, |record| {
            keys_by_origin(crm, tenant, indexer, record)
        });
        for by_origin in keyed {
            for (lead, keys) in by_origin? {
                load(lead, keys);
            }
        }
        Ok(())
    })
    .await
}

/// The match keys of a stored vault's contributions, by the lead each was captured as, the
/// vault's own lead included (with no keys when it holds no contribution of its own).
pub(super) fn keys_by_origin(
    crm: &Crm,
    tenant: &TenantId,
    indexer: &TenantIndexer,
    record: &Record,
) -> Result<BTreeMap<LeadId, Vec<MatchKeys>>> {
    let vault: VaultRecord = decode_record(VaultRecord::COLLECTION, record)?;
    let pii = crm.open_vault(tenant, &vault)?;
    let mut by_origin: BTreeMap<LeadId, Vec<MatchKeys>> = BTreeMap::new();
    by_origin.entry(vault.lead).or_default();
    for c in &pii.contributions {
        by_origin.entry(c.origin).or_default().push(MatchKeys::of(
            &c.identity,
            c.source.as_str(),
            indexer,
        ));
    }
    Ok(by_origin)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A stored lead as the CRM writes it.
    const STORED: &str = r#"{"id":"lead_01a24f3f6fa9733eb52db8fe7a1c246f","tenant":"tenant_01a24f3f6f99774bbb6f33c50162d3d5","status":{"status":"active"},"stage":"new","reached":1,"identity":{"name":true,"mobile":true,"phone":false,"email":true,"wecom_id":false,"company":true,"date_of_birth":false,"id_document":false,"postcode":false,"address":false,"wechat":false,"company_code":false},"touches":[{"source":"offline_qr","campaign":"c7","domain":"public","region":"南京","product_interest":["Lite"],"at":"2026-04-15T11:41:00Z","origin":"lead_01a24f3f6fa9733eb52db8fe7a1c246f"}],"region":"南京","product_interest":["Lite"],"score":27,"scoring":{"totals":{"captured":11.648654590200053},"as_of":"2026-04-15T11:41:00Z"},"created_at":"2026-04-15T11:41:00Z","updated_at":"2026-04-15T11:41:00Z","stage_changed_at":"2026-04-15T11:41:00Z"}"#;

    #[test]
    fn an_outline_reads_what_a_whole_lead_reads() {
        let other = "lead_01a24f3f6fa9733eb52db8ffc75ba519";
        let owner = UserId::new().to_string();
        let variants = [
            serde_json::json!({}),
            serde_json::json!({"owner": owner, "stage": "qualified", "separated_from": [other]}),
            serde_json::json!({"status": {"status": "merged", "into": other}, "owner": owner}),
            serde_json::json!({
                "status": {"status": "erased", "at": "2026-05-01T00:00:00Z"},
                "stage": "lost",
                "separated_from": [other, "lead_01a24f3f6fa9733eb52db9001ad77d5a"],
            }),
        ];
        for changes in variants {
            let mut value: serde_json::Value = serde_json::from_str(STORED).unwrap();
            for (k, v) in changes.as_object().unwrap() {
                value[k] = v.clone();
            }
            let record = Record {
                key: "lead_01a24f3f6fa9733eb52db8fe7a1c246f".into(),
                version: 3,
                value: serde_json::to_vec(&value).unwrap(),
            };
            let lead: Lead = serde_json::from_value(value).unwrap();
            assert_eq!(
                LeadOutline::decode(&record).unwrap(),
                LeadOutline {
                    id: lead.id,
                    status: lead.status,
                    stage: lead.stage,
                    owner: lead.owner,
                    separated_from: lead.separated_from.clone(),
                },
                "{changes}"
            );
        }
        let bad = Record {
            key: "lead_x".into(),
            version: 1,
            value: b"{\"id\":1}".to_vec(),
        };
        let e = LeadOutline::decode(&bad).unwrap_err().to_string();
        assert!(e.contains("crm.leads/lead_x"), "{e}");
    }
}
