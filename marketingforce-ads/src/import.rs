//! Spend and performance imported from a platform's report export — CSV or JSON, one row per
//! account, day and campaign — instead of fetched through an attached platform adapter.
//!
//! Rows are grouped into one [`DailyReport`] per account-day and ingested like fetched reports
//! ([`AdOps::import_reports`](crate::AdOps::import_reports)): matched to our ad accounts and
//! campaigns by the platform's ids, duplicates counted once, restatements by revision.
//! Importing the same file again changes nothing (every account-day is a
//! [`Duplicate`](crate::report::IngestOutcome::Duplicate)); a corrected export carries a
//! higher `revision`.
//!
//! | column | required | meaning |
//! |---|---|---|
//! | `date` | yes | the civil day, `YYYY-MM-DD` |
//! | `account_id` | yes | the platform's ad account id |
//! | `campaign_id` | yes | the platform's campaign id |
//! | `spend` | yes | the amount charged, a decimal string (negative: a refund) |
//! | `impressions`, `clicks` | both or neither (0) | whole numbers; leave both out for a spend-only export (a platform's billing statement), recorded without delivery |
//! | `conversions` | no (0) | whole number |
//! | `currency` | no (the import's) | ISO code, e.g. `CNY` |
//! | `revision` | no (1) | the export's revision of the day; one per account-day |
//! | `complete` | no (`true`) | whether the platform declared the day final |
//!
//! A spend-only row cannot be checked against a KPI target on clicks or impressions, nor a row
//! without conversions against a target on cost per conversion, so
//! [`AdOps::import_reports`](crate::AdOps::import_reports) refuses such a row for a campaign
//! with such a target (`rows[i].clicks`, `rows[i].conversions`).
//!
//! Other columns (a platform's exports carry many) are ignored. JSON is an array of objects
//! with the same keys; `spend` must be a string there (a JSON number is binary floating point,
//! never money).
//!
//! Bad rows are refused all together before anything is ingested, each [`RowError`] naming the
//! row (0-based among the data rows: CSV line = row + 2) and the field with the rule it broke —
//! never the value, which may be confidential.
//!
//! ```
//! use marketingforce_ads::import::{parse_reports, ImportFormat};
//! use marketingforce_core::money::Currency;
//!
//! let csv = "date,account_id,campaign_id,spend,impressions,clicks,ctr\n\
//!            2026-03-01,1800001,c-1,1000.50,40000,1000,2.5%\n\
//!            2026-03-01,1800001,c-2,200.00,9000,180,2.0%\n\
//!            2026-03-02,1800001,c-1,990.00,39000,990,2.5%\n";
//! let reports = parse_reports(ImportFormat::Csv, csv.as_bytes(), Currency::CNY).unwrap();
//! assert_eq!(reports.len(), 2); // two account-days
//! assert_eq!(reports[0].lines.len(), 2);
//!
//! let bad = "date,account_id,campaign_id,spend,impressions,clicks\n\
//!            2026-03-01,1800001,c-1,12O.00,40000,1000\n";
//! let e = parse_reports(ImportFormat::Csv, bad.as_bytes(), Currency::CNY).unwrap_err();
//! assert_eq!(e.errors[0].to_string(), "rows[0].spend: must be a decimal amount");
//! assert!(!e.to_string().contains("12O"));
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use chrono::NaiveDate;
use marketingforce_core::adapters::ad_platform::{DailyReport, PerformanceLine};
use marketingforce_core::money::{parse_decimal, Currency, Money};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::error::AdsError;

/// The format of an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImportFormat {
    /// Comma-separated values with a header row (UTF-8).
    Csv,
    /// A JSON array of objects.
    Json,
}

/// One row that broke a rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct RowError {
    /// The data row, 0-based (the header is not counted; `None` for the file as a whole).
    pub row: Option<usize>,
    /// The column.
    pub field: String,
    /// The rule it broke (never the value).
    pub rule: String,
}

