//! Wed 4 March: T-text drafts six articles and T-image a poster for tenant A. Every version is
//! reviewed against the Advertising Law before it may be published; the marketer's own
//! headline for the case study is rejected and rewritten. Approved content goes to the channels
//! the recommendation ranks first for a Shanghai machinery maker, through its real-name
//! verified accounts, each publication consuming release quota. T-text and T-image run through
//! the metered generators: each article and the poster take the tenant's generation quota when
//! they are generated (a failed generation takes nothing, a replayed one counts once).

use marketingforce_core::IdempotencyKey;
use std::collections::BTreeMap;
use std::sync::Arc;

use marketingforce_content::compliance::{ContentVersion, Decision};
use marketingforce_content::distribution::{
    recommend, ChannelCatalogue, ModulesQuota, PublicationStatus, PublishCommand, QuotaGate,
    RecommendationRequest, RecommendationWeights,
};
use marketingforce_content::image::TemplateImageGenerator;
use marketingforce_content::metered::Metered;
use marketingforce_content::text::OfflineTextGenerator;
use marketingforce_core::adapters::channel::{ContentFormat, MediaAttachment};
use marketingforce_core::adapters::generation::{Audience, ImageFormat};
use marketingforce_core::tenant::TenantId;
use marketingforce_modules::catalog::UsageUnit;

use crate::scenario::cast::day;
use crate::scenario::error::Result;
use crate::scenario::runner::Ctx;
use crate::scenario::script::{self, ARTICLES};

/// The content id of the poster.
pub(crate) const POSTER_ID: &str = "poster-spring-fair";
/// The channel the poster goes to.
pub(crate) const POSTER_CHANNEL: &str = "machine-portal";

/// The channels every article goes to: the best-ranked channels for the tenant (the
/// recommendation leaves verticals of other industries out) whose hourly limit lets all of
/// today's pieces through.
pub(crate) fn channels() -> Result<Vec<String>> {
    let catalogue = ChannelCatalogue::builtin();
    let req = RecommendationRequest {
        industry: script::INDUSTRY.into(),
        audience: Audience::B2b,
        regions: vec!["上海".into()],
        format: ContentFormat::Article,
        top_n: catalogue.channels.len(),
    };
    let ranked = recommend(
        &catalogue,
        &req,
        &BTreeMap::new(),
        &RecommendationWeights::default(),
    )?;
    let pieces = ARTICLES.len() as u32 + 1;
    Ok(ranked
        .into_iter()
        .filter(|c| {
            catalogue
                .get(&c.channel)
                .is_some_and(|i| i.rate_limit.per_hour >= pieces)
        })
        .take(script::CHANNELS_PER_ARTICLE)
        .map(|c| c.channel)
        .collect())
}

async fn review(ctx: &Ctx<'_>, version: &ContentVersion) -> Result<Decision> {
    let key = format!("review:{}:v{}", version.content_id, version.version);
    let r = ctx
        .svc
        .reviews
        .review(
            &ctx.cast.jinggong,
            version,
            &IdempotencyKey::new(key).unwrap(),
        )
        .await?;
    Ok(r.decision)
}

/// What is left of the tenant's quota of `unit` today.
async fn remaining(ctx: &Ctx<'_>, tenant: &TenantId, unit: &UsageUnit) -> Result<u64> {
    let ents = ctx.svc.registry.load(tenant).await?;
    Ok(ents.meter().remaining(unit).get())
}

