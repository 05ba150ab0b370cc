//! The matching engine in the public capture path: the new identity fields (validation,
//! sealing, import), exact matching on ID documents and WeChat ids, the three bands
//! (auto-merge, review queue, distinct), the review queue across processes, remembered
//! rejections, unmatched captures, and the explanation in the merge lineage.

mod common;

use std::sync::Arc;

use common::{run, Env};
use marketingforce_core::storage::{MemoryStore, SqliteStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::dedupe::MatchRule;
use marketingforce_crm::model::{Actor, LeadStatus, ReviewStatus, Source};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::{CaptureOutcome, Crm, CrmConfig, CrmError};

fn req(source: Source) -> CaptureRequest {
    CaptureRequest::new(source)
}

fn from(source: Source, mut r: CaptureRequest) -> CaptureRequest {
    r.source = source;
    r
}

fn key(s: &str) -> IdempotencyKey {
    IdempotencyKey::new(s).unwrap()
}

/// 李娜 at 华东重型机械制造 in 上海.
fn li_na() -> CaptureRequest {
    req(Source::OwnSite)
        .name("李娜")
        .company("上海华东重型机械制造有限公司")
        .region("上海")
}

/// The same name and region at the company written one character differently: between the
/// review and auto-merge weights under the default model (name exact +10.4, company
/// `jw_0.92` +5.6, region +3.2, prior -16.6: 2.6).
fn li_na_elsewhere() -> CaptureRequest {
    req(Source::OfflineQr)
        .name("李娜")
        .company("华东重型机械制遭")
        .region("上海")
}

#[test]
fn new_fields_are_validated_by_name_without_their_values() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let base = || req(Source::OwnSite).mobile("13812345678");
        for (r, field, secret) in [
            (
                base().id_document("110105194912310021"),
                "id_document",
                "110105194912310021",
            ),
            (base().id_document("12"), "id_document", "12"),
            (
                base().date_of_birth("1984-13-40"),
                "date_of_birth",
                "1984-13-40",
            ),
            (
                base().date_of_birth("1899-12-31"),
                "date_of_birth",
                "1899-12-31",
            ),
            (
                base().date_of_birth("2030-01-01"),
                "date_of_birth",
                "2030-01-01",
            ),
            (base().postcode("2!"), "postcode", "2!"),
            (
                base().wechat_unionid("o6_bmjr"),
                "wechat_unionid",
                "o6_bmjr",
            ),
            (
                base().wechat_openid("bad id with spaces"),
                "wechat_openid",
                "bad id with spaces",
            ),
            (base().company_code("91-31"), "company_code", "91-31"),
            (base().given_name("\u{7}"), "given_name", "\u{7}"),
            (base().address("x".repeat(201)), "address", "xxxxxxxxxx"),
        ] {
            let e = crm.capture(t, r, &key("bad")).await.unwrap_err();
            assert_eq!(e.field(), Some(field), "{e}");
            let text = e.to_string();
            assert!(secret.len() < 3 || !text.contains(secret), "{text}");
        }
        assert!(crm.all_leads(t).await.unwrap().is_empty());
        // A good one: every field accepted, presence recorded.
        let ok = crm
            .capture(
                t,
                base()
                    .given_name("Lachlan")
                    .family_name("Reid")
                    .date_of_birth("1984/03/12")
                    .id_document("11010519491231002x")
                    .postcode("2600")
                    .address("12 Smith St, Canberra")
                    .wechat_unionid("o6_bmjrPTlm6_2sgVt7hMZOPfL2M")
                    .wechat_openid("oLVPpjqs9BhvzwPj5A-vTYAX3GLc")
                    .company_code("91310000 MA1FL0XX0X"),
                &key("good"),
            )
            .await
            .unwrap();
        let lead = crm.lead(t, &ok.lead()).await.unwrap();
        let p = lead.identity;
        assert!(
            p.name
                && p.date_of_birth
                && p.id_document
                && p.postcode
                && p.address
                && p.wechat
                && p.company_code
        );
    });
}

