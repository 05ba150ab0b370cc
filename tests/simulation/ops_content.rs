//! Content publishing against the release quota: publish (now or later), channels that fail,
//! time out or refuse, scheduled runs and retries.

use chrono::Duration;
use marketingforce_content::distribution::{
    Fault as ChannelFault, Publication, PublicationStatus, PublishCommand,
};
use marketingforce_content::ContentError;
use marketingforce_core::adapters::channel::ContentFormat;
use marketingforce_core::storage::Collection;
use marketingforce_core::IdempotencyKey;
use marketingforce_modules::catalog::UsageUnit;

use super::model::Replay;
use super::setup::ARTICLES;
use super::world::{Failure, World, CHANNELS};

impl World {
    /// Publications of tenant `i`, read from the store without faults.
    pub async fn stored_publications(&self, i: usize) -> Result<Vec<Publication>, Failure> {
        Ok(Collection::<Publication>::new(self.inner.clone())
            .list_all(&self.tenants[i])
            .await
            .map_err(|e| self.fail(format!("reading publications: {e}")))?
            .into_iter()
            .map(|v| v.value)
            .collect())
    }

    /// Publish an approved article to a channel, sometimes scheduled for later, sometimes with
    /// the channel failing first.
    pub async fn op_publish(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let Some((content_id, version)) = self.rng.pick(&self.models[i].content.approved).cloned()
        else {
            return Ok(());
        };
        let c = self.rng.weighted(&[6, 2, 2]);
        let channel = CHANNELS[c];
        if self.rng.chance(120) {
            let fault = match self.rng.below(3) {
                0 => ChannelFault::Unavailable,
                1 => ChannelFault::Timeout,
                _ => ChannelFault::Reject {
                    code: "content_policy".into(),
                    reason: "审核未通过".into(),
                },
            };
            self.note(format!(
                "  channel {channel} will fail the next publication: {fault:?}"
            ));
            self.ext.channels[c].inject(fault);
        }
        let k: usize = content_id
            .trim_start_matches("article-")
            .parse()
            .unwrap_or(0);
        let (title, body) = ARTICLES[k % ARTICLES.len()];
        let publish_at = self
            .rng
            .chance(150)
            .then(|| self.now() + Duration::minutes(self.rng.range(30, 300) as i64));
        let command = PublishCommand {
            content_id,
            version,
            channel: channel.into(),
            account: "official".into(),
            format: ContentFormat::Article,
            title: title.into(),
            body_html: format!("<p>{body}</p>"),
            media: vec![],
            tags: vec![],
            publish_at,
        };
        let key = self.models[i].key("publish");
        let r = self
            .call("publish", async |s| {
                s.publisher
                    .publish(
                        &t,
                        command.clone(),
                        &IdempotencyKey::new(key.clone()).unwrap(),
                    )
                    .await
            })
            .await?;
        match r.result {
            Ok(p) => {
                if p.tenant != t {
                    return Err(self.fail(format!("publish {key}: publication of another tenant")));
                }
                self.note(format!(
                    "t{i} publish {key} {channel} → {} {:?}",
                    p.id, p.status
                ));
                self.models[i]
                    .content
                    .publications
                    .insert(key.clone(), p.id);
                self.models[i].remember(Replay::Publish {
                    key,
                    command,
                    id: p.id,
                });
            }
            Err(ContentError::QuotaExceeded {
                remaining,
                requested,
                ..
            }) => {
                if remaining >= requested {
                    return Err(self.fail(format!(
                        "publish {key}: quota exhausted with {remaining} left for {requested}"
                    )));
                }
                self.note(format!(
                    "t{i} publish {key} {channel}: release quota exhausted"
                ));
            }
            Err(e) => return Err(self.fail(format!("publish {key}: unexpected error: {e}"))),
        }
        Ok(())
    }

    /// Publish whatever is due (scheduled or rate-limited earlier).
    pub async fn op_run_due(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let r = self
            .call("run_due", async |s| s.publisher.run_due(&t).await)
            .await?;
        match r.result {
            Ok(done) => {
                let summary: Vec<String> = done
                    .iter()
                    .map(|p| format!("{} {:?}", p.id, std::mem::discriminant(&p.status)))
                    .collect();
                self.note(format!(
                    "t{i} run_due → {} publications {summary:?}",
                    done.len()
                ));
            }
            Err(ContentError::QuotaExceeded { .. }) => {
                self.note(format!("t{i} run_due: release quota exhausted"));
            }
            Err(e) => return Err(self.fail(format!("run_due: unexpected error: {e}"))),
        }
        Ok(())
    }

    /// Retry a publication whose channel call failed retryably.
    pub async fn op_retry_publication(&mut self, i: usize) -> Result<(), Failure> {
        let t = self.tenants[i];
        let failed: Vec<Publication> = self
            .stored_publications(i)
            .await?
            .into_iter()
            .filter(|p| {
                matches!(
                    p.status,
                    PublicationStatus::Failed {
                        retryable: true,
                        ..
                    }
                )
            })
            .collect();
        let Some(p) = self.rng.pick(&failed).cloned() else {
            self.note(format!("t{i} retry publication: none failed"));
            return Ok(());
        };
        let r = self
            .call("retry publication", async |s| {
                s.publisher.retry(&t, &p.id).await
            })
            .await?;
        match r.result {
            Ok(after) => self.note(format!("t{i} retry {} → {:?}", p.id, after.status)),
            // An earlier attempt got through; the acknowledgement was lost.
            Err(ContentError::Core(marketingforce_core::Error::InvalidState { .. }))
                if r.attempts > 1 =>
            {
                self.note(format!(
                    "t{i} retry {}: already settled by an earlier attempt",
                    p.id
                ));
            }
            Err(ContentError::QuotaExceeded { .. }) => {
                self.note(format!("t{i} retry {}: release quota exhausted", p.id));
            }
            Err(e) => return Err(self.fail(format!("retry {}: unexpected error: {e}", p.id))),
        }
        Ok(())
    }

    /// Publication units used and the limit, as the live meter sees them.
    pub async fn publication_usage(&mut self, i: usize) -> Result<(u64, u64, u64), Failure> {
        let t = self.tenants[i];
        let r = self
            .call("load entitlements", async |s| s.registry.load(&t).await)
            .await?;
        let ents = r
            .result
            .map_err(|e| self.fail(format!("loading entitlements: {e}")))?;
        // An observer: no faults injected into its reads.
        let paused = self.faulty.is_paused();
        self.faulty.pause();
        let synced = ents.sync().await;
        if !paused {
            self.faulty.resume();
        }
        synced.map_err(|e| self.fail(format!("syncing entitlements: {e}")))?;
        let b = ents.meter().balance(&UsageUnit::Publications);
        Ok((b.used.get(), b.reserved.get(), b.limit.get()))
    }
}
