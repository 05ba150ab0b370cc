//! Where a visitor came from: the landing URL's UTM parameters and ad click ids, the referrer,
//! and the traffic-source class they add up to. Shared by analytics (every session) and forms
//! (every lead).
//!
//! ```
//! use marketingforce_sites::attribution::{classify, Landing, TrafficSource};
//!
//! let landing = Landing::parse("https://www.example.cn/?utm_source=baidu&utm_campaign=spring&bd_vid=123abc");
//! assert_eq!(landing.utm.campaign.as_deref(), Some("spring"));
//! assert!(matches!(classify(&landing, None, "www.example.cn"), TrafficSource::Ad { .. }));
//!
//! let landing = Landing::parse("https://www.example.cn/products.html");
//! let src = classify(&landing, Some("https://www.baidu.com/s?wd=%E5%8A%A0%E5%B7%A5%E4%B8%AD%E5%BF%83"), "www.example.cn");
//! assert_eq!(src, TrafficSource::Search { engine: "baidu".into(), keyword: Some("加工中心".into()) });
//! assert_eq!(classify(&landing, None, "www.example.cn"), TrafficSource::Direct);
//! ```

use std::net::IpAddr;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// What the HTTP layer knows about the client (never stored as such: the IP only selects a
/// region and a rate-limit bucket digest).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientInfo {
    /// The client's address (after any trusted proxy).
    pub ip: Option<IpAddr>,
    /// The `User-Agent` header.
    pub user_agent: Option<String>,
    /// The `Origin` header (or the origin of the `Referer` when there is no `Origin`).
    pub origin: Option<String>,
}

/// UTM parameters of the landing URL.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Utm {
    /// `utm_source`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// `utm_medium`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    /// `utm_campaign`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// `utm_term` (the paid keyword).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub term: Option<String>,
    /// `utm_content`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content: Option<String>,
}

impl Utm {
    /// Whether no parameter is set.
    pub fn is_empty(&self) -> bool {
        self == &Utm::default()
    }
}

/// The ad platform a click id comes from.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum AdPlatform {
    /// Baidu search and feed ads (`bd_vid`).
    Baidu,
    /// Ocean Engine — Douyin / Toutiao ads (`clickid`, `ad_id` callbacks).
    OceanEngine,
    /// Tencent ads — WeChat, QQ (`gdt_vid`, `qz_gdt`).
    Tencent,
    /// Kuaishou ads (`ksclickid`).
    Kuaishou,
    /// Google Ads (`gclid`).
    Google,
    /// Microsoft Advertising (`msclkid`).
    Microsoft,
    /// Meta ads (`fbclid`).
    Meta,
}

impl AdPlatform {
    /// The snake_case name (also the CRM's `platform`).
    pub fn as_str(self) -> &'static str {
        match self {
            AdPlatform::Baidu => "baidu",
            AdPlatform::OceanEngine => "ocean_engine",
            AdPlatform::Tencent => "tencent",
            AdPlatform::Kuaishou => "kuaishou",
            AdPlatform::Google => "google",
            AdPlatform::Microsoft => "microsoft",
            AdPlatform::Meta => "meta",
        }
    }
}

/// Query parameters that carry an ad click id, and their platform.
pub const CLICK_ID_PARAMS: &[(&str, AdPlatform)] = &[
    ("bd_vid", AdPlatform::Baidu),
    ("clickid", AdPlatform::OceanEngine),
    ("gdt_vid", AdPlatform::Tencent),
    ("qz_gdt", AdPlatform::Tencent),
    ("ksclickid", AdPlatform::Kuaishou),
    ("gclid", AdPlatform::Google),
    ("msclkid", AdPlatform::Microsoft),
    ("fbclid", AdPlatform::Meta),
];

/// An ad click id: the platform returns it with conversions for attribution.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ClickId {
    /// The platform.
    pub platform: AdPlatform,
    /// The id (at most 200 characters of `[A-Za-z0-9._~-]`).
    pub id: String,
}

/// What the landing URL says about the visit.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Landing {
    /// The host, lower-case.
    pub host: String,
    /// UTM parameters.
    #[serde(default, skip_serializing_if = "Utm::is_empty")]
    pub utm: Utm,
    /// The ad click id, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub click: Option<ClickId>,
}

/// Decode `application/x-www-form-urlencoded` text (`+` is a space, `%XX` a byte); invalid
/// UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex_val(b[i + 1]), hex_val(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h * 16 + l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex_val(c: u8) -> Option<u8> {
    char::from(c)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

