//! The WeChat Official Account channel against a loopback protocol fake (127.0.0.1 only),
//! driven by the cassettes under `tests/fixtures/wechat/`.
#![cfg(feature = "wechat-oa")]

mod fake;

use marketingforce_core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::collections::BTreeMap;
use std::sync::Arc;

use base64::Engine as _;
use chrono::Duration;
use fake::{tape, Fake};
use marketingforce_content::distribution::wechat::{
    catalogue_entry, OaAccount, OaCallback, PublishStatus, WeChatOaChannel, WeChatOaConfig,
};
use marketingforce_content::distribution::{
    ChannelCatalogue, PublicationStatus, PublishCommand, Publisher,
};
use marketingforce_content::ContentError;
use marketingforce_core::adapters::cassette::{Cassette, Recorder};
use marketingforce_core::adapters::channel::{
    ContentChannel, ContentFormat, MediaAttachment, PublishOutcome, PublishRequest,
};
use marketingforce_core::adapters::secret::Secret;
use marketingforce_core::adapters::wechat::xml::XmlWriter;
use marketingforce_core::adapters::wechat::CallbackCrypto;
use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::{MemoryStore, Store};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};

const SECRET: &str = "test-app-secret-0001";
const AES_KEY: &str = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C";
const JPEG: &[u8] = b"\xFF\xD8\xFF\xE0\x00\x10JFIF-cover";
const PNG: &[u8] = b"\x89PNG\r\n\x1a\n-body-chart";

struct Rig {
    fake: Fake,
    clock: Arc<ManualClock>,
    store: Arc<dyn Store>,
    channel: Arc<WeChatOaChannel>,
    publisher: Publisher,
    tenant: TenantId,
}

fn config(base: &str) -> WeChatOaConfig {
    serde_json::from_value(serde_json::json!({
        "base_url": base,
        "backoff_ms": 1,
        "max_retries": 1,
        "publish_poll_attempts": 2,
        "publish_poll_interval_ms": 1,
    }))
    .unwrap()
}

fn account() -> OaAccount {
    let mut a =
        OaAccount::new("wxTESTAPP", SECRET).callback("cb-token", Some(Secret::new(AES_KEY)));
    a.author = Some("市场部".into());
    a
}

async fn rig(cassettes: &[&str]) -> Rig {
    rig_on(tape(cassettes)).await
}

/// A rig whose fake plays `tape`.
async fn rig_on(tape: Cassette) -> Rig {
    let fake = Fake::start(tape).await;
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T10:00:00+08:00").unwrap());
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let channel =
        Arc::new(WeChatOaChannel::new(config(&fake.base), store.clone(), clock.clone()).unwrap());
    let tenant = TenantId::new();
    channel.add_account(&tenant, "acme-oa", account()).unwrap();
    let catalogue = ChannelCatalogue::builtin()
        .with_channel(catalogue_entry())
        .unwrap();
    let dyn_clock: Arc<dyn Clock> = clock.clone();
    let publisher = Publisher::builder(
        &Env::builder(store.clone())
            .clock(dyn_clock.clone())
            .ids(Arc::new(SeededIds::new(7, dyn_clock)))
            .build(),
        Arc::new(catalogue),
    )
    .channel(channel.clone())
    .unwrap()
    .build();
    Rig {
        fake,
        clock,
        store,
        channel,
        publisher,
        tenant,
    }
}

fn cover() -> MediaAttachment {
    MediaAttachment {
        media_type: "image/jpeg".into(),
        name: "cover.jpg".into(),
        bytes: JPEG.to_vec(),
    }
}

fn article(n: u32, body: &str) -> PublishCommand {
    PublishCommand {
        content_id: format!("art-{n}"),
        version: 1,
        channel: "wechat-oa".into(),
        account: "acme-oa".into(),
        format: ContentFormat::Article,
        title: "立式加工中心选购指南".into(),
        body_html: body.into(),
        media: vec![cover()],
        tags: vec![],
        publish_at: None,
    }
}

fn request(tenant: TenantId, n: u32, key: &str) -> PublishRequest {
    let c = article(n, "<p>正文</p>");
    PublishRequest {
        tenant,
        account: c.account,
        content_id: c.content_id,
        version: 1,
        format: c.format,
        title: c.title,
        body_html: c.body_html,
        media: c.media,
        tags: vec![],
        idempotency_key: key.into(),
    }
}

fn body_with_image() -> String {
    let data = base64::engine::general_purpose::STANDARD.encode(PNG);
    format!(
        "<h2>选型要点</h2><p onclick=\"track()\">主轴转速 <img src=\"data:image/png;base64,{data}\"></p>\
         <script>alert(1)</script>"
    )
}

