//! WeCom's `errcode`s, mapped to typed errors.

use chrono::{DateTime, Duration, Utc};

use crate::error::CrmError;

/// Codes saying the access token is invalid or expired: refresh it and retry once.
pub(crate) const TOKEN_REFUSED: [i64; 3] = [40001, 42001, 40014];

/// Transient codes retried with backoff: system busy, frequency and concurrency limits.
pub(crate) const TRANSIENT: [i64; 3] = [-1, 45009, 45033];

/// The platform name in errors.
pub(crate) const PLATFORM: &str = "wecom";

/// The IP address named in a 60020 message (`not allow to access from your ip, ... from ip:
/// 203.0.113.7, ...`).
pub(crate) fn ip_in_message(message: &str) -> Option<&str> {
    let rest = &message[message.find("from ip: ")? + "from ip: ".len()..];
    rest.split(|c: char| c.is_whitespace() || c == ',')
        .next()
        .filter(|s| !s.is_empty())
}

/// The typed error for a refusal of `api` with `code` and `message`; `token_call` tells the
/// token endpoint (where 40001 means a wrong secret) from the others.
pub(crate) fn refusal(
    corp_id: &str,
    api: &str,
    code: i64,
    message: &str,
    token_call: bool,
    now: DateTime<Utc>,
) -> CrmError {
    let config = |setting: &str, reason: String| CrmError::PlatformConfiguration {
        platform: PLATFORM.into(),
        setting: setting.into(),
        reason,
    };
    match code {
        60020 => config(
            "trusted_ip",
            match ip_in_message(message) {
                Some(ip) => format!(
                    "the platform refused calls from IP {ip}: add {ip} to the trusted IPs \
                     (企业可信IP) of the app of corp {corp_id} ({code}: {message})"
                ),
                None => format!(
                    "this server's IP is not a trusted IP (企业可信IP) of the app of corp \
                     {corp_id} ({code}: {message})"
                ),
            },
        ),
        40013 => config(
            "corp_id",
            format!("the platform does not know corp {corp_id} ({code}: {message})"),
        ),
        40001 | 41004 | 40091 if token_call => config(
            "secret",
            format!("the platform refused the secret for corp {corp_id} ({code}: {message})"),
        ),
        48002 | 60011 | 41054 | 48001 => config(
            "permissions",
            format!(
                "the secret of corp {corp_id} may not call {api}: grant the app customer-contact \
                 (客户联系) permission, or check the member's licence ({code}: {message})"
            ),
        ),
        45009 | 45033 => CrmError::RateLimited {
            platform: PLATFORM.into(),
            api: api.into(),
            code,
            retry_at: now + Duration::seconds(60),
        },
        _ => CrmError::PlatformApi {
            platform: PLATFORM.into(),
            api: api.into(),
            code,
            message: message.into(),
            retryable: TRANSIENT.contains(&code),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trusted_ip_error_names_the_ip() {
        let e = refusal(
            "ww1",
            "cgi-bin/gettoken",
            60020,
            "not allow to access from your ip, hint: [1], from ip: 203.0.113.9, more info at https://open.work.weixin.qq.com",
            true,
            Utc::now(),
        );
        assert!(
            e.to_string().contains("add 203.0.113.9 to the trusted IPs"),
            "{e}"
        );
        assert!(matches!(refusal("ww1", "x", 40001, "", true, Utc::now()),
            CrmError::PlatformConfiguration { setting, .. } if setting == "secret"));
        assert!(matches!(
            refusal("ww1", "x", 84061, "not exist", false, Utc::now()),
            CrmError::PlatformApi {
                code: 84061,
                retryable: false,
                ..
            }
        ));
    }
}
