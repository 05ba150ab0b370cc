//! Capture (single, batch, CSV import, T Cloud inquiries), automatic and manual merges, and
//! un-merge.

use chrono::{DateTime, Utc};
use marketingforce_core::storage::{decode_record, Entity, Expect, Versioned};
use marketingforce_core::telemetry::operation;
use marketingforce_core::tenant::TenantId;
use marketingforce_core::IdempotencyKey;
use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::{load_holder, Crm, CrmConfig, TenantState, Work, WorkLead, WorkVault};
use crate::crypto::BlindKind;
use crate::dedupe::{pair_of, Decision, MatchKeys, MatchRule, Scored};
use crate::error::{CrmError, Result};
use crate::events::{DuplicateProposed, ReviewFact};
use crate::gate::CaptureAllowance;
use crate::identity::{Email, IdDocument, MobileNumber};
use crate::ids::LeadId;
use crate::lifecycle::{LeadEvent, LeadEventKind};
use crate::matching::weights::Weights;
use crate::model::{
    Actor, Consent, ContactPii, Contribution, Lead, LeadStatus, MatchEvidence, PossibleDuplicate,
    ReviewStatus, Source, Stage, StageSet, Touch, VaultRecord,
};
use crate::par;
use crate::profile::apply_tags;
use crate::request::{CaptureRequest, Inquiry, NormalisedCapture};
use crate::survivorship::{pick, Field};
use crate::telemetry::{phase, Phase};

/// What a capture did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "outcome")]
pub enum CaptureOutcome {
    /// A new lead.
    Created {
        /// It.
        lead: LeadId,
    },
    /// Joined an existing lead (and merged any others it bridged).
    Merged {
        /// The surviving lead.
        lead: LeadId,
        /// How it matched.
        matched_by: MatchRule,
        /// Other leads merged into the survivor by this capture.
        absorbed: Vec<LeadId>,
    },
    /// The same values from the same source were already there: nothing written.
    Unchanged {
        /// The lead holding them.
        lead: LeadId,
    },
}

impl CaptureOutcome {
    /// The lead the capture ended up in.
    pub fn lead(&self) -> LeadId {
        match self {
            CaptureOutcome::Created { lead }
            | CaptureOutcome::Merged { lead, .. }
            | CaptureOutcome::Unchanged { lead } => *lead,
        }
    }
}

/// A row that was not captured: its line (1-based; for CSV files, the file line) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RowError {
    /// Line.
    pub line: usize,
    /// The offending field, when one is to blame.
    pub field: Option<String>,
    /// Why.
    pub reason: String,
}

impl RowError {
    fn of(line: usize, e: &CrmError) -> RowError {
        RowError {
            line,
            field: e.field().map(str::to_string),
            reason: e.to_string(),
        }
    }
}

/// The result of one row of a batch.
pub type RowResult = std::result::Result<CaptureOutcome, RowError>;

/// What an import did: counts, and each row's result in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ImportReport {
    /// New leads.
    pub created: usize,
    /// Rows merged into existing leads.
    pub merged: usize,
    /// Rows already present (re-import).
    pub unchanged: usize,
    /// Rows rejected, each in `errors`.
    pub rejected: usize,
    /// The rejected rows.
    pub errors: Vec<RowError>,
}

impl ImportReport {
    fn add(&mut self, r: &RowResult) {
        match r {
            Ok(CaptureOutcome::Created { .. }) => self.created += 1,
            Ok(CaptureOutcome::Merged { .. }) => self.merged += 1,
            Ok(CaptureOutcome::Unchanged { .. }) => self.unchanged += 1,
            Err(e) => {
                self.rejected += 1;
                self.errors.push(e.clone());
            }
        }
    }
}

/// A row of a batch or an import: its line, and its request or why it could not be read.
/// Borrowed: a batch captures the caller's requests without copying them.
type Row<'a> = (usize, std::result::Result<&'a CaptureRequest, &'a CrmError>);

/// Stored leads and vaults a batch decodes and opens per thread at least (see
/// [`par::map_heavy`]).
const VAULTS_PER_THREAD: usize = 64;

/// Rows per storage batch of an import (group commit).
const IMPORT_CHUNK: usize = 2_000;

const CSV_COLUMNS: &[&str] = &[
    "name",
    "mobile",
    "phone",
    "email",
    "wecom_id",
    "company",
    "region",
    "product",
    "campaign",
    "source",
    "platform",
    "given_name",
    "family_name",
    "date_of_birth",
    "id_document",
    "postcode",
    "address",
    "wechat_unionid",
    "wechat_openid",
    "company_code",
];

/// The columns that can identify a person on their own or with a name.
const CSV_IDENTITY_COLUMNS: &[&str] = &[
    "mobile",
    "phone",
    "email",
    "wecom_id",
    "name",
    "given_name",
    "family_name",
    "id_document",
    "wechat_unionid",
    "wechat_openid",
];

impl Crm {
    /// Capture one lead; dedupe decides whether it creates a lead or joins one.
    ///
    /// A `captured_at` more than the service's maximum clock skew (5 minutes by default, see
    /// [`CrmBuilder::max_clock_skew`](crate::CrmBuilder::max_clock_skew)) ahead of its clock,
    /// or before 2000-01-01, is refused on `captured_at`: it would otherwise win the
    /// most-recent survivorship rule forever.
    ///
    /// Retrying with the same `idempotency_key` returns the first outcome and writes nothing.
    ///
    /// # Errors
    /// A validation error naming the field, [`CrmError::NoIdentity`], or storage errors.
    #[operation("crm.capture", tenant = tenant, key = idempotency_key, observe = crate::telemetry::captured)]
    pub async fn capture(
        &self,
        tenant: &TenantId,
        request: CaptureRequest,
        idempotency_key: &IdempotencyKey,
    ) -> Result<CaptureOutcome> {
        let idempotency_key = idempotency_key.as_str();
        // Another process capturing the same tenant meanwhile makes the commit stale: the
        // capture is decided again on the rebuilt state (merging into that process's lead).
        self.retry_stale(|| self.capture_once(tenant, &request, idempotency_key))
            .await
    }