pub(super) async fn run(ctx: &mut Ctx<'_>) -> Result<()> {
    let a = ctx.cast.jinggong;
    // Generation is metered against the tenant's entitlements: articles and images.
    let quota: Arc<dyn QuotaGate> = Arc::new(ModulesQuota::new(ctx.svc.registry.clone()));
    let text = Metered::new(Arc::new(OfflineTextGenerator::new()), quota.clone(), a);
    let images = Metered::new(Arc::new(TemplateImageGenerator::new()), quota, a);
    let targets = channels()?;
    let mut live_total = 0;
    let mut first_title = String::new();

    for (n, (content_id, _, keywords)) in ARTICLES.iter().enumerate() {
        let Some(request) = script::article_request(n) else {
            continue;
        };
        let article = text
            .generate_article(
                &request,
                &IdempotencyKey::new(format!("article:{content_id}")).unwrap(),
            )
            .await?;
        let mut version = ContentVersion {
            content_id: (*content_id).into(),
            version: 1,
            industry: Some(script::INDUSTRY.into()),
            title: article.title.clone(),
            body: article.body_markdown.clone(),
        };
        if n + 1 == ARTICLES.len() {
            // The marketer's own headline for the case study, before the generator's.
            let draft = ContentVersion {
                title: script::UNLAWFUL_TITLE.into(),
                ..version.clone()
            };
            let rejected = ctx
                .svc
                .reviews
                .review(
                    &a,
                    &draft,
                    &IdempotencyKey::new(format!("review:{content_id}:v1")).unwrap(),
                )
                .await?;
            if rejected.decision != Decision::Rejected {
                return Err(
                    ctx.unexpected(format!("\"{}\" passed the review", script::UNLAWFUL_TITLE))
                );
            }
            let terms: Vec<&str> = rejected.findings.iter().map(|f| &*f.term).collect();
            ctx.say(format!(
                "{content_id} v1 \"{}\" rejected by the compliance review (absolute terms: {}); v2 takes the T-text headline",
                script::UNLAWFUL_TITLE,
                terms.join(", ")
            ));
            version.version = 2;
        }
        if review(ctx, &version).await? != Decision::Approved {
            return Err(ctx.unexpected(format!("{content_id} was not approved")));
        }
        let mut live = 0;
        for channel in &targets {
            let p = ctx
                .svc
                .publisher
                .publish(
                    &a,
                    PublishCommand {
                        content_id: (*content_id).into(),
                        version: version.version,
                        channel: channel.clone(),
                        account: script::CHANNEL_ACCOUNT.into(),
                        format: ContentFormat::Article,
                        title: version.title.clone(),
                        body_html: article.body_html.clone(),
                        media: vec![],
                        tags: keywords.iter().map(|k| (*k).to_string()).collect(),
                        publish_at: None,
                    },
                    &IdempotencyKey::new(format!("publish:{content_id}:{channel}")).unwrap(),
                )
                .await?;
            if matches!(p.status, PublicationStatus::Published(_)) {
                live += 1;
            }
        }
        live_total += live;
        if first_title.is_empty() {
            first_title.clone_from(&version.title);
        }
    }

    let articles_left = remaining(ctx, &a, &UsageUnit::ArticlesPublished).await?;
    ctx.say(format!(
        "T-text drafts {} articles (e.g. \"{first_title}\"), metered against the article quota ({articles_left} left this month); all approved; {live_total} publications on the recommended channels {}",
        ARTICLES.len(),
        targets.join(", ")
    ));

    // T-image: the spring order-fair poster, metered, reviewed and published as an image.
    let req = script::poster_request();
    let poster = images
        .generate_image(
            &req,
            &IdempotencyKey::new(format!("image:{POSTER_ID}")).unwrap(),
        )
        .await?;
    let images_left = remaining(ctx, &a, &UsageUnit::ImagesGenerated).await?;
    let version = ContentVersion {
        content_id: POSTER_ID.into(),
        version: 1,
        industry: Some(script::INDUSTRY.into()),
        title: req.headline.clone(),
        body: req.body.join("\n"),
    };
    if review(ctx, &version).await? != Decision::Approved {
        return Err(ctx.unexpected("the poster was not approved"));
    }
    let p = ctx
        .svc
        .publisher
        .publish(
            &a,
            PublishCommand {
                content_id: POSTER_ID.into(),
                version: 1,
                channel: POSTER_CHANNEL.into(),
                account: script::CHANNEL_ACCOUNT.into(),
                format: ContentFormat::Image,
                title: req.headline.clone(),
                body_html: format!("<p>{}</p>", req.body.join("</p><p>")),
                media: vec![MediaAttachment {
                    media_type: ImageFormat::Svg.media_type().into(),
                    name: "poster.svg".into(),
                    bytes: poster.bytes,
                }],
                tags: vec!["订货会".into()],
                publish_at: None,
            },
            &IdempotencyKey::new(format!("publish:{POSTER_ID}:{POSTER_CHANNEL}")).unwrap(),
        )
        .await?;
    ctx.say(format!(
        "T-image poster \"{}\" ({}×{}, theme {}; {images_left} images left this month) approved and {} on {POSTER_CHANNEL}",
        req.headline,
        poster.width,
        poster.height,
        poster.provenance.template.as_deref().unwrap_or("template"),
        match p.status {
            PublicationStatus::Published(_) => "published",
            _ => "not published",
        }
    ));
    ctx.close_days(day(3, 4), day(3, 4)).await
}
