//! Catching a tenant's in-memory state up with the writes of other processes.
//!
//! A process keeps a tenant's state (dedupe engine, allocation loads and cursors, staff,
//! configuration) at a position of the tenant's [`WRITES_JOURNAL`]. When another process has
//! written since, the state used to be rebuilt from every lead and vault of the tenant (about
//! a second at 80,000 leads), so a service routing a tenant's commands to any replica rebuilt
//! at nearly every command. Now the state catches up instead: it reads the journal entries
//! after its position, then the records of the leads they name (and their vaults, and the
//! allocation cursors if an entry moved one), and applies
//! them as a rebuild would have loaded them. An entry that changed a staff member (a new or
//! updated member, a departure) has the staff read again and set as a rebuild sets them.
//!
//! A catch-up is exact or is not done: the state is rebuilt whenever
//! - an entry does not describe its write fully (written by a key rotation, or by a version
//!   of this crate before catch-ups: no `catch_up` field);
//! - the tenant's configuration changed its dedupe settings (a change of the other settings
//!   is caught up with: the configuration is read again and the allocator made again for its
//!   rules, with the loads the state counts and the stored cursors);
//! - there are more than [`MAX_ENTRIES`] entries, or more leads than a rebuild would read
//!   cheaply ([`MIN_LEADS`], or a quarter of the tenant);
//! - a lead's stored contributions do not start with the ones the engine registered for it
//!   (changed or removed, [`DedupeEngine::catch_up`](crate::dedupe::DedupeEngine::catch_up));
//! - a lead's standing cannot be brought in line as the command that changed it did (a lead
//!   merged into another than the engine knows, erased while the engine has it merged), or a
//!   lead names one the engine does not know.
//!
//! Un-merges and erasures are caught up with: the un-merged lead is unlinked (and kept apart
//! from the lead it left), the erased one forgotten with the leads merged into it, as the
//! process that made them did.
//!
//! Every read comes before the first change: a catch-up dropped at an await leaves the state
//! as it was. One that finds it cannot finish has changed the state, which its caller then
//! rebuilds. Records read may be newer than the journal head the catch-up stops at (another
//! process committed meanwhile): the state's commits stay conditional on that head, so the
//! next command is refused, catches up with the newer entries, and applying a record twice
//! changes nothing (contributions past those registered, a link or separation already known,
//! a load already moved).

use std::collections::BTreeMap;
use std::sync::Arc;

use marketingforce_core::storage::Entity;
use marketingforce_core::tenant::TenantId;
use serde::{Deserialize, Serialize};

use super::rebuild::{keys_by_origin, LeadOutline};
use super::CrmConfig;
use super::{Crm, TenantState, WRITES_JOURNAL};
use crate::allocation::{Allocator, RuleCursor};
use crate::dedupe::MatchKeys;
use crate::error::Result;
use crate::events::ReviewFact;
use crate::ids::LeadId;
use crate::model::{Lead, LeadStatus, VaultRecord};
use crate::par;
use crate::staff::Staff;

/// The most journal entries a catch-up reads; past them the state is rebuilt.
const MAX_ENTRIES: usize = 2_000;
/// The most leads a catch-up reads when that is more than a quarter of the tenant's.
const MIN_LEADS: usize = 4_000;
/// Entries read per round trip.
const PAGE: usize = 500;

/// What a write changed of the state every process keeps, beside the leads it names: the
/// pairs it put in the review queue, and whether it changed a staff member or an allocation
/// cursor. Ids only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Facts {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    proposed: Vec<(LeadId, LeadId)>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    staff: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    cursors: bool,
    /// The tenant's configuration changed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    config: bool,
}

impl Facts {
    /// The facts of a command's review-queue changes, and whether it changed a staff member or
    /// an allocation cursor.
    pub(crate) fn of(reviews: &[ReviewFact], staff: bool, cursors: bool) -> Facts {
        Facts {
            proposed: reviews
                .iter()
                .filter_map(|r| match r {
                    ReviewFact::Proposed(p) => Some((p.a, p.b)),
                    ReviewFact::Rejected(_) => None,
                })
                .collect(),
            staff,
            cursors,
            config: false,
        }
    }

    /// The facts of a configuration change: another process reads the configuration (and the
    /// allocation cursors of its rules) again.
    pub(crate) fn configured() -> Facts {
        Facts {
            config: true,
            ..Facts::default()
        }
    }
}

/// A [`WRITES_JOURNAL`] entry as read back.
#[derive(Debug, Deserialize)]
struct Entry {
    leads: Vec<LeadId>,
    #[serde(default)]
    catch_up: Option<Facts>,
}