/// The query parameters of a URL, decoded, in order.
pub fn query_pairs(url: &str) -> Vec<(String, String)> {
    let query = url
        .split_once('?')
        .map(|(_, q)| q.split('#').next().unwrap_or_default())
        .unwrap_or_default();
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .take(64)
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// The lower-case host of an `http(s)://` URL.
pub fn host_of(url: &str) -> Option<String> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host = authority.rsplit('@').next()?;
    let host = host.split(':').next()?;
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// The origin (`scheme://host[:port]`) of a URL.
pub fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    (!authority.is_empty() && (scheme == "https" || scheme == "http"))
        .then(|| format!("{scheme}://{}", authority.to_ascii_lowercase()))
}

/// Clean a parameter value for storage: trimmed, control characters dropped, at most `max`
/// characters; None when empty.
pub fn clean(v: &str, max: usize) -> Option<String> {
    let s: String = v
        .trim()
        .chars()
        .filter(|c| !c.is_control())
        .take(max)
        .collect();
    (!s.is_empty()).then_some(s)
}

impl Landing {
    /// Read a landing URL.
    pub fn parse(url: &str) -> Landing {
        let mut landing = Landing {
            host: host_of(url).unwrap_or_default(),
            ..Landing::default()
        };
        for (k, v) in query_pairs(url) {
            let v100 = || clean(&v, 100);
            match k.as_str() {
                "utm_source" => landing.utm.source = v100(),
                "utm_medium" => landing.utm.medium = v100(),
                "utm_campaign" => landing.utm.campaign = v100(),
                "utm_term" => landing.utm.term = v100(),
                "utm_content" => landing.utm.content = v100(),
                _ => {
                    if landing.click.is_none() {
                        if let Some((_, platform)) = CLICK_ID_PARAMS.iter().find(|(p, _)| *p == k) {
                            let ok = !v.is_empty()
                                && v.len() <= 200
                                && v.bytes()
                                    .all(|b| b.is_ascii_alphanumeric() || b"._~-".contains(&b));
                            if ok {
                                landing.click = Some(ClickId {
                                    platform: *platform,
                                    id: v.clone(),
                                });
                            }
                        }
                    }
                }
            }
        }
        landing
    }
}

/// The class of a visit's source.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(tag = "class", rename_all = "snake_case")]
pub enum TrafficSource {
    /// A paid click (an ad click id, or `utm_medium` cpc/ppc/paid).
    Ad {
        /// The platform (`baidu`, `ocean_engine`, … or the `utm_source`).
        platform: String,
    },
    /// An organic search result.
    Search {
        /// The engine (`baidu`, `sogou`, `so360`, `bing`, `google`, `shenma`, …).
        engine: String,
        /// The search keyword, when the referrer carries it.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        keyword: Option<String>,
    },
    /// A social network or messaging app.
    Social {
        /// The network (`wechat`, `weibo`, `douyin`, `xiaohongshu`, `zhihu`, …).
        network: String,
    },
    /// A tagged campaign link without a paid click (newsletter, QR code, partner).
    Campaign {
        /// `utm_source`.
        source: String,
    },
    /// A link on another site.
    Referral {
        /// The referring host.
        host: String,
    },
    /// Typed in, bookmarked, or no referrer.
    Direct,
}

impl TrafficSource {
    /// The class name (`ad`, `search`, `social`, `campaign`, `referral`, `direct`).
    pub fn class(&self) -> &'static str {
        match self {
            TrafficSource::Ad { .. } => "ad",
            TrafficSource::Search { .. } => "search",
            TrafficSource::Social { .. } => "social",
            TrafficSource::Campaign { .. } => "campaign",
            TrafficSource::Referral { .. } => "referral",
            TrafficSource::Direct => "direct",
        }
    }

    /// `class:detail` (`search:baidu`, `referral:news.example.com`, `direct`).
    pub fn detail(&self) -> String {
        match self {
            TrafficSource::Ad { platform } => format!("ad:{platform}"),
            TrafficSource::Search { engine, .. } => format!("search:{engine}"),
            TrafficSource::Social { network } => format!("social:{network}"),
            TrafficSource::Campaign { source } => format!("campaign:{source}"),
            TrafficSource::Referral { host } => format!("referral:{host}"),
            TrafficSource::Direct => "direct".into(),
        }
    }
}

/// Search engines: host suffix, name, keyword parameters.
const SEARCH: &[(&str, &str, &[&str])] = &[
    ("baidu.com", "baidu", &["wd", "word", "kw"]),
    ("sogou.com", "sogou", &["query", "keyword"]),
    ("so.com", "so360", &["q"]),
    ("sm.cn", "shenma", &["q"]),
    ("bing.com", "bing", &["q"]),
    ("google.com", "google", &["q"]),
    ("google.com.hk", "google", &["q"]),
    ("yandex.ru", "yandex", &["text"]),
    ("duckduckgo.com", "duckduckgo", &["q"]),
    ("toutiao.com", "toutiao_search", &["keyword"]),
];

