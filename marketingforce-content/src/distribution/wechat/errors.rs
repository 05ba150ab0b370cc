//! The platform's `errcode`s, mapped to typed errors.

use chrono::{DateTime, Duration, FixedOffset, NaiveTime, Offset as _, Utc};

use crate::error::ContentError;

/// Codes saying the access token is invalid or expired: refresh it and retry once.
pub(crate) const TOKEN_REFUSED: [i64; 3] = [40001, 42001, 40014];

/// "System busy, try again": retried with backoff.
pub(crate) const SYSTEM_BUSY: i64 = -1;

/// Beijing time (UTC+8, no daylight saving), the platform's calendar.
pub(crate) fn beijing() -> FixedOffset {
    FixedOffset::east_opt(8 * 3600).unwrap_or_else(|| Utc.fix())
}

/// The next midnight in Beijing time, when daily API quotas reset.
fn next_quota_reset(now: DateTime<Utc>) -> DateTime<Utc> {
    let beijing = beijing();
    let local = now.with_timezone(&beijing);
    let tomorrow = local.date_naive() + Duration::days(1);
    tomorrow
        .and_time(NaiveTime::MIN)
        .and_local_timezone(beijing)
        .single()
        .map_or(now + Duration::days(1), |t| t.with_timezone(&Utc))
}

/// The IP address named in a 40164 message (`invalid ip 203.0.113.7 ipv6 ::ffff:…, not in
/// whitelist rid: …`).
pub(crate) fn ip_in_message(message: &str) -> Option<&str> {
    let rest = &message[message.find("invalid ip ")? + "invalid ip ".len()..];
    let ip = rest.split(|c: char| c.is_whitespace() || c == ',').next()?;
    (!ip.is_empty()).then_some(ip)
}

/// The typed error for a refusal of `api` with `code` and `message`.
pub(crate) fn refusal(
    channel: &str,
    app_id: &str,
    api: &str,
    code: i64,
    message: &str,
    now: DateTime<Utc>,
) -> ContentError {
    let config = |setting: &str, reason: String| ContentError::ChannelConfiguration {
        channel: channel.into(),
        setting: setting.into(),
        reason,
    };
    match code {
        40164 | 61004 => config(
            "ip_whitelist",
            match ip_in_message(message) {
                Some(ip) => format!(
                    "the platform refused calls from IP {ip}: add {ip} to the IP whitelist of \
                     app {app_id} (公众号后台 → 设置与开发 → 基本配置 → IP白名单) ({code}: {message})"
                ),
                None => format!(
                    "this server's outgoing IP is not in the IP whitelist of app {app_id} \
                     (公众号后台 → 设置与开发 → 基本配置 → IP白名单) ({code}: {message})"
                ),
            },
        ),
        40013 | 40125 | 41002 | 41004 | 40002 => config(
            if code == 40013 || code == 41002 { "app_id" } else { "app_secret" },
            format!("the platform refused the credentials of app {app_id} ({code}: {message})"),
        ),
        48001 | 48004 | 50001 | 50002 => config(
            "permissions",
            format!(
                "app {app_id} may not call {api}: check the account's API permissions \
                 (接口权限) ({code}: {message})"
            ),
        ),
        45009 => ContentError::RateLimited {
            channel: channel.into(),
            retry_at: next_quota_reset(now),
        },
        45011 => ContentError::RateLimited {
            channel: channel.into(),
            retry_at: now + Duration::seconds(60),
        },
        45003 => ContentError::validation(
            "title",
            format!("the platform says the title is too long ({code}: {message})"),
        ),
        45004 => ContentError::validation(
            "digest",
            format!("the platform says the digest is too long ({code}: {message})"),
        ),
        45002 | 45166 => ContentError::validation(
            "body_html",
            format!("the platform refused the article body ({code}: {message})"),
        ),
        40005 | 40009 | 40113 | 40006 => ContentError::validation(
            "media",
            format!("the platform refused an image ({code}: {message})"),
        ),
        _ => ContentError::ChannelApi {
            channel: channel.into(),
            api: api.into(),
            code,
            message: message.into(),
            retryable: code == SYSTEM_BUSY,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotas_reset_at_beijing_midnight() {
        let now = DateTime::parse_from_rfc3339("2026-03-02T23:30:00+08:00")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(
            next_quota_reset(now).to_rfc3339(),
            "2026-03-02T16:00:00+00:00"
        );
    }

    #[test]
    fn the_whitelist_error_names_the_ip() {
        let e = refusal(
            "wechat-oa",
            "wx1",
            "cgi-bin/token",
            40164,
            "invalid ip 203.0.113.7 ipv6 ::ffff:203.0.113.7, not in whitelist rid: 1",
            Utc::now(),
        );
        let text = e.to_string();
        assert!(
            text.contains("add 203.0.113.7 to the IP whitelist of app wx1"),
            "{text}"
        );
        assert!(
            matches!(e, ContentError::ChannelConfiguration { setting, .. } if setting == "ip_whitelist")
        );
        let other = refusal(
            "wechat-oa",
            "wx1",
            "cgi-bin/draft/add",
            53404,
            "x",
            Utc::now(),
        );
        assert!(matches!(
            other,
            ContentError::ChannelApi {
                code: 53404,
                retryable: false,
                ..
            }
        ));
    }
}
