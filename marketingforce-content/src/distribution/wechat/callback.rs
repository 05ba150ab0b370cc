//! The account's server callback: URL verification and the publish-result event
//! (`PUBLISHJOBFINISH`).

use std::collections::BTreeMap;

use marketingforce_core::adapters::secret::constant_time_eq;
use marketingforce_core::adapters::wechat::xml::{self, XmlElement};
use marketingforce_core::adapters::wechat::{plain_signature, CallbackQuery};
use marketingforce_core::tenant::TenantId;

use super::channel::{Entry, WeChatOaChannel};
use super::jobs::{Outcome, PublishStatus};
use super::wire::{ArticleDetail, ArticleItem, PublishState};
use crate::error::{ContentError, Result};

/// What a callback delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum OaCallback {
    /// A publish task finished.
    PublishFinished {
        /// The task.
        publish_id: String,
        /// How it ended.
        status: PublishStatus,
        /// The article id, when published.
        article_id: Option<String>,
        /// The article's URL, when published.
        url: Option<String>,
        /// Whether this callback settled one of this channel's publications (false for a
        /// duplicate delivery, or a task the channel did not submit).
        applied: bool,
    },
    /// Another message or event, acknowledged and otherwise ignored.
    Ignored {
        /// `MsgType`.
        msg_type: String,
        /// `Event`, for events.
        event: Option<String>,
    },
}

fn query_value<'a>(q: &'a BTreeMap<String, String>, k: &str) -> Result<&'a str> {
    q.get(k)
        .map(String::as_str)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| ContentError::validation(k, "missing from the callback query"))
}

fn callback_token(entry: &Entry) -> Result<&marketingforce_core::adapters::secret::Secret> {
    entry.account.callback_token.as_ref().ok_or_else(|| {
        ContentError::validation(
            "callback_token",
            "the account has no callback token configured",
        )
    })
}

impl WeChatOaChannel {
    /// Check the plain `signature` of a callback (clear mode, and URL verification).
    fn check_plain(&self, entry: &Entry, q: &BTreeMap<String, String>) -> Result<()> {
        let expected = plain_signature(
            callback_token(entry)?,
            query_value(q, "timestamp")?,
            query_value(q, "nonce")?,
        );
        if constant_time_eq(
            expected.as_bytes(),
            query_value(q, "signature")?.to_ascii_lowercase().as_bytes(),
        ) {
            Ok(())
        } else {
            Err(ContentError::validation(
                "signature",
                "does not match (wrong token, or a forged request)",
            ))
        }
    }

    /// Answer the URL verification WeChat makes when the server URL is saved: the `echostr`
    /// to send back when the signature is right.
    ///
    /// # Errors
    /// Not found for an unknown account; validation errors on a missing parameter or a wrong
    /// `signature`.
    pub fn verify_url(
        &self,
        tenant: &TenantId,
        account: &str,
        query: &BTreeMap<String, String>,
    ) -> Result<String> {
        let entry = self.entry(tenant, account)?;
        self.check_plain(&entry, query)?;
        Ok(query_value(query, "echostr")?.to_string())
    }

    /// Handle a message pushed to the account's server URL (`POST`, with the query WeChat
    /// added): verify it, decrypt it in safe mode (`encrypt_type=aes`), and apply a
    /// `PUBLISHJOBFINISH` event to the publication it concerns. Duplicated deliveries are
    /// no-ops. Answer the platform `success` once this returns `Ok`.
    ///
    /// # Errors
    /// Not found for an unknown account; validation errors on a bad signature
    /// (`signature`/`msg_signature`), undecryptable or malformed XML (`xml`, `encrypt`), or a
    /// malformed event; storage errors (then answer an error, and WeChat delivers again).
    pub async fn handle_callback(
        &self,
        tenant: &TenantId,
        account: &str,
        query: &BTreeMap<String, String>,
        body: &str,
    ) -> Result<OaCallback> {
        let entry = self.entry(tenant, account)?;
        let message = if query.get("encrypt_type").map(String::as_str) == Some("aes") {
            let crypto = entry.crypto.as_ref().ok_or_else(|| {
                ContentError::validation(
                    "encoding_aes_key",
                    "the callback is encrypted but the account has no EncodingAESKey configured",
                )
            })?;
            crypto.open_envelope(&CallbackQuery::from_query(query)?, body)?
        } else {
            self.check_plain(&entry, query)?;
            xml::parse(body)?
        };
        let msg_type = message.text_of("MsgType").unwrap_or_default().to_string();
        let event = message.text_of("Event").map(str::to_string);
        if msg_type != "event" || event.as_deref() != Some("PUBLISHJOBFINISH") {
            return Ok(OaCallback::Ignored { msg_type, event });
        }
        let state = publish_event(&message)?;
        let applied = self.apply(tenant, account, &state).await?;
        Ok(OaCallback::PublishFinished {
            publish_id: state.0,
            status: state.1.publish_status,
            article_id: state.1.article_id.clone(),
            url: state.1.first_url(),
            applied,
        })
    }

    /// Settle the job of `publish_id` with a final state; false when there is none to settle.
    async fn apply(
        &self,
        tenant: &TenantId,
        account: &str,
        (publish_id, state): &(String, PublishState),
    ) -> Result<bool> {
        if !state.publish_status.is_final() {
            return Ok(false);
        }
        // Two tries: a concurrent poll may settle the job between our read and write.
        for _ in 0..2 {
            let Some(found) = self
                .jobs
                .lookup_all(tenant, "publish", &format!("{account}:{publish_id}"))
                .await?
                .into_iter()
                .next()
            else {
                return Ok(false);
            };
            if found.value.outcome.is_some() {
                return Ok(false);
            }
            let mut job = found.value;
            let _: Outcome = self.settle(&mut job, state);
            job.updated_at = self.client.clock.now();
            match self.jobs.update(tenant, &job, found.version).await {
                Ok(_) => return Ok(true),
                Err(marketingforce_core::Error::Conflict { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(false)
    }
}

/// The `PublishEventInfo` of a `PUBLISHJOBFINISH` event.
fn publish_event(message: &XmlElement) -> Result<(String, PublishState)> {
    let info = message.child("PublishEventInfo").ok_or_else(|| {
        ContentError::validation("xml", "PUBLISHJOBFINISH without PublishEventInfo")
    })?;
    let field = |name: &str| {
        info.text_of(name)
            .filter(|v| !v.is_empty())
            .ok_or_else(|| ContentError::validation(format!("PublishEventInfo.{name}"), "missing"))
    };
    let publish_id = field("publish_id")?.to_string();
    let status: i64 = field("publish_status")?.parse().map_err(|_| {
        ContentError::validation("PublishEventInfo.publish_status", "is not an integer")
    })?;
    let item = info
        .path(&["article_detail", "item"])
        .map(|item| ArticleItem {
            idx: item
                .text_of("idx")
                .and_then(|i| i.parse().ok())
                .unwrap_or(1),
            article_url: item
                .text_of("article_url")
                .filter(|u| !u.is_empty())
                .map(str::to_string),
        });
    let fail_idx = info
        .children_named("fail_idx")
        .filter_map(|f| f.text.trim().parse().ok())
        .collect();
    Ok((
        publish_id,
        PublishState {
            publish_status: PublishStatus::from(status),
            article_id: info
                .text_of("article_id")
                .filter(|a| !a.is_empty())
                .map(str::to_string),
            article_detail: item.map(|i| ArticleDetail { item: vec![i] }),
            fail_idx,
        },
    ))
}
