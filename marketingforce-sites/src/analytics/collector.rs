//! Beacon ingestion: the wire types, the site registry, checks (size, origin, bots, signed
//! tokens), sessions and source classification, and a framework-agnostic handler.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, PoisonError, RwLock};

use chrono::Duration;
use marketingforce_core::id::IdGenerator;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::time::Clock;
use serde::{Deserialize, Serialize};

use super::bots::is_bot;
use super::geo::IpLocator;
use super::log::VisitLog;
use super::records::{ActivityRecord, PageViewRecord, VisitRecord};
use super::token::{self, Claims};
use crate::attribution::{classify, host_of, origin_of, ClientInfo, Landing};
use crate::error::{Refusal, Result, SitesError};
use crate::keys::SiteKey;
use crate::model::{Locale, Site};
use crate::render::{page_key, Variant};

/// Size and time limits of the collector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BeaconLimits {
    /// Largest start body, bytes.
    pub max_start_bytes: usize,
    /// Largest events body, bytes.
    pub max_events_bytes: usize,
    /// Most events in one beacon.
    pub max_events: usize,
    /// A page view's token is accepted this long after the page view started.
    pub token_max_age: Duration,
    /// Inactivity after which the next page view starts a new session.
    pub session_timeout: Duration,
}

impl Default for BeaconLimits {
    fn default() -> Self {
        BeaconLimits {
            max_start_bytes: 4 * 1024,
            max_events_bytes: 8 * 1024,
            max_events: 32,
            token_max_age: Duration::hours(24),
            session_timeout: Duration::minutes(30),
        }
    }
}

/// The start of a page view, as the beacon posts it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartRequest {
    /// The site id.
    pub site: String,
    /// The page key.
    pub page: String,
    /// The page's locale.
    #[serde(default)]
    pub locale: Option<Locale>,
    /// PC or mobile.
    #[serde(default)]
    pub variant: Option<Variant>,
    /// `location.href`.
    pub url: String,
    /// `document.referrer`.
    #[serde(default)]
    pub referrer: Option<String>,
    /// The visitor's random id.
    pub visitor: String,
    /// The token of the visitor's previous page view in this tab (continues the session).
    #[serde(default)]
    pub previous: Option<String>,
    /// Viewport width, px.
    #[serde(default)]
    pub width: Option<u32>,
}

/// The answer to a start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartResponse {
    /// The page view's signed token.
    pub token: String,
    /// The page view id.
    pub pageview: String,
    /// The session id.
    pub session: String,
}

/// One beacon event (values cumulative for the page view).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum BeaconEvent {
    /// Total visible time so far.
    Dwell {
        /// Milliseconds.
        visible_ms: u64,
    },
    /// Deepest scroll so far.
    Scroll {
        /// Percent of the page height.
        depth_pct: u8,
    },
    /// Page load time.
    Load {
        /// Milliseconds from navigation start to the load event.
        ms: u32,
    },
    /// A form was focused for the first time.
    FormStart {
        /// The form id.
        form: String,
    },
    /// A form was submitted successfully.
    FormSubmit {
        /// The form id.
        form: String,
    },
}

/// A beacon: the page view's token and its events.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventBatch {
    /// The token from [`StartResponse`].
    pub token: String,
    /// The events.
    pub events: Vec<BeaconEvent>,
}

#[derive(Debug)]
struct SiteEntry {
    tenant: TenantId,
    host: String,
    origins: BTreeSet<String>,
    pages: BTreeSet<String>,
    forms: BTreeSet<String>,
}

/// The sites a collector accepts beacons for, with their tenant and allowed origins.
#[derive(Debug, Default)]
pub struct SiteRegistry {
    sites: RwLock<HashMap<String, Arc<SiteEntry>>>,
}

impl SiteRegistry {
    /// An empty registry.
    pub fn new() -> SiteRegistry {
        SiteRegistry::default()
    }

