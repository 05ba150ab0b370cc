//! The OpenAI-compatible backend against a local server speaking the protocol (127.0.0.1 only).
#![cfg(feature = "openai")]

mod support;

use std::sync::Arc;
use std::time::Duration;

use marketingforce_content::text::openai::{
    ChatMessage, FinishReason, OpenAiCompatible, OpenAiConfig, StreamEvent,
};
use marketingforce_content::{ContentError, LlmError};
use marketingforce_core::adapters::generation::{
    ContactDetails, Link, Materials, TextGenerator, TextRequest,
};
use support::{Part, Reply, TestServer};

fn config(base: &str, stream: bool) -> OpenAiConfig {
    let mut c = OpenAiConfig::new(format!("{base}/v1"), "qwen-test").api_key("sk-test");
    c.stream = stream;
    c.backoff = Duration::from_millis(5);
    c.max_backoff = Duration::from_millis(20);
    c.timeout = Duration::from_secs(5);
    c.stream_idle_timeout = Duration::from_secs(5);
    c
}

fn request() -> TextRequest {
    TextRequest::new("industrial-machinery", "数控机床选购指南")
        .keywords(["数控机床"])
        .materials(Materials {
            product_name: Some("XK-850".into()),
            contact: Some(ContactDetails {
                phone: Some("0512-6000 0000".into()),
                ..ContactDetails::default()
            }),
            links: vec![Link {
                text: "产品手册".into(),
                url: "https://example.cn/m".into(),
            }],
            ..Materials::default()
        })
}

const ANSWER: &str = "标题：数控机床选购的五个要点\\n摘要：从精度、效率和服务三个方面看数控机床。\\n正文：\\n## 一、精度\\n\\n数控机床的**定位精度**决定零件质量。\\n\\n- 看参数\\n- 看案例";

#[tokio::test]
async fn non_streaming_answer_becomes_an_article_with_usage_and_model() {
    let body = format!(
        r#"{{"id":"x","model":"qwen-test-0801","choices":[{{"index":0,"message":{{"role":"assistant","content":"{ANSWER}","reasoning_content":"先想结构"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":120,"completion_tokens":80,"total_tokens":200}},"system_fingerprint":"fp"}}"#
    );
    let server = TestServer::start(move |_, _| Reply::json(200, &body)).await;
    let llm = OpenAiCompatible::new(config(&server.base, false)).unwrap();
    let a = llm.generate_article(&request()).await.unwrap();
    assert_eq!(a.title, "数控机床选购的五个要点");
    assert_eq!(a.summary, "从精度、效率和服务三个方面看数控机床。");
    assert!(
        a.body_html.contains("<h2>一、精度</h2>")
            && a.body_html.contains("<strong>定位精度</strong>")
    );
    // Links and contact the model left out are embedded.
    assert!(a
        .body_html
        .contains("<a href=\"https://example.cn/m\">产品手册</a>"));
    assert!(a
        .contact_block
        .as_deref()
        .unwrap()
        .contains("0512-6000 0000"));
    assert!(a.keywords[0].occurrences >= 3);
    assert_eq!(a.provenance.backend, "openai-compatible");
    assert_eq!(a.provenance.model.as_deref(), Some("qwen-test-0801"));
    assert_eq!(a.provenance.usage.unwrap().total_tokens, 200);
    let req = &server.requests()[0];
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/chat/completions");
    assert_eq!(req.header("authorization"), Some("Bearer sk-test"));
    let json = req.json();
    assert_eq!(json["model"], "qwen-test");
    assert_eq!(json["stream"], false);
    assert!(json["messages"][0]["content"]
        .as_str()
        .unwrap()
        .contains("广告法"));
    assert!(json["messages"][1]["content"]
        .as_str()
        .unwrap()
        .contains("XK-850"));
}