#[tokio::test]
async fn publishes_through_the_publisher_with_images_rehosted() {
    let r = rig(&["wechat/publish.jsonl"]).await;
    let p = r
        .publisher
        .publish(
            &r.tenant,
            article(1, &body_with_image()),
            &IdempotencyKey::from_static("pub-1"),
        )
        .await
        .unwrap();
    let PublicationStatus::Published(receipt) = &p.status else {
        panic!("{:?}", p.status)
    };
    assert_eq!(receipt.external_id, "ARTICLE_1");
    assert_eq!(
        receipt.url.as_deref(),
        Some("https://mp.weixin.qq.com/s/ARTICLE_1")
    );
    r.fake.assert_played();
    // The body image went up as a multipart file; the draft points at its WeChat URL and
    // carries no script, handler or data URI.
    let upload = &r.fake.calls("/cgi-bin/media/uploadimg")[0];
    assert!(upload
        .content_type
        .starts_with("multipart/form-data; boundary="));
    assert!(upload.raw.windows(PNG.len()).any(|w| w == PNG));
    let draft = &r.fake.calls("/cgi-bin/draft/add")[0];
    let content = draft.request.json.as_ref().unwrap()["articles"][0]["content"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        content.contains("<img src=\"http://mmbiz.qpic.cn/mmbiz_png/BODY1/0\""),
        "{content}"
    );
    for gone in ["script", "alert", "onclick", "data:image"] {
        assert!(!content.contains(gone), "{gone} in {content}");
    }
    // A retry under the same key answers from the stored job: no call to the platform (the
    // cassette is exhausted, so any call would fail).
    let again = r
        .channel
        .publish(&request(r.tenant, 1, "x"))
        .await
        .map(|_| ());
    assert!(again.is_err(), "a new key must call the platform");
    let replay = r
        .publisher
        .publish(
            &r.tenant,
            article(1, &body_with_image()),
            &IdempotencyKey::from_static("pub-1"),
        )
        .await
        .unwrap();
    assert_eq!(replay, p);
}

#[tokio::test]
async fn a_token_refused_mid_run_is_refreshed_once() {
    let r = rig(&["wechat/token_expiry.jsonl"]).await;
    let out = r
        .channel
        .publish(&request(r.tenant, 2, "k-2"))
        .await
        .unwrap();
    assert!(
        matches!(out, PublishOutcome::Published(ref p) if p.external_id == "ARTICLE_2"),
        "{out:?}"
    );
    assert_eq!(r.fake.calls("/cgi-bin/token").len(), 2);
    assert_eq!(r.fake.calls("/cgi-bin/draft/add").len(), 2);
    r.fake.assert_played();
}

