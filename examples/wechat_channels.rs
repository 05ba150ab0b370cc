//! Publishing an article to a WeChat Official Account and messaging a WeCom contact — against
//! simulated platforms or the real ones, chosen by configuration alone: the code below is the
//! same either way.
//!
//! ```text
//! # simulated (the default; no network):
//! cargo run --example wechat_channels --features wechat-oa,wecom
//!
//! # real accounts (add a TLS feature of reqwest, e.g. `reqwest/rustls`, to your build), with
//! # the credentials in the environment rather than in the file:
//! WECHAT_OA_APP_ID=wx... WECHAT_OA_APP_SECRET=... WECOM_CORP_ID=ww... \
//! WECOM_CONTACT_SECRET=... WECOM_SALES_USERID=zhangsan \
//! cargo run --example wechat_channels --features wechat-oa,wecom -- examples/data/wechat_channels.real.json
//! ```
//!
//! The configuration file says, per platform, `"mode": "simulated"` or `"mode": "real"` with
//! the connector's settings (`WeChatOaConfig` + `OaAccount`, `WeComConfig` + `WeComApp` + the
//! map of WeCom userids to sales staff). `${NAME}` in the file is replaced by the environment
//! variable `NAME`, so secrets stay out of files; a missing variable is an error naming it.
//! Secrets never appear in what this program prints. See the setup sections of
//! `marketingforce::content::distribution::wechat` and `marketingforce::crm::wecom` for the
//! credentials, IP whitelist and callback URL each platform needs.

use marketingforce::core::env::Env;
use marketingforce_core::IdempotencyKey;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use marketingforce::content::distribution::wechat::{
    catalogue_entry, OaAccount, WeChatOaChannel, WeChatOaConfig,
};
use marketingforce::content::distribution::{
    ChannelCatalogue, PublicationStatus, PublishCommand, Publisher, SimulatedChannel,
};
use marketingforce::core::adapters::channel::{
    AccountStatus, ContentChannel, ContentFormat, MediaAttachment, Verification,
};
use marketingforce::core::storage::{MemoryStore, Store};
use marketingforce::core::tenant::TenantId;
use marketingforce::core::time::{Clock, SystemClock};
use marketingforce::crm::crypto::KeyRing;
use marketingforce::crm::ids::{LeadId, UserId};
use marketingforce::crm::model::Source;
use marketingforce::crm::outreach::{MessageSender, OutgoingMessage, Recipients, SimulatedSender};
use marketingforce::crm::request::CaptureRequest;
use marketingforce::crm::staff::{Role, Staff};
use marketingforce::crm::wecom::{StaticDirectory, WeCom, WeComApp, WeComClient, WeComConfig};
use marketingforce::crm::Crm;
use serde::Deserialize;

/// The Official Account side.
#[derive(Debug, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
enum OaSetup {
    Simulated,
    Real {
        #[serde(default)]
        config: Box<WeChatOaConfig>,
        account: Box<OaAccount>,
    },
}

/// The WeCom side.
#[derive(Debug, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
enum WeComSetup {
    Simulated,
    Real {
        #[serde(default)]
        config: Box<WeComConfig>,
        app: Box<WeComApp>,
        /// WeCom userid → a name for the sales staff member it is.
        #[serde(default)]
        staff: BTreeMap<String, String>,
    },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    wechat_oa: OaSetup,
    wecom: WeComSetup,
}

type Error = Box<dyn std::error::Error + Send + Sync>;

/// Replace every `${NAME}` by the environment variable `NAME`.
fn expand(text: &str) -> Result<String, Error> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find('}')
            .ok_or("an unclosed ${ in the configuration")?;
        let name = &after[..end];
        let value = std::env::var(name)
            .map_err(|_| format!("the configuration needs the environment variable {name}"))?;
        // The value goes into a JSON string: escape it.
        let encoded = serde_json::to_string(&value)?;
        out.push_str(&encoded[1..encoded.len() - 1]);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

fn load(path: &Path) -> Result<Settings, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(serde_json::from_str(&expand(&text)?)?)
}

/// A 1×1 JPEG (the cover) and PNG (a chart in the body).
const COVER_JPEG: &str = "/9j/4AAQSkZJRgABAQEASABIAAD/2wBDAP//////////////////////////////////////////////////////////////////////////////////////wgALCAABAAEBAREA/8QAFBABAAAAAAAAAAAAAAAAAAAAAP/aAAgBAQABPxA=";
const CHART_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==";

/// The content channel the configuration asks for.
fn oa_channel(
    setup: OaSetup,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tenant: &TenantId,
) -> Result<Arc<dyn ContentChannel>, Error> {
    Ok(match setup {
        OaSetup::Simulated => {
            let c = SimulatedChannel::new(catalogue_entry(), 7, clock);
            c.add_account(
                tenant,
                "acme-oa",
                AccountStatus {
                    verification: Verification::Verified,
                    suspended: None,
                },
            );
            Arc::new(c)
        }
        OaSetup::Real { config, account } => {
            let c = WeChatOaChannel::new(*config, store, clock)?;
            c.add_account(tenant, "acme-oa", *account)?;
            Arc::new(c)
        }
    })
}