#[test]
fn id_documents_and_wechat_ids_match_exactly_and_are_sealed() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.db");
        let store: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let env = Env::on(store, CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let a = crm
            .capture(
                t,
                req(Source::OwnSite)
                    .name("王芳")
                    .id_document("11010519491231002X")
                    .address("上海市浦东新区世纪大道88号")
                    .date_of_birth("1949-12-31")
                    .wechat_openid("oLVPpjqs9BhvzwPj5A-vTYAX3GLc"),
                &key("a"),
            )
            .await
            .unwrap();
        // Typed differently (lower-case x, spaces): the same document.
        let b = crm
            .capture(
                t,
                req(Source::WeCom).id_document("110105 19491231 002x"),
                &key("b"),
            )
            .await
            .unwrap();
        assert_eq!(
            b,
            CaptureOutcome::Merged {
                lead: a.lead(),
                matched_by: MatchRule::IdDocument,
                absorbed: vec![]
            }
        );
        let c = crm
            .capture(
                t,
                req(Source::OfflineQr)
                    .name("Fang Wang")
                    .wechat_openid("oLVPpjqs9BhvzwPj5A-vTYAX3GLc"),
                &key("c"),
            )
            .await
            .unwrap();
        assert_eq!(c.lead(), a.lead());
        assert_eq!(
            crm.find_by_id_document(t, "11010519491231002x")
                .await
                .unwrap(),
            vec![a.lead()]
        );
        // A restarted process matches through the stored blind index.
        let again = env
            .restart()
            .capture(
                t,
                req(Source::Dealer).id_document("11010519491231002X"),
                &key("d"),
            )
            .await
            .unwrap();
        assert_eq!(again.lead(), a.lead());
        // No clear value anywhere in the storage bytes.
        let mut bytes = std::fs::read(&path).unwrap();
        for ext in ["-wal", "-journal"] {
            if let Ok(more) = std::fs::read(format!("{}{ext}", path.display())) {
                bytes.extend(more);
            }
        }
        assert!(bytes.len() > 4096);
        let hay = String::from_utf8_lossy(&bytes);
        for secret in [
            "11010519491231002X",
            "110105",
            "19491231",
            "1949-12-31",
            "世纪大道",
            "oLVPpjqs9BhvzwPj5A",
            "王芳",
        ] {
            assert!(!hay.contains(secret), "{secret} is stored in clear");
        }
    });
}

#[test]
fn three_bands_with_the_explanation_in_the_lineage() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let a = crm.capture(t, li_na(), &key("a")).await.unwrap();
        // Auto-merge: the same name, company and region.
        let same = crm
            .capture(
                t,
                req(Source::IndustryMedia)
                    .name("李 娜")
                    .company("华东重型机械制造股份有限公司")
                    .region("上海"),
                &key("b"),
            )
            .await
            .unwrap();
        assert_eq!(
            same,
            CaptureOutcome::Merged {
                lead: a.lead(),
                matched_by: MatchRule::Fuzzy,
                absorbed: vec![]
            }
        );
        let lead = crm.lead(t, &a.lead()).await.unwrap();
        assert_eq!(lead.match_evidence.len(), 1);
        let ev = &lead.match_evidence[0];
        assert_eq!((ev.rule.as_str(), ev.absorbed), ("fuzzy", None));
        let name = &ev.explanation.contributions[0];
        assert_eq!(
            (name.field.as_str(), name.level.as_str()),
            ("name", "exact")
        );
        assert!(ev.explanation.match_weight >= 3.0);
        let json = serde_json::to_string(&lead).unwrap();
        assert!(!json.contains("李娜") && !json.contains("华东"), "{json}");
        // Review band: a new lead and a pending pair.
        let near = crm.capture(t, li_na_elsewhere(), &key("c")).await.unwrap();
        assert!(matches!(near, CaptureOutcome::Created { .. }), "{near:?}");
        let queue = crm.possible_duplicates(t).await.unwrap();
        assert_eq!(queue.len(), 1);
        let pd = &queue[0];
        let mut pair = [a.lead(), near.lead()];
        pair.sort();
        assert_eq!([pd.a, pd.b], pair);
        assert_eq!(pd.status, ReviewStatus::Pending);
        assert!(pd.match_weight < 3.0 && pd.match_weight >= -1.0);
        assert!(!serde_json::to_string(pd).unwrap().contains("李娜"));
        // Distinct: another person, no proposal.
        let other = crm
            .capture(
                t,
                req(Source::OwnSite)
                    .name("赵敏")
                    .company("南方重工")
                    .region("广州"),
                &key("d"),
            )
            .await
            .unwrap();
        assert!(matches!(other, CaptureOutcome::Created { .. }));
        assert_eq!(crm.possible_duplicates(t).await.unwrap().len(), 1);
        // Thresholds are per tenant: with the auto-merge weight lowered below the pair's
        // weight, the same capture merges.
        let mut cfg = CrmConfig::default();
        cfg.dedupe.fuzzy.auto_merge_weight = -1.0;
        let t2 = marketingforce_core::tenant::TenantId::new();
        crm.configure(&t2, cfg).await.unwrap();
        let x = crm.capture(&t2, li_na(), &key("a")).await.unwrap();
        let y = crm
            .capture(&t2, li_na_elsewhere(), &key("c"))
            .await
            .unwrap();
        assert_eq!(y.lead(), x.lead());
        assert!(crm.possible_duplicates(&t2).await.unwrap().is_empty());
    });
}