    async fn capture_once(
        &self,
        tenant: &TenantId,
        request: &CaptureRequest,
        idempotency_key: &str,
    ) -> Result<CaptureOutcome> {
        let normalised = request.normalise()?;
        self.check_client_time("captured_at", normalised.captured_at)?;
        self.check_birth_date(&normalised)?;
        let idem = self.idempotent(tenant, idempotency_key, &("capture", &request))?;
        if let Some(prev) = self.replayed::<CaptureOutcome>(tenant, &idem).await? {
            return Ok(prev);
        }
        let allowance = self.gate.admit(tenant).await?;
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::NoIdentity)?;
        let txn = Crm::begin(st);
        let mut work = Work::default();
        let mut outcomes = match self
            .apply_captures(tenant, st, vec![(1, normalised)], &mut work)
            .await
            .and_then(|o| within_allowance(st, &allowance, o))
        {
            Ok(o) => o,
            Err(e) => {
                Crm::abort(st, txn);
                return Err(e);
            }
        };
        let live = created_live(st, &outcomes);
        let outcome = outcomes
            .pop()
            .map(|(_, o)| o)
            .ok_or_else(|| CrmError::validation("request", "produced no outcome"))?;
        let response = serde_json::to_vec(&outcome)?;
        let finished = self
            .finish(tenant, st, txn, work, Some((&idem, response)))
            .await?;
        drop(guard);
        match finished {
            None => {
                self.report_stored(tenant, live).await;
                Ok(outcome)
            }
            Some(stored) => Ok(serde_json::from_slice(&stored)?),
        }
    }

    /// Capture an inquiry handed over by T Cloud (source `t_cloud_inquiry`, with its campaign);
    /// dedupe runs on hand-off.
    ///
    /// # Errors
    /// As [`capture`](Self::capture).
    #[operation("crm.capture_inquiry", tenant = tenant, key = idempotency_key)]
    pub async fn capture_inquiry(
        &self,
        tenant: &TenantId,
        inquiry: Inquiry,
        idempotency_key: &IdempotencyKey,
    ) -> Result<CaptureOutcome> {
        self.capture(tenant, CaptureRequest::from(inquiry), idempotency_key)
            .await
    }

    /// Capture many leads in one storage batch. Bad rows are reported (line = position + 1)
    /// and the good rows go in.
    ///
    /// A batch of 512 rows or more has its per-row work (normalising, blind indexes, encoding,
    /// sealing, freeing the working copies, the idempotency fingerprint) spread over up to 8
    /// threads, 256 rows or more each: the calling one and scoped threads that end with the
    /// call. Matching and the commit run on the calling task. The stored leads the batch joins
    /// are read in one round trip ([`Store::get_many`]) and their vaults opened over the
    /// threads, 64 or more each.
    ///
    /// [`Store::get_many`]: marketingforce_core::storage::Store::get_many
    ///
    /// # Errors
    /// Storage errors (then nothing of the batch is written).
    #[operation("crm.capture_batch", tenant = tenant, key = idempotency_key, observe = crate::telemetry::captured_rows)]
    pub async fn capture_batch(
        &self,
        tenant: &TenantId,
        requests: &[CaptureRequest],
        idempotency_key: &IdempotencyKey,
    ) -> Result<Vec<RowResult>> {
        let idempotency_key = idempotency_key.as_str();
        let rows: Vec<Row<'_>> = requests
            .iter()
            .enumerate()
            .map(|(i, r)| (i + 1, Ok(r)))
            .collect();
        self.capture_rows(tenant, rows, false, idempotency_key)
            .await
    }

    /// `strict`: a row with too little identity to match is refused whatever its source
    /// (file imports), instead of captured unmatched.
    async fn capture_rows(
        &self,
        tenant: &TenantId,
        rows: Vec<Row<'_>>,
        strict: bool,
        idempotency_key: &str,
    ) -> Result<Vec<RowResult>> {
        self.retry_stale(|| self.capture_rows_once(tenant, &rows, strict, idempotency_key))
            .await
    }

    async fn capture_rows_once(
        &self,
        tenant: &TenantId,
        rows: &[Row<'_>],
        strict: bool,
        idempotency_key: &str,
    ) -> Result<Vec<RowResult>> {
        let request: Vec<Option<&CaptureRequest>> = rows.iter().map(|(_, r)| r.ok()).collect();
        let idem = phase(Phase::Fingerprint, rows.len())
            .in_scope(|| self.idempotent_rows(tenant, idempotency_key, "batch", &request))?;
        if let Some(prev) = self.replayed::<Vec<RowResult>>(tenant, &idem).await? {
            return Ok(prev);
        }
        let mut results: Vec<Option<RowResult>> = vec![None; rows.len()];
        let mut good = Vec::with_capacity(rows.len());
        let checked = phase(Phase::Normalise, rows.len()).in_scope(|| {
            par::map(rows, |(_, r)| {
                r.ok().map(|r| {
                    r.normalise().and_then(|n| {
                        if strict && n.unmatched {
                            return Err(CrmError::NoIdentity);
                        }
                        self.check_client_time("captured_at", n.captured_at)?;
                        self.check_birth_date(&n)?;
                        Ok(n)
                    })
                })
            })
        });
        for (i, ((line, r), normalised)) in rows.iter().zip(checked).enumerate() {
            let line = *line;
            let (Ok(_), Some(normalised)) = (r, normalised) else {
                if let (Err(e), Some(slot)) = (r, results.get_mut(i)) {
                    *slot = Some(Err(RowError::of(line, e)));
                }
                continue;
            };
            match normalised {
                Ok(n) => good.push((i, line, n)),
                Err(e) => {
                    if let Some(slot) = results.get_mut(i) {
                        *slot = Some(Err(RowError::of(line, &e)));
                    }
                }
            }
        }
        let allowance = self.gate.admit(tenant).await?;
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::NoIdentity)?;
        let txn = Crm::begin(st);
        let mut work = Work::default();
        let positions: Vec<usize> = good.iter().map(|(i, _, _)| *i).collect();
        let applied = self
            .apply_captures(
                tenant,
                st,
                good.into_iter().map(|(_, l, n)| (l, n)).collect(),
                &mut work,
            )
            .await
            .and_then(|o| within_allowance(st, &allowance, o));
        let outcomes = match applied {
            Ok(o) => o,
            Err(e) => {
                Crm::abort(st, txn);
                return Err(e);
            }
        };
        for (pos, (_, o)) in positions.into_iter().zip(outcomes) {
            if let Some(slot) = results.get_mut(pos) {
                *slot = Some(Ok(o));
            }
        }
        let results: Vec<RowResult> = results.into_iter().flatten().collect();
        let live = results
            .iter()
            .any(|r| matches!(r, Ok(CaptureOutcome::Created { .. })))
            .then(|| st.engine.live_count() as u64);
        let response = serde_json::to_vec(&results)?;
        let finished = self
            .finish(tenant, st, txn, work, Some((&idem, response)))
            .await?;
        drop(guard);
        match finished {
            None => {
                self.report_stored(tenant, live).await;
                Ok(results)
            }
            Some(stored) => Ok(serde_json::from_slice(&stored)?),
        }
    }

    /// Refuse a date of birth after today (service clock).
    fn check_birth_date(&self, n: &NormalisedCapture) -> Result<()> {
        match n.identity.date_of_birth {
            Some(d) if d > self.clock.now().date_naive() => {
                Err(CrmError::validation("date_of_birth", "is in the future"))
            }
            _ => Ok(()),
        }
    }

    /// Tell the gate how many live leads the tenant keeps after a capture that created some.
    /// The capture happened: a failure here is not its failure (the next capture reports the
    /// level again).
    async fn report_stored(&self, tenant: &TenantId, live: Option<u64>) {
        if let Some(live) = live {
            let _ = self.gate.stored(tenant, live).await;
        }
    }

    /// Import a CSV file (UTF-8, header row). Known columns: `name, mobile, phone, email,
    /// wecom_id, company, region, product` (`;`-separated), `campaign, source, platform,
    /// given_name, family_name, date_of_birth` (`YYYY-MM-DD`), `id_document, postcode,
    /// address, wechat_unionid, wechat_openid, company_code` — the same fields as
    /// [`CaptureRequest`], validated the same way. A row's source is `default_source` unless
    /// its `source` column says otherwise. Imports always require an identity (a mobile,
    /// phone, email, WeCom, WeChat or ID document, or a name with a company, date of birth,
    /// postcode or address — see [`Source::requires_identity`]): a row with less is rejected
    /// with `no identity`, whatever its source column, rather than kept unmatched.
    /// Rows are committed in chunks; each chunk is idempotent under `file_key`, and a re-import
    /// of the same rows under any key creates nothing new (identical captures are recognised).
    ///
    /// Each rejected row is reported with the file line its record starts on (LF, CRLF or CR
    /// line ends; a quoted cell spanning lines counts them all) and a reason that names the
    /// field and the rule, never the value: reports are stored as the chunk's idempotency
    /// response and end up in logs. Free-text cells that start like a spreadsheet formula are
    /// stored with a `'` in front (see `csv_row`).
    ///
    /// # Errors
    /// A validation error on `header` when the header is unreadable or has no identity column;
    /// storage errors.
    #[operation("crm.import_csv", tenant = tenant)]
    pub async fn import_csv(
        &self,
        tenant: &TenantId,
        csv_text: &str,
        default_source: Source,
        file_key: &IdempotencyKey,
    ) -> Result<ImportReport> {
        let file_key = file_key.as_str();
        let mut reader = csv::ReaderBuilder::new()
            .flexible(true)
            .trim(csv::Trim::All)
            .from_reader(csv_text.as_bytes());
        let header: Vec<String> = reader
            .headers()
            .map_err(|e| CrmError::validation("header", csv_error_reason(&e)))?
            .iter()
            .map(|h| h.trim_start_matches('\u{feff}').trim().to_lowercase())
            .collect();
        // The column is named by position, not quoted: a file without a header row puts its
        // first lead's name and mobile here.
        if let Some(bad) = header
            .iter()
            .position(|h| !CSV_COLUMNS.contains(&h.as_str()))
        {
            return Err(CrmError::validation(
                "header",
                format!(
                    "column {} is not a known column (known: {})",
                    bad + 1,
                    CSV_COLUMNS.join(", ")
                ),
            ));
        }
        if !header
            .iter()
            .any(|h| CSV_IDENTITY_COLUMNS.contains(&h.as_str()))
        {
            return Err(CrmError::validation("header", "no identity column"));
        }
        let mut rows = Vec::new();
        let mut lines = LineCounter::new(csv_text);
        for rec in reader.records() {
            let (line, parsed) = match rec {
                Ok(r) => {
                    let line = r.position().map_or(0, |p| lines.line_at(p.byte()));
                    (line, Self::csv_row(&header, &r, default_source))
                }
                Err(e) => {
                    let line = e.position().map_or(0, |p| lines.line_at(p.byte()));
                    (line, Err(CrmError::validation("row", csv_error_reason(&e))))
                }
            };
            rows.push((line, parsed));
        }
        let mut report = ImportReport::default();
        let mut chunk_no = 0;
        while !rows.is_empty() {
            let rest = rows.split_off(rows.len().min(IMPORT_CHUNK));
            let chunk = std::mem::replace(&mut rows, rest);
            let lines: Vec<usize> = chunk.iter().map(|(l, _)| *l).collect();
            let borrowed: Vec<Row<'_>> = chunk.iter().map(|(l, r)| (*l, r.as_ref())).collect();
            let results = self
                .capture_rows(
                    tenant,
                    borrowed,
                    true,
                    &format!("import:{file_key}:{chunk_no}"),
                )
                .await?;
            for (r, line) in results.into_iter().zip(lines) {
                let r = r.map_err(|mut e| {
                    e.line = line;
                    e
                });
                report.add(&r);
            }
            chunk_no += 1;
        }
        Ok(report)
    }

    /// One CSV record as a capture request.
    ///
    /// The CRM offers no CSV export, so formula injection (OWASP "CSV Injection") is stopped on
    /// the way in: a free-text cell stored from a file — `name`, `company`, `region`,
    /// `campaign`, `platform` and each `product` — that starts with `=`, `+`, `-`, `@`, a tab
    /// or a carriage return is stored with a single quote in front (see [`neutralise_formula`]),
    /// so a spreadsheet that later opens any export of it shows text instead of running a
    /// formula. Structured fields cannot carry one once validated (mobiles and phones are
    /// digits, WeCom ids are `[A-Za-z0-9_-]`, the source is a name from a list), except email,
    /// whose local part may contain `=`, `|` and `!`: an email starting with a formula character
    /// is refused on `email`.
    fn csv_row(
        header: &[String],
        rec: &csv::StringRecord,
        default_source: Source,
    ) -> Result<CaptureRequest> {
        if rec.len() != header.len() {
            return Err(CrmError::validation(
                "row",
                format!("{} fields, the header has {}", rec.len(), header.len()),
            ));
        }
        let mut r = CaptureRequest::new(default_source);
        for (h, v) in header.iter().zip(rec.iter()) {
            if v.is_empty() {
                continue;
            }
            let text = || Some(neutralise_formula(v));
            match h.as_str() {
                "name" => r.name = text(),
                "mobile" => r.mobile = Some(v.to_string()),
                "phone" => r.phone = Some(v.to_string()),
                "email" => {
                    if starts_like_formula(v) {
                        return Err(CrmError::validation(
                            "email",
                            "starts with a formula character (=, +, -, @)",
                        ));
                    }
                    r.email = Some(v.to_string());
                }
                "wecom_id" => r.wecom_id = Some(v.to_string()),
                "company" => r.company = text(),
                "region" => r.region = text(),
                "product" => {
                    r.product_interest = v
                        .split(';')
                        .map(str::trim)
                        .filter(|s| !s.is_empty())
                        .map(neutralise_formula)
                        .collect();
                }
                "campaign" => r.campaign = text(),
                "source" => r.source = Source::parse(v)?,
                "platform" => r.platform = text(),
                "given_name" => r.given_name = text(),
                "family_name" => r.family_name = text(),
                "address" => r.address = text(),
                "date_of_birth" => r.date_of_birth = Some(v.to_string()),
                "id_document" => r.id_document = Some(v.to_string()),
                "postcode" => r.postcode = Some(v.to_string()),
                "wechat_unionid" => r.wechat_unionid = Some(v.to_string()),
                "wechat_openid" => r.wechat_openid = Some(v.to_string()),
                "company_code" => r.company_code = Some(v.to_string()),
                _ => {}
            }
        }
        Ok(r)
    }

    /// Apply normalised captures to the engine and `work`.
    async fn apply_captures(
        &self,
        tenant: &TenantId,
        st: &mut TenantState,
        rows: Vec<(usize, NormalisedCapture)>,
        work: &mut Work,
    ) -> Result<Vec<(usize, CaptureOutcome)>> {
        let indexer = self.tenant_indexer(tenant)?;
        let cfg = st.config.clone();
        let now = self.clock.now();
        // First the engine decides every row, in order (a row may join a lead an earlier row
        // of the batch created); then the existing leads the decisions join or absorb are read
        // at once, with their vaults; then the rows are applied in order.
        let keys = phase(Phase::MatchKeys, rows.len()).in_scope(|| {
            par::map(&rows, |(_, n)| {
                MatchKeys::of(&n.identity, n.source.as_str(), &indexer)
            })
        });
        let engine = &mut st.engine;
        let decided: Vec<(usize, NormalisedCapture, DateTime<Utc>, Scored)> =
            phase(Phase::Engine, rows.len()).in_scope(|| {
                rows.into_iter()
                    .zip(keys)
                    .map(|((line, n), keys)| {
                        let at = n.captured_at.unwrap_or(now);
                        let ids = self.ids.clone();
                        let scored = engine.ingest_scored(&keys, || LeadId::generate(ids.as_ref()));
                        (line, n, at, scored)
                    })
                    .collect()
            });
        self.prefetch_joined(tenant, work, decided.iter().map(|(_, _, _, s)| &s.decision))
            .instrument(phase(Phase::Prefetch, decided.len()))
            .await?;
        let applying = phase(Phase::Apply, decided.len());
        self.apply_decided(tenant, &cfg, st.engine.weights(), work, decided)
            .instrument(applying)
            .await
    }

    /// Apply the engine's `decided` rows to the working copies in `work`, in order: proposals
    /// for the review queue, new leads with their vaults, and joins (absorbing the leads a
    /// capture bridges). `weights` explain the match weights.
    async fn apply_decided(
        &self,
        tenant: &TenantId,
        cfg: &CrmConfig,
        weights: &Weights,
        work: &mut Work,
        decided: Vec<(usize, NormalisedCapture, DateTime<Utc>, Scored)>,
    ) -> Result<Vec<(usize, CaptureOutcome)>> {
        let mut out = Vec::with_capacity(decided.len());
        for (line, n, at, scored) in decided {
            let lead_of_capture = scored.decision.lead();
            for p in &scored.proposals {
                let (a, b) = pair_of(lead_of_capture, p.lead);
                let explanation = weights.explain_levels(&p.levels);
                work.extra.put_entity(
                    tenant,
                    &PossibleDuplicate {
                        tenant: *tenant,
                        a,
                        b,
                        match_weight: p.weight,
                        explanation,
                        status: ReviewStatus::Pending,
                        proposed_at: at,
                        decided_at: None,
                        decided_by: None,
                    },
                    Expect::Absent,
                )?;
                work.reviews.push(ReviewFact::Proposed(DuplicateProposed {
                    a,
                    b,
                    match_weight: p.weight,
                }));
            }
            let evidence: Vec<(LeadId, MatchEvidence)> = scored
                .fuzzy
                .iter()
                .map(|(l, levels)| {
                    (
                        *l,
                        MatchEvidence {
                            absorbed: (*l != lead_of_capture).then_some(*l),
                            rule: MatchRule::Fuzzy.as_str().to_string(),
                            at,
                            explanation: weights.explain_levels(levels),
                        },
                    )
                })
                .collect();
            let outcome = match scored.decision {
                Decision::Unchanged { lead } => CaptureOutcome::Unchanged { lead },
                Decision::New { lead } => {
                    let mut l = self.new_lead(tenant, lead, &n, at);
                    l.unmatched = n.unmatched;
                    work.insert_new(l);
                    self.after_capture(cfg, work, lead, &n, at, true, None)?;
                    // Last: the capture's identity moves into the vault.
                    work.vaults.insert(
                        lead,
                        WorkVault::Put(
                            ContactPii {
                                contributions: vec![Contribution {
                                    origin: lead,
                                    source: n.source,
                                    at,
                                    identity: n.identity,
                                }],
                            },
                            None,
                        ),
                    );
                    CaptureOutcome::Created { lead }
                }
                Decision::Joined { lead, rule, merged } => {
                    self.load_work(tenant, work, &lead).await?;
                    let mut absorbed = Vec::new();
                    for (m, how) in merged {
                        self.absorb(
                            cfg,
                            tenant,
                            work,
                            lead,
                            m,
                            how.as_str(),
                            &Actor::system("capture"),
                            at,
                        )
                        .await?;
                        absorbed.push(m);
                    }
                    {
                        let l = work.lead_mut(&lead)?;
                        if l.stage.is_customer() {
                            l.repeat_inquiries += 1;
                        }
                        l.touches.push(touch_of(&n, lead, at));
                        l.identity = l.identity.union(n.identity.presence());
                        for p in &n.product_interest {
                            if !l.product_interest.contains(p) {
                                l.product_interest.push(p.clone());
                            }
                        }
                    }
                    work.lead_mut(&lead)?
                        .match_evidence
                        .extend(evidence.into_iter().map(|(_, e)| e));
                    self.after_capture(cfg, work, lead, &n, at, false, Some(rule))?;
                    // Last: the capture's identity moves into the vault.
                    self.vault_work(tenant, work, &lead)
                        .await?
                        .contributions
                        .push(Contribution {
                            origin: lead,
                            source: n.source,
                            at,
                            identity: n.identity,
                        });
                    CaptureOutcome::Merged {
                        lead,
                        matched_by: rule,
                        absorbed,
                    }
                }
            };
            out.push((line, outcome));
        }
        Ok(out)
    }

    /// Read into `work`, in one round trip each, the stored leads and vaults that `decisions`
    /// join or absorb (leads the same decisions create are new: there is nothing to read).
    /// What is read is what [`load_work`](Crm::load_work) and [`vault_work`](Crm::vault_work)
    /// would read one by one, at the versions the commit then expects.
    async fn prefetch_joined<'d>(
        &self,
        tenant: &TenantId,
        work: &mut Work,
        decisions: impl Iterator<Item = &'d Decision>,
    ) -> Result<()> {
        let mut created = std::collections::HashSet::new();
        let mut wanted = std::collections::BTreeSet::new();
        for d in decisions {
            match d {
                Decision::New { lead } => {
                    created.insert(*lead);
                }
                Decision::Joined { lead, merged, .. } => {
                    for id in std::iter::once(lead).chain(merged.iter().map(|(m, _)| m)) {
                        if !created.contains(id) && !work.leads.contains_key(id) {
                            wanted.insert(*id);
                        }
                    }
                }
                Decision::Unchanged { .. } => {}
            }
        }
        if wanted.is_empty() {
            return Ok(());
        }
        let ids: Vec<LeadId> = wanted.into_iter().collect();
        let keys: Vec<String> = ids.iter().map(LeadId::to_string).collect();
        let leads = self.store.get_many(tenant, Lead::COLLECTION, &keys).await?;
        let vaults = self
            .store
            .get_many(tenant, VaultRecord::COLLECTION, &keys)
            .await?;
        // Decoding a lead, and decoding and opening its vault (decrypting it), cost several
        // microseconds each: a batch's are done over the cores. The threads only read the
        // records; this thread, which read them, frees them (see `par`).
        let records: Vec<_> = leads.into_iter().zip(vaults).collect();
        let read = par::map_heavy(&records, VAULTS_PER_THREAD, |(lead, vault)| {
            let lead = lead
                .as_ref()
                .map(|r| {
                    decode_record::<Lead>(Lead::COLLECTION, r).map(|value| Versioned {
                        value,
                        version: r.version,
                    })
                })
                .transpose()?;
            let vault = vault
                .as_ref()
                .map(|r| {
                    let v: VaultRecord = decode_record(VaultRecord::COLLECTION, r)?;
                    Ok::<_, CrmError>((self.open_vault(tenant, &v)?, r.version))
                })
                .transpose()?;
            Ok::<_, CrmError>((lead, vault))
        });
        drop(records);
        for (id, read) in ids.iter().zip(read) {
            let (lead, vault) = read?;
            let v = lead.ok_or(CrmError::LeadNotFound(*id))?;
            work.leads.insert(
                *id,
                WorkLead {
                    accounted: load_holder(&v.value),
                    lead: v.value,
                    version: Some(v.version),
                },
            );
            if !work.vaults.contains_key(id) {
                let entry = match vault {
                    Some((pii, version)) => WorkVault::Put(pii, Some(version)),
                    None => WorkVault::Put(ContactPii::default(), None),
                };
                work.vaults.insert(*id, entry);
            }
        }
        Ok(())
    }

    fn new_lead(
        &self,
        tenant: &TenantId,
        id: LeadId,
        n: &NormalisedCapture,
        at: DateTime<Utc>,
    ) -> Lead {
        let mut reached = StageSet::default();
        reached.insert(Stage::New);
        Lead {
            id,
            tenant: *tenant,
            status: LeadStatus::Active,
            stage: Stage::New,
            reached,
            identity: n.identity.presence(),
            owner: None,
            team: None,
            touches: vec![touch_of(n, id, at)],
            region: None,
            product_interest: n.product_interest.clone(),
            consents: Vec::new(),
            tags: Default::default(),
            score: 0,
            scoring: Default::default(),
            profile: Default::default(),
            created_at: at,
            updated_at: at,
            stage_changed_at: at,
            assigned_at: None,
            first_follow_up_at: None,
            first_response_at: None,
            escalated_at: None,
            converted_at: None,
            merged_from: Vec::new(),
            separated_from: Vec::new(),
            repeat_inquiries: 0,
            referred_by: None,
            unmatched: false,
            match_evidence: Vec::new(),
        }
    }

    /// Consent, region survivorship, scoring, tags and the history entry of a capture.
    #[allow(clippy::too_many_arguments)]
    fn after_capture(
        &self,
        cfg: &CrmConfig,
        work: &mut Work,
        lead: LeadId,
        n: &NormalisedCapture,
        at: DateTime<Utc>,
        created: bool,
        rule: Option<MatchRule>,
    ) -> Result<()> {
        let l = work.lead_mut(&lead)?;
        if let Some(c) = &n.consent {
            l.consents.push(Consent {
                purpose: c.purpose.clone(),
                at,
                channel: c.channel.clone(),
                withdrawn_at: None,
            });
        }
        recompute_region(l, &cfg.survivorship);
        l.scoring.on_capture(n.source, at, &cfg.scoring);
        l.score = l.scoring.score(&l.identity, &cfg.scoring);
        let (added, removed) = apply_tags(l, &cfg.tag_rules, &cfg.scoring);
        l.updated_at = l.updated_at.max(at);
        work.events.push(LeadEvent {
            lead,
            at,
            actor: Actor::system("capture"),
            event: LeadEventKind::Captured {
                source: n.source,
                campaign: n.campaign.clone(),
                created,
                matched_by: rule.map(|r| r.as_str().to_string()),
            },
        });
        if !added.is_empty() || !removed.is_empty() {
            work.events.push(LeadEvent {
                lead,
                at,
                actor: Actor::system("tags"),
                event: LeadEventKind::Tagged { added, removed },
            });
        }
        Ok(())
    }

    /// Merge `absorbed` into `survivor` inside `work`: contributions move to the survivor's
    /// vault (nothing is dropped: survivorship keeps the others as alternates), touches, tags,
    /// consents and lineage are combined.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn absorb(
        &self,
        cfg: &CrmConfig,
        tenant: &TenantId,
        work: &mut Work,
        survivor: LeadId,
        absorbed: LeadId,
        rule: &str,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Result<()> {
        self.load_work(tenant, work, &absorbed).await?;
        let pii = self.take_vault(tenant, work, &absorbed).await?;
        self.vault_work(tenant, work, &survivor)
            .await?
            .contributions
            .extend(pii.contributions);
        let a = work.lead_mut(&absorbed)?.clone();
        {
            let s = work.lead_mut(&survivor)?;
            s.touches.extend(a.touches.iter().cloned());
            s.touches.sort_by_key(|t| t.at);
            s.reached.0 |= a.reached.0;
            let rank = |st: Stage| Stage::FUNNEL.iter().position(|x| *x == st);
            if rank(a.stage) > rank(s.stage) && s.stage.is_open() {
                s.stage = a.stage;
                s.stage_changed_at = at;
                s.converted_at = s.converted_at.or(a.converted_at);
            }
            if s.owner.is_none() {
                s.owner = a.owner;
                s.team = a.team;
                s.assigned_at = a.assigned_at;
            }
            s.identity = s.identity.union(a.identity);
            s.tags.extend(a.tags.iter().cloned());
            s.score = s.score.max(a.score);
            s.consents.extend(a.consents.iter().cloned());
            for p in &a.product_interest {
                if !s.product_interest.contains(p) {
                    s.product_interest.push(p.clone());
                }
            }
            s.first_response_at = match (s.first_response_at, a.first_response_at) {
                (Some(x), Some(y)) => Some(x.min(y)),
                (x, y) => x.or(y),
            };
            s.repeat_inquiries += a.repeat_inquiries;
            s.merged_from.push(absorbed);
            s.match_evidence.extend(a.match_evidence.iter().cloned());
            s.updated_at = s.updated_at.max(at);
            recompute_region(s, &cfg.survivorship);
        }
        {
            let a = work.lead_mut(&absorbed)?;
            a.status = LeadStatus::Merged { into: survivor };
            a.updated_at = a.updated_at.max(at);
        }
        work.events.push(LeadEvent {
            lead: survivor,
            at,
            actor: actor.clone(),
            event: LeadEventKind::Merged {
                absorbed,
                rule: rule.to_string(),
            },
        });
        work.events.push(LeadEvent {
            lead: absorbed,
            at,
            actor: actor.clone(),
            event: LeadEventKind::MergedInto { survivor },
        });
        Ok(())
    }

    /// Merge two live leads of this tenant by hand (the caller judged them the same person).
    /// Leads of another tenant are simply not found: a cross-tenant merge cannot be expressed.
    ///
    /// # Errors
    /// [`CrmError::LeadNotFound`], [`CrmError::LeadMerged`], a validation error when both ids
    /// are the same lead, storage errors.
    #[operation("crm.merge", tenant = tenant, key = idempotency_key)]
    pub async fn merge(
        &self,
        tenant: &TenantId,
        survivor: LeadId,
        absorbed: LeadId,
        actor: &Actor,
        idempotency_key: &IdempotencyKey,
    ) -> Result<()> {
        let idempotency_key = idempotency_key.as_str();
        let idem = self.idempotent(tenant, idempotency_key, &("merge", survivor, absorbed))?;
        if self.replayed::<()>(tenant, &idem).await?.is_some() {
            return Ok(());
        }
        if survivor == absorbed {
            return Err(CrmError::validation(
                "absorbed",
                "a lead cannot be merged into itself",
            ));
        }
        self.read_active(tenant, &survivor).await?;
        self.read_active(tenant, &absorbed).await?;
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::LeadNotFound(survivor))?;
        let cfg = st.config.clone();
        let txn = Crm::begin(st);
        let mut work = Work::default();
        let at = self.clock.now();
        let res = async {
            st.engine.link(absorbed, survivor)?;
            self.load_work(tenant, &mut work, &survivor).await?;
            self.absorb(
                &cfg, tenant, &mut work, survivor, absorbed, "manual", actor, at,
            )
            .await
        }
        .await;
        if let Err(e) = res {
            Crm::abort(st, txn);
            return Err(e);
        }
        self.finish(tenant, st, txn, work, Some((&idem, b"null".to_vec())))
            .await?;
        Ok(())
    }

    /// Undo the merge of `absorbed`: its own captures (and those of leads merged into it) go
    /// back to it, it becomes live again with its earlier stage and owner, and the two leads
    /// are never auto-merged again. Returns the lead it was split from.
    ///
    /// # Errors
    /// A validation error when the lead is not merged; storage errors.
    #[operation("crm.unmerge", tenant = tenant, key = idempotency_key)]
    pub async fn unmerge(
        &self,
        tenant: &TenantId,
        absorbed: LeadId,
        actor: &Actor,
        idempotency_key: &IdempotencyKey,
    ) -> Result<LeadId> {
        let idempotency_key = idempotency_key.as_str();
        let idem = self.idempotent(tenant, idempotency_key, &("unmerge", absorbed))?;
        if let Some(prev) = self.replayed::<LeadId>(tenant, &idem).await? {
            return Ok(prev);
        }
        let mut guard = self.state(tenant).await?;
        let st = guard.as_mut().ok_or(CrmError::LeadNotFound(absorbed))?;
        let txn = Crm::begin(st);
        let mut work = Work::default();
        let at = self.clock.now();
        let res: Result<LeadId> = async {
            let root = st
                .engine
                .survivor(absorbed)
                .ok_or(CrmError::LeadNotFound(absorbed))?;
            let parent = st.engine.unlink(absorbed)?;
            // The lineage below `absorbed`: it and everything merged into it, recursively.
            let mut subtree = vec![absorbed];
            let mut i = 0;
            while let Some(id) = subtree.get(i).copied() {
                self.load_work(tenant, &mut work, &id).await?;
                let children = work.lead_mut(&id)?.merged_from.clone();
                subtree.extend(children);
                i += 1;
            }
            self.load_work(tenant, &mut work, &root).await?;
            self.load_work(tenant, &mut work, &parent).await?;
            let pii = self.vault_work(tenant, &mut work, &root).await?;
            let (back, keep): (Vec<Contribution>, Vec<Contribution>) =
                std::mem::take(&mut pii.contributions)
                    .into_iter()
                    .partition(|c| subtree.contains(&c.origin));
            pii.contributions = keep;
            work.vaults.insert(
                absorbed,
                WorkVault::Put(
                    ContactPii {
                        contributions: back,
                    },
                    None,
                ),
            );
            {
                let r = work.lead_mut(&root)?;
                r.touches.retain(|t| !subtree.contains(&t.origin));
                r.match_evidence
                    .retain(|e| !e.absorbed.is_some_and(|a| subtree.contains(&a)));
                r.separated_from.push(absorbed);
                r.updated_at = at;
                recompute_region(r, &st.config.survivorship);
            }
            {
                let p = work.lead_mut(&parent)?;
                p.merged_from.retain(|m| *m != absorbed);
            }
            {
                let a = work.lead_mut(&absorbed)?;
                a.status = LeadStatus::Active;
                a.separated_from.push(root);
                a.updated_at = at;
            }
            work.events.push(LeadEvent {
                lead: root,
                at,
                actor: actor.clone(),
                event: LeadEventKind::Unmerged { restored: absorbed },
            });
            Ok(parent)
        }
        .await;
        let parent = match res {
            Ok(p) => p,
            Err(e) => {
                Crm::abort(st, txn);
                return Err(e);
            }
        };
        let response = serde_json::to_vec(&parent)?;
        self.finish(tenant, st, txn, work, Some((&idem, response)))
            .await?;
        Ok(parent)
    }

    /// Live leads with this mobile (found through its blind index, under every key in use).
    ///
    /// # Errors
    /// A validation error on `mobile`; storage errors.
    #[operation("crm.find_by_mobile", tenant = tenant)]
    pub async fn find_by_mobile(&self, tenant: &TenantId, mobile: &str) -> Result<Vec<LeadId>> {
        let m = MobileNumber::parse(mobile)?;
        self.find_by(tenant, BlindKind::Mobile, m.as_str()).await
    }

    /// Live leads with this email.
    ///
    /// # Errors
    /// A validation error on `email`; storage errors.
    #[operation("crm.find_by_email", tenant = tenant)]
    pub async fn find_by_email(&self, tenant: &TenantId, email: &str) -> Result<Vec<LeadId>> {
        let e = Email::parse(email)?;
        self.find_by(tenant, BlindKind::Email, e.as_str()).await
    }

    /// Live leads with this ID document number (found through its blind index; the number is
    /// normalised as at capture: case, spaces and dashes do not matter).
    ///
    /// # Errors
    /// A validation error on `id_document`; storage errors.
    #[operation("crm.find_by_id_document", tenant = tenant)]
    pub async fn find_by_id_document(
        &self,
        tenant: &TenantId,
        id_document: &str,
    ) -> Result<Vec<LeadId>> {
        let d = IdDocument::parse(id_document)?;
        self.find_by(tenant, BlindKind::IdDocument, d.as_str())
            .await
    }

    async fn find_by(
        &self,
        tenant: &TenantId,
        kind: BlindKind,
        value: &str,
    ) -> Result<Vec<LeadId>> {
        let mut out = Vec::new();
        for v in self.indexer.lookup_values(tenant, kind, value)? {
            let page: Vec<_> = self.vaults().lookup_all(tenant, "bidx", &v).await?;
            out.extend(
                page.into_iter()
                    .map(|r: marketingforce_core::storage::Versioned<VaultRecord>| r.value.lead),
            );
        }
        out.sort();
        out.dedup();
        Ok(out)
    }
}

