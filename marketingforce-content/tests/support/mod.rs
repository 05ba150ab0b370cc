//! A scripted HTTP/1.1 server on 127.0.0.1 for adapter tests: it records requests and answers
//! with exactly the bytes, pauses and early closes a test asks for.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A request as received.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or(serde_json::Value::Null)
    }
}

/// One piece of a response: bytes to write, or a pause.
#[derive(Debug, Clone)]
pub enum Part {
    Bytes(Vec<u8>),
    Pause(Duration),
}

/// A scripted response.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub parts: Vec<Part>,
    /// Send `Transfer-Encoding: chunked` (each `Bytes` part is one chunk) instead of
    /// `Content-Length` / close-delimited.
    pub chunked: bool,
    /// Close-delimited body without a length (ends when the connection closes).
    pub close_delimited: bool,
    /// Stop before finishing (no terminating chunk): a cut connection.
    pub cut: bool,
    /// Wait before sending the status line.
    pub delay: Duration,
}

impl Reply {
    pub fn json(status: u16, body: &str) -> Reply {
        Reply {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            parts: vec![Part::Bytes(body.as_bytes().to_vec())],
            chunked: false,
            close_delimited: false,
            cut: false,
            delay: Duration::ZERO,
        }
    }

    /// An SSE stream of `events` (each a `data:` payload), chunked.
    pub fn sse(events: &[&str]) -> Reply {
        Reply {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            parts: events
                .iter()
                .map(|e| Part::Bytes(format!("data: {e}\n\n").into_bytes()))
                .collect(),
            chunked: true,
            close_delimited: false,
            cut: false,
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, k: &str, v: &str) -> Reply {
        self.headers.push((k.into(), v.into()));
        self
    }
}

type Handler = dyn Fn(usize, &Request) -> Reply + Send + Sync;

/// The server; dropped at the end of the test (its task ends with the runtime).
pub struct TestServer {
    pub base: String,
    pub requests: Arc<Mutex<Vec<Request>>>,
    pub hits: Arc<AtomicUsize>,
}

impl TestServer {
    /// Start on 127.0.0.1 with a handler given the request number (0-based) and the request.
    pub async fn start(
        handler: impl Fn(usize, &Request) -> Reply + Send + Sync + 'static,
    ) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let hits = Arc::new(AtomicUsize::new(0));
        let handler: Arc<Handler> = Arc::new(handler);
        let (reqs, h) = (requests.clone(), hits.clone());
        tokio::spawn(async move {
            // Bounded: a test never needs more than a few hundred connections.
            for _ in 0..1000 {
                let Ok((mut sock, _)) = listener.accept().await else {
                    return;
                };
                let handler = handler.clone();
                let reqs = reqs.clone();
                let h = h.clone();
                tokio::spawn(async move {
                    loop {
                        let Some(req) = read_request(&mut sock).await else {
                            return;
                        };
                        let n = h.fetch_add(1, Ordering::SeqCst);
                        reqs.lock().unwrap().push(req.clone());
                        let reply = handler(n, &req);
                        if !write_reply(&mut sock, &reply).await {
                            return;
                        }
                    }
                });
            }
        });
        TestServer {
            base: format!("http://{addr}"),
            requests,
            hits,
        }
    }

    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 4096];
    let head_end = loop {
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p;
        }
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let first = lines.next()?;
    let mut it = first.split(' ');
    let method = it.next()?.to_string();
    let path = it.next()?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    let mut body = buf[head_end + 4..].to_vec();
    while body.len() < len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        body.extend_from_slice(&tmp[..n]);
    }
    body.truncate(len);
    Some(Request {
        method,
        path,
        headers,
        body,
    })
}

/// Write a reply; returns whether the connection may be reused.
async fn write_reply(sock: &mut tokio::net::TcpStream, r: &Reply) -> bool {
    if !r.delay.is_zero() {
        tokio::time::sleep(r.delay).await;
    }
    let mut head = format!("HTTP/1.1 {} X\r\n", r.status);
    for (k, v) in &r.headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    let total: usize = r
        .parts
        .iter()
        .map(|p| if let Part::Bytes(b) = p { b.len() } else { 0 })
        .sum();
    if r.chunked {
        head.push_str("transfer-encoding: chunked\r\n");
    } else if r.close_delimited {
        head.push_str("connection: close\r\n");
    } else {
        head.push_str(&format!("content-length: {total}\r\n"));
    }
    head.push_str("\r\n");
    if sock.write_all(head.as_bytes()).await.is_err() {
        return false;
    }
    for p in &r.parts {
        match p {
            Part::Pause(d) => tokio::time::sleep(*d).await,
            Part::Bytes(b) => {
                let ok = if r.chunked {
                    let mut c = format!("{:x}\r\n", b.len()).into_bytes();
                    c.extend_from_slice(b);
                    c.extend_from_slice(b"\r\n");
                    sock.write_all(&c).await
                } else {
                    sock.write_all(b).await
                };
                if ok.is_err() {
                    return false;
                }
                let _ = sock.flush().await;
            }
        }
    }
    if r.cut || r.close_delimited {
        let _ = sock.shutdown().await;
        return false;
    }
    if r.chunked && sock.write_all(b"0\r\n\r\n").await.is_err() {
        return false;
    }
    true
}
