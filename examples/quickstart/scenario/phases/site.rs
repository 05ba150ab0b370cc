//! Thu 5 – Sun 8 March: 上海精工's official site. T Cloud's first step: the machinery template
//! is made theirs (bilingual, with the T-image poster and two T-text articles), every text
//! block passes the Advertising Law review, and the site is published under the tenant's
//! entitlements (platform builder, PC→mobile, multilingual sites). Visitors come from search
//! engines, WeChat, an Ocean Engine ad click, an industry portal and direct; their beacons
//! (page views, dwell time, scroll depth, load time, form start and submit) are collected,
//! a crawler is filtered out, and three visitors send the inquiry form — each becomes a lead of
//! tenant A in the CRM with its attribution and PIPL consent, and the pages they viewed before
//! feed their behaviour score. Each evening the ad platform's day is closed as before.

use chrono::{Duration, NaiveDate};
use marketingforce_core::IdempotencyKey;
use marketingforce_sites::analytics::{BeaconEvent, EventBatch, StartRequest};
use marketingforce_sites::attribution::ClientInfo;
use marketingforce_sites::demo;
use marketingforce_sites::forms::{FormSubmission, SubmitOutcome};
use marketingforce_sites::model::{Locale, Site};
use marketingforce_sites::publish::required_modules;
use marketingforce_sites::render::Variant;

use crate::scenario::cast::day;
use crate::scenario::error::Result;
use crate::scenario::runner::Ctx;

/// A desktop browser.
const PC_AGENT: &str =
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 Safari/537.36";
/// WeChat's in-app browser on a phone.
const MOBILE_AGENT: &str = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47";
/// Baidu's crawler: filtered out, never a visit.
const CRAWLER_AGENT: &str =
    "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)";

/// The days visitors come.
fn visit_days() -> [NaiveDate; 4] {
    [day(3, 5), day(3, 6), day(3, 7), day(3, 8)]
}

/// Where a visit comes from: the referrer and the landing page's query.
fn source(i: usize) -> (Option<&'static str>, &'static str) {
    match i % 6 {
        0 => (
            Some(
                "https://www.baidu.com/s?wd=%E7%AB%8B%E5%BC%8F%E5%8A%A0%E5%B7%A5%E4%B8%AD%E5%BF%83",
            ),
            "",
        ),
        1 => (Some("https://mp.weixin.qq.com/s/jinggong-spring-fair"), ""),
        2 => (
            None,
            "?utm_source=oceanengine&utm_medium=cpc&utm_campaign=spring-fair&clickid=OE",
        ),
        3 => (Some("https://www.machine-portal.example/news/88"), ""),
        4 => (None, ""),
        _ => (
            Some("https://www.sogou.com/web?query=%E6%95%B0%E6%8E%A7%E8%BD%A6%E5%BA%8A"),
            "",
        ),
    }
}

/// The visitor's address: the demo IP table places them in Shanghai, Suzhou, Hangzhou, Beijing
/// or Shenzhen.
fn address(i: usize) -> String {
    match i % 5 {
        0 => format!("192.0.2.{}", 10 + i),
        1 => format!("198.51.100.{}", 10 + i),
        2 => format!("198.51.100.{}", 140 + i),
        3 => format!("203.0.113.{}", 10 + i),
        _ => format!("10.8.0.{}", 10 + i),
    }
}

/// The pages of visit `i`, in order.
fn pages(i: usize) -> &'static [&'static str] {
    match i % 4 {
        0 => &["home", "products", "contact"],
        1 => &["home"],
        2 => &["products", "about"],
        _ => &["home", "about", "products", "contact"],
    }
}

/// Visits `i` with `i % 8 == 5` end with the inquiry form (three over the four days).
fn sends_inquiry(i: usize) -> bool {
    i % 8 == 5
}

