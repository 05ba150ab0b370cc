//! Capture, dedupe, merge/un-merge, imports, T Cloud hand-off, and bad input.

mod common;

use common::{run, synthetic, Env};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;
use marketingforce_crm::dedupe::MatchRule;
use marketingforce_crm::ids::LeadId;
use marketingforce_crm::model::{Actor, LeadStatus, Source};
use marketingforce_crm::request::{CaptureRequest, Inquiry};
use marketingforce_crm::{CaptureOutcome, Crm, CrmConfig, CrmError};

fn req(source: Source) -> CaptureRequest {
    CaptureRequest::new(source)
}

/// Two leads no rule joins: `a` by a mobile, `b` by an email and a name. [`bridge`] then
/// captures both the mobile and the email.
async fn two_leads_a_capture_bridges(crm: &Crm, t: &TenantId) -> (LeadId, LeadId) {
    let a = crm
        .capture(
            t,
            req(Source::OwnSite).mobile("13900000001"),
            &IdempotencyKey::from_static("a"),
        )
        .await
        .unwrap()
        .lead();
    let b = crm
        .capture(
            t,
            req(Source::Import).email("li@x.cn").name("李娜"),
            &IdempotencyKey::from_static("b"),
        )
        .await
        .unwrap()
        .lead();
    (a, b)
}

/// The capture that joins the two leads of [`two_leads_a_capture_bridges`]: `a` absorbs `b`.
async fn bridge(crm: &Crm, t: &TenantId) -> CaptureOutcome {
    crm.capture(
        t,
        req(Source::WeCom).mobile("13900000001").email("li@x.cn"),
        &IdempotencyKey::from_static("c"),
    )
    .await
    .unwrap()
}

#[test]
fn same_phone_in_any_format_merges_and_keeps_alternates() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let a = crm
            .capture(
                t,
                req(Source::OwnSite)
                    .name("张伟")
                    .mobile("13812345678")
                    .email("zw@a.cn"),
                &IdempotencyKey::from_static("k1"),
            )
            .await
            .unwrap();
        let b = crm
            .capture(
                t,
                req(Source::WeCom)
                    .name("张 伟")
                    .mobile("+86 138-1234-5678")
                    .email("zhangwei@b.cn"),
                &IdempotencyKey::from_static("k2"),
            )
            .await
            .unwrap();
        assert_eq!(
            b,
            CaptureOutcome::Merged {
                lead: a.lead(),
                matched_by: MatchRule::Mobile,
                absorbed: vec![]
            }
        );
        let c = crm
            .capture(
                t,
                req(Source::Dealer).mobile("１３８１２３４５６７８"),
                &IdempotencyKey::from_static("k3"),
            )
            .await
            .unwrap();
        assert_eq!(c.lead(), a.lead());
        let lead = crm.lead(t, &a.lead()).await.unwrap();
        assert_eq!(lead.touches.len(), 3);
        // Both emails are findable: nothing dropped.
        assert_eq!(
            crm.find_by_email(t, "ZW@a.cn").await.unwrap(),
            vec![a.lead()]
        );
        assert_eq!(
            crm.find_by_email(t, "zhangwei@b.cn").await.unwrap(),
            vec![a.lead()]
        );
        let history = crm.history(t, &a.lead()).await.unwrap();
        assert_eq!(history.len(), 3);
    });
}

#[test]
fn bridging_capture_merges_two_leads_and_unmerge_restores_them() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let (a, b) = two_leads_a_capture_bridges(crm, t).await;
        let c = bridge(crm, t).await;
        assert_eq!(
            c,
            CaptureOutcome::Merged {
                lead: a,
                matched_by: MatchRule::Mobile,
                absorbed: vec![b]
            }
        );
        assert_eq!(
            crm.lead(t, &b).await.unwrap().status,
            LeadStatus::Merged { into: a }
        );
        assert_eq!(crm.survivor(t, &b).await.unwrap(), a);

        // Un-merge: b is live again with its own captures, and stays apart.
        assert_eq!(
            crm.unmerge(
                t,
                b,
                &marketingforce_crm::model::Actor::system("ops"),
                &IdempotencyKey::from_static("u1")
            )
            .await
            .unwrap(),
            a
        );
        let lb = crm.lead(t, &b).await.unwrap();
        assert_eq!(lb.status, LeadStatus::Active);
        // The bridging capture belonged to `a` and carried the email too: both hold it now.
        assert!(crm.find_by_email(t, "li@x.cn").await.unwrap().contains(&b));
        let again = crm
            .capture(
                t,
                req(Source::WeCom)
                    .mobile("13900000001")
                    .email("li@x.cn")
                    .name("x"),
                &IdempotencyKey::from_static("d"),
            )
            .await
            .unwrap();
        assert!(matches!(again, CaptureOutcome::Merged { absorbed, .. } if absorbed.is_empty()));

        // A restart rebuilds exactly the same dedupe state: an email both hold goes to the
        // older lead, before and after.
        let before = crm
            .capture(
                t,
                req(Source::OwnSite).email("li@x.cn").name("甲"),
                &IdempotencyKey::from_static("e"),
            )
            .await
            .unwrap();
        assert_eq!(before.lead(), a);
        let crm2 = env.restart();
        assert_eq!(crm2.survivor(t, &b).await.unwrap(), b);
        let e = crm2
            .capture(
                t,
                req(Source::OwnSite).email("li@x.cn").name("乙"),
                &IdempotencyKey::from_static("f"),
            )
            .await
            .unwrap();
        assert_eq!(e.lead(), a);
        let only_b = crm2
            .capture(
                t,
                req(Source::OwnSite).name("李娜").email("li@x.cn"),
                &IdempotencyKey::from_static("g"),
            )
            .await
            .unwrap();
        assert!(only_b.lead() == a || only_b.lead() == b);
    });
}

