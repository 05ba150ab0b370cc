//! The HTTP channel adapter against a local server (127.0.0.1 only), through the publisher.
#![cfg(feature = "http-channel")]

mod support;

use marketingforce_core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::sync::Arc;
use std::time::Duration;

use marketingforce_content::distribution::http::{HttpChannel, HttpChannelConfig};
use marketingforce_content::distribution::{
    ChannelCatalogue, PublicationStatus, PublishCommand, Publisher,
};
use marketingforce_content::ContentError;
use marketingforce_core::adapters::channel::{ContentChannel, ContentFormat};
use marketingforce_core::id::SeededIds;
use marketingforce_core::storage::MemoryStore;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::{Clock, ManualClock};
use support::{Reply, TestServer};

fn config(base: &str) -> HttpChannelConfig {
    let mut c = HttpChannelConfig::new("b2b-directory", base, "tok");
    c.backoff = Duration::from_millis(5);
    c.timeout = Duration::from_millis(500);
    c
}

fn cmd(n: u32) -> PublishCommand {
    PublishCommand {
        content_id: format!("c{n}"),
        version: 1,
        channel: "b2b-directory".into(),
        account: "acme corp/1".into(),
        format: ContentFormat::Article,
        title: "标题".into(),
        body_html: "<p>正文</p>".into(),
        media: vec![],
        tags: vec![],
        publish_at: None,
    }
}

