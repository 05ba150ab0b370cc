//! Properties: dedupe order independence and idempotence, count conservation, round-robin
//! fairness, masking, erasure leaving no trace, and points ledgers that balance.

mod common;

use marketingforce_core::IdempotencyKey;
use std::collections::{BTreeSet, HashMap};

use chrono::{Duration, TimeZone, Utc};
use common::{run, Env};
use marketingforce_core::storage::{PageRequest, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use marketingforce_crm::access::{mask_email, mask_mobile, mask_name};
use marketingforce_crm::allocation::{
    AllocationConfig, AllocationRule, Allocator, Decision, LeadFacts, Strategy as Pick,
};
use marketingforce_crm::crypto::{BlindKind, KeyRing};
use marketingforce_crm::dedupe::{DedupeConfig, DedupeEngine, MatchKeys};
use marketingforce_crm::ids::{LeadId, ProgramId, UserId};
use marketingforce_crm::membership::{Account, MembershipProgram, PointsBook};
use marketingforce_crm::model::{Actor, Identity, LeadStatus, Source};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::staff::Role;
use marketingforce_crm::CrmConfig;
use proptest::prelude::*;

const NAMES: &[&str] = &["张伟", "张玮", "李娜", "王芳", "欧阳娜娜"];
const COMPANIES: &[&str] = &[
    "华东重型机械制造",
    "华东重型机械制遭",
    "恒达科技",
    "恒达电子",
    "鼎信物流",
];

#[derive(Debug, Clone)]
struct Rec {
    mobile: Option<u8>,
    email: Option<u8>,
    person: Option<(u8, u8)>,
}

fn rec() -> impl Strategy<Value = Rec> {
    (
        proptest::option::of(0u8..6),
        proptest::option::of(0u8..6),
        proptest::option::of((0u8..5, 0u8..5)),
    )
        .prop_map(|(mobile, email, person)| Rec {
            mobile,
            email,
            person,
        })
}

fn keys(r: &Rec, indexer: &marketingforce_crm::crypto::TenantIndexer) -> MatchKeys {
    let identity = Identity {
        name: r.person.map(|(n, _)| NAMES[n as usize].to_string()),
        company: r.person.map(|(_, c)| COMPANIES[c as usize].to_string()),
        mobile: r.mobile.map(|m| format!("1380000000{m}").parse_mobile()),
        email: r
            .email
            .map(|e| marketingforce_crm::identity::Email::parse(&format!("u{e}@x.cn")).unwrap()),
        ..Identity::default()
    };
    MatchKeys::of(&identity, "own_site", indexer)
}

trait ParseMobile {
    fn parse_mobile(&self) -> marketingforce_crm::identity::MobileNumber;
}
impl ParseMobile for String {
    fn parse_mobile(&self) -> marketingforce_crm::identity::MobileNumber {
        marketingforce_crm::identity::MobileNumber::parse(self).unwrap()
    }
}

fn indexer() -> marketingforce_crm::crypto::TenantIndexer {
    let ring = std::sync::Arc::new(KeyRing::new("k", [1; 32]));
    let tenant = TenantId::from_uuid(marketingforce_core::id::Uuid::from_u128(7));
    marketingforce_crm::crypto::BlindIndexer::new(ring)
        .unwrap()
        .tenant(&tenant)
        .unwrap()
}

/// Ingest in the given order; return the partition of record indices.
fn partition(records: &[Rec], order: &[usize]) -> (BTreeSet<Vec<usize>>, DedupeEngine) {
    let indexer = indexer();
    let mut engine = DedupeEngine::new(DedupeConfig::default());
    let mut lead_of = vec![None; records.len()];
    let mut counter = 0u128;
    for &i in order {
        let k = keys(&records[i], &indexer);
        let d = engine.ingest(&k, || {
            counter += 1;
            LeadId::from_uuid(marketingforce_core::id::Uuid::from_u128(counter))
        });
        lead_of[i] = Some(d.lead());
    }
    let mut groups: HashMap<LeadId, Vec<usize>> = HashMap::new();
    for (i, l) in lead_of.iter().enumerate() {
        let root = engine.survivor(l.unwrap()).unwrap();
        groups.entry(root).or_default().push(i);
    }
    (groups.into_values().collect(), engine)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn dedupe_is_order_independent_and_idempotent(
        records in proptest::collection::vec(rec(), 1..40),
        seed in any::<u64>(),
    ) {
        let records: Vec<Rec> = records.into_iter().filter(|r| r.mobile.is_some() || r.email.is_some() || r.person.is_some()).collect();
        let n = records.len();
        let forward: Vec<usize> = (0..n).collect();
        let mut shuffled = forward.clone();
        let mut x = seed;
        for i in (1..n).rev() {
            x = marketingforce_core::id::splitmix64(x);
            shuffled.swap(i, (x % (i as u64 + 1)) as usize);
        }
        let (a, mut engine) = partition(&records, &forward);
        let (b, _) = partition(&records, &shuffled);
        prop_assert_eq!(&a, &b);
        // Ingesting everything again creates and merges nothing.
        let clusters = engine.clusters();
        let before = engine.len();
        let indexer = indexer();
        for r in &records {
            let d = engine.ingest(&keys(r, &indexer), || panic!("a replayed capture created a lead"));
            let bridged = matches!(d, marketingforce_crm::dedupe::Decision::Joined { ref merged, .. } if !merged.is_empty());
            prop_assert!(!bridged);
        }
        prop_assert_eq!(engine.len(), before);
        prop_assert_eq!(engine.clusters(), clusters);
    }

    #[test]
    fn round_robin_stays_within_one_of_fair(
        n in 1usize..6,
        regions in proptest::collection::vec(0u8..3, 1..200),
        restart_at in 0usize..200,
    ) {
        let members: Vec<UserId> = (0..n).map(|i| UserId::from_uuid(marketingforce_core::id::Uuid::from_u128(i as u128 + 1))).collect();
        let cfg = AllocationConfig {
            rules: vec![AllocationRule::new("rr", Pick::RoundRobin, members.clone()).regions(["上海", "北京"])],
            ..AllocationConfig::default()
        };
        let mut alloc = Allocator::new(&cfg);
        for m in &members { alloc.set_staff(*m, true, None, None); }
        let mut counts: HashMap<UserId, u32> = HashMap::new();
        let names = ["上海", "北京", "广州"];
        for (i, r) in regions.iter().enumerate() {
            if i == restart_at {
                // A restart: a new allocator restored from the persisted cursor.
                let cursors = alloc.take_touched();
                alloc = Allocator::new(&cfg);
                for m in &members { alloc.set_staff(*m, true, None, None); }
                for c in cursors { alloc.restore_cursor(c); }
            }
            let facts = LeadFacts { region: Some(names[*r as usize]), products: &[], source: Source::OwnSite, score: 0 };
            match alloc.decide(&facts, None) {
                Decision::Assign { to, .. } => *counts.entry(to).or_default() += 1,
                Decision::NoMatch { .. } => prop_assert_eq!(*r, 2),
            }
            let max = members.iter().map(|m| counts.get(m).copied().unwrap_or(0)).max().unwrap_or(0);
            let min = members.iter().map(|m| counts.get(m).copied().unwrap_or(0)).min().unwrap_or(0);
            prop_assert!(max - min <= 1, "{counts:?}");
        }
    }

    #[test]
    fn masked_values_never_contain_the_plaintext(
        mobile in "1[3-9][0-9]{9}",
        local in "[a-z][a-z0-9]{1,12}",
        name in "[\u{4e00}-\u{9fa5}]{2,4}",
    ) {
        let email = format!("{local}@example.com");
        prop_assert!(!mask_mobile(&mobile).contains(&mobile));
        prop_assert!(!mask_email(&email).contains(&email));
        // The domain is kept; the local part must not survive in the masked local part (the
        // whole string may contain it by chance: local "om" is in "example.com").
        let masked = mask_email(&email);
        let masked_local = masked.split('@').next().unwrap_or_default();
        prop_assert!(!masked_local.contains(&local) || local.len() <= 1, "{masked}");
        prop_assert!(!mask_name(&name).contains(&name));
        prop_assert_eq!(mask_mobile(&mobile).len(), 11);
    }

    #[test]
    fn points_ledger_balances_and_never_goes_negative(
        ops in proptest::collection::vec((0u8..5, 1u64..3000, 0i64..40), 1..60),
    ) {
        let p = MembershipProgram::example(ProgramId::new());
        let member = LeadId::new();
        let mut book = PointsBook::default();
        let mut now = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut orders = 0;
        for (op, n, days) in ops {
            now += Duration::days(days);
            book.settle(&p, now);
            match op {
                0 => { orders += 1; book.earn(&p, member, n, now, &format!("order:{orders}")); }
                1 => { let _ = book.redeem(&p, member, (n / 100).max(1) * 100, now, "r"); }
                2 => { book.reverse(&p, member, &format!("order:{orders}"), now); }
                3 => { book.settle(&p, now + Duration::days(400)); }
                _ => {}
            }
            prop_assert_eq!(book.sum(), 0);
            for a in [Account::Available, Account::Locked, Account::Redeemed, Account::Expired] {
                prop_assert!(book.balance(a) >= 0, "{a:?} negative");
            }
            prop_assert!(book.balance(Account::Issued) <= 0);
            let lots: u64 = book.lots().iter().map(|l| l.remaining).sum();
            prop_assert_eq!(i128::from(lots), book.balance(Account::Available) + book.balance(Account::Locked));
        }
    }
}

async fn dump(store: &dyn Store, tenant: &TenantId) -> String {
    let mut out = String::new();
    for c in ["crm.leads", "crm.vault", "crm.staff", "crm.alloc_cursors"] {
        let mut page = PageRequest::first(1000);
        loop {
            let p = store.list(tenant, c, &page).await.unwrap();
            for r in &p.items {
                out.push_str(&r.key);
                out.push_str(&String::from_utf8_lossy(&r.value));
            }
            match p.next {
                Some(n) => page = PageRequest::next(1000, n),
                None => break,
            }
        }
    }
    for j in ["crm.history", "crm.behaviour", "crm.access_log"] {
        for e in store.read_journal(tenant, j, 0, 100_000).await.unwrap() {
            out.push_str(&String::from_utf8_lossy(&e.payload));
        }
    }
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn no_lead_is_lost_and_erasure_leaves_no_trace(
        people in proptest::collection::vec((0u32..30, proptest::bool::ANY, 0u8..3), 2..25),
        erase_pick in 0usize..25,
    ) {
        run(async {
            let mut cfg = CrmConfig::default();
            let (a, b) = (UserId::new(), UserId::new());
            cfg.allocation.rules = vec![AllocationRule::new("rr", Pick::RoundRobin, vec![a, b]).regions(["上海"])];
            let env = Env::new(cfg);
            let (crm, t) = (&env.crm, &env.tenant);
            for id in [a, b] {
                crm.upsert_staff(t, marketingforce_crm::staff::Staff::new(id, *t, "s", Role::Salesperson, 2, env.clock.now())).await.unwrap();
            }
            let admin = env.staff(Role::Admin, 9, None).await;
            let mut mobiles = Vec::new();
            for (i, (p, with_email, region)) in people.iter().enumerate() {
                let mobile = format!("1390000{:04}", p);
                let mut r = CaptureRequest::new(Source::OwnSite).mobile(&mobile).name(format!("客户{p}")).region(["上海", "北京", "广州"][*region as usize]);
                if *with_email { r = r.email(format!("c{p}@corp.cn")); }
                crm.capture(t, r, &IdempotencyKey::new(format!("c{i}")).unwrap()).await.unwrap();
                mobiles.push(mobile);
            }
            let created = crm.all_leads(t).await.unwrap();
            let ids: BTreeSet<LeadId> = created.iter().map(|l| l.id).collect();
            let all: Vec<LeadId> = ids.iter().copied().collect();
            crm.allocate(t, &all, &IdempotencyKey::from_static("alloc")).await.unwrap();
            if all.len() >= 2 {
                crm.merge(t, all[0], all[1], &Actor::system("ops"), &IdempotencyKey::from_static("merge")).await.unwrap();
            }
            crm.depart(t, &a, &IdempotencyKey::from_static("depart")).await.unwrap();
            env.clock.advance(Duration::days(200));
            crm.sweep(t, &IdempotencyKey::from_static("sweep")).await.unwrap();
            let after = crm.all_leads(t).await.unwrap();
            // Conservation: every lead is still there, live or merged into a live one.
            assert_eq!(after.iter().map(|l| l.id).collect::<BTreeSet<_>>(), ids);
            for l in &after {
                match l.status {
                    LeadStatus::Active => {}
                    LeadStatus::Merged { into } => assert!(after.iter().any(|x| x.id == into && x.is_active())),
                    LeadStatus::Erased { .. } => panic!("nothing was erased"),
                }
            }
            // Erase one contact and scan the whole store.
            let target = all[erase_pick % all.len()];
            let survivor = crm.survivor(t, &target).await.unwrap();
            let export = crm.export_contact(t, &survivor, &Actor::User(admin)).await.unwrap();
            let mut secrets: Vec<String> = export.captures.iter().flat_map(|c| c.values.values().cloned()).collect();
            secrets.retain(|s| s.chars().count() >= 3);
            let indexer = crm.indexer();
            let mut blind = Vec::new();
            for c in &export.captures {
                for (f, v) in &c.values {
                    let kind = match f {
                        marketingforce_crm::survivorship::Field::Mobile => BlindKind::Mobile,
                        marketingforce_crm::survivorship::Field::Email => BlindKind::Email,
                        _ => continue,
                    };
                    blind.extend(indexer.lookup_values(t, kind, v).unwrap());
                }
            }
            assert!(!blind.is_empty());
            let before = dump(env.store.as_ref(), t).await;
            assert!(blind.iter().any(|b| before.contains(b.as_str())), "the scan sees blind indexes");
            crm.erase_contact(t, &survivor, &Actor::User(admin), &IdempotencyKey::from_static("erase")).await.unwrap();
            let text = dump(env.store.as_ref(), t).await;
            for s in &secrets {
                assert!(!text.contains(s.as_str()), "plaintext {s} survived erasure");
            }
            for b in &blind {
                let mac = b.split_once(':').map_or(b.as_str(), |x| x.1);
                assert!(!text.contains(mac), "blind index {b} survived erasure");
            }
            // Aggregates still count the erased lead.
            let total = crm.all_leads(t).await.unwrap().len();
            assert_eq!(total, ids.len());
            // Masked views of every remaining live lead hold no plaintext of any capture.
            for l in crm.all_leads(t).await.unwrap().iter().filter(|l| l.is_active()) {
                let v = crm.view_lead(t, &admin, &l.id, None).await.unwrap();
                let shown = serde_json::to_string(&v).unwrap();
                for m in &mobiles {
                    assert!(!shown.contains(m.as_str()));
                }
            }
        });
    }
}