impl RowError {
    fn at(row: usize, field: &str, rule: impl Into<String>) -> RowError {
        RowError {
            row: Some(row),
            field: field.to_string(),
            rule: rule.into(),
        }
    }

    fn file(field: &str, rule: impl Into<String>) -> RowError {
        RowError {
            row: None,
            field: field.to_string(),
            rule: rule.into(),
        }
    }

    /// The field path: `rows[3].spend`, or the bare field for the file.
    pub fn path(&self) -> String {
        match self.row {
            Some(r) => format!("rows[{r}].{}", self.field),
            None => self.field.clone(),
        }
    }
}

impl fmt::Display for RowError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path(), self.rule)
    }
}

/// Every row that broke a rule (at most [`ImportErrors::MAX`]; nothing was imported).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{} row error(s) in the import, first {}", .errors.len(), .errors.first().map(ToString::to_string).unwrap_or_default())]
pub struct ImportErrors {
    /// The errors, in row order.
    pub errors: Vec<RowError>,
}

impl ImportErrors {
    /// The most errors collected before parsing stops.
    pub const MAX: usize = 100;
}

impl From<ImportErrors> for AdsError {
    /// The first error, as a validation error on its path.
    fn from(e: ImportErrors) -> AdsError {
        match e.errors.first() {
            Some(first) => AdsError::validation(first.path(), first.rule.clone()),
            None => AdsError::validation("rows", "the import was refused"),
        }
    }
}

/// How [`AdOps::import_reports_with`](crate::AdOps::import_reports_with) reads an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ImportOptions {
    /// The days the export covers completely, first and last inclusive (see
    /// [`ImportOptions::covering`]).
    pub covers: Option<(NaiveDate, NaiveDate)>,
}

impl ImportOptions {
    /// The longest run of days an import may cover (a year and a day).
    pub const MAX_COVERED_DAYS: i64 = 366;

    /// Read the export as it is: only the account-days it lists are recorded.
    pub fn new() -> ImportOptions {
        ImportOptions::default()
    }

    /// The export lists every account-day with delivery from `first` to `last` (inclusive), as
    /// platforms' exports do: they omit the rows of days nothing was spent. Each of the
    /// platform's ad accounts open on a day of that range without a row that day is recorded
    /// as a final day without spend (revision 0, so a later export listing that day replaces
    /// it). Without this, a month settled in [`SettlementMode::Final`] is refused for the days
    /// the export left out.
    ///
    /// [`SettlementMode::Final`]: crate::settlement::SettlementMode::Final
    #[must_use]
    pub fn covering(mut self, first: NaiveDate, last: NaiveDate) -> ImportOptions {
        self.covers = Some((first, last));
        self
    }

    /// [`covering`](Self::covering) every day of `month`.
    #[must_use]
    pub fn covering_month(self, month: crate::period::Month) -> ImportOptions {
        self.covering(month.first_day(), month.last_day())
    }

    /// The covered days, checked.
    ///
    /// # Errors
    /// A validation error on `covers` for a range that ends before it starts or is longer than
    /// [`MAX_COVERED_DAYS`](Self::MAX_COVERED_DAYS).
    pub fn covered_days(&self) -> crate::Result<Vec<NaiveDate>> {
        let Some((first, last)) = self.covers else {
            return Ok(Vec::new());
        };
        let days = (last - first).num_days() + 1;
        if days < 1 {
            return Err(AdsError::validation("covers", "ends before it starts"));
        }
        if days > Self::MAX_COVERED_DAYS {
            return Err(AdsError::validation(
                "covers",
                format!("longer than {} days", Self::MAX_COVERED_DAYS),
            ));
        }
        Ok(first.iter_days().take(days as usize).collect())
    }
}

/// The largest import accepted at once (bytes).
pub const MAX_IMPORT_BYTES: usize = 64 * 1024 * 1024;