#[test]
fn fuzzy_person_and_company_match() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let a = crm
            .capture(
                t,
                req(Source::OfflineQr)
                    .name("王芳")
                    .company("上海华东重型机械制造有限公司")
                    .mobile("13700000000"),
                &IdempotencyKey::from_static("a"),
            )
            .await
            .unwrap();
        // Another 王芳 at the same company with a different mobile is another person.
        let c = crm
            .capture(
                t,
                req(Source::OwnSite)
                    .name("王芳")
                    .company("华东重型机械制造有限公司")
                    .mobile("13700000009"),
                &IdempotencyKey::from_static("c"),
            )
            .await
            .unwrap();
        assert!(matches!(c, CaptureOutcome::Created { .. }));
        // Written differently, without a mobile: joins by name and company. (It matches both
        // 王芳 pairwise, so it bridges them: fuzzy edges are pairwise, see `dedupe`.)
        let b = crm
            .capture(
                t,
                req(Source::IndustryMedia)
                    .name("王 芳")
                    .company("华东重型机械制造股份有限公司"),
                &IdempotencyKey::from_static("b"),
            )
            .await
            .unwrap();
        assert_eq!(
            b,
            CaptureOutcome::Merged {
                lead: a.lead(),
                matched_by: MatchRule::Fuzzy,
                absorbed: vec![c.lead()]
            }
        );
        // With fuzzy matching off, nothing matches by name.
        let mut cfg = CrmConfig::default();
        cfg.dedupe.fuzzy.enabled = false;
        let env2 = Env::new(cfg);
        env2.crm
            .capture(
                &env2.tenant,
                req(Source::OwnSite)
                    .name("王芳")
                    .company("华东机械制造有限公司"),
                &IdempotencyKey::from_static("a"),
            )
            .await
            .unwrap();
        let d = env2
            .crm
            .capture(
                &env2.tenant,
                req(Source::OwnSite).name("王芳").company("华东机械制造"),
                &IdempotencyKey::from_static("b"),
            )
            .await
            .unwrap();
        assert!(matches!(d, CaptureOutcome::Created { .. }));
    });
}

#[test]
fn idempotent_capture_replays_and_rejects_a_different_request() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let r = req(Source::OwnSite).mobile("13812345678");
        let a = crm
            .capture(t, r.clone(), &IdempotencyKey::from_static("same"))
            .await
            .unwrap();
        let b = crm
            .capture(t, r, &IdempotencyKey::from_static("same"))
            .await
            .unwrap();
        assert_eq!(a, b);
        assert_eq!(crm.all_leads(t).await.unwrap().len(), 1);
        assert_eq!(crm.history(t, &a.lead()).await.unwrap().len(), 1);
        let e = crm
            .capture(
                t,
                req(Source::OwnSite).mobile("13912345678"),
                &IdempotencyKey::from_static("same"),
            )
            .await
            .unwrap_err();
        assert!(
            matches!(
                e,
                CrmError::Core(marketingforce_core::Error::IdempotencyMismatch { .. })
            ),
            "{e}"
        );
    });
}

