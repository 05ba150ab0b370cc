//! The WeCom connector against a loopback protocol fake (127.0.0.1 only), driven by the
//! cassettes under `tests/fixtures/wecom/`, into a real CRM over the memory store.
#![cfg(feature = "wecom")]

mod fake;

use marketingforce_core::IdempotencyKey;
use std::collections::BTreeMap;
use std::sync::Arc;

use fake::{tape, Fake};
use marketingforce_core::adapters::cassette::Recorder;
use marketingforce_core::adapters::secret::Secret;
use marketingforce_core::adapters::wechat::xml::XmlWriter;
use marketingforce_core::adapters::wechat::{CallbackCrypto, CallbackQuery};
use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::{MemoryStore, PageRequest, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use marketingforce_crm::crypto::KeyRing;
use marketingforce_crm::ids::{LeadId, UserId};
use marketingforce_crm::library::{ItemKind, Library, LibraryItem};
use marketingforce_crm::model::Source;
use marketingforce_crm::outreach::{
    send_library_item, MessageSender, OutgoingMessage, Recipients, SimulatedSender,
};
use marketingforce_crm::profile::{BehaviourKind, Condition, TagRule};
use marketingforce_crm::request::CaptureRequest;
use marketingforce_crm::staff::{Role, Staff};
use marketingforce_crm::wecom::{
    CallbackOutcome, ChannelCode, ChannelCodeRequest, ContactChange, ExternalUserId, OwnerResult,
    StaticDirectory, WeCom, WeComApp, WeComClient, WeComConfig,
};
use marketingforce_crm::{Crm, CrmConfig, CrmError};

const CORP: &str = "wwTESTCORP";
const SECRET: &str = "corp-contact-secret-0001";
const TOKEN: &str = "cb-token-0001";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";

struct Rig {
    fake: Fake,
    store: Arc<dyn Store>,
    clock: Arc<ManualClock>,
    crm: Arc<Crm>,
    wecom: WeCom,
    tenant: TenantId,
    zhangsan: UserId,
    lisi: UserId,
}

fn config(base: &str) -> WeComConfig {
    serde_json::from_value(serde_json::json!({
        "base_url": base, "backoff_ms": 1, "max_retries": 1, "page_size": 2
    }))
    .unwrap()
}

fn app() -> WeComApp {
    WeComApp::new(CORP, SECRET).callback(TOKEN, AES_KEY)
}

async fn rig(cassettes: &[&str]) -> Rig {
    rig_on(cassettes, Arc::new(MemoryStore::new())).await
}

async fn rig_on(cassettes: &[&str], store: Arc<dyn Store>) -> Rig {
    let fake = Fake::start(tape(cassettes)).await;
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T11:00:00+08:00").unwrap());
    let keys = Arc::new(KeyRing::new("k1", [7; 32]));
    let mut cfg = CrmConfig::default();
    cfg.tag_rules.push(TagRule {
        tag: "私域客户".into(),
        when: Condition::EventCount {
            kind: BehaviourKind::ContactAdded,
            at_least: 1,
        },
        sticky: false,
    });
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let crm = Arc::new(
        Crm::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .keys(keys.clone())
                .clock(dyn_clock.clone())
                .ids(Arc::new(SeededIds::new(3, dyn_clock.clone())))
                .build(),
        )
        .config(cfg)
        .build()
        .unwrap(),
    );
    let tenant = TenantId::new();
    // zhangsan may take unassigned leads (level 5); lisi may not (level 2).
    let (zhangsan, lisi) = (UserId::new(), UserId::new());
    for (id, level) in [(zhangsan, 5), (lisi, 2)] {
        crm.upsert_staff(
            &tenant,
            Staff::new(id, tenant, "staff", Role::Salesperson, level, clock.now()),
        )
        .await
        .unwrap();
    }
    let directory = Arc::new(
        StaticDirectory::new()
            .with(tenant, "zhangsan", zhangsan)
            .with(tenant, "lisi", lisi),
    );
    let client =
        WeComClient::new(tenant, app(), config(&fake.base), store.clone(), dyn_clock).unwrap();
    let wecom = WeCom::new(client, crm.clone(), keys, directory).unwrap();
    Rig {
        fake,
        store,
        clock,
        crm,
        wecom,
        tenant,
        zhangsan,
        lisi,
    }
}