/// One row, as text fields by column name.
type Fields = BTreeMap<String, String>;

const REQUIRED: [&str; 4] = ["date", "account_id", "campaign_id", "spend"];

/// The delivery columns: both or neither (a spend-only export).
const DELIVERY: [&str; 2] = ["impressions", "clicks"];

/// Where each data row of an export went, for checks that need our records (crate-internal).
pub(crate) struct RowMeta {
    /// The data row, 0-based.
    pub(crate) row: usize,
    /// The platform's account id.
    pub(crate) account_id: String,
    /// The day.
    pub(crate) date: NaiveDate,
    /// The platform's campaign id.
    pub(crate) campaign_id: String,
    /// The row left out impressions and clicks.
    pub(crate) spend_only: bool,
    /// The row left out conversions (read as 0).
    pub(crate) without_conversions: bool,
}

/// An export parsed: its reports and its rows (crate-internal).
pub(crate) struct ParsedExport {
    pub(crate) reports: Vec<DailyReport>,
    pub(crate) rows: Vec<RowMeta>,
}

/// Parse an export into one report per account-day, sorted by account and day, lines sorted by
/// campaign (see the [module docs](self) for the columns).
///
/// # Errors
/// Every bad row (up to [`ImportErrors::MAX`]): a missing column, a blank id, a malformed date,
/// amount or count, clicks above impressions, a campaign twice in one account-day, differing
/// revisions or currencies within an account-day; or a file that is not CSV/JSON at all, empty,
/// or larger than [`MAX_IMPORT_BYTES`].
pub fn parse_reports(
    format: ImportFormat,
    data: &[u8],
    currency: Currency,
) -> Result<Vec<DailyReport>, ImportErrors> {
    parse_export(format, data, currency).map(|p| p.reports)
}

/// [`parse_reports`], keeping where each row went.
pub(crate) fn parse_export(
    format: ImportFormat,
    data: &[u8],
    currency: Currency,
) -> Result<ParsedExport, ImportErrors> {
    let fail = |e: RowError| ImportErrors { errors: vec![e] };
    if data.len() > MAX_IMPORT_BYTES {
        return Err(fail(RowError::file(
            "data",
            format!("larger than {MAX_IMPORT_BYTES} bytes"),
        )));
    }
    let rows = match format {
        ImportFormat::Csv => csv_rows(data),
        ImportFormat::Json => json_rows(data),
    }
    .map_err(fail)?;
    if rows.is_empty() {
        return Err(fail(RowError::file("rows", "the import has no rows")));
    }
    let mut errors = Vec::new();
    let mut metas = Vec::with_capacity(rows.len());
    let mut days: BTreeMap<(String, NaiveDate), Day> = BTreeMap::new();
    for (i, fields) in rows.iter().enumerate() {
        if errors.len() >= ImportErrors::MAX {
            break;
        }
        match parse_row(i, fields, currency) {
            Ok(row) => {
                metas.push(RowMeta {
                    row: i,
                    account_id: row.account_id.clone(),
                    date: row.date,
                    campaign_id: row.line.campaign_id.clone(),
                    spend_only: row.spend_only,
                    without_conversions: row.without_conversions,
                });
                let day = days
                    .entry((row.account_id.clone(), row.date))
                    .or_insert_with(|| Day {
                        revision: row.revision,
                        currency: row.spend.currency(),
                        complete: true,
                        campaigns: BTreeSet::new(),
                        lines: Vec::new(),
                    });
                if let Err(e) = day.add(i, row) {
                    errors.push(e);
                }
            }
            Err(e) => errors.push(e),
        }
    }
    if !errors.is_empty() {
        return Err(ImportErrors { errors });
    }
    let reports = days
        .into_iter()
        .map(|((account_id, date), mut day)| {
            day.lines.sort_by(|a, b| a.campaign_id.cmp(&b.campaign_id));
            DailyReport {
                report_id: format!("import:{account_id}:{date}"),
                revision: day.revision,
                account_id,
                date,
                currency: day.currency,
                complete: day.complete,
                lines: day.lines,
            }
        })
        .collect();
    Ok(ParsedExport {
        reports,
        rows: metas,
    })
}