#[test]
fn bad_input_is_refused_with_the_field() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        for (r, field) in [
            (req(Source::OwnSite).mobile("1381234567"), "mobile"),
            (req(Source::OwnSite).mobile("12812345678"), "mobile"),
            (req(Source::OwnSite).email("zhang@"), "email"),
            (req(Source::OwnSite).email("not an email"), "email"),
            (req(Source::OwnSite).phone("12"), "phone"),
            (req(Source::OwnSite).wecom_id("wm 1"), "wecom_id"),
            (
                req(Source::OwnSite).mobile("13812345678").product(""),
                "product_interest[0]",
            ),
        ] {
            let e = crm
                .capture(t, r, &IdempotencyKey::from_static("x"))
                .await
                .unwrap_err();
            assert_eq!(e.field(), Some(field), "{e}");
        }
        let e = crm
            .capture(
                t,
                req(Source::Dealer).region("上海").name("张三"),
                &IdempotencyKey::from_static("y"),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, CrmError::NoIdentity));
        assert!(crm.all_leads(t).await.unwrap().is_empty());
    });
}

#[test]
fn import_reports_bad_rows_with_lines_and_reimport_creates_nothing() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let csv = "name,mobile,email,company,region,product,source\n\
                   张伟,13812345678,zw@a.cn,某某机械,上海,T-100;X-5,\n\
                   李娜,1381234,,,北京,,\n\
                   王芳,,wf@b.cn,,广州,,dealer\n\
                   赵六,13900000000,,,,,\"unknown\"\n\
                   孙七,13700000000\n\
                   张伟,+86 138 1234 5678,,,,,\n\
                   ,,,,,,\n";
        let report = crm
            .import_csv(
                t,
                csv,
                Source::Import,
                &IdempotencyKey::from_static("file-1"),
            )
            .await
            .unwrap();
        assert_eq!(
            (report.created, report.merged, report.rejected),
            (2, 1, 4),
            "{report:?}"
        );
        let lines: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![3, 5, 6, 8]);
        assert_eq!(report.errors[0].field.as_deref(), Some("mobile"));
        assert_eq!(report.errors[1].field.as_deref(), Some("source"));
        assert_eq!(report.errors[2].field.as_deref(), Some("row"));
        let before = crm.all_leads(t).await.unwrap();
        // Same file under another key: nothing new.
        let again = crm
            .import_csv(
                t,
                csv,
                Source::Import,
                &IdempotencyKey::from_static("file-1-copy"),
            )
            .await
            .unwrap();
        assert_eq!(
            (again.created, again.merged, again.unchanged),
            (0, 0, 3),
            "{again:?}"
        );
        assert_eq!(crm.all_leads(t).await.unwrap(), before);
        // Unknown columns are refused up front.
        let e = crm
            .import_csv(
                t,
                "nom,mobile\nx,13812345678\n",
                Source::Import,
                &IdempotencyKey::from_static("f2"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("header"));
    });
}

#[test]
fn t_cloud_inquiry_dedupes_on_hand_off() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let a = crm
            .capture(
                t,
                req(Source::WeCom).wecom_id("wmABC").mobile("13512345678"),
                &IdempotencyKey::from_static("w"),
            )
            .await
            .unwrap();
        let inquiry = Inquiry {
            campaign: "spring".into(),
            platform: Some("Douyin".into()),
            mobile: Some("135 1234 5678".into()),
            product_interest: vec!["T-200".into()],
            region: Some("杭州".into()),
            ..Inquiry::default()
        };
        let b = crm
            .capture_inquiry(t, inquiry, &IdempotencyKey::from_static("tc-1"))
            .await
            .unwrap();
        assert_eq!(b.lead(), a.lead());
        let l = crm.lead(t, &a.lead()).await.unwrap();
        assert_eq!(l.touches[1].source, Source::TCloudInquiry);
        assert_eq!(l.touches[1].campaign.as_deref(), Some("spring"));
        assert_eq!(l.touches[1].platform.as_deref(), Some("douyin"));
        assert_eq!(l.region.as_deref(), Some("杭州"));
    });
}

#[test]
fn leads_of_another_tenant_cannot_be_merged() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let other = TenantId::new();
        let a = crm
            .capture(
                t,
                req(Source::OwnSite).mobile("13812345678"),
                &IdempotencyKey::from_static("a"),
            )
            .await
            .unwrap()
            .lead();
        let b = crm
            .capture(
                &other,
                req(Source::OwnSite).mobile("13812345678"),
                &IdempotencyKey::from_static("a"),
            )
            .await
            .unwrap()
            .lead();
        assert_ne!(a, b, "the same phone in two tenants is two leads");
        let e = crm
            .merge(
                t,
                a,
                b,
                &marketingforce_crm::model::Actor::system("ops"),
                &IdempotencyKey::from_static("m"),
            )
            .await
            .unwrap_err();
        assert!(matches!(e, CrmError::LeadNotFound(id) if id == b), "{e}");
        assert_eq!(
            crm.find_by_mobile(&other, "13812345678").await.unwrap(),
            vec![b]
        );
    });
}