#[tokio::test]
async fn refusals_become_typed_errors() {
    let r = rig(&["wechat/refusals.jsonl"]).await;
    let err = |n: u32| {
        let ch = r.channel.clone();
        let req = request(r.tenant, n, &format!("k-{n}"));
        async move { ContentError::from_adapter(ch.publish(&req).await.unwrap_err()) }
    };
    match err(1).await {
        ContentError::RateLimited { channel, retry_at } => {
            assert_eq!(channel, "wechat-oa");
            // Daily quotas reset at midnight, Beijing time.
            assert_eq!(retry_at.to_rfc3339(), "2026-03-02T16:00:00+00:00");
        }
        other => panic!("{other:?}"),
    }
    match err(2).await {
        ContentError::Core(marketingforce_core::Error::Validation { field, reason }) => {
            assert_eq!(field, "title");
            assert!(reason.contains("45003"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(err(3).await,
        ContentError::Core(marketingforce_core::Error::Validation { field, .. }) if field == "digest"));
    match err(4).await {
        ContentError::ChannelApi {
            code,
            message,
            api,
            retryable,
            ..
        } => {
            assert_eq!(
                (code, api.as_str(), retryable),
                (53404, "cgi-bin/draft/add", false)
            );
            assert!(message.contains("rid: 4"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    match err(5).await {
        ContentError::Core(marketingforce_core::Error::Serialization { what, reason }) => {
            assert!(what.contains("draft/add"), "{what}");
            assert!(reason.contains("502 Bad Gateway"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    r.fake.assert_played();
}

#[tokio::test]
async fn an_unlisted_ip_is_a_configuration_error_naming_it() {
    let r = rig(&["wechat/ip_whitelist.jsonl"]).await;
    let e = ContentError::from_adapter(
        r.channel
            .account_status(&r.tenant, "acme-oa")
            .await
            .unwrap_err(),
    );
    match &e {
        ContentError::ChannelConfiguration {
            setting, reason, ..
        } => {
            assert_eq!(setting, "ip_whitelist");
            assert!(
                reason.contains("add 203.0.113.7 to the IP whitelist of app wxTESTAPP"),
                "{reason}"
            );
        }
        other => panic!("{other:?}"),
    }
    // Through the publisher the account is refused before anything is consumed.
    let refused = r
        .publisher
        .publish(
            &r.tenant,
            article(9, "<p>x</p>"),
            &IdempotencyKey::from_static("k-9"),
        )
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("203.0.113.7"), "{refused}");
    assert!(!refused.to_string().contains(SECRET));
}

#[tokio::test]
async fn review_refusals_are_rejections_and_unknown_statuses_are_reported() {
    let r = rig(&["wechat/review_rejected.jsonl"]).await;
    let p = r
        .publisher
        .publish(
            &r.tenant,
            article(3, "<p>一</p>"),
            &IdempotencyKey::from_static("k-3"),
        )
        .await
        .unwrap();
    assert_eq!(
        p.status,
        PublicationStatus::Rejected {
            code: "publish_status_4".into(),
            reason: "refused by the platform's review (articles [1])".into()
        }
    );
    let q = r
        .publisher
        .publish(
            &r.tenant,
            article(4, "<p>二</p>"),
            &IdempotencyKey::from_static("k-4"),
        )
        .await
        .unwrap();
    match &q.status {
        PublicationStatus::Failed { reason, retryable } => {
            assert!(*retryable);
            assert!(reason.contains("unknown publish_status 9"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    r.fake.assert_played();
}

#[tokio::test]
async fn a_retry_resumes_and_an_unanswered_submit_is_never_repeated() {
    let r = rig(&["wechat/resume.jsonl"]).await;
    let first = r
        .publisher
        .publish(
            &r.tenant,
            article(5, "<p>正文</p>"),
            &IdempotencyKey::from_static("k-5"),
        )
        .await
        .unwrap();
    assert!(
        matches!(&first.status, PublicationStatus::Failed { retryable: true, reason } if reason.contains("-1")),
        "{:?}",
        first.status
    );
    let second = r.publisher.retry(&r.tenant, &first.id).await.unwrap();
    match &second.status {
        PublicationStatus::Failed { retryable, reason } => {
            assert!(!retryable);
            assert!(reason.contains("outcome unknown"), "{reason}");
            assert!(reason.contains("DRAFT_9"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    // The cover was uploaded once; the submit was sent once (a 502 may come from a gateway
    // after WeChat took the request, so it is not resent) and is not sent again by a later
    // attempt under the same key.
    assert_eq!(r.fake.calls("/cgi-bin/material/add_material").len(), 1);
    let mut req = request(r.tenant, 5, "");
    req.idempotency_key = first.channel_key.clone();
    let cmd = article(5, "<p>正文</p>");
    req.body_html = cmd.body_html;
    let again = r.channel.publish(&req).await.unwrap_err();
    assert!(again.to_string().contains("outcome unknown"), "{again}");
    assert_eq!(r.fake.calls("/cgi-bin/freepublish/submit").len(), 1);
    r.fake.assert_played();
}

#[tokio::test]
async fn statistics_come_from_datacube_the_day_after() {
    let r = rig(&["wechat/publish.jsonl", "wechat/stats.jsonl"]).await;
    let p = r
        .publisher
        .publish(
            &r.tenant,
            article(6, &body_with_image()),
            &IdempotencyKey::from_static("k-6"),
        )
        .await
        .unwrap();
    // Same day: no figures yet, and no call.
    let today = r.publisher.stats(&r.tenant, &p.id).await.unwrap();
    assert_eq!((today.views, today.as_of), (0, None));
    r.clock.advance(Duration::days(2));
    let s = r.publisher.stats(&r.tenant, &p.id).await.unwrap();
    assert_eq!(
        (s.exposures, s.views, s.engagements, s.clicks),
        (12000, 1500, 86, 38)
    );
    assert_eq!(s.as_of.unwrap().to_rfc3339(), "2026-03-03T16:00:00+00:00");
    let days = r
        .channel
        .article_summary(&r.tenant, "acme-oa", "2026-03-03".parse().unwrap())
        .await
        .unwrap();
    assert_eq!((days.len(), days[0].reads, days[0].shares), (1, 550, 29));
    r.fake.assert_played();
}

/// Figures as large as the platform's counters go are added up without overflow.
#[tokio::test]
async fn huge_statistics_saturate_instead_of_overflowing() {
    let huge = r#"{"request":{"method":"GET","path":"/cgi-bin/token"},"response":{"json":{"access_token":"TOKEN_A","expires_in":7200}},"repeat":true}
{"request":{"method":"POST","path":"/datacube/getarticletotal","json":{"begin_date":"2026-03-02","end_date":"2026-03-02"}},"response":{"json":{"list":[{"ref_date":"2026-03-02","msgid":"2247483801_1","details":[{"stat_date":"2026-03-03","target_user":18446744073709551615,"int_page_read_count":18446744073709551615,"ori_page_read_count":18446744073709551615,"share_count":18446744073709551615,"add_to_fav_count":18446744073709551615}]}]}}}"#;
    let tape = Cassette::from_jsonl(&format!(
        "{}\n{huge}",
        fake::fixture("wechat/publish.jsonl")
    ))
    .unwrap();
    let r = rig_on(tape).await;
    let p = r
        .publisher
        .publish(
            &r.tenant,
            article(6, &body_with_image()),
            &IdempotencyKey::from_static("k-huge"),
        )
        .await
        .unwrap();
    r.clock.advance(Duration::days(2));
    let s = r.publisher.stats(&r.tenant, &p.id).await.unwrap();
    assert_eq!(
        (s.exposures, s.views, s.engagements, s.clicks),
        (u64::MAX, u64::MAX, u64::MAX, u64::MAX)
    );
    r.fake.assert_played();
}

/// A token answer with a lifetime no clock can add is used (and refreshed in good time), not
/// overflowed.
#[tokio::test]
async fn an_absurd_token_lifetime_is_capped() {
    let r = rig_on(
        Cassette::from_jsonl(
            r#"{"request":{"method":"GET","path":"/cgi-bin/token"},"response":{"json":{"access_token":"TOKEN_A","expires_in":9223372036854775807}}}
{"request":{"method":"POST","path":"/datacube/getarticlesummary","json":{"begin_date":"2026-03-03","end_date":"2026-03-03"}},"response":{"json":{"list":[]}}}"#,
        )
        .unwrap(),
    )
    .await;
    let days = r
        .channel
        .article_summary(&r.tenant, "acme-oa", "2026-03-03".parse().unwrap())
        .await
        .unwrap();
    assert!(days.is_empty());
    r.fake.assert_played();
}

fn query(q: &[(&str, &str)]) -> BTreeMap<String, String> {
    q.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn the_publish_result_callback_settles_a_pending_publication_once() {
    let r = rig(&["wechat/callback.jsonl"]).await;
    let first = r
        .publisher
        .publish(
            &r.tenant,
            article(7, "<p>正文</p>"),
            &IdempotencyKey::from_static("k-7"),
        )
        .await
        .unwrap();
    assert!(
        matches!(&first.status, PublicationStatus::Failed { retryable: true, reason } if reason.contains("still being processed")),
        "{:?}",
        first.status
    );
    let crypto =
        CallbackCrypto::new(&Secret::new("cb-token"), &Secret::new(AES_KEY), "wxTESTAPP").unwrap();
    let mut event = XmlWriter::new();
    event
        .cdata("ToUserName", "gh_0123456789ab")
        .cdata("FromUserName", "oABCD")
        .number("CreateTime", 1_772_431_200)
        .cdata("MsgType", "event")
        .cdata("Event", "PUBLISHJOBFINISH")
        .nested("PublishEventInfo", |i| {
            i.cdata("publish_id", "2247483900")
                .number("publish_status", 0)
                .cdata("article_id", "ARTICLE_CB")
                .nested("article_detail", |d| {
                    d.number("count", 1).nested("item", |it| {
                        it.number("idx", 1)
                            .cdata("article_url", "https://mp.weixin.qq.com/s/ARTICLE_CB");
                    });
                });
        });
    let (body, q) = crypto.seal_envelope(&event.finish(), "1772431200", "nonce-1", [9; 16]);
    let params = query(&[
        ("encrypt_type", "aes"),
        ("msg_signature", &q.msg_signature),
        ("timestamp", &q.timestamp),
        ("nonce", &q.nonce),
    ]);
    let got = r
        .channel
        .handle_callback(&r.tenant, "acme-oa", &params, &body)
        .await
        .unwrap();
    assert_eq!(
        got,
        OaCallback::PublishFinished {
            publish_id: "2247483900".into(),
            status: PublishStatus::Published,
            article_id: Some("ARTICLE_CB".into()),
            url: Some("https://mp.weixin.qq.com/s/ARTICLE_CB".into()),
            applied: true,
        }
    );
    // A duplicated delivery changes nothing.
    let dup = r
        .channel
        .handle_callback(&r.tenant, "acme-oa", &params, &body)
        .await
        .unwrap();
    assert!(matches!(
        dup,
        OaCallback::PublishFinished { applied: false, .. }
    ));
    // A forged signature is refused before decryption.
    let mut forged = params.clone();
    forged.insert("msg_signature".into(), "0".repeat(40));
    let e = r
        .channel
        .handle_callback(&r.tenant, "acme-oa", &forged, &body)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("msg_signature"), "{e}");
    // The retry answers from the settled job, without calling the platform.
    let settled = r.publisher.retry(&r.tenant, &first.id).await.unwrap();
    assert!(
        matches!(&settled.status, PublicationStatus::Published(p) if p.external_id == "ARTICLE_CB"),
        "{:?}",
        settled.status
    );
    r.fake.assert_played();
    // URL verification in clear: the plain signature over token, timestamp and nonce.
    let sig = marketingforce_core::adapters::wechat::plain_signature(
        &Secret::new("cb-token"),
        "1772431200",
        "n2",
    );
    let echo = r
        .channel
        .verify_url(
            &r.tenant,
            "acme-oa",
            &query(&[
                ("signature", &sig),
                ("timestamp", "1772431200"),
                ("nonce", "n2"),
                ("echostr", "ECHO"),
            ]),
        )
        .unwrap();
    assert_eq!(echo, "ECHO");
}

#[tokio::test]
async fn processes_sharing_a_store_share_one_token() {
    let r = rig(&["wechat/share_token.jsonl"]).await;
    let other =
        WeChatOaChannel::new(config(&r.fake.base), r.store.clone(), r.clock.clone()).unwrap();
    other.add_account(&r.tenant, "acme-oa", account()).unwrap();
    r.channel
        .account_status(&r.tenant, "acme-oa")
        .await
        .unwrap();
    other.account_status(&r.tenant, "acme-oa").await.unwrap();
    assert_eq!(r.fake.calls("/cgi-bin/token").len(), 1);
    r.fake.assert_played();
}

#[tokio::test]
async fn a_recorded_session_replays_and_holds_no_secret() {
    let live = Fake::start(tape(&["wechat/publish.jsonl"])).await;
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T10:00:00+08:00").unwrap());
    let recorder = Arc::new(Recorder::in_memory());
    let channel = WeChatOaChannel::recording(
        config(&live.base),
        Arc::new(MemoryStore::new()),
        clock.clone(),
        recorder.clone(),
    )
    .unwrap();
    let tenant = TenantId::new();
    channel.add_account(&tenant, "acme-oa", account()).unwrap();
    let mut req = request(tenant, 8, "rec-1");
    req.body_html = body_with_image();
    channel.publish(&req).await.unwrap();
    let recorded = recorder.recorded();
    assert_eq!(recorded.len(), 7);
    let text = serde_json::to_string(&recorded).unwrap();
    for secret in [SECRET, "TOKEN_A"] {
        assert!(!text.contains(secret), "{secret} recorded");
    }
    // Replay the recording against a fresh channel: same answer, every exchange played.
    let replay = Fake::start(Cassette::new(recorded)).await;
    let fresh =
        WeChatOaChannel::new(config(&replay.base), Arc::new(MemoryStore::new()), clock).unwrap();
    fresh.add_account(&tenant, "acme-oa", account()).unwrap();
    let out = fresh.publish(&req).await.unwrap();
    assert!(matches!(out, PublishOutcome::Published(ref p) if p.external_id == "ARTICLE_1"));
    replay.assert_played();
}

#[tokio::test]
async fn transport_failures_do_not_leak_the_secret() {
    // A loopback port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let clock = Arc::new(ManualClock::at_rfc3339("2026-03-02T10:00:00+08:00").unwrap());
    let channel = WeChatOaChannel::new(
        config(&format!("http://127.0.0.1:{port}")),
        Arc::new(MemoryStore::new()),
        clock,
    )
    .unwrap();
    let tenant = TenantId::new();
    channel.add_account(&tenant, "acme-oa", account()).unwrap();
    let e = channel
        .account_status(&tenant, "acme-oa")
        .await
        .unwrap_err();
    assert!(e.is_retryable(), "{e}");
    let shown = format!("{e} {e:?} {channel:?}");
    assert!(!shown.contains(SECRET), "{shown}");
    assert!(shown.contains("cgi-bin/token"), "{shown}");
}