struct Row {
    date: NaiveDate,
    account_id: String,
    revision: u32,
    complete: bool,
    line: PerformanceLine,
    spend: Money,
    spend_only: bool,
    without_conversions: bool,
}

struct Day {
    revision: u32,
    currency: Currency,
    complete: bool,
    campaigns: BTreeSet<String>,
    lines: Vec<PerformanceLine>,
}

impl Day {
    fn add(&mut self, i: usize, row: Row) -> Result<(), RowError> {
        if row.revision != self.revision {
            return Err(RowError::at(
                i,
                "revision",
                "differs from an earlier row of the same account-day",
            ));
        }
        if row.spend.currency() != self.currency {
            return Err(RowError::at(
                i,
                "currency",
                "differs from an earlier row of the same account-day",
            ));
        }
        if !self.campaigns.insert(row.line.campaign_id.clone()) {
            return Err(RowError::at(
                i,
                "campaign_id",
                "the campaign appears twice in the same account-day",
            ));
        }
        self.complete &= row.complete;
        self.lines.push(row.line);
        Ok(())
    }
}

fn parse_row(i: usize, f: &Fields, default_currency: Currency) -> Result<Row, RowError> {
    let get = |name: &str| f.get(name).map(|s| s.trim()).filter(|s| !s.is_empty());
    let required = |name: &str| get(name).ok_or_else(|| RowError::at(i, name, "is required"));
    let count = |name: &str, default: Option<u64>| -> Result<u64, RowError> {
        match (get(name), default) {
            (Some(s), _) => s
                .parse::<u64>()
                .map_err(|_| RowError::at(i, name, "must be a whole number, 0 or more")),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(RowError::at(i, name, "is required")),
        }
    };
    let date = NaiveDate::parse_from_str(required("date")?, "%Y-%m-%d")
        .map_err(|_| RowError::at(i, "date", "must be a date YYYY-MM-DD"))?;
    let account_id = required("account_id")?.to_string();
    let campaign_id = required("campaign_id")?.to_string();
    for (name, id) in [("account_id", &account_id), ("campaign_id", &campaign_id)] {
        if id.chars().count() > 128 || id.chars().any(char::is_control) {
            return Err(RowError::at(
                i,
                name,
                "must be at most 128 characters without control characters",
            ));
        }
    }
    let currency = match get("currency") {
        Some(code) => Currency::parse_field(code, "currency")
            .map_err(|_| RowError::at(i, "currency", "must be a supported ISO currency code"))?,
        None => default_currency,
    };
    let amount = parse_decimal(required("spend")?, "spend")
        .map_err(|_| RowError::at(i, "spend", "must be a decimal amount"))?;
    let spend = Money::new(amount, currency);
    let (impressions, clicks, spend_only) = match (get("impressions"), get("clicks")) {
        (None, None) => (0, 0, true),
        _ => (count("impressions", None)?, count("clicks", None)?, false),
    };
    let without_conversions = get("conversions").is_none();
    let conversions = count("conversions", Some(0))?;
    if clicks > impressions && impressions > 0 {
        return Err(RowError::at(i, "clicks", "must not exceed impressions"));
    }
    let revision = match get("revision") {
        Some(s) => s
            .parse::<u32>()
            .map_err(|_| RowError::at(i, "revision", "must be a whole number, 0 or more"))?,
        None => 1,
    };
    let complete = match get("complete").map(str::to_ascii_lowercase).as_deref() {
        None | Some("true" | "1" | "yes") => true,
        Some("false" | "0" | "no") => false,
        Some(_) => {
            return Err(RowError::at(
                i,
                "complete",
                "must be true or false (or 1/0, yes/no)",
            ))
        }
    };
    Ok(Row {
        date,
        account_id,
        revision,
        complete,
        spend,
        spend_only,
        without_conversions,
        line: PerformanceLine {
            campaign_id,
            impressions,
            clicks,
            conversions,
            spend,
        },
    })
}