#[test]
fn key_rotation_reencrypts_and_lookups_keep_working() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let a = crm
            .capture(
                t,
                req(Source::OwnSite).mobile("13812345678").name("张三"),
                &IdempotencyKey::from_static("a"),
            )
            .await
            .unwrap()
            .lead();
        env.keys.rotate("k2", [9; 32]).unwrap();
        assert_eq!(crm.find_by_mobile(t, "13812345678").await.unwrap(), vec![a]);
        assert_eq!(crm.rotate_keys(t).await.unwrap(), 1);
        env.keys.retire("k1").unwrap();
        assert_eq!(crm.find_by_mobile(t, "13812345678").await.unwrap(), vec![a]);
        let crm2 = env.restart();
        let again = crm2
            .capture(
                t,
                req(Source::Dealer).mobile("13812345678"),
                &IdempotencyKey::from_static("b"),
            )
            .await
            .unwrap();
        assert_eq!(again.lead(), a);
        assert_eq!(crm2.rotate_keys(t).await.unwrap(), 0);
    });
}

/// The import's chunk records (`import:{file_key}:0` under the CRM's idempotency scope).
async fn stored_import_records(env: &common::Env, file_key: &str) -> Vec<String> {
    let mut out = Vec::new();
    for key in [
        format!("import:{file_key}:0"),
        format!("crm/import:{file_key}:0"),
    ] {
        if let Some((fingerprint, response)) =
            env.store.idempotency(&env.tenant, &key).await.unwrap()
        {
            out.push(fingerprint);
            out.push(String::from_utf8(response).unwrap());
        }
    }
    out
}

#[test]
fn import_errors_and_their_idempotency_record_quote_no_personal_data() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let csv = "name,mobile,phone,email,wecom_id,source\n\
                   张伟,1391234567,,,,\n\
                   李娜,12812345678,,,,\n\
                   王芳,+1 415 555 0100,,,,\n\
                   赵六,139x1234567,,,,\n\
                   孙七,,+1 415 555 0100 ext 9,,,\n\
                   周八,,12345,,,\n\
                   吴九,,,wu.jiu@@example.com,,\n\
                   郑十,,,zheng.shi@nodot,,\n\
                   钱一,,,,wm#secret99,\n\
                   冯二,13812345678,,,,13912345678\n";
        let report = crm
            .import_csv(
                t,
                csv,
                Source::Import,
                &IdempotencyKey::from_static("pii-file"),
            )
            .await
            .unwrap();
        assert_eq!(report.rejected, 10, "{report:?}");
        let fields: Vec<Option<&str>> = report.errors.iter().map(|e| e.field.as_deref()).collect();
        assert_eq!(
            fields,
            [
                Some("mobile"),
                Some("mobile"),
                Some("mobile"),
                Some("mobile"),
                Some("phone"),
                Some("phone"),
                Some("email"),
                Some("email"),
                Some("wecom_id"),
                Some("source"),
            ]
        );
        let records = stored_import_records(&env, "pii-file").await;
        assert!(
            !records.is_empty(),
            "the import's idempotency record is stored"
        );
        let report_text = format!("{report:?}");
        let secrets = [
            "1391234567",
            "12812345678",
            "+1 415 555 0100",
            "139x1234567",
            "wu.jiu",
            "example.com",
            "zheng.shi",
            "nodot",
            "wm#secret99",
            "secret99",
            "13912345678",
            "张伟",
            "李娜",
        ];
        for s in secrets {
            assert!(!report_text.contains(s), "{s:?} leaks into {report_text}");
            for r in &records {
                assert!(
                    !r.contains(s),
                    "{s:?} leaks into the idempotency record {r}"
                );
            }
        }
        // Every reason still names the rule.
        assert!(
            report.errors[0].reason.contains("has 10 digits"),
            "{report:?}"
        );
        assert!(report.errors[1].reason.contains("13-19"), "{report:?}");
        // A header row that is really a lead is refused without quoting it.
        let e = crm
            .import_csv(
                t,
                "张伟,13812345678\n",
                Source::Import,
                &IdempotencyKey::from_static("no-header"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("header"));
        let text = e.to_string();
        assert!(
            !text.contains("13812345678") && !text.contains("张伟"),
            "{text}"
        );
        assert!(text.contains("column 1"), "{text}");
    });
}