/// Two processes over one store: a pair proposed by one is listed and decided by the other,
/// and a decision applies once.
async fn review_queue_across(one: &Crm, two: &Crm, t: &TenantId) {
    let a = one.capture(t, li_na(), &key("a")).await.unwrap();
    let b = two.capture(t, li_na_elsewhere(), &key("b")).await.unwrap();
    assert_ne!(a.lead(), b.lead());
    // Proposed by the second process, seen by the first.
    let queue = one.possible_duplicates(t).await.unwrap();
    assert_eq!(queue.len(), 1);
    // The first process captures the same again: joins b (identical values), proposes
    // nothing new.
    let b2 = one.capture(t, li_na_elsewhere(), &key("b2")).await.unwrap();
    assert_eq!(b2.lead(), b.lead());
    assert_eq!(one.possible_duplicates(t).await.unwrap().len(), 1);
    let reviewer = Actor::system("reviewer");
    let survivor = one
        .accept_duplicate(t, b.lead(), a.lead(), &reviewer, &key("accept"))
        .await
        .unwrap();
    assert_eq!(survivor, a.lead().min(b.lead()));
    // Decided once: another key on the other process is refused, the same key replays.
    let e = two
        .accept_duplicate(t, a.lead(), b.lead(), &reviewer, &key("accept-again"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CrmError::DuplicateAlreadyDecided { ref decision, .. } if decision == "accepted"),
        "{e:?}"
    );
    let e = two
        .reject_duplicate(t, a.lead(), b.lead(), &reviewer, &key("reject"))
        .await
        .unwrap_err();
    assert!(
        matches!(e, CrmError::DuplicateAlreadyDecided { .. }),
        "{e:?}"
    );
    assert_eq!(
        two.accept_duplicate(t, b.lead(), a.lead(), &reviewer, &key("accept"))
            .await
            .unwrap(),
        survivor
    );
    assert!(two.possible_duplicates(t).await.unwrap().is_empty());
    let absorbed = if survivor == a.lead() {
        b.lead()
    } else {
        a.lead()
    };
    let s = two.lead(t, &survivor).await.unwrap();
    assert!(s.merged_from.contains(&absorbed));
    let ev = s
        .match_evidence
        .iter()
        .find(|e| e.rule == "review")
        .expect("review evidence");
    assert_eq!(ev.absorbed, Some(absorbed));
    assert_eq!(ev.explanation.contributions[0].field.as_str(), "name");
    assert!(matches!(
        two.lead(t, &absorbed).await.unwrap().status,
        LeadStatus::Merged { into } if into == survivor
    ));
    let rec = one
        .possible_duplicate(t, a.lead(), b.lead())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rec.status, ReviewStatus::Accepted { survivor });
    // Un-merge still works, and removes the evidence with the lead.
    one.unmerge(t, absorbed, &reviewer, &key("unmerge"))
        .await
        .unwrap();
    let s = two.lead(t, &survivor).await.unwrap();
    assert!(s
        .match_evidence
        .iter()
        .all(|e| e.absorbed != Some(absorbed)));
    // A pair never proposed is not found.
    let e = one
        .reject_duplicate(t, a.lead(), a.lead(), &reviewer, &key("x"))
        .await
        .unwrap_err();
    assert!(matches!(e, CrmError::DuplicateNotProposed { .. }), "{e:?}");
}