    /// Accept beacons for `site` of `tenant` from the site's own origin (`base_url`) and from
    /// `extra_origins` (e.g. a preview host).
    ///
    /// # Errors
    /// A validation error when the site id is registered for another tenant or an origin is
    /// not an `http(s)://host[:port]` origin.
    pub fn register(&self, tenant: TenantId, site: &Site, extra_origins: &[&str]) -> Result<()> {
        let mut origins = BTreeSet::new();
        for o in std::iter::once(site.base_url.as_str()).chain(extra_origins.iter().copied()) {
            let origin = origin_of(o).ok_or_else(|| {
                SitesError::validation("origins", format!("{o:?} is not an origin"))
            })?;
            origins.insert(origin);
        }
        let entry = SiteEntry {
            tenant,
            host: host_of(&site.base_url).unwrap_or_default(),
            origins,
            pages: site
                .pages
                .iter()
                .map(|p| page_key(&p.slug).to_string())
                .collect(),
            forms: site.forms.iter().map(|f| f.id.clone()).collect(),
        };
        let mut sites = self.sites.write().unwrap_or_else(PoisonError::into_inner);
        if let Some(existing) = sites.get(&site.id) {
            if existing.tenant != tenant {
                return Err(SitesError::validation(
                    "site.id",
                    format!("{} belongs to another tenant", site.id),
                ));
            }
        }
        sites.insert(site.id.clone(), Arc::new(entry));
        Ok(())
    }

    fn get(&self, site: &str) -> Option<Arc<SiteEntry>> {
        self.sites
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(site)
            .cloned()
    }

    /// The tenant of a registered site.
    pub fn tenant_of(&self, site: &str) -> Option<TenantId> {
        self.get(site).map(|e| e.tenant)
    }
}

/// Which collection endpoint a request is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectEndpoint {
    /// `POST <collect>/start`.
    Start,
    /// `POST <collect>/events`.
    Events,
}

/// A collection request, as any HTTP framework can build it.
#[derive(Debug, Clone, Copy)]
pub struct CollectRequest<'a> {
    /// The endpoint.
    pub endpoint: CollectEndpoint,
    /// The raw body.
    pub body: &'a [u8],
    /// The client.
    pub client: &'a ClientInfo,
}

/// The answer to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CollectResponse {
    /// HTTP status.
    pub status: u16,
    /// `Content-Type` of the body (empty when there is none).
    pub content_type: &'static str,
    /// The body.
    pub body: Vec<u8>,
}

/// Accepts beacons: checks them, classifies sessions, and queues visit records in a
/// [`VisitLog`] (flushed by group commit).
///
/// Refusals: a body over the limit (`oversized`), not the expected JSON (`malformed`), an
/// origin that is not the site's (`foreign_origin`), a bot user agent (`bot`), an unknown
/// site or page (`unknown_site`), and for events a token that does not verify
/// (`bad_signature`), has expired (`expired`) or is for another site (`wrong_scope`).
#[derive(Debug)]
pub struct Collector {
    registry: Arc<SiteRegistry>,
    key: SiteKey,
    clock: Arc<dyn Clock>,
    ids: Arc<dyn IdGenerator>,
    locator: Option<Arc<dyn IpLocator>>,
    log: Arc<VisitLog>,
    limits: BeaconLimits,
    durable: bool,
}

fn refuse(r: Refusal) -> SitesError {
    SitesError::BeaconRefused(r)
}