#[test]
fn crlf_files_report_the_lines_a_text_editor_shows() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        // Excel's default export: CRLF line ends, a quoted company name over two lines,
        // a blank line.
        let csv = "name,mobile,company\r\n\
                   张伟,13812345678,\"某某\r\n机械\"\r\n\
                   李娜,1381234,\r\n\
                   \r\n\
                   王芳,13712345678,x\r\n\
                   赵六,12812345678,\r\n";
        let report = crm
            .import_csv(t, csv, Source::Import, &IdempotencyKey::from_static("crlf"))
            .await
            .unwrap();
        let lines: Vec<usize> = report.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [4, 7], "{report:?}");
        assert_eq!(report.created, 2, "{report:?}");
        // The same file with LF line ends reports the same lines, and so does one with CR.
        for (key, text) in [
            ("lf", csv.replace("\r\n", "\n")),
            ("cr", csv.replace("\r\n", "\r")),
        ] {
            let again = crm
                .import_csv(t, &text, Source::Import, &IdempotencyKey::new(key).unwrap())
                .await
                .unwrap();
            let got: Vec<usize> = again.errors.iter().map(|e| e.line).collect();
            assert_eq!(got, [4, 7], "{key}: {again:?}");
        }
    });
}

#[test]
fn formula_cells_from_csv_are_stored_as_text() {
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let csv = "name,mobile,company,region,campaign,product,email\n\
                   =HYPERLINK(\"http://x\"),13812345678,+cmd|' /C calc'!A0,-上海,@SUM(1),=1+1;T-100,\n\
                   李娜,13912345678,\"\t=2+3\",北京,spring,,\n\
                   王芳,13712345678,,,,,=cmd|'/Ccalc'!A0@x.cn\n";
        let report = crm
            .import_csv(
                t,
                csv,
                Source::Import,
                &IdempotencyKey::from_static("formulas"),
            )
            .await
            .unwrap();
        assert_eq!((report.created, report.rejected), (2, 1), "{report:?}");
        assert_eq!(report.errors[0].field.as_deref(), Some("email"));
        let leads = crm.find_by_mobile(t, "13812345678").await.unwrap();
        let lead = crm.lead(t, &leads[0]).await.unwrap();
        assert_eq!(lead.region.as_deref(), Some("'-上海"));
        assert_eq!(lead.touches[0].campaign.as_deref(), Some("'@SUM(1)"));
        assert_eq!(lead.product_interest, ["'=1+1", "T-100"]);
        let admin = env
            .staff(marketingforce_crm::staff::Role::Admin, 1, None)
            .await;
        let export = crm
            .export_contact(t, &lead.id, &marketingforce_crm::model::Actor::User(admin))
            .await
            .unwrap();
        let text = serde_json::to_string(&export).unwrap();
        assert!(text.contains("'=HYPERLINK"), "{text}");
        assert!(text.contains("'+cmd|"), "{text}");
        let other = crm.find_by_mobile(t, "13912345678").await.unwrap();
        let export = crm
            .export_contact(t, &other[0], &marketingforce_crm::model::Actor::User(admin))
            .await
            .unwrap();
        let text = serde_json::to_string(&export).unwrap();
        assert!(text.contains("'=2+3"), "{text}");
    });
}

