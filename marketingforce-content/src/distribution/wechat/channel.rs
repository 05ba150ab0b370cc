//! [`WeChatOaChannel`]: the [`ContentChannel`] over the Official Account API.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use marketingforce_core::adapters::cassette::Recorder;
use marketingforce_core::adapters::channel::{
    AccountStatus, ContentChannel, ContentFormat, ContentStats, MediaAttachment, PublishOutcome,
    PublishReceipt, PublishRequest, Verification,
};
use marketingforce_core::adapters::wechat::CallbackCrypto;
use marketingforce_core::storage::{Collection, Fingerprint, Store, Versioned};
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use serde_json::json;

use super::client::{App, Body, OaClient};
use super::config::{CoverMaterial, OaAccount, WeChatOaConfig};
use super::html::{image_type, prepare, Prepared};
use super::jobs::{Job, Outcome, PublishStatus, Submit};
use super::wire::{AddedDraft, AddedMaterial, PublishState, Submitted, UploadedImage};
use crate::error::{ContentError, Result};

/// The longest title the channel sends (WeChat refuses longer ones with 45003).
pub const MAX_TITLE_CHARS: usize = 64;

/// One registered account.
pub(crate) struct Entry {
    pub app: App,
    pub account: OaAccount,
    pub crypto: Option<CallbackCrypto>,
}

/// An Official Account (公众号) as a content channel: articles go through `draft/add` and
/// `freepublish/submit`, statistics come from `datacube` (see the [module docs](super)).
pub struct WeChatOaChannel {
    pub(crate) client: OaClient,
    pub(crate) jobs: Collection<Job>,
    accounts: RwLock<HashMap<(TenantId, String), Arc<Entry>>>,
}

impl fmt::Debug for WeChatOaChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self
            .accounts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len();
        f.debug_struct("WeChatOaChannel")
            .field("client", &self.client)
            .field("accounts", &n)
            .finish()
    }
}

fn outcome_of(job_outcome: &Outcome) -> PublishOutcome {
    match job_outcome {
        Outcome::Published {
            article_id,
            url,
            at,
        } => PublishOutcome::Published(PublishReceipt {
            external_id: article_id.clone(),
            url: url.clone(),
            published_at: *at,
        }),
        Outcome::NotPublished { status, fail_idx } => PublishOutcome::Rejected {
            code: format!("publish_status_{}", status.code()),
            reason: if fail_idx.is_empty() {
                status.to_string()
            } else {
                format!("{status} (articles {fail_idx:?})")
            },
        },
    }
}

/// Whether an error is a definite answer of the platform (the call did not take effect), as
/// opposed to a failure to get one.
fn is_definite(e: &ContentError) -> bool {
    matches!(
        e,
        ContentError::ChannelApi { .. }
            | ContentError::ChannelConfiguration { .. }
            | ContentError::RateLimited { .. }
            | ContentError::Core(marketingforce_core::Error::Validation { .. })
    )
}

impl WeChatOaChannel {
    /// A channel over `store` (access tokens and publication progress are kept there, so
    /// several processes can share them).
    ///
    /// # Errors
    /// A validation error on the configuration.
    pub fn new(
        config: WeChatOaConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
    ) -> Result<WeChatOaChannel> {
        WeChatOaChannel::build(config, store, clock, None)
    }

    /// A channel that records every exchange with the platform to `recorder` (see
    /// [`marketingforce_core::adapters::cassette`]).
    ///
    /// # Errors
    /// A validation error on the configuration.
    pub fn recording(
        config: WeChatOaConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        recorder: Arc<Recorder>,
    ) -> Result<WeChatOaChannel> {
        WeChatOaChannel::build(config, store, clock, Some(recorder))
    }