#[test]
fn the_review_queue_is_shared_by_processes_in_memory() {
    run(async {
        let env = Env::on(Arc::new(MemoryStore::new()), CrmConfig::default());
        let two = env.restart();
        review_queue_across(&env.crm, &two, &env.tenant).await;
    });
}

#[test]
fn the_review_queue_is_shared_by_processes_on_one_sqlite_file() {
    run(async {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("crm.db");
        let first: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let env = Env::on(first, CrmConfig::default());
        let second: Arc<dyn Store> = Arc::new(SqliteStore::open(&path).await.unwrap());
        let two = env.process_over(second);
        review_queue_across(&env.crm, &two, &env.tenant).await;
    });
}

#[test]
fn a_rejected_pair_is_never_proposed_nor_merged_again() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (one, t) = (&env.crm, &env.tenant);
        let two = env.restart();
        let a = one.capture(t, li_na(), &key("a")).await.unwrap();
        let b = one.capture(t, li_na_elsewhere(), &key("b")).await.unwrap();
        let reviewer = Actor::system("reviewer");
        two.reject_duplicate(t, a.lead(), b.lead(), &reviewer, &key("no"))
            .await
            .unwrap();
        assert!(one.possible_duplicates(t).await.unwrap().is_empty());
        // More captures like b, on either process and after a restart: no new proposal.
        let b2 = one
            .capture(
                t,
                from(Source::IndustryMedia, li_na_elsewhere()),
                &key("b2"),
            )
            .await
            .unwrap();
        assert_eq!(b2.lead(), b.lead());
        let three = env.restart();
        three
            .capture(t, from(Source::Referral, li_na_elsewhere()), &key("b3"))
            .await
            .unwrap();
        assert!(three.possible_duplicates(t).await.unwrap().is_empty());
        assert_eq!(
            one.possible_duplicate(t, a.lead(), b.lead())
                .await
                .unwrap()
                .unwrap()
                .status,
            ReviewStatus::Rejected
        );
        // A capture that matches both exactly does not merge them.
        let mut cfg = CrmConfig::default();
        cfg.dedupe.fuzzy.auto_merge_weight = -1.0;
        one.configure(t, cfg).await.unwrap();
        let both = one
            .capture(
                t,
                from(Source::Headquarters, li_na_elsewhere()).mobile("13900000001"),
                &key("both"),
            )
            .await
            .unwrap();
        assert!(one.lead(t, &a.lead()).await.unwrap().is_active());
        assert!(one.lead(t, &b.lead()).await.unwrap().is_active());
        assert!(both.lead() == a.lead() || both.lead() == b.lead());
    });
}

#[test]
fn too_little_identity_is_kept_unmatched_where_the_source_allows() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let a = crm
            .capture(
                t,
                req(Source::OfflineQr).name("王芳").region("上海"),
                &key("a"),
            )
            .await
            .unwrap();
        assert!(matches!(a, CaptureOutcome::Created { .. }));
        assert!(crm.lead(t, &a.lead()).await.unwrap().unmatched);
        // Never matched: the same name again is another lead, and nothing is proposed.
        let b = crm
            .capture(
                t,
                req(Source::OwnSite).name("王芳").region("上海"),
                &key("b"),
            )
            .await
            .unwrap();
        assert_ne!(a.lead(), b.lead());
        // The same values from the same source are recognised (re-capture).
        let a2 = crm
            .capture(
                t,
                req(Source::OfflineQr).name("王芳").region("上海"),
                &key("a2"),
            )
            .await
            .unwrap();
        assert_eq!(a2, CaptureOutcome::Unchanged { lead: a.lead() });
        assert!(crm.possible_duplicates(t).await.unwrap().is_empty());
        // Sources that require an identity refuse it.
        for s in [
            Source::Dealer,
            Source::Headquarters,
            Source::Import,
            Source::TCloudInquiry,
        ] {
            let e = crm
                .capture(t, req(s).name("王芳").region("上海"), &key("r"))
                .await
                .unwrap_err();
            assert!(matches!(e, CrmError::NoIdentity), "{s}: {e:?}");
        }
        // No identity value at all is refused everywhere.
        let e = crm
            .capture(t, req(Source::OwnSite).region("上海"), &key("n"))
            .await
            .unwrap_err();
        assert!(matches!(e, CrmError::NoIdentity));
    });
}