fn csv_rows(data: &[u8]) -> Result<Vec<Fields>, RowError> {
    let data = data.strip_prefix(b"\xef\xbb\xbf").unwrap_or(data);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(false)
        .from_reader(data);
    let headers: Vec<String> = reader
        .headers()
        .map_err(|_| RowError::file("header", "must be a UTF-8 CSV header row"))?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    for name in REQUIRED {
        if !headers.iter().any(|h| h == name) {
            return Err(RowError::file(name, "the column is missing"));
        }
    }
    let [impressions, clicks] = DELIVERY.map(|name| headers.iter().any(|h| h == name));
    if impressions != clicks {
        let missing = if impressions { "clicks" } else { "impressions" };
        return Err(RowError::file(
            missing,
            "the column is missing (impressions and clicks come together; leave both out for a \
             spend-only export)",
        ));
    }
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| match e.kind() {
            csv::ErrorKind::UnequalLengths { .. } => {
                RowError::at(i, "row", "has another number of fields than the header")
            }
            csv::ErrorKind::Utf8 { .. } => RowError::at(i, "row", "must be UTF-8"),
            _ => RowError::at(i, "row", "is not well-formed CSV"),
        })?;
        rows.push(
            headers
                .iter()
                .cloned()
                .zip(record.iter().map(str::to_string))
                .collect(),
        );
    }
    Ok(rows)
}