/// Social networks: host suffix, name.
const SOCIAL: &[(&str, &str)] = &[
    ("weixin.qq.com", "wechat"),
    ("wx.qq.com", "wechat"),
    ("weibo.com", "weibo"),
    ("weibo.cn", "weibo"),
    ("douyin.com", "douyin"),
    ("xiaohongshu.com", "xiaohongshu"),
    ("zhihu.com", "zhihu"),
    ("bilibili.com", "bilibili"),
    ("kuaishou.com", "kuaishou"),
    ("qq.com", "qq"),
    ("linkedin.com", "linkedin"),
    ("facebook.com", "facebook"),
    ("x.com", "x"),
    ("twitter.com", "x"),
];

fn host_matches(host: &str, suffix: &str) -> bool {
    host == suffix || host.ends_with(&format!(".{suffix}"))
}

/// Classify a visit: an ad click id first, then a search or social referrer, then paid or
/// campaign UTM tags, then any other referrer; otherwise direct. A referrer from the site's own
/// host (`site_host`) is internal navigation and counts as direct.
pub fn classify(landing: &Landing, referrer: Option<&str>, site_host: &str) -> TrafficSource {
    if let Some(click) = &landing.click {
        return TrafficSource::Ad {
            platform: click.platform.as_str().into(),
        };
    }
    let ref_host = referrer
        .and_then(host_of)
        .filter(|h| h != site_host && h != &landing.host);
    let paid = landing.utm.medium.as_deref().is_some_and(|m| {
        matches!(
            m.to_ascii_lowercase().as_str(),
            "cpc" | "ppc" | "paid" | "sem" | "cpm"
        )
    });
    if paid {
        let platform = landing
            .utm
            .source
            .clone()
            .unwrap_or_else(|| "unknown".into());
        return TrafficSource::Ad { platform };
    }
    if let (Some(host), Some(r)) = (&ref_host, referrer) {
        if let Some((_, engine, params)) = SEARCH.iter().find(|(s, _, _)| host_matches(host, s)) {
            let keyword = query_pairs(r)
                .into_iter()
                .find(|(k, _)| params.contains(&k.as_str()))
                .and_then(|(_, v)| clean(&v, 100));
            return TrafficSource::Search {
                engine: (*engine).into(),
                keyword,
            };
        }
        if let Some((_, network)) = SOCIAL.iter().find(|(s, _)| host_matches(host, s)) {
            return TrafficSource::Social {
                network: (*network).into(),
            };
        }
    }
    if let Some(source) = &landing.utm.source {
        return TrafficSource::Campaign {
            source: source.clone(),
        };
    }
    match ref_host {
        Some(host) => TrafficSource::Referral { host },
        None => TrafficSource::Direct,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_classified_in_priority_order() {
        let site = "www.example.cn";
        let l = Landing::parse("https://www.example.cn/?gclid=abc-1");
        assert_eq!(
            classify(&l, Some("https://www.google.com/"), site),
            TrafficSource::Ad {
                platform: "google".into()
            }
        );
        let l = Landing::parse("https://www.example.cn/?utm_source=weekly&utm_medium=email");
        assert_eq!(
            classify(&l, None, site),
            TrafficSource::Campaign {
                source: "weekly".into()
            }
        );
        let l =
            Landing::parse("https://www.example.cn/?utm_source=sogou&utm_medium=cpc&utm_term=x");
        assert_eq!(
            classify(&l, None, site),
            TrafficSource::Ad {
                platform: "sogou".into()
            }
        );
        let l = Landing::parse("https://www.example.cn/");
        assert_eq!(
            classify(
                &l,
                Some("https://m.sogou.com/web?query=%E6%9C%BA%E5%BA%8A"),
                site
            ),
            TrafficSource::Search {
                engine: "sogou".into(),
                keyword: Some("机床".into())
            }
        );
        assert_eq!(
            classify(&l, Some("https://www.google.com/"), site),
            TrafficSource::Search {
                engine: "google".into(),
                keyword: None
            }
        );
        assert_eq!(
            classify(&l, Some("https://mp.weixin.qq.com/s/xyz"), site),
            TrafficSource::Social {
                network: "wechat".into()
            }
        );
        assert_eq!(
            classify(&l, Some("https://news.example.org/a"), site),
            TrafficSource::Referral {
                host: "news.example.org".into()
            }
        );
        assert_eq!(
            classify(&l, Some("https://www.example.cn/products.html"), site),
            TrafficSource::Direct
        );
        // A forged click id with markup is ignored.
        let l = Landing::parse("https://www.example.cn/?bd_vid=%3Cscript%3E");
        assert!(l.click.is_none());
    }

    #[test]
    fn decoding_is_total() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("%E5%8A%A0+x"), "加 x");
        assert_eq!(percent_decode("%"), "%");
        assert_eq!(
            origin_of("http://127.0.0.1:8080/x?y"),
            Some("http://127.0.0.1:8080".into())
        );
    }
}