/// What the writes after a state's position changed, read from the store.
#[derive(Debug)]
pub(super) struct Changes {
    /// The journal head the state is at once they are applied.
    head: u64,
    /// The stored leads the entries name, in id order (a lead since deleted is left out).
    outlines: Vec<LeadOutline>,
    /// Whether each of `outlines` has a vault.
    vaulted: Vec<bool>,
    /// The keys of the vaults of the leads named, by the lead each contribution was captured
    /// as, vault by vault in lead order.
    keys: Vec<BTreeMap<LeadId, Vec<MatchKeys>>>,
    proposed: Vec<(LeadId, LeadId)>,
    /// Every allocation cursor, read again when an entry changed one.
    cursors: Vec<RuleCursor>,
    /// Every staff member, read again when an entry changed one.
    staff: Option<Vec<Staff>>,
    /// The tenant's configuration, read again when an entry changed it.
    config: Option<Arc<CrmConfig>>,
    entries: usize,
}

/// What the journal entries between a state's position and the head say was written.
#[derive(Debug, Default)]
struct Journaled {
    /// The leads changed, in id order.
    named: std::collections::BTreeSet<LeadId>,
    proposed: Vec<(LeadId, LeadId)>,
    staff_changed: bool,
    cursors_changed: bool,
    config_changed: bool,
    entries: usize,
}

/// Read the [`WRITES_JOURNAL`] entries after `st`'s position up to `head`: `None` when one
/// does not describe its write, or there are too many of them or of the leads they name.
async fn entries_after(
    crm: &Crm,
    tenant: &TenantId,
    st: &TenantState,
    head: u64,
) -> Result<Option<Journaled>> {
    let most_leads = MIN_LEADS.max(st.engine.len() / 4);
    let mut journaled = Journaled::default();
    let mut after = st.position;
    while after < head {
        let page = crm
            .store
            .read_journal(tenant, WRITES_JOURNAL, after, PAGE)
            .await?;
        let from = after;
        for e in page.into_iter().take_while(|e| e.seq <= head) {
            let Ok(Entry {
                leads,
                catch_up: Some(facts),
            }) = serde_json::from_slice::<Entry>(&e.payload)
            else {
                return Ok(None);
            };
            journaled.named.extend(leads);
            journaled.proposed.extend(facts.proposed);
            journaled.staff_changed |= facts.staff;
            journaled.cursors_changed |= facts.cursors;
            journaled.config_changed |= facts.config;
            journaled.entries += 1;
            after = e.seq;
        }
        // No entry between the position and the head (the journal has none, or a gap): the
        // head cannot be reached from here.
        if after == from || journaled.entries > MAX_ENTRIES || journaled.named.len() > most_leads {
            return Ok(None);
        }
    }
    Ok(Some(journaled))
}

/// Read what the writes between `st`'s position and `head` changed: `None` when they cannot be
/// caught up with (see the [module docs](self)) and the state must be rebuilt.
pub(super) async fn read(
    crm: &Crm,
    tenant: &TenantId,
    st: &TenantState,
    head: u64,
) -> Result<Option<Changes>> {
    let Some(Journaled {
        named,
        proposed,
        staff_changed,
        cursors_changed,
        config_changed,
        entries,
    }) = entries_after(crm, tenant, st, head).await?
    else {
        return Ok(None);
    };
    let config = if config_changed {
        Some(crm.load_config(tenant).await?)
    } else {
        None
    };
    let ids: Vec<String> = named.iter().map(LeadId::to_string).collect();
    let leads = crm.store.get_many(tenant, Lead::COLLECTION, &ids).await?;
    let vaults = crm
        .store
        .get_many(tenant, VaultRecord::COLLECTION, &ids)
        .await?;
    // A new configuration's rules take the stored cursors of the rules they keep.
    let cursors = if cursors_changed || config_changed {
        marketingforce_core::storage::Collection::<RuleCursor>::new(crm.store.clone())
            .list_all(tenant)
            .await?
            .into_iter()
            .map(|v| v.value)
            .collect()
    } else {
        Vec::new()
    };
    let staff = if staff_changed {
        let all = marketingforce_core::storage::Collection::<Staff>::new(crm.store.clone())
            .list_all(tenant)
            .await?;
        Some(all.into_iter().map(|v| v.value).collect())
    } else {
        None
    };
    let indexer = crm.tenant_indexer(tenant)?;
    let records: Vec<_> = leads.into_iter().zip(vaults).collect();
    let read = par::map(&records, |(lead, vault)| {
        let outline = lead.as_ref().map(LeadOutline::decode).transpose()?;
        let keys = vault
            .as_ref()
            .map(|v| keys_by_origin(crm, tenant, &indexer, v))
            .transpose()?;
        Ok::<_, crate::CrmError>((outline, keys))
    });
    drop(records);
    let mut changes = Changes {
        head,
        outlines: Vec::new(),
        vaulted: Vec::new(),
        keys: Vec::new(),
        proposed,
        cursors,
        staff,
        config,
        entries,
    };
    for r in read {
        let (outline, keys) = r?;
        if let Some(o) = outline {
            changes.outlines.push(o);
            changes.vaulted.push(keys.is_some());
        }
        changes.keys.extend(keys);
    }
    Ok(Some(changes))
}