#[test]
fn client_times_far_ahead_of_the_clock_or_before_2000_are_refused() {
    use chrono::{Duration, TimeZone, Utc};
    use marketingforce_core::time::Clock;
    use marketingforce_crm::profile::{BehaviourEvent, BehaviourKind};
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let now = env.clock.now();
        let a = crm
            .capture(
                t,
                req(Source::OwnSite).mobile("13812345678").region("上海"),
                &IdempotencyKey::from_static("c1"),
            )
            .await
            .unwrap();
        // A capture dated 9999-12-31 would win "most recent" region survivorship forever.
        let far = Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap();
        let e = crm
            .capture(
                t,
                req(Source::Dealer)
                    .mobile("13812345678")
                    .region("北京")
                    .at(far),
                &IdempotencyKey::from_static("c2"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("captured_at"), "{e}");
        let old = Utc.with_ymd_and_hms(1970, 1, 1, 0, 0, 0).unwrap();
        let e = crm
            .capture(
                t,
                req(Source::Dealer).mobile("13812345678").at(old),
                &IdempotencyKey::from_static("c3"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("captured_at"), "{e}");
        // A T Cloud inquiry's received_at is the capture time.
        let inquiry = Inquiry {
            campaign: "expo".into(),
            mobile: Some("13812345678".into()),
            received_at: Some(now + Duration::minutes(6)),
            ..Inquiry::default()
        };
        let e = crm
            .capture_inquiry(t, inquiry, &IdempotencyKey::from_static("c4"))
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("captured_at"), "{e}");
        // Within the skew (5 minutes) is fine.
        let ok = crm
            .capture(
                t,
                req(Source::Dealer)
                    .mobile("13812345678")
                    .at(now + Duration::minutes(4)),
                &IdempotencyKey::from_static("c5"),
            )
            .await
            .unwrap();
        assert_eq!(ok.lead(), a.lead());
        // In a batch the row is reported on captured_at and the others go in.
        let rows = crm
            .capture_batch(
                t,
                &[
                    req(Source::Dealer).mobile("13912345678").at(far),
                    req(Source::Dealer).mobile("13712345678"),
                ],
                &IdempotencyKey::from_static("b1"),
            )
            .await
            .unwrap();
        assert_eq!(
            rows[0].as_ref().unwrap_err().field.as_deref(),
            Some("captured_at")
        );
        assert!(rows[1].is_ok());
        let lead = crm.lead(t, &a.lead()).await.unwrap();
        assert_eq!(lead.region.as_deref(), Some("上海"));
        assert!(lead
            .touches
            .iter()
            .all(|x| x.at <= now + Duration::minutes(5)));
        // Behaviour events: `at` drives recency scores and stage times.
        let e = crm
            .record_behaviour(
                t,
                BehaviourEvent {
                    lead: a.lead(),
                    kind: BehaviourKind::FormSubmit,
                    at: far,
                    topic: None,
                    content: None,
                },
                &IdempotencyKey::from_static("e1"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("event.at"), "{e}");
        // The skew is configurable.
        let strict = marketingforce_crm::Crm::builder(
            &marketingforce_core::env::Env::builder(env.store.clone())
                .keys(env.keys.clone())
                .clock(std::sync::Arc::new(env.clock.clone()))
                .build(),
        )
        .max_clock_skew(Duration::seconds(10))
        .build()
        .unwrap();
        let e = strict
            .capture(
                t,
                req(Source::Dealer)
                    .mobile("13812345678")
                    .at(now + Duration::minutes(1)),
                &IdempotencyKey::from_static("s1"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("captured_at"), "{e}");
    });
}

#[test]
fn sop_triggers_in_the_future_are_refused_and_schedules_are_bounded() {
    use chrono::{Duration, TimeZone, Utc};
    use marketingforce_core::time::Clock;
    use marketingforce_crm::ids::{SopId, UserId};
    use marketingforce_crm::sop::{
        CommunitySop, SopKind, SopStep, SopTemplate, Sops, StepAction, Trigger,
    };
    run(async {
        let env = Env::new(CrmConfig::default());
        let t = &env.tenant;
        let sops = Sops::new(&env.core());
        let tpl = SopTemplate {
            id: SopId::new(),
            name: "跟进".into(),
            kind: SopKind::Customer,
            trigger: Trigger::Assigned,
            steps: vec![SopStep {
                title: "电话".into(),
                offset_hours: 2,
                action: StepAction::Call,
                remind_before_minutes: 30,
                escalate_after_hours: None,
            }],
        };
        sops.save_template(t, &tpl).await.unwrap();
        let now = env.clock.now();
        let lead = marketingforce_crm::ids::LeadId::new();
        let user = UserId::new();
        let far = Utc.with_ymd_and_hms(9999, 12, 31, 0, 0, 0).unwrap();
        let e = sops
            .start(
                t,
                &tpl.id,
                &lead,
                &user,
                far,
                &IdempotencyKey::from_static("far"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("trigger_at"), "{e}");
        let e = sops
            .start(
                t,
                &tpl.id,
                &lead,
                &user,
                now + Duration::hours(1),
                &IdempotencyKey::from_static("k"),
            )
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("trigger_at"), "{e}");
        let old = Utc.with_ymd_and_hms(1999, 1, 1, 0, 0, 0).unwrap();
        assert!(sops
            .start(
                t,
                &tpl.id,
                &lead,
                &user,
                old,
                &IdempotencyKey::from_static("old")
            )
            .await
            .is_err());
        assert_eq!(
            sops.start(
                t,
                &tpl.id,
                &lead,
                &user,
                now,
                &IdempotencyKey::from_static("now")
            )
            .await
            .unwrap()
            .len(),
            1
        );
        // A community SOP may be scheduled ahead, but not into the year 9999.
        let community: CommunitySop = serde_json::from_value(serde_json::json!({
            "id": SopId::new(),
            "name": "社群",
            "filter": {},
            "messages": [],
        }))
        .unwrap_or_else(|_| panic!("community SOP shape"));
        let e = sops
            .start_community(t, &community, &[], far, &IdempotencyKey::from_static("far"))
            .await
            .unwrap_err();
        assert_eq!(e.field(), Some("start"), "{e}");
    });
}

/// The row-to-lead partition of `outcomes` after every merge: each row's surviving lead, named
/// by the first row that ended up in it (so two services with different ids compare).
async fn partition(
    crm: &Crm,
    t: &TenantId,
    outcomes: &[CaptureOutcome],
) -> (Vec<usize>, Vec<marketingforce_crm::ids::LeadId>) {
    let mut first_row = std::collections::HashMap::new();
    let mut rows = Vec::with_capacity(outcomes.len());
    let mut survivors = Vec::new();
    for (i, o) in outcomes.iter().enumerate() {
        let s = crm.survivor(t, &o.lead()).await.unwrap();
        let named = *first_row.entry(s).or_insert_with(|| {
            survivors.push(s);
            i
        });
        rows.push(named);
    }
    (rows, survivors)
}

#[test]
fn a_large_batch_decides_and_stores_what_captures_one_by_one_do() {
    // Batches large enough for their per-row work to run on several threads, the second
    // joining well over a hundred leads the first stored (their vaults are opened on several
    // threads too), against the same rows captured one call at a time.
    run(async {
        let reqs = synthetic(1_600, 11);
        let batched = Env::new(CrmConfig::default());
        let single = Env::new(CrmConfig::default());
        // After the last synthetic capture time.
        let latest = reqs.iter().filter_map(|r| r.captured_at).max().unwrap();
        for env in [&batched, &single] {
            env.clock.set(latest + chrono::Duration::days(1));
        }
        let mut by_batch = Vec::new();
        for (i, part) in reqs.chunks(800).enumerate() {
            let key = IdempotencyKey::new(format!("batch-{i}")).unwrap();
            let rows = batched
                .crm
                .capture_batch(&batched.tenant, part, &key)
                .await
                .unwrap();
            by_batch.extend(rows.into_iter().map(|r| r.unwrap()));
        }
        let mut one_by_one = Vec::new();
        for (i, r) in reqs.iter().enumerate() {
            let key = IdempotencyKey::new(format!("row-{i}")).unwrap();
            one_by_one.push(
                single
                    .crm
                    .capture(&single.tenant, r.clone(), &key)
                    .await
                    .unwrap(),
            );
        }
        let kind = |o: &CaptureOutcome| match o {
            CaptureOutcome::Created { .. } => "created".to_string(),
            CaptureOutcome::Merged {
                matched_by,
                absorbed,
                ..
            } => format!("merged {matched_by:?} absorbing {}", absorbed.len()),
            CaptureOutcome::Unchanged { .. } => "unchanged".to_string(),
        };
        let kinds: Vec<String> = by_batch.iter().map(kind).collect();
        assert_eq!(kinds, one_by_one.iter().map(kind).collect::<Vec<_>>());
        let joined = kinds[800..]
            .iter()
            .filter(|k| k.starts_with("merged"))
            .count();
        assert!(
            joined > 128,
            "only {joined} rows of the second batch joined a lead"
        );

        let (rows_b, leads_b) = partition(&batched.crm, &batched.tenant, &by_batch).await;
        let (rows_s, leads_s) = partition(&single.crm, &single.tenant, &one_by_one).await;
        assert_eq!(rows_b, rows_s, "the rows fall into the same leads");

        // Each lead holds the same captures, opened from its vault.
        let admin_b = batched
            .staff(marketingforce_crm::staff::Role::Admin, 1, None)
            .await;
        let admin_s = single
            .staff(marketingforce_crm::staff::Role::Admin, 1, None)
            .await;
        for (b, s) in leads_b.iter().zip(&leads_s) {
            let captures = |e: marketingforce_crm::ContactExport| {
                let mut c: Vec<String> = e
                    .captures
                    .iter()
                    .map(|c| serde_json::to_string(&(c.source, c.at, &c.identity)).unwrap())
                    .collect();
                c.sort();
                (c, e.lead.touches.len())
            };
            let eb = batched
                .crm
                .export_contact(&batched.tenant, b, &Actor::User(admin_b))
                .await
                .unwrap();
            let es = single
                .crm
                .export_contact(&single.tenant, s, &Actor::User(admin_s))
                .await
                .unwrap();
            assert_eq!(captures(eb), captures(es));
        }

        // Replaying a batch answers what it answered and writes nothing.
        let before = batched.crm.all_leads(&batched.tenant).await.unwrap();
        let again = batched
            .crm
            .capture_batch(
                &batched.tenant,
                &reqs[800..],
                &IdempotencyKey::new("batch-1").unwrap(),
            )
            .await
            .unwrap();
        let again: Vec<CaptureOutcome> = again.into_iter().map(|r| r.unwrap()).collect();
        assert_eq!(again, by_batch[800..]);
        assert_eq!(
            batched.crm.all_leads(&batched.tenant).await.unwrap(),
            before
        );
    });
}

/// A lead's history is its own entries of the tenant-wide history journal, in order, across
/// more entries than one read of the journal returns, and not the entries of other leads that
/// name it (the survivor's `Merged` entry names the lead it absorbed).
#[test]
fn history_is_the_leads_own_entries_across_journal_pages() {
    use marketingforce_core::storage::Journal;
    use marketingforce_crm::lifecycle::{LeadEvent, LeadEventKind, HISTORY_JOURNAL};
    run(async {
        let env = Env::new(CrmConfig::default());
        let (crm, t) = (&env.crm, &env.tenant);
        let (a, b) = two_leads_a_capture_bridges(crm, t).await;
        // More than a page of other leads' entries between b's capture and its merge.
        let rows: Vec<CaptureRequest> = (0..6_000u32)
            .map(|i| req(Source::Dealer).mobile(format!("137{i:08}")))
            .collect();
        let mut others = Vec::new();
        for (i, chunk) in rows.chunks(2_000).enumerate() {
            let key = IdempotencyKey::new(format!("rows{i}")).unwrap();
            for r in crm.capture_batch(t, chunk, &key).await.unwrap() {
                others.push(r.unwrap().lead());
            }
        }
        bridge(crm, t).await;

        let all: Vec<LeadEvent> = Journal::<LeadEvent>::new(env.store.clone(), HISTORY_JOURNAL)
            .read_all(t)
            .await
            .unwrap()
            .into_iter()
            .map(|(_, e)| e)
            .collect();
        assert!(all.len() > 6_000);
        let own =
            |lead| -> Vec<LeadEvent> { all.iter().filter(|e| e.lead == lead).cloned().collect() };
        for lead in [a, b, others[0], others[4_999], others[5_999]] {
            assert_eq!(crm.history(t, &lead).await.unwrap(), own(lead), "{lead}");
        }
        let a_history = crm.history(t, &a).await.unwrap();
        assert!(a_history
            .iter()
            .any(|e| matches!(e.event, LeadEventKind::Merged { absorbed, .. } if absorbed == b)));
        let b_history = crm.history(t, &b).await.unwrap();
        assert!(b_history.iter().all(|e| e.lead == b));
        assert!(b_history
            .iter()
            .any(|e| matches!(e.event, LeadEventKind::MergedInto { survivor } if survivor == a)));
    });
}

#[test]
fn a_state_rebuilt_over_several_pages_decides_as_the_live_one() {
    // More leads than a rebuild reads per page (1,000), with merges by capture, a merge by
    // hand and an un-merge (two leads kept apart): a process that rebuilds the tenant's state
    // from storage decides the next captures exactly as the process that built it live.
    run(async {
        let reqs = synthetic(2_700, 23);
        let (first, next) = reqs.split_at(2_300);
        let live = Env::new(CrmConfig::default());
        let mut rebuilt = Env::new(CrmConfig::default());
        rebuilt.tenant = live.tenant;
        let latest = reqs.iter().filter_map(|r| r.captured_at).max().unwrap();
        let ops = Actor::system("ops");
        let mut outcomes = Vec::new();
        for env in [&live, &rebuilt] {
            env.clock.set(latest + chrono::Duration::days(1));
            let mut created = Vec::new();
            for (i, part) in first.chunks(1_000).enumerate() {
                let key = IdempotencyKey::new(format!("first-{i}")).unwrap();
                for row in env
                    .crm
                    .capture_batch(&env.tenant, part, &key)
                    .await
                    .unwrap()
                {
                    if let CaptureOutcome::Created { lead } = row.unwrap() {
                        created.push(lead);
                    }
                }
            }
            let (a, b, c) = (created[10], created[20], created[30]);
            let key = |k: &str| IdempotencyKey::new(k).unwrap();
            env.crm
                .merge(&env.tenant, a, b, &ops, &key("m1"))
                .await
                .unwrap();
            env.crm
                .merge(&env.tenant, a, c, &ops, &key("m2"))
                .await
                .unwrap();
            env.crm
                .unmerge(&env.tenant, c, &ops, &key("u1"))
                .await
                .unwrap();
            outcomes.push(created);
        }
        assert_eq!(outcomes[0], outcomes[1], "both stores hold the same leads");
        rebuilt.crm.forget_tenant(&rebuilt.tenant);
        let mut decided = Vec::new();
        for env in [&live, &rebuilt] {
            let key = IdempotencyKey::new("next").unwrap();
            let rows: Vec<CaptureOutcome> = env
                .crm
                .capture_batch(&env.tenant, next, &key)
                .await
                .unwrap()
                .into_iter()
                .map(|r| r.unwrap())
                .collect();
            let mut survivors = Vec::new();
            for lead in &outcomes[0] {
                survivors.push(env.crm.survivor(&env.tenant, lead).await.unwrap());
            }
            decided.push((rows, survivors));
        }
        let joined = decided[0]
            .0
            .iter()
            .filter(|o| matches!(o, CaptureOutcome::Merged { .. }))
            .count();
        assert!(
            joined > 50,
            "only {joined} of the next captures joined a lead"
        );
        assert_eq!(decided[0], decided[1]);
    });
}
