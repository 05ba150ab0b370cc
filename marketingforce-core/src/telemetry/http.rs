//! Telemetry of requests to outside parties — ad platforms, model servers, content channels,
//! webhook receivers: a `debug` span per attempt with the platform, method, host (never the
//! path or query, which may carry tokens) and attempt number, its status once answered, an
//! `info` event per retry with the backoff, and (feature `metrics`)
//! [`PLATFORM_REQUESTS`](super::names::PLATFORM_REQUESTS) and
//! [`PLATFORM_REQUEST_DURATION`](super::names::PLATFORM_REQUEST_DURATION).
//!
//! ```
//! use std::time::Duration;
//! use marketingforce_core::telemetry::http;
//!
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! // Wrap the future that sends one attempt; say how to read its status.
//! let answer: Result<u16, &str> = http::request(
//!     "example", "POST", "https://api.example.com/v1/items?token=secret", 1,
//!     async { Ok(503) },
//!     |r| r.as_ref().ok().copied(),
//! ).await;
//! if answer == Ok(503) {
//!     http::retrying("example", 1, Some(503), Duration::from_millis(200));
//! }
//! assert_eq!(http::host("https://user:pw@api.example.com:8443/v1?token=secret"), "api.example.com:8443");
//! # });
//! ```

use std::future::Future;
use std::time::{Duration, Instant};

use tracing::{Instrument, Level};

use super::names;

/// The host (and port) of `url`, without scheme, credentials, path, query or fragment;
/// `"unknown"` when there is none.
pub fn host(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    if host.is_empty() {
        "unknown"
    } else {
        host
    }
}

/// Sends one attempt (`send`) to `platform` inside a `debug` span `http.request` (fields
/// `platform`, `method`, `host`, `attempt`, then `status`, `0` for a transport failure),
/// reading the status of the answer with `status` (`None`: no HTTP answer). Never changes the
/// answer.
pub async fn request<O>(
    platform: &str,
    method: &str,
    url: &str,
    attempt: u32,
    send: impl Future<Output = O>,
    status: impl FnOnce(&O) -> Option<u16>,
) -> O {
    let span = tracing::debug_span!(
        "http.request",
        platform,
        method,
        host = host(url),
        attempt,
        status = tracing::field::Empty,
    );
    let timed = cfg!(feature = "metrics") || !span.is_disabled();
    let started = timed.then(Instant::now);
    let answer = if span.is_disabled() {
        send.await
    } else {
        send.instrument(span.clone()).await
    };
    if let Some(started) = started {
        let code = status(&answer);
        span.record("status", code.unwrap_or(0));
        if code.is_none() {
            tracing::event!(parent: &span, Level::DEBUG, platform, "platform request failed in transport");
        }
        let class = match code {
            Some(100..=199) => "1xx",
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(_) => "5xx",
            None => "transport",
        };
        super::count(
            names::PLATFORM_REQUESTS,
            &[
                ("platform", platform),
                ("method", method),
                ("status", class),
            ],
            1,
        );
        super::observe_seconds(
            names::PLATFORM_REQUEST_DURATION,
            &[("platform", platform), ("method", method)],
            started.elapsed().as_secs_f64(),
        );
    }
    answer
}

/// A retry of a request to `platform` after attempt `attempt` answered `status` (`None`: a
/// transport failure or a timeout), waiting `backoff`: an `info` event.
pub fn retrying(platform: &str, attempt: u32, status: Option<u16>, backoff: Duration) {
    tracing::info!(
        platform,
        attempt,
        status = status.unwrap_or(0),
        backoff_ms = u64::try_from(backoff.as_millis()).unwrap_or(u64::MAX),
        "platform request retried"
    );
}