/// Whether a spreadsheet would read `cell` as a formula: it starts with `=`, `+`, `-`, `@`, a
/// tab or a carriage return (the OWASP CSV injection list).
/// Refuse captures that would keep more live leads than the gate allows (nothing is written:
/// the caller aborts the command).
fn within_allowance<T>(
    st: &TenantState,
    allowance: &CaptureAllowance,
    outcomes: Vec<(T, CaptureOutcome)>,
) -> Result<Vec<(T, CaptureOutcome)>> {
    let Some(max) = allowance.max_live_leads else {
        return Ok(outcomes);
    };
    let created = outcomes
        .iter()
        .filter(|(_, o)| matches!(o, CaptureOutcome::Created { .. }))
        .count() as u64;
    if created == 0 {
        return Ok(outcomes);
    }
    let live = st.engine.live_count() as u64;
    if live > max {
        let before = live.saturating_sub(created);
        return Err(CrmError::Core(marketingforce_core::Error::limit_exceeded(
            "leads_stored",
            created,
            max.saturating_sub(before),
        )));
    }
    Ok(outcomes)
}

/// The live leads after a capture that created one (None when it created none).
fn created_live(st: &TenantState, outcomes: &[(usize, CaptureOutcome)]) -> Option<u64> {
    outcomes
        .iter()
        .any(|(_, o)| matches!(o, CaptureOutcome::Created { .. }))
        .then(|| st.engine.live_count() as u64)
}