/// Apply `changes` to `st`. `false` when a change cannot be caught up with: `st` may then be
/// partly changed, and must be rebuilt.
pub(super) fn apply(st: &mut TenantState, changes: Changes) -> bool {
    let Changes {
        head,
        outlines,
        vaulted,
        keys,
        proposed,
        cursors,
        staff,
        config,
        entries,
    } = changes;
    // A new configuration first: its allocation rules, with the loads the state counts.
    // Changed dedupe settings change what the engine registered: the state is rebuilt.
    if let Some(config) = config {
        if config.dedupe != st.config.dedupe {
            return false;
        }
        reconfigure(st, config);
    }
    // The staff next, as a rebuild sets them before it counts the loads.
    if let Some(mut staff) = staff {
        staff.sort_by_key(|s| s.id);
        for s in &staff {
            st.alloc
                .set_staff(s.id, s.active && s.role.takes_leads(), s.capacity, s.team);
        }
        st.staff = staff.into_iter().map(|s| (s.id, s)).collect();
    }
    // Then the contributions, before any merge link, as a rebuild loads them.
    for by_origin in &keys {
        for (origin, keys) in by_origin {
            if !st.engine.catch_up(*origin, keys) {
                return false;
            }
        }
    }
    // Standings next: un-merges and merges before erasures, as an erasure forgets the leads
    // merged into the erased one (a lead un-merged from it before must not be among them).
    let (erased, kept): (Vec<_>, Vec<_>) = outlines
        .iter()
        .zip(vaulted)
        .partition(|(l, _)| matches!(l.status, LeadStatus::Erased { .. }));
    for (l, has_vault) in kept.into_iter().chain(erased) {
        if !standing_caught_up(st, l, has_vault) {
            return false;
        }
    }
    // Then what names other leads, every one of them now known.
    for l in &outlines {
        for other in &l.separated_from {
            if st.engine.separate(l.id, *other).is_err() {
                return false;
            }
        }
        let now = l.holder();
        let before = st.holders.get(&l.id).copied();
        if now != before {
            if let Some(old) = before {
                st.alloc.add_load(old, -1);
                st.holders.remove(&l.id);
            }
            if let Some(new) = now {
                st.alloc.add_load(new, 1);
                st.holders.insert(l.id, new);
            }
        }
    }
    for (a, b) in proposed {
        st.engine.mark_proposed(a, b);
    }
    for c in cursors {
        st.alloc.restore_cursor(c);
    }
    tracing::debug!(
        target: "marketingforce_crm::catch_up",
        entries,
        leads = outlines.len(),
        "caught up with other processes' writes"
    );
    st.position = head;
    true
}

/// Put `config` in place of `st`'s configuration, whose dedupe settings it keeps: the
/// allocator is made again for its rules and given the staff and the loads of the leads `st`
/// holds, as a rebuild gives them (the cursors of the rules kept are restored by the caller,
/// from the store).
pub(super) fn reconfigure(st: &mut TenantState, config: Arc<CrmConfig>) {
    let mut alloc = Allocator::new(&config.allocation);
    let mut staff: Vec<&Staff> = st.staff.values().collect();
    staff.sort_by_key(|s| s.id);
    for s in staff {
        alloc.set_staff(s.id, s.active && s.role.takes_leads(), s.capacity, s.team);
    }
    for owner in st.holders.values() {
        alloc.add_load(*owner, 1);
    }
    st.alloc = alloc;
    st.config = config;
}

/// Bring the engine's standing of lead `l` (alive, merged into which lead) in line with the
/// stored one, where a catch-up can do it as the command that changed it did: a lead merged
/// since is linked, one un-merged since is unlinked, one erased since is forgotten with the
/// leads merged into it (and one erased before this process knew it is known as erased, as
/// a rebuild knows it). `false` otherwise.
fn standing_caught_up(st: &mut TenantState, l: &LeadOutline, has_vault: bool) -> bool {
    let known = st.engine.standing(l.id);
    match l.status {
        // Known without a vault: its contributions went missing.
        LeadStatus::Active => match known {
            None => !has_vault,
            Some((true, None)) => has_vault,
            Some((true, Some(_))) => has_vault && st.engine.unlink(l.id).is_ok(),
            Some((false, _)) => false,
        },
        LeadStatus::Merged { into } => match known {
            Some((true, None)) => st.engine.link(l.id, into).is_ok(),
            Some((true, Some(parent))) => parent == into,
            _ => false,
        },
        LeadStatus::Erased { .. } => match known {
            // Erasing a lead still merged into another would forget that one's whole lineage.
            Some((true, Some(_))) => false,
            Some((true, None)) => {
                st.engine.erase(l.id);
                true
            }
            Some((false, _)) => true,
            None => {
                st.engine.load(l.id, &[]);
                st.engine.erase(l.id);
                true
            }
        },
    }
}