/// The people who send the form: new to tenant A.
fn inquirer(n: usize) -> (&'static str, String, &'static str, &'static str) {
    const PEOPLE: [(&str, &str, &str); 3] = [
        ("钱立新", "无锡恒达精密部件有限公司", "XK-850"),
        ("孙梦洁", "宁波博远汽配有限公司", "CK-6150"),
        ("周建华", "合肥鼎力重工有限公司", "GM-1060"),
    ];
    let (name, company, product) = PEOPLE[n % PEOPLE.len()];
    (
        name,
        format!("1377{:07}", 2_000_123 + n * 4_111),
        company,
        product,
    )
}

/// A beacon's JSON body.
fn body<T: serde::Serialize>(value: &T) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(value).map_err(marketingforce_core::Error::from)?)
}

fn page_url(site: &Site, page: &str, variant: Variant, query: &str) -> String {
    let base = site.base_url.trim_end_matches('/');
    let prefix = match variant {
        Variant::Pc => "",
        Variant::Mobile => "/m",
    };
    let file = if page == "home" { "index" } else { page };
    format!("{base}{prefix}/{file}.html{query}")
}

pub(crate) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let a = ctx.cast.jinggong;
    let sites = &ctx.svc.sites;
    let demo = demo::jinggong()?;
    let entitlements = ctx.svc.registry.load(&a).await?;
    let published = sites
        .publisher
        .publish(
            &a,
            &demo.site,
            &demo.inputs,
            &entitlements,
            &IdempotencyKey::new("site-publish-jinggong")?,
        )
        .await?;
    let modules: Vec<String> = required_modules(&demo.site)
        .iter()
        .map(ToString::to_string)
        .collect();
    ctx.say(format!(
        "上海精工's official site is published: {} pages in 2 languages, PC and mobile, {} files; {} text blocks passed the Advertising Law review; modules in force: {}",
        published.record.pages,
        published.record.files,
        published.record.texts_reviewed,
        modules.join(", ")
    ));

    let (mut visits, mut inquiries, mut crawlers) = (0usize, 0usize, 0usize);
    let mut visitors_with_forms = Vec::new();
    for (d, date) in visit_days().into_iter().enumerate() {
        for slot in 0..6 {
            let i = d * 6 + slot;
            ctx.at(date, 9 + 1 + 2 * slot as u32, (7 * i % 50) as u32);
            let mobile = i % 2 == 1;
            let client = ClientInfo {
                ip: address(i).parse().ok(),
                user_agent: Some(if mobile { MOBILE_AGENT } else { PC_AGENT }.into()),
                origin: Some(demo.site.base_url.trim_end_matches('/').into()),
            };
            let visitor = format!("v-{:08x}-{i:02}", 0x5eed_0000u32 + i as u32);
            let variant = if mobile { Variant::Mobile } else { Variant::Pc };
            let (referrer, query) = source(i);
            let query = if query.ends_with("clickid=OE") {
                format!("{query}-{i:04}")
            } else {
                query.to_string()
            };
            let mut previous: Option<String> = None;
            let path = pages(i);
            let inquiry = sends_inquiry(i);
            let path: Vec<&str> = if inquiry && !path.contains(&"contact") {
                path.iter().copied().chain(["contact"]).collect()
            } else {
                path.to_vec()
            };
            for (n, page) in path.iter().enumerate() {
                let landing = n == 0;
                let start = StartRequest {
                    site: demo.site.id.clone(),
                    page: (*page).into(),
                    locale: Some(if i % 7 == 3 { Locale::En } else { Locale::ZhCn }),
                    variant: Some(variant),
                    url: page_url(&demo.site, page, variant, if landing { &query } else { "" }),
                    referrer: if landing {
                        referrer.map(String::from)
                    } else {
                        Some(page_url(&demo.site, path[n - 1], variant, ""))
                    },
                    visitor: visitor.clone(),
                    previous: previous.clone(),
                    width: Some(if mobile { 390 } else { 1440 }),
                };
                let started = sites.collector.start(&body(&start)?, &client).await?;
                let dwell = 6_000 + (i as u64 * 7_919 + n as u64 * 3_571) % 75_000;
                ctx.outside
                    .clock
                    .advance(Duration::milliseconds(dwell as i64 + 1_500));
                let mut events = vec![
                    BeaconEvent::Load {
                        ms: 650 + ((i * 53 + n * 31) % 900) as u32,
                    },
                    BeaconEvent::Dwell { visible_ms: dwell },
                    BeaconEvent::Scroll {
                        depth_pct: (25 + (i * 37 + n * 13) % 76) as u8,
                    },
                ];
                if inquiry && *page == "contact" {
                    let (name, mobile_no, company, product) = inquirer(inquiries);
                    let mut form = FormSubmission {
                        consent: true,
                        consent_version: demo
                            .site
                            .form("inquiry")
                            .map(|f| f.consent.version.clone()),
                        page: (*page).into(),
                        locale: start.locale,
                        variant: Some(variant),
                        url: Some(start.url.clone()),
                        referrer: start.referrer.clone(),
                        visitor: Some(visitor.clone()),
                        token: Some(started.token.clone()),
                        submission: Some(format!("jinggong-inquiry-{i:04}")),
                        ..FormSubmission::default()
                    };
                    form.fields.insert("name".into(), name.into());
                    form.fields.insert("mobile".into(), mobile_no);
                    form.fields.insert("company".into(), company.into());
                    form.fields.insert("product".into(), product.into());
                    let outcome = sites
                        .forms
                        .submit(&a, &demo.site, "inquiry", form, &client)
                        .await?;
                    if !matches!(outcome, SubmitOutcome::Accepted { .. }) {
                        return Err(
                            ctx.unexpected(format!("inquiry {i} was not accepted: {outcome:?}"))
                        );
                    }
                    events.push(BeaconEvent::FormStart {
                        form: "inquiry".into(),
                    });
                    events.push(BeaconEvent::FormSubmit {
                        form: "inquiry".into(),
                    });
                    inquiries += 1;
                    visitors_with_forms.push(visitor.clone());
                }
                let batch = EventBatch {
                    token: started.token.clone(),
                    events,
                };
                sites.collector.events(&body(&batch)?, &client).await?;
                previous = Some(started.token);
            }
            visits += 1;
        }
        // The crawler comes every day; its beacons are recognised and nothing is recorded.
        let crawler = ClientInfo {
            ip: address(d).parse().ok(),
            user_agent: Some(CRAWLER_AGENT.into()),
            origin: Some(demo.site.base_url.trim_end_matches('/').into()),
        };
        let start = StartRequest {
            site: demo.site.id.clone(),
            page: "home".into(),
            locale: None,
            variant: None,
            url: page_url(&demo.site, "home", Variant::Pc, ""),
            referrer: None,
            visitor: format!("crawler-{d}"),
            previous: None,
            width: None,
        };
        match sites.collector.start(&body(&start)?, &crawler).await {
            Err(marketingforce_sites::SitesError::BeaconRefused(_)) => crawlers += 1,
            Ok(_) => return Err(ctx.unexpected("a crawler's page view was recorded")),
            Err(e) => return Err(e.into()),
        }
        sites.collector.flush().await?;
        ctx.close_days(date, date).await?;
    }
    let mut behaviour = 0;
    for visitor in &visitors_with_forms {
        behaviour += sites.forms.sync_behaviour(&a, visitor).await?;
    }
    ctx.say(format!(
        "5–8 March: {visits} visits from search, WeChat, an Ocean Engine ad, an industry portal and direct; {crawlers} crawler visits filtered out; {inquiries} inquiry forms became leads in the CRM with their consent and attribution, and their {behaviour} earlier page views fed behaviour scoring"
    ));
    Ok(())
}