    fn build(
        config: WeChatOaConfig,
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        recorder: Option<Arc<Recorder>>,
    ) -> Result<WeChatOaChannel> {
        Ok(WeChatOaChannel {
            jobs: Collection::new(store.clone()),
            client: OaClient::new(config, store, clock, recorder)?,
            accounts: RwLock::new(HashMap::new()),
        })
    }

    /// Register a tenant's Official Account under the account name used in publish commands.
    ///
    /// # Errors
    /// Validation errors on the account (`app_id`, `app_secret`, `author`, and the callback
    /// `encoding_aes_key`), never showing a secret.
    pub fn add_account(&self, tenant: &TenantId, account: &str, oa: OaAccount) -> Result<()> {
        if account.trim().is_empty() {
            return Err(ContentError::validation("account", "must not be blank"));
        }
        oa.validate()?;
        let crypto = match (&oa.callback_token, &oa.encoding_aes_key) {
            (Some(token), Some(key)) => Some(CallbackCrypto::new(token, key, oa.app_id.clone())?),
            _ => None,
        };
        let entry = Entry {
            app: App {
                app_id: oa.app_id.clone(),
                secret: oa.app_secret.clone(),
            },
            account: oa,
            crypto,
        };
        self.accounts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert((*tenant, account.to_string()), Arc::new(entry));
        Ok(())
    }