fn json_rows(data: &[u8]) -> Result<Vec<Fields>, RowError> {
    let value: serde_json::Value = serde_json::from_slice(data)
        .map_err(|_| RowError::file("data", "must be a JSON array of objects"))?;
    let serde_json::Value::Array(items) = value else {
        return Err(RowError::file("data", "must be a JSON array of objects"));
    };
    let mut rows = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let serde_json::Value::Object(map) = item else {
            return Err(RowError::at(i, "row", "must be a JSON object"));
        };
        let mut fields = Fields::new();
        for (k, v) in map {
            let key = k.trim().to_ascii_lowercase();
            let text = match v {
                serde_json::Value::String(s) => s,
                serde_json::Value::Number(n) if key != "spend" => n.to_string(),
                serde_json::Value::Number(_) => {
                    return Err(RowError::at(
                        i,
                        "spend",
                        "must be a decimal string (a JSON number is floating point)",
                    ))
                }
                serde_json::Value::Bool(b) => b.to_string(),
                serde_json::Value::Null => String::new(),
                _ => {
                    if REQUIRED.contains(&key.as_str()) || DELIVERY.contains(&key.as_str()) {
                        return Err(RowError::at(i, &key, "must be a string or a number"));
                    }
                    continue;
                }
            };
            fields.insert(key, text);
        }
        rows.push(fields);
    }
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEAD: &str = "date,account_id,campaign_id,spend,impressions,clicks\n";

    fn csv(body: &str) -> Result<Vec<DailyReport>, ImportErrors> {
        parse_reports(
            ImportFormat::Csv,
            format!("{HEAD}{body}").as_bytes(),
            Currency::CNY,
        )
    }

    #[test]
    fn every_bad_row_is_named_without_its_value() {
        let e = csv("2026-03-01,a,c,1.00,10,20\n2026-02-30,a,c,1.00,10,1\n2026-03-01,a,c,x9,10,1\n2026-03-01,,c,1,1,1\n")
            .unwrap_err();
        let got: Vec<String> = e.errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "rows[0].clicks: must not exceed impressions",
                "rows[1].date: must be a date YYYY-MM-DD",
                "rows[2].spend: must be a decimal amount",
                "rows[3].account_id: is required",
            ]
        );
        assert!(!e.to_string().contains("x9"));
        assert_eq!(AdsError::from(e).field(), Some("rows[0].clicks"));
    }

    #[test]
    fn account_days_are_consistent() {
        let e = csv("2026-03-01,a,c,1,10,1\n2026-03-01,a,c,2,10,1\n").unwrap_err();
        assert_eq!(e.errors[0].path(), "rows[1].campaign_id");
        let e = parse_reports(
            ImportFormat::Csv,
            b"date,account_id,campaign_id,spend,impressions,clicks,revision\n\
              2026-03-01,a,c,1,10,1,1\n2026-03-01,a,d,1,10,1,2\n",
            Currency::CNY,
        )
        .unwrap_err();
        assert_eq!(e.errors[0].path(), "rows[1].revision");
        let e = parse_reports(ImportFormat::Csv, b"date,account_id,spend\n", Currency::CNY)
            .unwrap_err();
        assert_eq!(e.errors[0].path(), "campaign_id");
        assert!(csv("").is_err());
    }

    #[test]
    fn impressions_and_clicks_come_together_or_not_at_all() {
        let spend_only = parse_export(
            ImportFormat::Csv,
            b"date,account_id,campaign_id,spend\n2026-03-01,a,c,12.50\n",
            Currency::CNY,
        )
        .unwrap();
        let line = &spend_only.reports[0].lines[0];
        assert_eq!((line.impressions, line.clicks), (0, 0));
        assert_eq!(line.spend, Money::cny("12.50").unwrap());
        assert!(spend_only.rows[0].spend_only);
        assert!(csv("2026-03-01,a,c,1,10,1\n").is_ok());
        let e = parse_reports(
            ImportFormat::Csv,
            b"date,account_id,campaign_id,spend,impressions\n2026-03-01,a,c,1,10\n",
            Currency::CNY,
        )
        .unwrap_err();
        assert_eq!(e.errors[0].path(), "clicks");
        let e = parse_reports(
            ImportFormat::Json,
            br#"[{"date": "2026-03-01", "account_id": "a", "campaign_id": "c", "spend": "1",
                  "clicks": 1}]"#,
            Currency::CNY,
        )
        .unwrap_err();
        assert_eq!(e.errors[0].path(), "rows[0].impressions");
        let full = parse_export(
            ImportFormat::Csv,
            format!("{HEAD}2026-03-01,a,c,1,10,1\n").as_bytes(),
            Currency::CNY,
        )
        .unwrap();
        assert!(!full.rows[0].spend_only);
    }

    #[test]
    fn json_and_csv_give_the_same_reports() {
        let from_csv = csv("2026-03-02,a,c2,5.5,100,3\n2026-03-01,a,c1,-1.25,0,0\n").unwrap();
        let json = r#"[
            {"date": "2026-03-02", "account_id": "a", "campaign_id": "c2", "spend": "5.5",
             "impressions": 100, "clicks": 3, "extra": {"ignored": true}},
            {"date": "2026-03-01", "account_id": "a", "campaign_id": "c1", "spend": "-1.25",
             "impressions": "0", "clicks": 0}
        ]"#;
        let from_json = parse_reports(ImportFormat::Json, json.as_bytes(), Currency::CNY).unwrap();
        assert_eq!(from_csv, from_json);
        assert_eq!(from_csv[0].date.to_string(), "2026-03-01");
        assert_eq!(from_csv[0].lines[0].spend, Money::cny("-1.25").unwrap());
        let e = parse_reports(
            ImportFormat::Json,
            br#"[{"date": "2026-03-01", "account_id": "a", "campaign_id": "c", "spend": 1.1, "impressions": 1, "clicks": 1}]"#,
            Currency::CNY,
        )
        .unwrap_err();
        assert_eq!(e.errors[0].path(), "rows[0].spend");
    }
}