#[tokio::test]
async fn publishes_rejects_and_reads_stats_over_http() {
    let server = TestServer::start(|n, req| match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/v1/accounts/acme%20corp%2F1") => Reply::json(200, r#"{"verification":"verified"}"#),
        ("GET", "/v1/accounts/nobody") => Reply::json(200, r#"{"verification":"pending"}"#),
        ("POST", "/v1/publications") if req.json()["content_id"] == "c2" => Reply::json(422, r#"{"code":"policy","reason":"标题含联系方式"}"#),
        ("POST", "/v1/publications") if n == 1 => Reply::json(503, "busy"),
        ("POST", "/v1/publications") => Reply::json(201, r#"{"external_id":"ext-1","url":"https://p.example/ext-1","published_at":"2026-03-02T01:00:00Z"}"#),
        ("GET", "/v1/accounts/acme%20corp%2F1/publications/ext-1/stats") => Reply::json(200, r#"{"exposures":1000,"views":80,"engagements":3,"clicks":5,"inquiries":2,"as_of":null}"#),
        ("GET", p) if p.starts_with("/v1/accounts/acme%20corp%2F1/inquiries") => Reply::json(200, r#"[{"external_id":"q1","item_external_id":"ext-1","phone":"13800000000","message":"报价","received_at":"2026-03-02T02:00:00Z"}]"#),
        _ => Reply::json(404, "{}"),
    })
    .await;
    let channel = Arc::new(HttpChannel::new(config(&server.base)).unwrap());
    let clock: Arc<dyn Clock> =
        Arc::new(ManualClock::at_rfc3339("2026-03-02T09:00:00+08:00").unwrap());
    let publisher = Publisher::builder(
        &Env::builder(Arc::new(MemoryStore::new()))
            .clock(clock.clone())
            .ids(Arc::new(SeededIds::new(1, clock)))
            .build(),
        Arc::new(ChannelCatalogue::builtin()),
    )
    .channel(channel.clone())
    .unwrap()
    .build();
    let t = TenantId::new();
    // The first publish call gets a 503 and is retried with the same idempotency key.
    let p = publisher
        .publish(&t, cmd(1), &IdempotencyKey::from_static("k1"))
        .await
        .unwrap();
    assert!(
        matches!(&p.status, PublicationStatus::Published(r) if r.external_id == "ext-1"),
        "{:?}",
        p.status
    );
    let posts: Vec<_> = server
        .requests()
        .into_iter()
        .filter(|r| r.method == "POST")
        .collect();
    assert_eq!(posts.len(), 2);
    assert_eq!(
        posts[0].header("idempotency-key"),
        posts[1].header("idempotency-key")
    );
    assert_eq!(posts[0].header("authorization"), Some("Bearer tok"));
    assert_eq!(posts[0].header("x-tenant"), Some(t.to_string().as_str()));
    let r = publisher
        .publish(&t, cmd(2), &IdempotencyKey::from_static("k2"))
        .await
        .unwrap();
    assert_eq!(
        r.status,
        PublicationStatus::Rejected {
            code: "policy".into(),
            reason: "标题含联系方式".into()
        }
    );
    let stats = publisher.stats(&t, &p.id).await.unwrap();
    assert_eq!((stats.views, stats.inquiries), (80, 2));
    let inq = channel.inquiries(&t, "acme corp/1", None).await.unwrap();
    assert_eq!(inq[0].phone.as_deref(), Some("13800000000"));
    // Pending verification is refused.
    let mut c = cmd(3);
    c.account = "nobody".into();
    assert!(matches!(
        publisher
            .publish(&t, c, &IdempotencyKey::from_static("k3"))
            .await
            .unwrap_err(),
        ContentError::AccountNotPublishable { .. }
    ));
    // Unknown items are not found.
    let e = channel.stats(&t, "acme corp/1", "zzz").await.unwrap_err();
    assert!(
        matches!(e, marketingforce_core::Error::NotFound { .. }),
        "{e}"
    );
}

#[tokio::test]
async fn refused_credentials_timeouts_and_garbage_are_distinct() {
    let server = TestServer::start(|_, req| match req.path.as_str() {
        "/v1/accounts/a" => Reply::json(401, "{}"),
        "/v1/accounts/b" => {
            let mut r = Reply::json(200, "{}");
            r.delay = Duration::from_millis(1500);
            r
        }
        _ => Reply::json(200, "not json"),
    })
    .await;
    let mut c = config(&server.base);
    c.max_retries = 0;
    let ch = HttpChannel::new(c).unwrap();
    let t = TenantId::new();
    let e = ch.account_status(&t, "a").await.unwrap_err();
    assert!(
        matches!(
            e,
            marketingforce_core::Error::Backend {
                retryable: false,
                ..
            }
        ),
        "{e}"
    );
    let e = ch.account_status(&t, "b").await.unwrap_err();
    assert!(
        matches!(e, marketingforce_core::Error::Timeout { .. }),
        "{e}"
    );
    let e = ch.account_status(&t, "c").await.unwrap_err();
    assert!(
        matches!(e, marketingforce_core::Error::Serialization { .. }),
        "{e}"
    );
    assert!(HttpChannel::new(HttpChannelConfig::new("x", "not a url", "t")).is_err());
}

/// An inquiries answer of the wrong shape is refused without echoing the personal data in it.
#[tokio::test]
async fn a_malformed_inquiries_answer_does_not_echo_personal_data() {
    let server = TestServer::start(|_, req| match req.path.as_str() {
        p if p.starts_with("/v1/accounts/a/inquiries") => Reply::json(
            200,
            r#"[{"external_id":"q1","item_external_id":"ext-1","name":"王芳","phone":13912345678,"email":"wang.fang@example.cn","message":"报价","received_at":"2026-03-02T02:00:00Z"}]"#,
        ),
        p if p.starts_with("/v1/accounts/b/inquiries") => Reply::json(
            200,
            r#"[{"external_id":"q1","item_external_id":"ext-1","name":["王芳"],"email":"wang.fang@example.cn","message":"报价","received_at":"2026-03-02T02:00:00Z"}]"#,
        ),
        _ => Reply::json(404, "{}"),
    })
    .await;
    let ch = HttpChannel::new(config(&server.base)).unwrap();
    let t = TenantId::new();
    for account in ["a", "b"] {
        let e = ch.inquiries(&t, account, None).await.unwrap_err();
        assert!(
            matches!(e, marketingforce_core::Error::Serialization { .. }),
            "{e}"
        );
        let shown = format!("{e} {e:?}");
        for personal in ["13912345678", "王芳", "wang.fang"] {
            assert!(!shown.contains(personal), "{personal} echoed: {shown}");
        }
    }
}