/// The message sender the configuration asks for, the sales user it sends as, and a lead to
/// message.
async fn sender(
    setup: WeComSetup,
    crm: Arc<Crm>,
    keys: Arc<KeyRing>,
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    tenant: TenantId,
) -> Result<(Arc<dyn MessageSender>, UserId, Option<LeadId>), Error> {
    match setup {
        WeComSetup::Simulated => {
            let rep = UserId::new();
            let lead = crm
                .capture(
                    &tenant,
                    CaptureRequest::new(Source::WeCom)
                        .wecom_id("wmDEMO0001")
                        .name("张伟"),
                    &IdempotencyKey::from_static("demo-lead"),
                )
                .await?
                .lead();
            Ok((Arc::new(SimulatedSender::new()), rep, Some(lead)))
        }
        WeComSetup::Real { config, app, staff } => {
            let mut directory = StaticDirectory::new();
            let mut first = None;
            for (wecom_userid, name) in &staff {
                let id = UserId::new();
                let member =
                    Staff::new(id, tenant, name.clone(), Role::Salesperson, 5, clock.now());
                crm.upsert_staff(&tenant, member).await?;
                directory = directory.with(tenant, wecom_userid.clone(), id);
                first.get_or_insert(id);
            }
            let rep = first.ok_or("the wecom staff map is empty: name at least one salesperson")?;
            let client = WeComClient::new(tenant, *app, *config, store, clock)?;
            let wecom = WeCom::new(client, crm.clone(), keys, Arc::new(directory))?;
            // Bring the salespeople's contacts in, then message the first one synced.
            let report = wecom
                .sync_contacts(Some(staff.keys().cloned().collect()))
                .await?;
            println!(
                "WeCom sync: {} relations, {} new leads, {} owners set, {} failures",
                report.relations,
                report.created,
                report.owners_set,
                report.failures.len()
            );
            let lead = crm
                .all_leads(&tenant)
                .await?
                .into_iter()
                .find(|l| l.is_active())
                .map(|l| l.id);
            Ok((Arc::new(wecom), rep, lead))
        }
    }
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let path = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("examples/data/wechat_channels.simulated.json")
        });
    let settings = load(&path)?;
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let tenant = TenantId::new();

    // 1. Publish an article through the Official Account channel, simulated or real.
    let channel = oa_channel(settings.wechat_oa, store.clone(), clock.clone(), &tenant)?;
    let catalogue = ChannelCatalogue::builtin().with_channel(catalogue_entry())?;
    let publisher = Publisher::builder(
        &Env::builder(store.clone()).clock(clock.clone()).build(),
        Arc::new(catalogue),
    )
    .channel(channel)?
    .build();
    let cover = base64::engine::general_purpose::STANDARD.decode(COVER_JPEG)?;
    let article = PublishCommand {
        content_id: "xk850-guide".into(),
        version: 1,
        channel: "wechat-oa".into(),
        account: "acme-oa".into(),
        format: ContentFormat::Article,
        title: "立式加工中心选购指南".into(),
        body_html: format!(
            "<h2>选型要点</h2><p>主轴转速、刀库容量与定位精度。</p>\
             <p><img src=\"data:image/png;base64,{CHART_PNG}\" alt=\"精度对比\"></p>"
        ),
        media: vec![MediaAttachment {
            media_type: "image/jpeg".into(),
            name: "cover.jpg".into(),
            bytes: cover,
        }],
        tags: vec!["加工中心".into()],
        publish_at: None,
    };
    let publication = publisher
        .publish(
            &tenant,
            article,
            &IdempotencyKey::from_static("xk850-guide-v1"),
        )
        .await?;
    match &publication.status {
        PublicationStatus::Published(r) => println!(
            "published on {}: {} {}",
            publication.command.channel,
            r.external_id,
            r.url.as_deref().unwrap_or("")
        ),
        other => println!("publication: {other:?}"),
    }

    // 2. Message a contact through WeCom (a mass-message task), simulated or real.
    let keys = Arc::new(KeyRing::new("k1", [7; 32]));
    let crm = Arc::new(
        Crm::builder(
            &marketingforce_core::env::Env::builder(store.clone())
                .keys(keys.clone())
                .clock(clock.clone())
                .build(),
        )
        .build()?,
    );
    let (sender, rep, lead) = sender(settings.wecom, crm, keys, store, clock, tenant).await?;
    match lead {
        Some(lead) => {
            let receipt = sender
                .send(
                    &tenant,
                    &rep,
                    &Recipients::Leads(vec![lead]),
                    &OutgoingMessage::text("您好，XK-850 的选型指南已发布，欢迎查阅。"),
                    &IdempotencyKey::from_static("xk850-guide-announce"),
                )
                .await?;
            println!(
                "{} sender: {} accepted, {} refused, tasks {:?}",
                receipt.sender,
                receipt.accepted,
                receipt.refused.len(),
                receipt.task_ids
            );
        }
        None => println!("no lead to message yet"),
    }
    Ok(())
}