fn valid_visitor(v: &str) -> bool {
    (8..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl Collector {
    /// A collector for the sites in `registry`, signing tokens with `key` and writing to `log`.
    pub fn new(
        registry: Arc<SiteRegistry>,
        key: SiteKey,
        clock: Arc<dyn Clock>,
        ids: Arc<dyn IdGenerator>,
        log: Arc<VisitLog>,
    ) -> Collector {
        Collector {
            registry,
            key,
            clock,
            ids,
            locator: None,
            log,
            limits: BeaconLimits::default(),
            durable: false,
        }
    }

    /// Locate client regions with `locator`.
    #[must_use]
    pub fn with_locator(mut self, locator: Arc<dyn IpLocator>) -> Collector {
        self.locator = Some(locator);
        self
    }

    /// Use other limits.
    #[must_use]
    pub fn with_limits(mut self, limits: BeaconLimits) -> Collector {
        self.limits = limits;
        self
    }

    /// Commit every request's records before answering it (default: group commit when the
    /// log's batch fills, or on [`flush`](Self::flush)).
    #[must_use]
    pub fn durable(mut self, durable: bool) -> Collector {
        self.durable = durable;
        self
    }

    /// The log.
    pub fn log(&self) -> &Arc<VisitLog> {
        &self.log
    }

    /// The registry.
    pub fn registry(&self) -> &Arc<SiteRegistry> {
        &self.registry
    }

    fn check_origin(&self, entry: &SiteEntry, client: &ClientInfo, required: bool) -> Result<()> {
        match client.origin.as_deref().and_then(origin_of) {
            Some(o) if entry.origins.contains(&o) => Ok(()),
            None if !required => Ok(()),
            _ => Err(refuse(Refusal::ForeignOrigin)),
        }
    }

    /// Check a page-view start and build its record and answer (no I/O).
    ///
    /// # Errors
    /// [`SitesError::BeaconRefused`] with the reason.
    pub fn accept_start(
        &self,
        body: &[u8],
        client: &ClientInfo,
    ) -> Result<(TenantId, VisitRecord, StartResponse)> {
        if body.len() > self.limits.max_start_bytes {
            return Err(refuse(Refusal::Oversized));
        }
        let req: StartRequest =
            serde_json::from_slice(body).map_err(|_| refuse(Refusal::Malformed))?;
        let entry = self
            .registry
            .get(&req.site)
            .ok_or(refuse(Refusal::UnknownSite))?;
        self.check_origin(&entry, client, true)?;
        if is_bot(client.user_agent.as_deref()) {
            return Err(refuse(Refusal::Bot));
        }
        let article = req
            .page
            .strip_prefix("articles/")
            .is_some_and(crate::validate::is_slug);
        if !(entry.pages.contains(&req.page) || article) || !valid_visitor(&req.visitor) {
            return Err(refuse(Refusal::Malformed));
        }
        if req.url.len() > 2048 || req.referrer.as_ref().is_some_and(|r| r.len() > 2048) {
            return Err(refuse(Refusal::Oversized));
        }
        let now = self.clock.now();
        let variant = req.variant.unwrap_or(Variant::Pc);
        let previous = req.previous.as_deref().and_then(|t| {
            token::verify(&self.key, t, now, self.limits.token_max_age)
                .ok()
                .filter(|c| {
                    c.site == req.site
                        && c.tenant == entry.tenant
                        && c.visitor == req.visitor
                        && now - c.at <= self.limits.session_timeout
                })
        });
        let pageview = format!("pv-{}", self.ids.next_uuid().simple());
        let claims = match previous {
            Some(p) => Claims {
                pageview: pageview.clone(),
                page: req.page.clone(),
                variant,
                at: now,
                ..p
            },
            None => {
                let landing = Landing::parse(&req.url);
                let source = classify(&landing, req.referrer.as_deref(), &entry.host);
                let region = client
                    .ip
                    .and_then(|ip| self.locator.as_ref()?.locate(ip))
                    .map(|r| r.key());
                Claims {
                    tenant: entry.tenant,
                    site: req.site.clone(),
                    session: format!("ses-{}", self.ids.next_uuid().simple()),
                    pageview: pageview.clone(),
                    visitor: req.visitor.clone(),
                    page: req.page.clone(),
                    variant,
                    session_start: now,
                    at: now,
                    landing,
                    source,
                    region,
                }
            }
        };
        let record = VisitRecord::PageView(PageViewRecord {
            site: claims.site.clone(),
            pageview: pageview.clone(),
            session: claims.session.clone(),
            visitor: claims.visitor.clone(),
            new_session: claims.session_start == now,
            page: claims.page.clone(),
            locale: req.locale.unwrap_or(Locale::ZhCn),
            variant,
            source: claims.source.clone(),
            region: claims.region.clone(),
            at: now,
        });
        let response = StartResponse {
            token: token::issue(&self.key, &claims),
            pageview,
            session: claims.session,
        };
        Ok((entry.tenant, record, response))
    }

    /// Check a beacon and build its record (no I/O).
    ///
    /// # Errors
    /// [`SitesError::BeaconRefused`] with the reason.
    pub fn accept_events(
        &self,
        body: &[u8],
        client: &ClientInfo,
    ) -> Result<(TenantId, VisitRecord)> {
        if body.len() > self.limits.max_events_bytes {
            return Err(refuse(Refusal::Oversized));
        }
        let batch: EventBatch =
            serde_json::from_slice(body).map_err(|_| refuse(Refusal::Malformed))?;
        if batch.events.len() > self.limits.max_events {
            return Err(refuse(Refusal::Oversized));
        }
        let now = self.clock.now();
        let claims = token::verify(&self.key, &batch.token, now, self.limits.token_max_age)
            .map_err(refuse)?;
        let entry = self
            .registry
            .get(&claims.site)
            .ok_or(refuse(Refusal::UnknownSite))?;
        if entry.tenant != claims.tenant {
            return Err(refuse(Refusal::WrongScope));
        }
        self.check_origin(&entry, client, false)?;
        let mut a = ActivityRecord {
            site: claims.site,
            pageview: claims.pageview,
            at: now,
            visible_ms: None,
            scroll_pct: None,
            load_ms: None,
            forms_started: Vec::new(),
            forms_submitted: Vec::new(),
        };
        // Bounded by the page view's age: nobody was on the page longer than that.
        let age_ms = u64::try_from((now - claims.at).num_milliseconds()).unwrap_or(0) + 60_000;
        for e in batch.events {
            match e {
                BeaconEvent::Dwell { visible_ms } => {
                    a.visible_ms = Some(a.visible_ms.unwrap_or(0).max(visible_ms.min(age_ms)));
                }
                BeaconEvent::Scroll { depth_pct } => {
                    a.scroll_pct = Some(a.scroll_pct.unwrap_or(0).max(depth_pct.min(100)));
                }
                BeaconEvent::Load { ms } => a.load_ms = Some(ms.min(120_000)),
                BeaconEvent::FormStart { form } | BeaconEvent::FormSubmit { form }
                    if !entry.forms.contains(&form) =>
                {
                    return Err(refuse(Refusal::Malformed));
                }
                BeaconEvent::FormStart { form } => {
                    if !a.forms_started.contains(&form) {
                        a.forms_started.push(form);
                    }
                }
                BeaconEvent::FormSubmit { form } => {
                    if !a.forms_submitted.contains(&form) {
                        a.forms_submitted.push(form);
                    }
                }
            }
        }
        Ok((entry.tenant, VisitRecord::Activity(a)))
    }

    async fn queue(&self, tenant: TenantId, record: &VisitRecord) -> Result<()> {
        let due = self.log.push(tenant, serde_json::to_vec(record)?);
        if due || self.durable {
            self.log.flush().await?;
        }
        Ok(())
    }

    /// Start a page view: check, classify, queue the record, answer with a token.
    ///
    /// # Errors
    /// [`SitesError::BeaconRefused`]; storage errors when a flush was due.
    pub async fn start(&self, body: &[u8], client: &ClientInfo) -> Result<StartResponse> {
        let (tenant, record, response) = self.accept_start(body, client)?;
        self.queue(tenant, &record).await?;
        Ok(response)
    }

    /// Take a beacon of events.
    ///
    /// # Errors
    /// [`SitesError::BeaconRefused`]; storage errors when a flush was due.
    pub async fn events(&self, body: &[u8], client: &ClientInfo) -> Result<()> {
        let (tenant, record) = self.accept_events(body, client)?;
        self.queue(tenant, &record).await
    }

    /// Commit the queued records.
    ///
    /// # Errors
    /// Storage errors (the records stay queued).
    pub async fn flush(&self) -> Result<usize> {
        self.log.flush().await
    }

    /// Handle a request from any HTTP framework: 200 with the token for a start, 204 for
    /// accepted events and for bots (no token, so their pages send nothing more), 400 / 403 /
    /// 413 with `{"error": "<reason>"}` for refusals, 503 when the store failed.
    pub async fn handle(&self, req: CollectRequest<'_>) -> CollectResponse {
        let result = match req.endpoint {
            CollectEndpoint::Start => self
                .start(req.body, req.client)
                .await
                .map(|r| serde_json::to_vec(&r).unwrap_or_default()),
            CollectEndpoint::Events => self.events(req.body, req.client).await.map(|()| Vec::new()),
        };
        match result {
            Ok(body) if body.is_empty() => CollectResponse {
                status: 204,
                content_type: "",
                body,
            },
            Ok(body) => CollectResponse {
                status: 200,
                content_type: "application/json",
                body,
            },
            Err(SitesError::BeaconRefused(Refusal::Bot)) => CollectResponse {
                status: 204,
                content_type: "",
                body: Vec::new(),
            },
            Err(SitesError::BeaconRefused(r)) => {
                let status = match r {
                    Refusal::Oversized => 413,
                    Refusal::ForeignOrigin | Refusal::BadSignature | Refusal::WrongScope => 403,
                    _ => 400,
                };
                CollectResponse {
                    status,
                    content_type: "application/json",
                    body: format!("{{\"error\":\"{}\"}}", r.as_str()).into_bytes(),
                }
            }
            Err(_) => CollectResponse {
                status: 503,
                content_type: "application/json",
                body: br#"{"error":"unavailable"}"#.to_vec(),
            },
        }
    }
}