#[test]
fn import_reads_the_new_columns_and_reimport_creates_nothing() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let csv = "family_name,given_name,date_of_birth,id_document,postcode,address,region,wechat_unionid,company_code\n\
                   Reid,Lachlan,1984-03-12,,2600,12 Smith St,ACT,,\n\
                   Reid,Lachlnn,1984-03-12,,2600,12 Smith Street,ACT,,\n\
                   王,芳,1990-02-30,,,,,,\n\
                   李,娜,,110105194912310021,,,,,\n\
                   张,伟,,11010519491231002X,200120,浦东新区世纪大道88号,上海,o6_bmjrPTlm6_2sgVt7hMZOPfL2M,91310000MA1FL0XX0X\n\
                   赵,敏,,,,,,o6_bmjrPTlm6_2sgVt7hMZOPfL2M,\n";
        let report = crm
            .import_csv(t, csv, Source::Import, &key("file"))
            .await
            .unwrap();
        assert_eq!(
            (report.created, report.merged, report.rejected),
            (2, 2, 2),
            "{report:?}"
        );
        let fields: Vec<(usize, Option<&str>)> = report
            .errors
            .iter()
            .map(|e| (e.line, e.field.as_deref()))
            .collect();
        assert_eq!(
            fields,
            vec![(4, Some("date_of_birth")), (5, Some("id_document"))]
        );
        let text = serde_json::to_string(&report).unwrap();
        assert!(!text.contains("110105194912310021") && !text.contains("1990-02-30"));
        // The typo'd Lachlan joined by the matcher; 赵敏 by the unionid.
        let again = crm
            .import_csv(t, csv, Source::Import, &key("file-again"))
            .await
            .unwrap();
        assert_eq!((again.created, again.merged), (0, 0), "{again:?}");
        assert_eq!(again.unchanged, 4);
        let live = crm
            .all_leads(t)
            .await
            .unwrap()
            .into_iter()
            .filter(|l| l.is_active())
            .count();
        assert_eq!(live, 2);
    });
}

#[test]
fn a_model_trained_on_the_tenant_is_stored_in_its_configuration() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        for (i, (name, company)) in [
            ("李娜", "华东机械"),
            ("赵敏", "南方重工"),
            ("王芳", "北方电器"),
        ]
        .into_iter()
        .enumerate()
        {
            crm.capture(
                t,
                req(Source::OwnSite)
                    .name(name)
                    .company(company)
                    .region("上海"),
                &key(&format!("c{i}")),
            )
            .await
            .unwrap();
        }
        let (model, report) = crm.train_match_model(t).await.unwrap();
        model.validate().unwrap();
        // Three records: far too few, every default kept.
        assert!(report.default_prior);
        assert_eq!(
            model,
            marketingforce_crm::matching::weights::Model::default()
        );
        let mut cfg = CrmConfig::default();
        cfg.dedupe.fuzzy.model = Some(model);
        crm.configure(t, cfg.clone()).await.unwrap();
        assert_eq!(*env.restart().config_for(t).await.unwrap(), cfg);
        // An invalid model is refused by its path.
        let mut bad = cfg;
        if let Some(m) = bad.dedupe.fuzzy.model.as_mut() {
            m.prior = 2.0;
        }
        let e = crm.configure(t, bad).await.unwrap_err();
        assert_eq!(e.field(), Some("dedupe.fuzzy.model.prior"));
    });
}

