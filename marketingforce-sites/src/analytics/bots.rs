//! Bot filtering by user agent: crawlers, headless browsers, HTTP libraries and monitors are
//! not visitors.

/// Lower-case fragments of user agents that are not people.
pub const BOT_MARKERS: &[&str] = &[
    "bot",
    "spider",
    "crawl",
    "slurp",
    "headless",
    "phantomjs",
    "selenium",
    "puppeteer",
    "playwright",
    "python-requests",
    "python-urllib",
    "aiohttp",
    "curl/",
    "wget/",
    "go-http-client",
    "java/",
    "okhttp",
    "scrapy",
    "httpclient",
    "lighthouse",
    "pingdom",
    "uptime",
    "monitor",
    "preview",
    "facebookexternalhit",
    "yisou",
    "bytespider",
    "petalbot",
    "360spider",
    "sogou web",
    "baiduspider",
    "node-fetch",
    "axios/",
    "libwww",
    "httpx",
];

/// Whether a user agent is a bot (an absent or blank one counts as a bot).
///
/// ```
/// use marketingforce_sites::analytics::is_bot;
/// assert!(is_bot(Some("Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)")));
/// assert!(is_bot(Some("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0 Safari/537.36")));
/// assert!(!is_bot(Some("Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47")));
/// assert!(is_bot(None));
/// ```
pub fn is_bot(user_agent: Option<&str>) -> bool {
    let Some(ua) = user_agent.map(str::trim).filter(|u| !u.is_empty()) else {
        return true;
    };
    let ua = ua.to_ascii_lowercase();
    BOT_MARKERS.iter().any(|m| ua.contains(m)) || !ua.starts_with("mozilla/")
}