    pub(crate) fn entry(&self, tenant: &TenantId, account: &str) -> Result<Arc<Entry>> {
        self.accounts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&(*tenant, account.to_string()))
            .cloned()
            .ok_or_else(|| {
                marketingforce_core::Error::not_found(
                    format!("{} account", self.client.code),
                    account,
                )
                .into()
            })
    }

    fn job_key(tenant: &TenantId, idempotency_key: &str) -> String {
        Fingerprint::of_bytes(format!("{tenant}:{idempotency_key}").as_bytes())
            .as_str()
            .to_string()
    }

    async fn save(&self, tenant: &TenantId, job: &mut Job, version: &mut u64) -> Result<()> {
        job.updated_at = self.client.clock.now();
        *version = self.jobs.update(tenant, job, *version).await?;
        Ok(())
    }

    /// Load the job of a publish request, creating it on first sight.
    async fn job_for(&self, req: &PublishRequest) -> Result<Versioned<Job>> {
        let key = WeChatOaChannel::job_key(&req.tenant, &req.idempotency_key);
        let media: Vec<(&str, String)> = req
            .media
            .iter()
            .map(|m| {
                (
                    m.name.as_str(),
                    Fingerprint::of_bytes(&m.bytes).as_str().to_string(),
                )
            })
            .collect();
        let fingerprint = Fingerprint::of(&(&req.account, &req.title, &req.body_html, &media))?
            .as_str()
            .to_string();
        let existing = match self.jobs.get(&req.tenant, &key).await? {
            Some(v) => v,
            None => {
                let job = Job {
                    key: key.clone(),
                    tenant: req.tenant,
                    account: req.account.clone(),
                    fingerprint: fingerprint.clone(),
                    images: Default::default(),
                    thumb_media_id: None,
                    draft_media_id: None,
                    submit: Submit::NotSent,
                    outcome: None,
                    updated_at: self.client.clock.now(),
                };
                match self.jobs.insert(&req.tenant, &job).await {
                    Ok(version) => Versioned {
                        value: job,
                        version,
                    },
                    Err(marketingforce_core::Error::Conflict { .. }) => {
                        self.jobs.require(&req.tenant, &key).await?
                    }
                    Err(e) => return Err(e.into()),
                }
            }
        };
        if existing.value.fingerprint != fingerprint {
            return Err(marketingforce_core::Error::IdempotencyMismatch {
                key: req.idempotency_key.clone(),
            }
            .into());
        }
        Ok(existing)
    }

    fn check_request(&self, req: &PublishRequest) -> Result<()> {
        if req.format != ContentFormat::Article {
            return Err(ContentError::validation(
                "format",
                format!(
                    "{} publishes articles, not {}",
                    self.client.code, req.format
                ),
            ));
        }
        let title = req.title.trim();
        if title.is_empty() || title.chars().count() > MAX_TITLE_CHARS {
            return Err(ContentError::validation(
                "title",
                format!("must be 1-{MAX_TITLE_CHARS} characters for a WeChat article"),
            ));
        }
        Ok(())
    }

    /// The cover: an attachment named `cover…`, else the first image attachment, else the
    /// first body image.
    fn cover<'a>(
        &self,
        req: &'a PublishRequest,
        prepared: &'a Prepared,
    ) -> Result<(String, &'a [u8], &'static str)> {
        let kind = self.client.config.cover;
        let pick = |m: &'a MediaAttachment| image_type(&m.bytes).map(|t| (m, t));
        let chosen = req
            .media
            .iter()
            .filter(|m| m.name.starts_with("cover"))
            .find_map(pick)
            .or_else(|| req.media.iter().find_map(pick));
        let (field, name, bytes, media_type) = match chosen {
            Some((m, t)) => {
                let i = req
                    .media
                    .iter()
                    .position(|x| std::ptr::eq(x, m))
                    .unwrap_or(0);
                (format!("media[{i}]"), m.name.clone(), m.bytes.as_slice(), t)
            }
            None => match prepared.images().first() {
                Some(img) => (
                    "body_html.img[0]".to_string(),
                    img.filename.clone(),
                    img.bytes.as_slice(),
                    img.media_type,
                ),
                None => {
                    return Err(ContentError::validation(
                        "media",
                        "WeChat articles need a cover image: attach a JPEG (the first image \
                         attachment, or one named cover…, becomes the cover)",
                    ))
                }
            },
        };
        if kind == CoverMaterial::Thumb && media_type != "image/jpeg" {
            return Err(ContentError::validation(
                field,
                "the cover is uploaded as thumb material, which must be a JPEG",
            ));
        }
        if bytes.len() > kind.max_bytes() {
            return Err(ContentError::validation(
                field,
                format!(
                    "the cover has {} bytes; {} material takes at most {}",
                    bytes.len(),
                    kind.as_str(),
                    kind.max_bytes()
                ),
            ));
        }
        let ext = if media_type == "image/png" {
            "png"
        } else {
            "jpg"
        };
        let stem: String = name
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(32)
            .collect();
        Ok((format!("cover-{stem}.{ext}"), bytes, media_type))
    }

    /// Upload, draft and submit (each step once per job), then poll for the result.
    async fn run(&self, req: &PublishRequest, entry: &Entry) -> Result<PublishOutcome> {
        self.check_request(req)?;
        let prepared = prepare(&req.body_html, &req.media)?;
        let tenant = &req.tenant;
        let Versioned {
            value: mut job,
            mut version,
        } = self.job_for(req).await?;
        if let Some(o) = &job.outcome {
            return Ok(outcome_of(o));
        }
        let app = &entry.app;
        if job.submit == Submit::NotSent {
            let mut urls = Vec::with_capacity(prepared.images().len());
            for img in prepared.images() {
                let url = match job.images.get(&img.digest) {
                    Some(u) => u.clone(),
                    None => {
                        let up: UploadedImage = self
                            .client
                            .call(
                                tenant,
                                app,
                                "POST",
                                "cgi-bin/media/uploadimg",
                                &[],
                                &Body::File {
                                    filename: img.filename.clone(),
                                    media_type: img.media_type.into(),
                                    bytes: img.bytes.clone(),
                                },
                            )
                            .await?;
                        job.images.insert(img.digest.clone(), up.url.clone());
                        self.save(tenant, &mut job, &mut version).await?;
                        up.url
                    }
                };
                urls.push(url);
            }
            let content = prepared.render(&urls)?;
            if job.thumb_media_id.is_none() {
                let (filename, bytes, media_type) = self.cover(req, &prepared)?;
                let kind = self.client.config.cover.as_str();
                let m: AddedMaterial = self
                    .client
                    .call(
                        tenant,
                        app,
                        "POST",
                        "cgi-bin/material/add_material",
                        &[("type", kind)],
                        &Body::File {
                            filename,
                            media_type: media_type.into(),
                            bytes: bytes.to_vec(),
                        },
                    )
                    .await?;
                job.thumb_media_id = Some(m.media_id);
                self.save(tenant, &mut job, &mut version).await?;
            }
            if job.draft_media_id.is_none() {
                let mut article = json!({
                    "article_type": "news",
                    "title": req.title.trim(),
                    "content": content,
                    "thumb_media_id": job.thumb_media_id,
                    "need_open_comment": 0,
                    "only_fans_can_comment": 0,
                });
                if let Some(author) = &entry.account.author {
                    article["author"] = json!(author);
                }
                let d: AddedDraft = self
                    .client
                    .call(
                        tenant,
                        app,
                        "POST",
                        "cgi-bin/draft/add",
                        &[],
                        &Body::Json(json!({ "articles": [article] })),
                    )
                    .await?;
                job.draft_media_id = Some(d.media_id);
                self.save(tenant, &mut job, &mut version).await?;
            }
            self.submit(tenant, app, &mut job, &mut version).await?;
        }
        match job.submit.clone() {
            Submit::Accepted { publish_id, .. } => {
                self.poll(tenant, app, &mut job, &mut version, &publish_id)
                    .await
            }
            _ => Err(self.unknown_submit(&job)),
        }
    }

    fn unknown_submit(&self, job: &Job) -> ContentError {
        marketingforce_core::Error::backend_message(
            format!("channel {}", self.client.code),
            false,
            format!(
                "outcome unknown: freepublish/submit of draft {} got no answer, so WeChat may \
                 or may not be publishing it; check 发表记录 in the admin console, then publish \
                 again under a new key if it is not there",
                job.draft_media_id.as_deref().unwrap_or("?")
            ),
        )
        .into()
    }

    async fn submit(
        &self,
        tenant: &TenantId,
        app: &App,
        job: &mut Job,
        version: &mut u64,
    ) -> Result<()> {
        let now = self.client.clock.now();
        // Recorded before the call: a crash in between leaves an honest "unknown".
        job.submit = Submit::Unanswered { at: now };
        self.save(tenant, job, version).await?;
        let answer: Result<Submitted> = self
            .client
            .call_at_most_once(
                tenant,
                app,
                "POST",
                "cgi-bin/freepublish/submit",
                &[],
                &Body::Json(json!({ "media_id": job.draft_media_id })),
            )
            .await;
        match answer {
            Ok(s) => {
                job.submit = Submit::Accepted {
                    publish_id: s.publish_id,
                    msg_data_id: s.msg_data_id,
                    at: now,
                };
                self.save(tenant, job, version).await
            }
            Err(e) if is_definite(&e) => {
                // Refused: nothing is being published; a retry may submit again.
                job.submit = Submit::NotSent;
                self.save(tenant, job, version).await?;
                Err(e)
            }
            Err(e) => Err(match self.unknown_submit(job) {
                ContentError::Core(marketingforce_core::Error::Backend {
                    backend,
                    message,
                    ..
                }) => marketingforce_core::Error::backend_message(
                    backend,
                    false,
                    format!("{message} (the call failed: {e})"),
                )
                .into(),
                other => other,
            }),
        }
    }

    async fn poll(
        &self,
        tenant: &TenantId,
        app: &App,
        job: &mut Job,
        version: &mut u64,
        publish_id: &str,
    ) -> Result<PublishOutcome> {
        let attempts = self.client.config.publish_poll_attempts.max(1);
        for attempt in 0..attempts {
            let state = self.publish_state(tenant, app, publish_id).await?;
            match state.publish_status {
                PublishStatus::Publishing => {
                    if attempt + 1 < attempts {
                        tokio::time::sleep(Duration::from_millis(
                            self.client.config.publish_poll_interval_ms,
                        ))
                        .await;
                    }
                }
                PublishStatus::Unknown(code) => {
                    return Err(ContentError::ChannelApi {
                        channel: self.client.code.clone(),
                        api: "cgi-bin/freepublish/get".into(),
                        code,
                        message: format!(
                            "unknown publish_status {code} for publish {publish_id}; the \
                             publication is left in progress"
                        ),
                        retryable: true,
                    })
                }
                _ => {
                    let outcome = self.settle(job, &state);
                    self.save(tenant, job, version).await?;
                    return Ok(outcome_of(&outcome));
                }
            }
        }
        Err(marketingforce_core::Error::backend_message(
            format!("channel {}", self.client.code),
            true,
            format!(
                "publish {publish_id} is still being processed by WeChat; retry with the same \
                 key, or deliver the PUBLISHJOBFINISH callback to the channel"
            ),
        )
        .into())
    }

    /// Record a final state on the job; returns the outcome.
    pub(crate) fn settle(&self, job: &mut Job, state: &PublishState) -> Outcome {
        let outcome = match (state.publish_status, &state.article_id) {
            (PublishStatus::Published, Some(article_id)) => Outcome::Published {
                article_id: article_id.clone(),
                url: state.first_url(),
                at: self.client.clock.now(),
            },
            (status, _) => Outcome::NotPublished {
                status,
                fail_idx: state.fail_idx.clone(),
            },
        };
        job.outcome = Some(outcome.clone());
        outcome
    }

    async fn publish_state(
        &self,
        tenant: &TenantId,
        app: &App,
        publish_id: &str,
    ) -> Result<PublishState> {
        self.client
            .call(
                tenant,
                app,
                "POST",
                "cgi-bin/freepublish/get",
                &[],
                &Body::Json(json!({ "publish_id": publish_id })),
            )
            .await
    }

    /// Where a publish task stands now (`freepublish/get`).
    ///
    /// # Errors
    /// Not found for an unknown account; platform and transport errors.
    pub async fn publish_status(
        &self,
        tenant: &TenantId,
        account: &str,
        publish_id: &str,
    ) -> Result<PublishStatus> {
        let entry = self.entry(tenant, account)?;
        Ok(self
            .publish_state(tenant, &entry.app, publish_id)
            .await?
            .publish_status)
    }
}