/// A PIPL access request exports every identity field a capture stored, opened from the
/// vault — the new ones too — while storage itself holds none of them in clear.
#[test]
fn the_contact_export_holds_every_stored_identity_field() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let lead = crm
            .capture(
                t,
                req(Source::OwnSite)
                    .name("王芳")
                    .mobile("13912345678")
                    .region("上海")
                    .id_document("11010519491231002X")
                    .address("上海市浦东新区世纪大道88号")
                    .date_of_birth("1949-12-31")
                    .postcode("200120")
                    .wechat_openid("oLVPpjqs9BhvzwPj5A-vTYAX3GLc"),
                &key("export-a"),
            )
            .await
            .unwrap()
            .lead();
        let admin = env
            .staff(marketingforce_crm::staff::Role::Admin, 1, None)
            .await;
        let export = crm
            .export_contact(t, &lead, &Actor::User(admin))
            .await
            .unwrap();
        let text = serde_json::to_string(&export).unwrap();
        for value in [
            "11010519491231002X",
            "1949-12-31",
            "世纪大道88号",
            "200120",
            "oLVPpjqs9BhvzwPj5A-vTYAX3GLc",
            "上海",
        ] {
            assert!(text.contains(value), "{value} is missing from the export");
        }
        let capture = &export.captures[0];
        assert_eq!(
            capture
                .identity
                .date_of_birth
                .map(|d| d.to_string())
                .as_deref(),
            Some("1949-12-31")
        );
        assert_eq!(
            capture
                .values
                .get(&marketingforce_crm::survivorship::Field::Region)
                .map(String::as_str),
            Some("上海")
        );
    });
}

/// The review queue's facts leave the process with the commit that made them: a proposal and
/// a rejection are events (ids and the weight, no personal data); a replayed decision emits
/// nothing more.
#[test]
fn proposals_and_rejections_are_domain_events() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let names = || async {
            env.store
                .read_journal(t, marketingforce_core::events::OUTBOX_JOURNAL, 0, 1000)
                .await
                .unwrap()
                .into_iter()
                .flat_map(|e| {
                    marketingforce_core::events::EventEnvelope::all_from_entry(&e.payload).unwrap()
                })
                .collect::<Vec<_>>()
        };
        let a = crm.capture(t, li_na(), &key("a")).await.unwrap();
        let b = crm.capture(t, li_na_elsewhere(), &key("b")).await.unwrap();
        let events = names().await;
        let proposed: Vec<_> = events
            .iter()
            .filter(|e| e.name() == "crm.duplicate.proposed")
            .collect();
        assert_eq!(proposed.len(), 1, "{events:?}");
        let p: marketingforce_crm::events::DuplicateProposed = proposed[0].decode().unwrap();
        let (x, y) = if a.lead() < b.lead() {
            (a.lead(), b.lead())
        } else {
            (b.lead(), a.lead())
        };
        assert_eq!((p.a, p.b), (x, y));
        assert!(p.match_weight > -1.0 && p.match_weight < 3.0, "{p:?}");
        let text = serde_json::to_string(&proposed[0]).unwrap();
        assert!(!text.contains("李娜") && !text.contains("华东"), "{text}");

        let reviewer = Actor::system("reviewer");
        for _ in 0..2 {
            crm.reject_duplicate(t, a.lead(), b.lead(), &reviewer, &key("no"))
                .await
                .unwrap();
        }
        let rejected: Vec<_> = names()
            .await
            .into_iter()
            .filter(|e| e.name() == "crm.duplicate.rejected")
            .collect();
        assert_eq!(rejected.len(), 1);
        let r: marketingforce_crm::events::DuplicateRejected = rejected[0].decode().unwrap();
        assert_eq!((r.a, r.b, r.by), (x, y, reviewer));
    });
}

/// Erasing a lead (PIPL) closes its pending possible duplicates: they leave the queue as
/// `withdrawn`, in the erasure's commit, and cannot be decided afterwards.
#[test]
fn erasing_a_lead_withdraws_its_pending_duplicates() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let a = crm.capture(t, li_na(), &key("a")).await.unwrap();
        let b = crm.capture(t, li_na_elsewhere(), &key("b")).await.unwrap();
        assert_eq!(crm.possible_duplicates(t).await.unwrap().len(), 1);
        let admin = env
            .staff(marketingforce_crm::staff::Role::Admin, 1, None)
            .await;
        crm.erase_contact(t, &b.lead(), &Actor::User(admin), &key("erase"))
            .await
            .unwrap();
        // Another process sees the queue as the store holds it.
        let other = env.restart();
        assert!(other.possible_duplicates(t).await.unwrap().is_empty());
        let rec = other
            .possible_duplicate(t, a.lead(), b.lead())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(rec.status, ReviewStatus::Withdrawn);
        let e = other
            .accept_duplicate(t, a.lead(), b.lead(), &Actor::system("r"), &key("late"))
            .await
            .unwrap_err();
        assert!(
            matches!(e, CrmError::DuplicateAlreadyDecided { .. }),
            "{e:?}"
        );
    });
}