#[tokio::test]
async fn streaming_with_reasoning_unknown_finish_reason_and_null_choices_usage_chunk() {
    let chunk = |delta: &str| {
        format!(
            r#"{{"id":"c","model":"m1","choices":[{{"index":0,"delta":{delta},"finish_reason":null}}]}}"#
        )
    };
    let events = [
        chunk(r#"{"role":"assistant","content":""}"#),
        chunk(r#"{"reasoning_content":"思考"}"#),
        chunk(r#"{"content":"标题：机床\n摘要：精度"}"#),
        chunk(r#"{"content":"\n正文：\n数控机床很重要。"}"#),
        r#"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"eos_token"}]}"#.to_string(),
        r#"{"id":"c","choices":null,"usage":{"prompt_tokens":10,"completion_tokens":5,"total_tokens":15}}"#.to_string(),
        "[DONE]".to_string(),
    ];
    let server = TestServer::start(move |_, _| {
        let refs: Vec<&str> = events.iter().map(String::as_str).collect();
        let mut r = Reply::sse(&refs);
        // Split one event in the middle of a multi-byte character, and add a keep-alive comment.
        if let Part::Bytes(b) = r.parts.remove(3) {
            let (a, z) = b.split_at(20);
            r.parts.insert(3, Part::Bytes(z.to_vec()));
            r.parts.insert(3, Part::Bytes(a.to_vec()));
        }
        r.parts.insert(0, Part::Bytes(b": keep-alive\n\n".to_vec()));
        r
    })
    .await;
    let llm = OpenAiCompatible::new(config(&server.base, true)).unwrap();
    let mut stream = llm.chat_stream(&[ChatMessage::user("hi")]).await.unwrap();
    let mut events = Vec::new();
    while let Some(e) = stream.next_event().await {
        events.push(e.unwrap());
    }
    assert!(events.contains(&StreamEvent::Reasoning("思考".into())));
    assert!(events.contains(&StreamEvent::Finish(FinishReason::Other(
        "eos_token".into()
    ))));
    assert!(matches!(events.last(), Some(StreamEvent::Usage(u)) if u.total_tokens == 15));
    let body = server.requests()[0].json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);

    let mut seen = String::new();
    let c = llm
        .complete(&[ChatMessage::user("hi")], &mut |s| seen.push_str(s))
        .await
        .unwrap();
    assert_eq!(
        c.content,
        "标题：机床\n摘要：精度\n正文：\n数控机床很重要。"
    );
    assert_eq!(seen, c.content);
    assert_eq!(c.reasoning, "思考");
    assert_eq!(c.model.as_deref(), Some("m1"));
}

#[tokio::test]
async fn stream_without_usage_chunk_is_fine() {
    let server = TestServer::start(|_, _| {
        Reply::sse(&[r#"{"choices":[{"delta":{"content":"标题：T\n正文：\n数控机床"},"finish_reason":"stop"}]}"#, "[DONE]"])
    })
    .await;
    let llm = OpenAiCompatible::new(config(&server.base, true)).unwrap();
    let a = llm.generate_article(&request()).await.unwrap();
    assert_eq!(a.title, "T");
    assert_eq!(a.provenance.usage, None);
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    let server = TestServer::start(|_, _| {
        Reply::json(
            401,
            r#"{"error":{"message":"Incorrect API key provided","type":"invalid_request_error"}}"#,
        )
    })
    .await;
    let llm = OpenAiCompatible::new(config(&server.base, false)).unwrap();
    let e = llm.chat(&[ChatMessage::user("hi")]).await.unwrap_err();
    assert!(
        matches!(&e, LlmError::Unauthorized { status: 401, message, .. } if message == "Incorrect API key provided"),
        "{e}"
    );
    assert!(!e.is_retryable());
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried_with_backoff() {
    let server = TestServer::start(|n, _| {
        if n < 2 {
            Reply::json(429, r#"{"error":{"message":"slow down"}}"#).header("retry-after", "0")
        } else {
            Reply::json(
                200,
                r#"{"choices":[{"message":{"content":"ok"},"finish_reason":"stop"}]}"#,
            )
        }
    })
    .await;
    let llm = OpenAiCompatible::new(config(&server.base, false)).unwrap();
    assert_eq!(
        llm.chat(&[ChatMessage::user("hi")]).await.unwrap().content,
        "ok"
    );
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), 3);

    let server = TestServer::start(|_, _| Reply::json(429, "too many")).await;
    let e = OpenAiCompatible::new(config(&server.base, false))
        .unwrap()
        .chat(&[ChatMessage::user("x")])
        .await
        .unwrap_err();
    assert!(
        matches!(e, LlmError::RateLimited { attempts: 4, .. }),
        "{e}"
    );

    let server =
        TestServer::start(|_, _| Reply::json(500, r#"{"error":{"message":"internal"}}"#)).await;
    let e = OpenAiCompatible::new(config(&server.base, true))
        .unwrap()
        .chat_stream(&[ChatMessage::user("x")])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LlmError::Server { status: 500, attempts: 4, message, .. } if message == "internal"),
        "{e}"
    );
    assert!(e.is_retryable());

    let server =
        TestServer::start(|_, _| Reply::json(400, r#"{"error":{"message":"model not found"}}"#))
            .await;
    let e = OpenAiCompatible::new(config(&server.base, false))
        .unwrap()
        .chat(&[ChatMessage::user("x")])
        .await
        .unwrap_err();
    assert!(matches!(e, LlmError::Rejected { status: 400, .. }), "{e}");
    assert_eq!(server.hits.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[tokio::test]
async fn malformed_json_is_reported_with_an_excerpt() {
    let server = TestServer::start(|_, _| Reply::json(200, "{\"choices\": [ {\"message\": ")).await;
    let e = OpenAiCompatible::new(config(&server.base, false))
        .unwrap()
        .chat(&[ChatMessage::user("x")])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LlmError::Malformed { excerpt, .. } if excerpt.starts_with("{\"choices\"")),
        "{e}"
    );

    let server = TestServer::start(|_, _| {
        Reply::sse(&[
            r#"{"choices":[{"delta":{"content":"a"}}]}"#,
            "{not json",
            "[DONE]",
        ])
    })
    .await;
    let llm = OpenAiCompatible::new(config(&server.base, true)).unwrap();
    let e = llm
        .complete(&[ChatMessage::user("x")], &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LlmError::Malformed { excerpt, .. } if excerpt == "{not json"),
        "{e}"
    );
}

#[tokio::test]
async fn cut_streams_are_distinct_errors() {
    // Chunked body broken off before the terminating chunk.
    let server = TestServer::start(|_, _| {
        let mut r = Reply::sse(&[r#"{"choices":[{"delta":{"content":"数控机床"}}]}"#]);
        r.cut = true;
        r
    })
    .await;
    let llm = OpenAiCompatible::new(config(&server.base, true)).unwrap();
    let e = llm
        .complete(&[ChatMessage::user("x")], &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::StreamCut {
                received_chars: 4,
                ..
            }
        ),
        "{e}"
    );
    // A clean close without [DONE] or a finish reason.
    let server = TestServer::start(|_, _| {
        let mut r = Reply::sse(&[r#"{"choices":[{"delta":{"content":"半"}}]}"#]);
        r.chunked = false;
        r.close_delimited = true;
        r
    })
    .await;
    let e = OpenAiCompatible::new(config(&server.base, true))
        .unwrap()
        .complete(&[ChatMessage::user("x")], &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            LlmError::StreamCut {
                received_chars: 1,
                ..
            }
        ),
        "{e}"
    );
}

#[tokio::test]
async fn timeouts_before_the_answer_and_inside_the_stream() {
    let server = TestServer::start(|_, _| {
        let mut r = Reply::json(200, "{}");
        r.delay = Duration::from_millis(800);
        r
    })
    .await;
    let mut c = config(&server.base, false);
    c.timeout = Duration::from_millis(150);
    c.max_retries = 1;
    let e = OpenAiCompatible::new(c)
        .unwrap()
        .chat(&[ChatMessage::user("x")])
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LlmError::Timeout { phase, .. } if phase == "request"),
        "{e}"
    );
    assert_eq!(
        server.hits.load(std::sync::atomic::Ordering::SeqCst),
        2,
        "a timeout before any answer is retried"
    );

    let server = TestServer::start(|_, _| {
        let mut r = Reply::sse(&[r#"{"choices":[{"delta":{"content":"a"}}]}"#, "[DONE]"]);
        r.parts.insert(1, Part::Pause(Duration::from_millis(800)));
        r
    })
    .await;
    let mut c = config(&server.base, true);
    c.stream_idle_timeout = Duration::from_millis(150);
    let e = OpenAiCompatible::new(c)
        .unwrap()
        .complete(&[ChatMessage::user("x")], &mut |_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(&e, LlmError::Timeout { phase, .. } if phase == "stream"),
        "{e}"
    );
}

#[tokio::test]
async fn empty_answers_and_errors_through_the_trait_stay_typed() {
    let server = TestServer::start(|_, _| {
        Reply::json(
            200,
            r#"{"choices":[{"message":{"content":null},"finish_reason":"content_filter"}]}"#,
        )
    })
    .await;
    let llm: Arc<dyn TextGenerator> =
        Arc::new(OpenAiCompatible::new(config(&server.base, false)).unwrap());
    let core = llm.generate(&request()).await.unwrap_err();
    assert!(
        matches!(
            core,
            marketingforce_core::Error::Backend {
                retryable: false,
                ..
            }
        ),
        "{core}"
    );
    match ContentError::from_adapter(core) {
        ContentError::Llm(LlmError::Empty { finish_reason, .. }) => {
            assert_eq!(finish_reason.as_deref(), Some("content_filter"))
        }
        other => panic!("{other:?}"),
    }
    // Bad configuration and bad requests are refused before any call.
    assert!(OpenAiCompatible::new(OpenAiConfig::new("ftp://x", "m")).is_err());
    let e = llm.generate(&TextRequest::new("x", "y")).await.unwrap_err();
    assert!(e.to_string().contains("materials"), "{e}");
}

/// Token counts as large as a `u64` holds are reported, not added into an overflow.
#[tokio::test]
async fn huge_usage_counts_saturate_instead_of_overflowing() {
    let body = format!(
        r#"{{"id":"x","model":"qwen-test","choices":[{{"index":0,"message":{{"role":"assistant","content":"{ANSWER}"}},"finish_reason":"stop"}}],"usage":{{"prompt_tokens":18446744073709551615,"completion_tokens":18446744073709551615}}}}"#
    );
    let server = TestServer::start(move |_, _| Reply::json(200, &body)).await;
    let llm = OpenAiCompatible::new(config(&server.base, false)).unwrap();
    let a = llm.generate_article(&request()).await.unwrap();
    let usage = a.provenance.usage.unwrap();
    assert_eq!(usage.prompt_tokens, u64::MAX);
    assert_eq!(usage.total_tokens, u64::MAX);
}