#[async_trait]
impl ContentChannel for WeChatOaChannel {
    fn code(&self) -> &str {
        &self.client.code
    }

    /// `Verified` once the platform issues an access token for the account's credentials
    /// from this server (credentials right, IP whitelisted). WeChat's own verification
    /// (微信认证) is not exposed to the account's API.
    async fn account_status(
        &self,
        tenant: &TenantId,
        account: &str,
    ) -> marketingforce_core::Result<AccountStatus> {
        let entry = self.entry(tenant, account)?;
        self.client.token(tenant, &entry.app, None).await?;
        Ok(AccountStatus {
            verification: Verification::Verified,
            suspended: None,
        })
    }

    async fn publish(&self, req: &PublishRequest) -> marketingforce_core::Result<PublishOutcome> {
        let entry = self.entry(&req.tenant, &req.account)?;
        Ok(self.run(req, &entry).await?)
    }

    /// Cumulative figures from `datacube/getarticletotal` for the article's day of
    /// publication: exposures = users reached (`target_user`), views = article page reads,
    /// engagements = shares + favourites, clicks = "read original" reads. Zero, with no
    /// `as_of`, before the platform has figures (the day after publication) or when it has
    /// none for the article.
    async fn stats(
        &self,
        tenant: &TenantId,
        account: &str,
        external_id: &str,
    ) -> marketingforce_core::Result<ContentStats> {
        Ok(self.article_stats(tenant, account, external_id).await?)
    }
}