pub(crate) fn starts_like_formula(cell: &str) -> bool {
    cell.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

/// `cell` made inert for spreadsheets: a cell that [starts like a formula](starts_like_formula)
/// gets a single quote in front (`=1+2` → `'=1+2`); anything else is returned as it is.
pub(crate) fn neutralise_formula(cell: &str) -> String {
    if starts_like_formula(cell) {
        format!("'{cell}")
    } else {
        cell.to_string()
    }
}

/// Why the CSV reader refused a record, without quoting any of it.
fn csv_error_reason(e: &csv::Error) -> String {
    match e.kind() {
        csv::ErrorKind::Utf8 { err, .. } => {
            format!("field {} is not valid UTF-8", err.field() + 1)
        }
        csv::ErrorKind::UnequalLengths {
            len, expected_len, ..
        } => {
            format!("{len} fields, the header has {expected_len}")
        }
        _ => "could not be read as CSV".to_string(),
    }
}

/// File line numbers (1-based) of byte offsets in a CSV text, counting `\r\n`, `\n` and a lone
/// `\r` each as one line break.
///
/// The CSV reader's own line count is wrong for CRLF files (Excel's default export): it ends
/// a record at the `\r` and consumes the `\n` only when it reads the next record, so the
/// position it gives for a record is on the previous line. Here a record's line is that of
/// its first byte after any line breaks (and blank lines) at its reported start. Offsets must
/// be given in increasing order (the counter only moves forward, so a whole file costs one
/// pass).
struct LineCounter<'a> {
    text: &'a [u8],
    /// Bytes before `at` are counted.
    at: usize,
    /// The line of byte `at`.
    line: usize,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            at: 0,
            line: 1,
        }
    }

    fn line_at(&mut self, byte: u64) -> usize {
        let mut start = usize::try_from(byte)
            .unwrap_or(usize::MAX)
            .min(self.text.len());
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        while self.at < start {
            match self.text.get(self.at) {
                Some(b'\n') => self.line += 1,
                Some(b'\r') if self.text.get(self.at + 1) != Some(&b'\n') => self.line += 1,
                _ => {}
            }
            self.at += 1;
        }
        self.line
    }
}

fn touch_of(n: &NormalisedCapture, origin: LeadId, at: DateTime<Utc>) -> Touch {
    Touch {
        source: n.source,
        campaign: n.campaign.clone(),
        platform: n.platform.clone(),
        domain: n.domain,
        region: n.region.clone(),
        product_interest: n.product_interest.clone(),
        at,
        origin,
    }
}

/// Region by survivorship over the touches.
pub(crate) fn recompute_region(l: &mut Lead, cfg: &crate::survivorship::SurvivorshipConfig) {
    let (golden, _) = pick(
        l.touches
            .iter()
            .filter_map(|t| t.region.as_deref().map(|r| (r, t.source, t.at))),
        cfg.rule(Field::Region),
        cfg,
    );
    l.region = golden.map(str::to_string);
}