fn users() -> Option<Vec<String>> {
    Some(vec!["zhangsan".into(), "lisi".into(), "wangwu".into()])
}

#[tokio::test]
async fn contact_sync_pages_through_cursors_into_capture_with_owners() {
    let r = rig(&["wecom/sync.jsonl", "wecom/sync_again.jsonl"]).await;
    r.wecom
        .register_channel_code(
            &ChannelCode::new("expo2026", Source::OfflineQr).campaign("2026-spring-expo"),
        )
        .await
        .unwrap();
    let report = r.wecom.sync_contacts(users()).await.unwrap();
    assert_eq!((report.pages, report.relations), (2, 3));
    assert_eq!((report.created, report.merged), (2, 1), "{report:?}");
    assert_eq!(report.unlicensed, vec!["wangwu".to_string()]);
    assert_eq!(report.unknown_values, vec!["add_way=301".to_string()]);
    assert_eq!(report.dropped, vec!["mobile".to_string()]);
    assert_eq!(report.owners_set, 1);
    assert_eq!(report.owner_issues.len(), 1);
    assert_eq!(report.owner_issues[0].0, "lisi");
    assert!(report.failures.is_empty(), "{:?}", report.failures);
    // The follow user owns the lead; the expo channel code's touch carries its campaign.
    let c1 = r.wecom.lead_of("wmC1AAAA").await.unwrap().unwrap();
    let lead = r.crm.lead(&r.tenant, &c1).await.unwrap();
    assert_eq!(lead.owner, Some(r.zhangsan));
    assert!(lead.touches.iter().any(
        |t| t.source == Source::OfflineQr && t.campaign.as_deref() == Some("2026-spring-expo")
    ));
    // The remark mobile joined the identity: the lead is found by it.
    assert_eq!(
        r.crm
            .find_by_mobile(&r.tenant, "13812345678")
            .await
            .unwrap(),
        vec![c1]
    );
    // lisi's own contact stays unassigned (level 2 may not take unassigned leads).
    let c2 = r.wecom.lead_of("wmC2BBBB").await.unwrap().unwrap();
    assert_eq!(r.crm.lead(&r.tenant, &c2).await.unwrap().owner, None);
    // No customer value in the report, and no external id in the clear in the store.
    let shown = serde_json::to_string(&report).unwrap() + &format!("{report:?}");
    for pii in ["wmC1AAAA", "wmC2BBBB", "张伟", "李娜", "1381234"] {
        assert!(!shown.contains(pii), "{pii} in the report");
    }
    let links = r
        .store
        .list(&r.tenant, "crm.wecom_contacts", &PageRequest::first(100))
        .await
        .unwrap();
    assert_eq!(links.items.len(), 2);
    for rec in &links.items {
        let text = String::from_utf8_lossy(&rec.value);
        assert!(
            !text.contains("wmC1AAAA") && !text.contains("wmC2BBBB"),
            "{text}"
        );
    }
    // Syncing again captures nothing new.
    let again = r.wecom.sync_contacts(users()).await.unwrap();
    assert_eq!(
        (again.created, again.merged, again.unchanged),
        (0, 0, 3),
        "{again:?}"
    );
    r.fake.assert_played();
}

