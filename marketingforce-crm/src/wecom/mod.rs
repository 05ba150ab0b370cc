//! WeCom (企业微信), the private domain: external contacts flowing into CRM capture, channel QR
//! codes, customer groups, mass messages, tag sync and the encrypted callback endpoint
//! (feature `wecom`).
//!
//! [`WeCom`] ties one tenant's corp ([`WeComClient`]) to its [`Crm`](crate::Crm):
//!
//! | capability | API | into the CRM |
//! |---|---|---|
//! | contact sync | `get_follow_user_list`, `externalcontact/list`, `externalcontact/get` (follow users by `next_cursor`), `batch/get_by_user` (pages by `next_cursor`) | each follow relation a capture with source [`Source::WeCom`](crate::model::Source::WeCom) (or its channel code's), the follow user as owner |
//! | channel codes | `add_contact_way` with a `state` | the state's [`ChannelCode`] gives source and campaign |
//! | group chats | `groupchat/list` (by cursor), `groupchat/get` | [`GroupLink`]s giving each chat a [`GroupId`](crate::ids::GroupId) |
//! | mass messages | `add_msg_template` (`single` / `group`) | [`WeCom`] is a [`MessageSender`](crate::outreach::MessageSender) for SOP steps and the library |
//! | tag sync | `get_corp_tag_list`, `mark_tag` | lead tags pushed to the contact |
//! | callbacks | WXBizMsgCrypt envelope, `change_external_contact`, `change_external_chat` | captures and `contact_added` / `contact_removed` / `group_joined` / `group_left` behaviour events, idempotently |
//!
//! # The seam with the CRM
//! Every call into the CRM's capture, claim and behaviour API goes through one module,
//! `wecom/sync.rs`. The follow user of a contact becomes the owner of a new lead through
//! [`Crm::claim`](crate::Crm::claim) — so the CRM's rules apply: a user whose level may not see
//! unassigned leads is refused, reported as [`OwnerResult::Refused`], and the lead stays for
//! allocation. (A system assignment to a named user would remove that limit; the CRM does not
//! offer one today.) WeCom userids map to CRM users through the embedder's
//! [`StaffDirectory`].
//!
//! # Personal data
//! External user ids, names, remarks and mobiles are personal data. They reach the CRM only in
//! capture requests (sealed into the lead's vault); the connector keys its own records by the
//! CRM's blind index and keeps the id sealed with the CRM's keys (needed again only to message
//! the contact); reports, errors and `Debug` output carry positions, staff userids and lead ids,
//! never a customer's values; idempotency keys derived from contacts are keyed digests.
//! [`WeCom::forget_lead`] removes a lead's link after a PIPL erasure.
//!
//! # Errors
//! | errcode | becomes |
//! |---|---|
//! | 40001, 42001, 40014 | token refreshed (shared through the store), call repeated once |
//! | -1, 45009, 45033, HTTP 5xx, transport failures | retried with backoff; still failing: [`CrmError::RateLimited`](crate::CrmError::RateLimited) for limits, a retryable backend error otherwise; `add_msg_template` is not repeated after HTTP 5xx, a timeout or a dropped connection (the task may exist: the send reports its outcome unknown) |
//! | 60020 (IP not trusted) | [`CrmError::PlatformConfiguration`](crate::CrmError::PlatformConfiguration) naming the IP to add |
//! | 40013, 40001 at `gettoken`, 48002 | [`CrmError::PlatformConfiguration`](crate::CrmError::PlatformConfiguration) naming the setting |
//! | any other | [`CrmError::PlatformApi`](crate::CrmError::PlatformApi) with the platform's code and message |
//!
//! Values of enumerations this SDK does not know are kept (`Unknown(code)`) and listed in the
//! sync reports; pages larger than 100 are refused before any call; a contact that fails is
//! reported with its position and the sync goes on; follow users the platform will not answer
//! for (`fail_info.unlicensed_userid_list`) are reported as a partial failure.
//!
//! # Setting up a corp
//! 1. **Credentials**: 我的企业 → 企业信息 → 企业ID ([`WeComApp::corp_id`]); 客户与上下游 →
//!    客户联系 → API → Secret ([`WeComApp::secret`]), or a self-built app's secret with
//!    customer-contact permission. Read it as a [`Secret`](marketingforce_core::adapters::secret::Secret).
//! 2. **Trusted IP**: the app's 企业可信IP must list every server that calls the API (else
//!    60020, reported with the IP to add).
//! 3. **Callback**: 客户联系 → API → 接收事件服务器: URL = your endpoint (e.g.
//!    `https://example.com/wecom/{tenant}`), Token → [`WeComApp::callback_token`],
//!    EncodingAESKey → [`WeComApp::encoding_aes_key`]. The endpoint answers `GET` with
//!    [`WeCom::verify_url`] and `POST` with [`WeCom::handle_callback`] (reply `success`).
//! 4. **Staff**: give the embedder's [`StaffDirectory`] every WeCom userid that follows
//!    customers, mapped to its CRM user.
//! 5. **HTTPS**: enable a TLS feature of `reqwest` (e.g. `rustls`) in your manifest.
//!
//! # Record and replay
//! [`WeComClient::recording`] writes every exchange to a
//! [`Recorder`](marketingforce_core::adapters::cassette::Recorder) (secrets and
//! [`PERSONAL_FIELDS`] scrubbed); serving the cassette on a loopback server and pointing
//! [`WeComConfig::base_url`] at it replays the session, as `tests/wecom.rs` does with the
//! cassettes under `tests/fixtures/wecom/`.
//!
//! ```
//! use std::sync::Arc;
//! use marketingforce_core::storage::MemoryStore;
//! use marketingforce_core::tenant::TenantId;
//! use marketingforce_core::time::SystemClock;
//! use marketingforce_core::env::Env;
//! use marketingforce_crm::crypto::KeyRing;
//! use marketingforce_crm::Crm;
//! use marketingforce_crm::ids::UserId;
//! use marketingforce_crm::wecom::{StaticDirectory, WeCom, WeComApp, WeComClient, WeComConfig};
//!
//! let store = Arc::new(MemoryStore::new());
//! let keys = Arc::new(KeyRing::new("k1", [7; 32]));
//! let env = Env::builder(store.clone()).keys(keys.clone()).build();
//! let crm = Arc::new(Crm::builder(&env).build().unwrap());
//! let tenant = TenantId::new();
//! let app: WeComApp = serde_json::from_str(r#"{"corp_id": "ww0123456789abcdef", "secret": "from-your-secret-store"}"#).unwrap();
//! let client = WeComClient::new(tenant, app, WeComConfig::default(), store, Arc::new(SystemClock)).unwrap();
//! let directory = Arc::new(StaticDirectory::new().with(tenant, "lisi", UserId::new()));
//! let wecom = WeCom::new(client, crm, keys, directory).unwrap();
//! assert!(!format!("{wecom:?}").contains("from-your-secret-store"));
//! ```

mod callback;
mod client;
mod config;
mod connector;
mod contact_way;
mod contacts;
mod errors;
mod groups;
mod links;
mod messages;
mod model;
mod sync;
mod tags;

pub use callback::{CallbackOutcome, ChatChange, ChatUpdate, ContactChange};
pub use client::{WeComClient, PERSONAL_FIELDS};
pub use config::{WeComApp, WeComConfig, WECOM_API};
pub use connector::WeCom;
pub use contact_way::ChannelCodeRequest;
pub use contacts::{ContactPage, SyncFailure, SyncReport};
pub use groups::{GroupPage, GroupSyncReport, SyncedGroup};
pub use links::{ChannelCode, GroupLink};
pub use messages::{MassMessageResult, MassTarget, MAX_CONTACTS_PER_TASK};
pub use model::{
    AddWay, ContactRecord, ContactType, CorpTag, CorpTagGroup, ExternalContact, ExternalUserId,
    FollowInfo, FollowTag, GroupChatDetail, GroupChatRef, GroupMember, GroupStatus, JoinScene,
    MemberType,
};
pub use sync::{Captured, OwnerResult, StaffDirectory, StaticDirectory};
pub use tags::TagSyncReport;