fn q(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn crypto() -> CallbackCrypto {
    CallbackCrypto::new(&Secret::new(TOKEN), &Secret::new(AES_KEY), CORP).unwrap()
}

/// A callback as WeCom posts it: the event sealed in the envelope, the signature in the query.
fn post(event: &XmlWriter, n: u8) -> (BTreeMap<String, String>, String) {
    let (body, cq): (String, CallbackQuery) =
        crypto().seal_envelope(&event.finish(), "1772431200", &format!("nonce{n}"), [n; 16]);
    (
        q(&[
            ("msg_signature", &cq.msg_signature),
            ("timestamp", &cq.timestamp),
            ("nonce", &cq.nonce),
        ]),
        body,
    )
}

fn contact_event(change: &str, ext: &str, state: Option<&str>, time: i64) -> XmlWriter {
    let mut w = XmlWriter::new();
    w.cdata("ToUserName", CORP)
        .cdata("FromUserName", "sys")
        .number("CreateTime", time)
        .cdata("MsgType", "event")
        .cdata("Event", "change_external_contact")
        .cdata("ChangeType", change)
        .cdata("UserID", "zhangsan")
        .cdata("ExternalUserID", ext);
    if let Some(s) = state {
        w.cdata("State", s);
    }
    w
}

/// A `change_external_chat` callback: `members` joined group chat `chat` at `at`.
fn members_joined(chat: &str, at: i64, members: &[&str]) -> XmlWriter {
    let mut w = XmlWriter::new();
    w.cdata("ToUserName", CORP)
        .number("CreateTime", at)
        .cdata("MsgType", "event")
        .cdata("Event", "change_external_chat")
        .cdata("ChatId", chat)
        .cdata("ChangeType", "update")
        .cdata("UpdateDetail", "add_member")
        .number("JoinScene", 3)
        .number("MemChangeCnt", i64::try_from(members.len()).unwrap())
        .nested("MemChangeList", |l| {
            for m in members {
                l.cdata("Item", m);
            }
        });
    w
}

#[tokio::test]
async fn callbacks_flow_into_the_crm_once() {
    let r = rig(&["wecom/callbacks.jsonl", "wecom/tags.jsonl"]).await;
    r.wecom
        .register_channel_code(
            &ChannelCode::new("expo2026", Source::OfflineQr).campaign("2026-spring-expo"),
        )
        .await
        .unwrap();
    // URL verification: the decrypted echostr is the answer.
    let echo = crypto().encrypt("1616140317555161061", [1; 16]);
    let sig = crypto().sign("1772431200", "n0", &echo);
    let answer = r
        .wecom
        .verify_url(&q(&[
            ("msg_signature", &sig),
            ("timestamp", "1772431200"),
            ("nonce", "n0"),
            ("echostr", &echo),
        ]))
        .unwrap();
    assert_eq!(answer, "1616140317555161061");

    // A contact added through the expo channel code: captured, owned, behaviour recorded.
    let (query, body) = post(
        &contact_event(
            "add_external_contact",
            "wmC3CCCC",
            Some("expo2026"),
            1_772_431_200,
        ),
        2,
    );
    let CallbackOutcome::Contact {
        change,
        lead,
        captured,
        ..
    } = r.wecom.handle_callback(&query, &body).await.unwrap()
    else {
        panic!("not a contact outcome")
    };
    assert_eq!(change, ContactChange::Added);
    let lead = lead.unwrap();
    assert_eq!(captured[0].owner, OwnerResult::Set { user: r.zhangsan });
    let l = r.crm.lead(&r.tenant, &lead).await.unwrap();
    assert_eq!(l.profile.counts.get(&BehaviourKind::ContactAdded), Some(&1));
    assert!(l.tags.contains("私域客户"), "{:?}", l.tags);
    assert_eq!(l.touches[0].source, Source::OfflineQr);
    // The same delivery again: nothing happens.
    assert_eq!(
        r.wecom.handle_callback(&query, &body).await.unwrap(),
        CallbackOutcome::Duplicate
    );
    let l2 = r.crm.lead(&r.tenant, &lead).await.unwrap();
    assert_eq!(
        l2.profile.counts.get(&BehaviourKind::ContactAdded),
        Some(&1)
    );
    // A forged signature is refused before decryption.
    let mut forged = query.clone();
    forged.insert("msg_signature".into(), "0".repeat(40));
    let e = r.wecom.handle_callback(&forged, &body).await.unwrap_err();
    assert!(e.to_string().contains("msg_signature"), "{e}");
    // An envelope for another corp does not decrypt for this one.
    let other = CallbackCrypto::new(&Secret::new(TOKEN), &Secret::new(AES_KEY), "wwOTHER").unwrap();
    let (obody, oq) = other.seal_envelope(
        &contact_event("add_external_contact", "wmC9", None, 1).finish(),
        "1",
        "n",
        [5; 16],
    );
    let e = r
        .wecom
        .handle_callback(
            &q(&[
                ("msg_signature", &oq.msg_signature),
                ("timestamp", "1"),
                ("nonce", "n"),
            ]),
            &obody,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("receive_id"), "{e}");
    // Malformed XML inside a correctly signed envelope.
    let enc = crypto().encrypt("<xml><Event>", [6; 16]);
    let body_bad = format!("<xml><Encrypt><![CDATA[{enc}]]></Encrypt></xml>");
    let sig_bad = crypto().sign("2", "n", &enc);
    let e = r
        .wecom
        .handle_callback(
            &q(&[
                ("msg_signature", &sig_bad),
                ("timestamp", "2"),
                ("nonce", "n"),
            ]),
            &body_bad,
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("xml"), "{e}");

    // The CRM tag reaches the contact in WeCom.
    let pushed = r.wecom.sync_lead_tags(&lead).await.unwrap();
    assert_eq!(pushed.added, vec!["私域客户".to_string()]);

    // A half-added contact the platform cannot answer for yet is captured from the event.
    let (hq, hb) = post(
        &contact_event("add_half_external_contact", "wmC4DDDD", None, 1_772_431_300),
        3,
    );
    let CallbackOutcome::Contact { lead: half, .. } =
        r.wecom.handle_callback(&hq, &hb).await.unwrap()
    else {
        panic!()
    };
    assert!(half.is_some());

    // The customer removes the salesperson: a behaviour event on the same lead.
    let (dq, db) = post(
        &contact_event("del_follow_user", "wmC3CCCC", None, 1_772_434_800),
        4,
    );
    let out = r.wecom.handle_callback(&dq, &db).await.unwrap();
    assert!(
        matches!(out, CallbackOutcome::Contact { change: ContactChange::RemovedByCustomer, lead: Some(l), .. } if l == lead)
    );
    let l3 = r.crm.lead(&r.tenant, &lead).await.unwrap();
    assert_eq!(
        l3.profile.counts.get(&BehaviourKind::ContactRemoved),
        Some(&1)
    );

    // A group gains members: the known contact gets group_joined; staff and strangers nothing.
    let chat = members_joined(
        "wrGROUP_A",
        1_772_435_000,
        &["wmC3CCCC", "zhangsan", "wmUNKNOWN"],
    );
    let (cq, cb) = post(&chat, 7);
    let out = r.wecom.handle_callback(&cq, &cb).await.unwrap();
    assert!(
        matches!(&out, CallbackOutcome::Chat { leads, .. } if leads == &vec![lead]),
        "{out:?}"
    );
    assert_eq!(
        r.wecom.handle_callback(&cq, &cb).await.unwrap(),
        CallbackOutcome::Duplicate
    );
    let l4 = r.crm.lead(&r.tenant, &lead).await.unwrap();
    assert_eq!(l4.profile.counts.get(&BehaviourKind::GroupJoined), Some(&1));

    // A change type this SDK does not know is acknowledged and reported.
    let (uq, ub) = post(
        &contact_event("add_unicorn", "wmC3CCCC", None, 1_772_436_000),
        8,
    );
    assert_eq!(
        r.wecom.handle_callback(&uq, &ub).await.unwrap(),
        CallbackOutcome::Ignored {
            what: "change_type=add_unicorn".into()
        }
    );
    r.fake.assert_played();
}

#[tokio::test]
async fn channel_codes_and_groups() {
    let r = rig(&["wecom/contact_way.jsonl", "wecom/groups.jsonl"]).await;
    let code = r
        .wecom
        .create_channel_code(ChannelCodeRequest::new(
            ChannelCode::new("expo2026-b3", Source::OfflineQr).campaign("2026-spring-expo"),
            vec!["zhangsan".into()],
        ))
        .await
        .unwrap();
    assert_eq!(
        code.qr_code.as_deref(),
        Some("http://p.qpic.cn/wwhead/expo2026-b3")
    );
    // A state longer than the platform allows is refused before any call.
    let long = r
        .wecom
        .create_channel_code(ChannelCodeRequest::new(
            ChannelCode::new("x".repeat(31), Source::WeCom),
            vec!["zhangsan".into()],
        ))
        .await
        .unwrap_err();
    assert!(long.to_string().contains("state"), "{long}");
    let groups = r.wecom.sync_groups(&[]).await.unwrap();
    assert_eq!(groups.groups.len(), 2);
    assert_eq!((groups.groups[0].staff, groups.groups[0].external), (1, 2));
    assert!(
        groups.unknown_values.contains(&"status=9".to_string()),
        "{groups:?}"
    );
    assert!(
        groups.unknown_values.contains(&"member type=5".to_string()),
        "{groups:?}"
    );
    assert!(
        groups.unknown_values.contains(&"join_scene=4".to_string()),
        "{groups:?}"
    );
    r.fake.assert_played();
}

#[tokio::test]
async fn sends_go_through_the_same_seam_as_the_simulated_sender() {
    let r = rig(&["wecom/sync.jsonl", "wecom/groups.jsonl", "wecom/send.jsonl"]).await;
    r.wecom.sync_contacts(users()).await.unwrap();
    let groups = r.wecom.sync_groups(&[]).await.unwrap();
    let c1 = r.wecom.lead_of("wmC1AAAA").await.unwrap().unwrap();
    let c2 = r.wecom.lead_of("wmC2BBBB").await.unwrap().unwrap();
    let stranger = r
        .crm
        .capture(
            &r.tenant,
            CaptureRequest::new(Source::OwnSite).mobile("13900001111"),
            &IdempotencyKey::from_static("site-1"),
        )
        .await
        .unwrap()
        .lead();
    let msg = OutgoingMessage::text("张总您好，XK-850 的选型资料请查收");
    let to = Recipients::Leads(vec![c1, c2, stranger]);
    let senders: Vec<&dyn MessageSender> = vec![&r.wecom];
    for sender in senders {
        let receipt = sender
            .send(
                &r.tenant,
                &r.zhangsan,
                &to,
                &msg,
                &IdempotencyKey::from_static("sop-task-1"),
            )
            .await
            .unwrap();
        assert_eq!(
            (receipt.accepted, receipt.refused.len()),
            (1, 2),
            "{receipt:?}"
        );
        assert_eq!(
            receipt.task_ids,
            vec!["msgGCAAAXtWyujaWJHDDGi0mACAAA".to_string()]
        );
        // Same key: the first receipt, no second task.
        assert_eq!(
            sender
                .send(
                    &r.tenant,
                    &r.zhangsan,
                    &to,
                    &msg,
                    &IdempotencyKey::from_static("sop-task-1")
                )
                .await
                .unwrap(),
            receipt
        );
    }
    // The simulated sender answers the same call the same way, sending nothing.
    let sim = SimulatedSender::new();
    assert_eq!(
        sim.send(
            &r.tenant,
            &r.zhangsan,
            &to,
            &msg,
            &IdempotencyKey::from_static("k")
        )
        .await
        .unwrap()
        .accepted,
        3
    );
    // A group message from its owner.
    let g = groups.groups[0].group;
    let receipt = r
        .wecom
        .send(
            &r.tenant,
            &r.zhangsan,
            &Recipients::Groups(vec![g]),
            &OutgoingMessage::text("新品发布会直播预告"),
            &IdempotencyKey::from_static("community-1"),
        )
        .await
        .unwrap();
    assert_eq!(receipt.task_ids, vec!["msgGROUP0001".to_string()]);
    // A send that gets no answer: outcome unknown, and never sent again under the same key.
    let invite = OutgoingMessage::text("本周展会邀请");
    for _ in 0..2 {
        let e = r
            .wecom
            .send(
                &r.tenant,
                &r.zhangsan,
                &Recipients::Leads(vec![c1]),
                &invite,
                &IdempotencyKey::from_static("invite-1"),
            )
            .await
            .unwrap_err();
        assert!(e.to_string().contains("outcome unknown"), "{e}");
    }
    assert_eq!(
        r.fake
            .calls("/cgi-bin/externalcontact/add_msg_template")
            .len(),
        3,
        "one call per send: the unanswered one is not repeated"
    );
    // A user the staff directory does not know cannot send.
    let e = r
        .wecom
        .send(
            &r.tenant,
            &UserId::new(),
            &Recipients::Leads(vec![c1]),
            &msg,
            &IdempotencyKey::from_static("x"),
        )
        .await
        .unwrap_err();
    assert!(e.to_string().contains("staff directory"), "{e}");
    r.fake.assert_played();
}

#[tokio::test]
async fn the_library_sends_through_a_sender_and_records_the_behaviour() {
    let r = rig(&["wecom/sync.jsonl"]).await;
    r.wecom.sync_contacts(users()).await.unwrap();
    let c1 = r.wecom.lead_of("wmC1AAAA").await.unwrap().unwrap();
    let library = Library::new(&marketingforce_core::env::Env::new(r.store.clone()));
    let item = LibraryItem::new(
        marketingforce_crm::ids::MaterialId::new(),
        "报价",
        ItemKind::Link,
        "XK-850 报价单",
        "https://example.com/xk850.pdf",
    );
    library.save(&r.tenant, &item).await.unwrap();
    let sim = SimulatedSender::new();
    let (receipt, _score) = send_library_item(
        &library,
        &r.crm,
        &sim,
        &r.tenant,
        &item.id,
        &c1,
        &r.zhangsan,
        &IdempotencyKey::from_static("lib-1"),
    )
    .await
    .unwrap();
    assert_eq!(receipt.accepted, 1);
    let sent = sim.sent(&r.tenant);
    assert_eq!(
        sent[0].message.links[0].url,
        "https://example.com/xk850.pdf"
    );
    let l = r.crm.lead(&r.tenant, &c1).await.unwrap();
    assert_eq!(
        l.profile.counts.get(&BehaviourKind::MaterialReceived),
        Some(&1)
    );
    // lisi may not see zhangsan's lead: refused before anything is sent.
    let e = send_library_item(
        &library,
        &r.crm,
        &sim,
        &r.tenant,
        &item.id,
        &c1,
        &r.lisi,
        &IdempotencyKey::from_static("lib-2"),
    )
    .await
    .unwrap_err();
    assert!(matches!(e, CrmError::AccessDenied { .. }), "{e}");
    assert_eq!(sim.sent(&r.tenant).len(), 1);
    let _: LeadId = c1;
}

#[tokio::test]
async fn refusals_are_typed_and_recordings_hold_no_secret_or_personal_data() {
    let r = rig(&["wecom/errors.jsonl"]).await;
    let e = r.wecom.client().check_credentials().await.unwrap_err();
    match &e {
        CrmError::PlatformConfiguration {
            setting, reason, ..
        } => {
            assert_eq!(setting, "trusted_ip");
            assert!(
                reason.contains("add 203.0.113.9 to the trusted IPs"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(!e.to_string().contains(SECRET));
    let malformed = r.wecom.follow_users().await.unwrap_err();
    assert!(
        matches!(
            malformed,
            CrmError::Core(marketingforce_core::Error::Serialization { .. })
        ),
        "{malformed}"
    );
    // Oversized pages are refused before any call.
    let many: Vec<String> = (0..101).map(|i| format!("u{i}")).collect();
    let e = r.wecom.contacts_page(&many, None).await.unwrap_err();
    assert!(e.to_string().contains("userids"), "{e}");
    r.fake.assert_played();

    // Record a live session; the recording replays and holds no secret or personal value.
    let live = Fake::start(tape(&["wecom/sync.jsonl"])).await;
    let recorder = Recorder::in_memory();
    let client = WeComClient::recording(
        r.tenant,
        app(),
        config(&live.base),
        Arc::new(MemoryStore::new()),
        r.clock.clone(),
        recorder,
    )
    .unwrap();
    let _ = client
        .post::<serde_json::Value>(
            "cgi-bin/externalcontact/batch/get_by_user",
            &serde_json::json!({"userid_list": ["zhangsan", "lisi", "wangwu"], "cursor": "", "limit": 2}),
        )
        .await
        .unwrap();
    let recorded = client.recorder().unwrap().recorded();
    let text = serde_json::to_string(&recorded).unwrap();
    for leaked in [
        SECRET,
        "TOKEN_1",
        "张伟",
        "李娜",
        "13812345678",
        "ozC1",
        "上海某某机械",
    ] {
        assert!(!text.contains(leaked), "{leaked} recorded: {text}");
    }
    assert!(
        text.contains("wmC1AAAA"),
        "ids stay so the recording replays"
    );
}

/// Guards `WeComClient` (through `WeCom::contact`): an answer that does not decode is a
/// serialization error naming the API and where decoding failed, without quoting the answer,
/// which holds the contact's personal data.
#[tokio::test]
async fn a_malformed_answer_is_reported_without_its_personal_data() {
    let r = rig(&["wecom/malformed_contact.jsonl"]).await;
    let e = r
        .wecom
        .contact(&ExternalUserId("wmC1AAAA".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            CrmError::Core(marketingforce_core::Error::Serialization { .. })
        ),
        "{e}"
    );
    let shown = format!("{e} {e:?}");
    assert!(shown.contains("externalcontact/get"), "{shown}");
    for leaked in ["wmC1AAAA", "张伟", "上海某某机械", "13812345678"] {
        assert!(!shown.contains(leaked), "{leaked} shown: {shown}");
    }
    r.fake.assert_played();
}

#[tokio::test]
async fn transport_failures_do_not_leak_the_secret() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clock: Arc<dyn Clock> =
        Arc::new(ManualClock::at_rfc3339("2026-03-02T11:00:00+08:00").unwrap());
    let client = WeComClient::new(
        TenantId::new(),
        app(),
        config(&format!("http://127.0.0.1:{port}")),
        Arc::new(MemoryStore::new()),
        clock,
    )
    .unwrap();
    let e = client.check_credentials().await.unwrap_err();
    let shown = format!("{e} {e:?} {client:?}");
    assert!(
        !shown.contains(SECRET) && !shown.contains(AES_KEY) && !shown.contains(TOKEN),
        "{shown}"
    );
    assert!(shown.contains("cgi-bin/gettoken"), "{shown}");
}

/// Guards `WeCom::send` (through `add_msg_template`): a mass-message call answered by HTTP 5xx
/// (or a timeout) may have created the task, so it is never sent again by the transport's
/// retries — the answer is "outcome unknown", the key stays unusable for a second send, and the
/// platform saw exactly one call.
#[tokio::test]
async fn an_unanswered_mass_message_is_not_retried_into_a_second_task() {
    let r = rig(&["wecom/sync.jsonl", "wecom/send_once.jsonl"]).await;
    r.wecom.sync_contacts(users()).await.unwrap();
    let c1 = r.wecom.lead_of("wmC1AAAA").await.unwrap().unwrap();
    let (to, msg) = (
        Recipients::Leads(vec![c1]),
        OutgoingMessage::text("周末到店礼"),
    );
    let key = IdempotencyKey::from_static("weekend-1");
    for _ in 0..2 {
        let e = r
            .wecom
            .send(&r.tenant, &r.zhangsan, &to, &msg, &key)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("outcome unknown"), "{e}");
    }
    assert_eq!(
        r.fake
            .calls("/cgi-bin/externalcontact/add_msg_template")
            .len(),
        1,
        "a second add_msg_template would create a second mass-message task"
    );
}

/// A send that cannot get an access token sent nothing, and says so: the failure is answered
/// as it is (retryable) and the key stays free, so the retry under the same key sends, once
/// (it was answered "outcome unknown", and the key could never send again).
#[tokio::test]
async fn a_send_that_gets_no_token_sent_nothing_and_its_retry_sends() {
    let r = rig(&["wecom/sync.jsonl", "wecom/send_token_down.jsonl"]).await;
    r.wecom.sync_contacts(users()).await.unwrap();
    let c1 = r.wecom.lead_of("wmC1AAAA").await.unwrap().unwrap();
    r.clock.advance(chrono::Duration::hours(3));
    let (to, msg) = (
        Recipients::Leads(vec![c1]),
        OutgoingMessage::text("周末到店礼"),
    );
    let key = IdempotencyKey::from_static("weekend-2");
    let e = r
        .wecom
        .send(&r.tenant, &r.zhangsan, &to, &msg, &key)
        .await
        .unwrap_err();
    assert!(!e.to_string().contains("outcome unknown"), "{e}");
    assert!(e.is_retryable(), "{e}");
    let receipt = r
        .wecom
        .send(&r.tenant, &r.zhangsan, &to, &msg, &key)
        .await
        .unwrap();
    assert_eq!(receipt.task_ids, vec!["msgONCE".to_string()]);
    r.fake.assert_played();
}

/// A member's group event is not lost to a store that did not answer whose lead the member
/// is: the callback fails (retryable, not remembered), and its redelivery credits the member
/// (it was acknowledged without the event, for good).
#[tokio::test]
async fn a_group_event_is_not_lost_to_a_store_error() {
    use marketingforce_core::storage::{Fault, FaultPlan, FaultyStore};
    let faulty = Arc::new(FaultyStore::new(
        Arc::new(MemoryStore::new()),
        FaultPlan::new(1),
    ));
    let r = rig_on(
        &["wecom/callbacks.jsonl", "wecom/tags.jsonl"],
        faulty.clone(),
    )
    .await;
    r.wecom
        .register_channel_code(
            &ChannelCode::new("expo2026", Source::OfflineQr).campaign("2026-spring-expo"),
        )
        .await
        .unwrap();
    let (query, body) = post(
        &contact_event(
            "add_external_contact",
            "wmC3CCCC",
            Some("expo2026"),
            1_772_431_200,
        ),
        2,
    );
    let CallbackOutcome::Contact {
        lead: Some(lead), ..
    } = r.wecom.handle_callback(&query, &body).await.unwrap()
    else {
        panic!("the contact is captured")
    };
    let chat = members_joined("wrGROUP_A", 1_772_435_000, &["wmC3CCCC"]);
    let (cq, cb) = post(&chat, 7);
    faulty.script_matching(Fault::ReadError, "crm.wecom_contacts");
    let e = r.wecom.handle_callback(&cq, &cb).await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let out = r.wecom.handle_callback(&cq, &cb).await.unwrap();
    assert!(
        matches!(&out, CallbackOutcome::Chat { leads, .. } if leads == &vec![lead]),
        "{out:?}"
    );
    let l = r.crm.lead(&r.tenant, &lead).await.unwrap();
    assert_eq!(l.profile.counts.get(&BehaviourKind::GroupJoined), Some(&1));
}
