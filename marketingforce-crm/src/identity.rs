//! Identity fields: parsing and normalisation of mainland mobiles, other phones (E.164),
//! emails, WeCom external user ids, person and company names.
//!
//! Every parser accepts what people actually type — full-width digits, `+86`/`0086` prefixes,
//! spaces and dashes — and returns one canonical form, so that the same number typed two ways
//! produces the same blind index.
//!
//! Errors name the field and the rule that was broken, never the value: what people type here
//! is personal data, and error reasons end up in import reports, idempotency records and logs.
//!
//! ```
//! use marketingforce_crm::identity::{Email, MobileNumber, Phone};
//!
//! let m = MobileNumber::parse("+86 138-1234-5678").unwrap();
//! assert_eq!(m.as_str(), "13812345678");
//! assert_eq!(MobileNumber::parse("１３８１２３４５６７８").unwrap(), m);
//! assert!(MobileNumber::parse("12812345678").is_err()); // 12x is not a mobile prefix
//!
//! assert_eq!(Phone::parse("021-6888 1234").unwrap().as_str(), "+862168881234");
//! assert_eq!(Email::parse(" Zhang.San@Example.COM ").unwrap().as_str(), "zhang.san@example.com");
//! ```

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Serialize};
use unicode_normalization::UnicodeNormalization;

use crate::error::{CrmError, Result};

/// NFKC-normalise (full-width → ASCII, compatibility forms folded), skipping the work for text
/// that is already stable: ASCII and CJK Unified Ideographs.
pub fn nfkc(input: &str) -> String {
    nfkc_cow(input).into_owned()
}

/// Whether `c` is a CJK Unified Ideograph (U+4E00–U+9FFF): NFKC-stable, alphanumeric and
/// without case.
fn is_cjk(c: char) -> bool {
    ('\u{4e00}'..='\u{9fff}').contains(&c)
}

/// Whether NFKC leaves `input` unchanged because it is ASCII and CJK Unified Ideographs only.
fn nfkc_stable(input: &str) -> bool {
    input.is_ascii() || input.chars().all(|c| c.is_ascii() || is_cjk(c))
}

/// [`nfkc`] without copying text that is already stable.
pub(crate) fn nfkc_cow(input: &str) -> Cow<'_, str> {
    if nfkc_stable(input) {
        Cow::Borrowed(input)
    } else {
        Cow::Owned(input.nfkc().collect())
    }
}

/// `Debug` of a personal value type: its name and the length of the value, never the value
/// (a `Debug` of a request or a lead's identity must not leak it into logs).
macro_rules! redacted_debug {
    ($t:ident) => {
        impl fmt::Debug for $t {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(
                    f,
                    concat!(stringify!($t), "(<{} characters>)"),
                    self.0.len()
                )
            }
        }
    };
}

fn phone_digits(input: &str, field: &str) -> Result<(bool, String)> {
    let s = nfkc_cow(input.trim());
    let mut plus = false;
    let mut digits = String::with_capacity(s.len());
    for (i, c) in s.chars().enumerate() {
        match c {
            '0'..='9' => digits.push(c),
            '+' if i == 0 => plus = true,
            ' ' | '-' | '(' | ')' | '.' | '\u{3000}' => {}
            // The value (and the character, which may be part of an email or a name typed in
            // the wrong column) is personal data: only its position is named.
            _ => {
                return Err(CrmError::validation(
                    field,
                    format!(
                        "character {} is not part of a phone number (allowed: digits, a leading \
                         '+', spaces, '-', '.', '(' and ')')",
                        i + 1
                    ),
                ))
            }
        }
    }
    if digits.is_empty() {
        return Err(CrmError::validation(field, "no digits"));
    }
    Ok((plus, digits))
}

/// A mainland China mobile number: 11 digits starting `1[3-9]`, stored without prefix.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct MobileNumber(String);

redacted_debug!(MobileNumber);

impl MobileNumber {
    /// Parse a mobile as typed: full-width digits, `+86`, `0086` or `86` prefixes, spaces,
    /// dashes, dots and parentheses are accepted.
    ///
    /// # Errors
    /// A validation error on `mobile` saying what is wrong.
    pub fn parse(input: &str) -> Result<MobileNumber> {
        Self::parse_field(input, "mobile")
    }

    /// Like [`MobileNumber::parse`], naming `field` in the error.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn parse_field(input: &str, field: &str) -> Result<MobileNumber> {
        let (plus, mut digits) = phone_digits(input, field)?;
        let prefix = if digits.starts_with("0086") {
            4
        } else if digits.len() == 13 && digits.starts_with("86") {
            2
        } else if plus {
            return Err(CrmError::validation(
                field,
                "has a country code other than +86",
            ));
        } else {
            0
        };
        Self::check_national(&digits[prefix..], field)?;
        digits.drain(..prefix);
        Ok(MobileNumber(digits))
    }

    fn check_national(national: &str, field: &str) -> Result<()> {
        let b = national.as_bytes();
        if b.len() != 11 {
            return Err(CrmError::validation(
                field,
                format!("has {} digits, a mainland mobile has 11", b.len()),
            ));
        }
        if b[0] != b'1' || !(b'3'..=b'9').contains(&b[1]) {
            return Err(CrmError::validation(field, "does not start with 13-19"));
        }
        Ok(())
    }

    /// The 11 digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The E.164 form, `+8613812345678`.
    pub fn e164(&self) -> String {
        format!("+86{}", self.0)
    }
}

impl fmt::Display for MobileNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for MobileNumber {
    type Error = CrmError;
    fn try_from(s: String) -> Result<Self> {
        MobileNumber::parse(&s)
    }
}

impl From<MobileNumber> for String {
    fn from(m: MobileNumber) -> String {
        m.0
    }
}

/// Any other phone (landline, foreign mobile) in E.164: `+` and 8–15 digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Phone(String);

redacted_debug!(Phone);

impl Phone {
    /// Parse a phone: international forms (`+44 20 7946 0958`, `0044…`) and domestic mainland
    /// landlines with a trunk `0` (`021-68881234` → `+862168881234`).
    ///
    /// # Errors
    /// A validation error on `phone`.
    pub fn parse(input: &str) -> Result<Phone> {
        Self::parse_field(input, "phone")
    }

    /// Like [`Phone::parse`], naming `field` in the error.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn parse_field(input: &str, field: &str) -> Result<Phone> {
        let (plus, digits) = phone_digits(input, field)?;
        let international = if plus {
            digits
        } else if let Some(rest) = digits.strip_prefix("00") {
            rest.to_string()
        } else if let Some(rest) = digits.strip_prefix('0') {
            format!("86{rest}")
        } else if digits.len() == 11 && digits.starts_with('1') {
            format!("86{digits}")
        } else {
            return Err(CrmError::validation(
                field,
                "has neither a country code nor a trunk prefix 0",
            ));
        };
        if !(8..=15).contains(&international.len()) || international.starts_with('0') {
            return Err(CrmError::validation(
                field,
                "is not a valid E.164 number (8-15 digits after +)",
            ));
        }
        Ok(Phone(format!("+{international}")))
    }

    /// The E.164 text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The mainland mobile inside, when this E.164 number is one.
    pub fn as_mobile(&self) -> Option<MobileNumber> {
        let national = self.0.strip_prefix("+86")?;
        MobileNumber::check_national(national, "phone").ok()?;
        Some(MobileNumber(national.to_string()))
    }
}

impl fmt::Display for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Phone {
    type Error = CrmError;
    fn try_from(s: String) -> Result<Self> {
        Phone::parse(&s)
    }
}

impl From<Phone> for String {
    fn from(p: Phone) -> String {
        p.0
    }
}

/// An email address, trimmed, NFKC-normalised and lower-cased.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Email(String);

redacted_debug!(Email);

impl Email {
    /// Parse an email.
    ///
    /// # Errors
    /// A validation error on `email`.
    pub fn parse(input: &str) -> Result<Email> {
        Self::parse_field(input, "email")
    }

    /// Like [`Email::parse`], naming `field` in the error.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn parse_field(input: &str, field: &str) -> Result<Email> {
        let s = nfkc_cow(input.trim());
        let s = if s.is_ascii() && !s.bytes().any(|b| b.is_ascii_uppercase()) {
            s.into_owned()
        } else {
            s.to_lowercase()
        };
        let bad = |why: &str| Err(CrmError::validation(field, why));
        if s.len() > 254 {
            return bad("is longer than 254 characters");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return bad("has no '@'");
        };
        if local.is_empty() || local.len() > 64 {
            return bad("has an empty or over-long local part");
        }
        if !local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+/=?^_`{|}~.-".contains(&b))
            || local.starts_with('.')
            || local.ends_with('.')
            || local.contains("..")
        {
            return bad("has characters not allowed before '@'");
        }
        if !domain.contains('.')
            || domain.split('.').any(|l| {
                l.is_empty()
                    || l.len() > 63
                    || l.starts_with('-')
                    || l.ends_with('-')
                    || !l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            })
        {
            return bad("does not have a valid domain");
        }
        Ok(Email(s))
    }

    /// The normalised address.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for Email {
    type Error = CrmError;
    fn try_from(s: String) -> Result<Self> {
        Email::parse(&s)
    }
}

impl From<Email> for String {
    fn from(e: Email) -> String {
        e.0
    }
}

/// An external account id (WeCom userid, WeChat unionid / openid), trimmed: `min`–64
/// characters of `[A-Za-z0-9_-]`.
fn id_token<'a>(input: &'a str, field: &str, min: usize) -> Result<&'a str> {
    let s = input.trim();
    if s.len() < min || s.len() > 64 {
        return Err(CrmError::validation(
            field,
            format!("must be {min}-64 characters"),
        ));
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    {
        return Err(CrmError::validation(
            field,
            "has characters other than A-Z, a-z, 0-9, '_' and '-'",
        ));
    }
    Ok(s)
}

/// A WeCom (企业微信) external user id: 1–64 characters of `[A-Za-z0-9_-]`, case-sensitive.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct WeComId(String);

redacted_debug!(WeComId);

impl WeComId {
    /// Parse a WeCom external user id.
    ///
    /// # Errors
    /// A validation error on `wecom_id`.
    pub fn parse(input: &str) -> Result<WeComId> {
        Self::parse_field(input, "wecom_id")
    }

    /// Like [`WeComId::parse`], naming `field` in the error.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn parse_field(input: &str, field: &str) -> Result<WeComId> {
        Ok(WeComId(id_token(input, field, 1)?.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for WeComId {
    type Error = CrmError;
    fn try_from(s: String) -> Result<Self> {
        WeComId::parse(&s)
    }
}

impl From<WeComId> for String {
    fn from(w: WeComId) -> String {
        w.0
    }
}

/// An ID document number (mainland resident ID, passport, Hong Kong / Macau / Taiwan permit):
/// NFKC-normalised, spaces and dashes removed, upper-cased, 6–32 characters of `A-Z0-9`. An
/// 18-character number of 17 digits and a digit or `X` is a mainland resident ID and must
/// pass its ISO 7064 MOD 11-2 check digit. Personal data: only ever stored sealed, matched
/// through its blind index.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct IdDocument(String);

redacted_debug!(IdDocument);

/// `s` NFKC-normalised, without spaces, dashes and dots, upper-cased.
fn compact_code(input: &str) -> String {
    nfkc_cow(input.trim())
        .chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '-' | '.' | '/'))
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

impl IdDocument {
    /// Parse an ID document number.
    ///
    /// ```
    /// use marketingforce_crm::identity::IdDocument;
    /// assert_eq!(IdDocument::parse("11010519491231002x").unwrap().as_str(), "11010519491231002X");
    /// // A wrong check digit is refused without quoting the number.
    /// let e = IdDocument::parse("110105194912310021").unwrap_err().to_string();
    /// assert!(e.contains("id_document") && !e.contains("1101051949"));
    /// assert!(IdDocument::parse("E1234 5678").is_ok()); // a passport
    /// ```
    ///
    /// # Errors
    /// A validation error on `id_document`.
    pub fn parse(input: &str) -> Result<IdDocument> {
        Self::parse_field(input, "id_document")
    }

    /// Like [`IdDocument::parse`], naming `field` in the error.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn parse_field(input: &str, field: &str) -> Result<IdDocument> {
        let s = compact_code(input);
        if s.len() < 6 || s.len() > 32 {
            return Err(CrmError::validation(
                field,
                "must be 6-32 letters and digits",
            ));
        }
        if !s
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(CrmError::validation(
                field,
                "has characters other than letters and digits",
            ));
        }
        let b = s.as_bytes();
        if b.len() == 18 && b[..17].iter().all(u8::is_ascii_digit) {
            const WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
            let sum: u32 = b[..17]
                .iter()
                .zip(WEIGHTS)
                .map(|(d, w)| u32::from(d - b'0') * w)
                .sum();
            let check = b"10X98765432"[(sum % 11) as usize];
            if b[17] != check {
                return Err(CrmError::validation(
                    field,
                    "fails the check digit of a mainland resident ID",
                ));
            }
        }
        Ok(IdDocument(s))
    }

    /// The normalised number.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for IdDocument {
    type Error = CrmError;
    fn try_from(s: String) -> Result<Self> {
        IdDocument::parse(&s)
    }
}

impl From<IdDocument> for String {
    fn from(d: IdDocument) -> String {
        d.0
    }
}

/// A WeChat unionid or openid: 10–64 characters of `[A-Za-z0-9_-]`, case-sensitive.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct WeChatId(String);

redacted_debug!(WeChatId);

impl WeChatId {
    /// Parse a unionid or openid, naming `field` (`wechat_unionid`, `wechat_openid`) in the
    /// error.
    ///
    /// # Errors
    /// A validation error on `field`.
    pub fn parse_field(input: &str, field: &str) -> Result<WeChatId> {
        Ok(WeChatId(id_token(input, field, 10)?.to_string()))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A company registration code (unified social credit code 统一社会信用代码, business
/// registration number): NFKC-normalised, spaces and dashes removed, upper-cased, 8–30
/// letters and digits.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CompanyCode(String);

redacted_debug!(CompanyCode);

impl CompanyCode {
    /// Parse a registration code.
    ///
    /// # Errors
    /// A validation error on `company_code`.
    pub fn parse(input: &str) -> Result<CompanyCode> {
        let s = compact_code(input);
        if s.len() < 8 || s.len() > 30 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(CrmError::validation(
                "company_code",
                "must be 8-30 letters and digits",
            ));
        }
        Ok(CompanyCode(s))
    }

    /// The normalised code.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A postcode: letters and digits (spaces and dashes dropped), upper-cased, 3–10 characters.
///
/// # Errors
/// A validation error on `postcode`.
pub fn parse_postcode(input: &str) -> Result<String> {
    let s = compact_code(input);
    if s.len() < 3 || s.len() > 10 || !s.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return Err(CrmError::validation(
            "postcode",
            "must be 3-10 letters and digits",
        ));
    }
    Ok(s)
}

/// A date of birth as `YYYY-MM-DD` (also `YYYY/MM/DD`, `YYYY.MM.DD` and `YYYYMMDD`), on or
/// after 1900-01-01. (Whether it lies in the future is checked against the service clock at
/// capture.)
///
/// # Errors
/// A validation error on `date_of_birth`.
pub fn parse_dob(input: &str) -> Result<chrono::NaiveDate> {
    let s = nfkc_cow(input.trim());
    let digits: String = s.chars().filter(char::is_ascii_digit).collect();
    let well_formed = match s.len() {
        8 => digits.len() == 8,
        10 => {
            let b = s.as_bytes();
            digits.len() == 8 && b[4] == b[7] && matches!(b[4], b'-' | b'/' | b'.')
        }
        _ => false,
    };
    let bad = || {
        CrmError::validation(
            "date_of_birth",
            "is not a date written YYYY-MM-DD (or YYYYMMDD)",
        )
    };
    if !well_formed {
        return Err(bad());
    }
    let d = chrono::NaiveDate::parse_from_str(&digits, "%Y%m%d").map_err(|_| bad())?;
    if d < chrono::NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(chrono::NaiveDate::MIN) {
        return Err(CrmError::validation(
            "date_of_birth",
            "is before 1900-01-01",
        ));
    }
    Ok(d)
}

/// A postal address: like [`clean_name`] but up to 200 characters.
///
/// # Errors
/// A validation error on `address`.
pub fn clean_address(input: &str) -> Result<String> {
    let s = nfkc_cow(input.trim());
    let cleaned = s.split_whitespace().collect::<Vec<_>>().join(" ");
    let n = cleaned.chars().count();
    if n == 0 {
        return Err(CrmError::validation("address", "must not be blank"));
    }
    if n > 200 {
        return Err(CrmError::validation(
            "address",
            "longer than 200 characters",
        ));
    }
    if cleaned.chars().any(char::is_control) {
        return Err(CrmError::validation(
            "address",
            "contains control characters",
        ));
    }
    Ok(cleaned)
}

/// A display name (person or company): trimmed, NFKC-normalised, inner whitespace collapsed,
/// 1–100 characters.
///
/// # Errors
/// A validation error on `field`.
pub fn clean_name(input: &str, field: &str) -> Result<String> {
    let s = nfkc_cow(input);
    let tidy = !s.starts_with(char::is_whitespace)
        && !s.ends_with(char::is_whitespace)
        && !s
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_whitespace() && w[1].is_ascii_whitespace())
        && s.chars().all(|c| c == ' ' || !c.is_whitespace());
    let cleaned = if tidy {
        s.into_owned()
    } else {
        s.split_whitespace().collect::<Vec<_>>().join(" ")
    };
    let n = cleaned.chars().count();
    if n == 0 {
        return Err(CrmError::validation(field, "must not be blank"));
    }
    if n > 100 {
        return Err(CrmError::validation(field, "longer than 100 characters"));
    }
    if cleaned.chars().any(char::is_control) {
        return Err(CrmError::validation(field, "contains control characters"));
    }
    Ok(cleaned)
}

/// The matching key of a person's name: lower case, no whitespace or punctuation.
pub fn person_key(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let src = nfkc_cow(name);
    for c in src.chars() {
        // Fast paths with the same result as the general case below (see the tests).
        if c.is_ascii() {
            if c.is_ascii_alphanumeric() {
                out.push(c.to_ascii_lowercase());
            }
        } else if is_cjk(c) {
            out.push(c);
        } else if c.is_alphanumeric() {
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Legal-form suffixes stripped from company names before matching, longest first.
const COMPANY_SUFFIXES: &[&str] = &[
    "股份有限公司",
    "有限责任公司",
    "集团有限公司",
    "有限公司",
    "集团公司",
    "分公司",
    "集团",
    "公司",
    "corporation",
    "company",
    "limited",
    "coltd",
    "corp",
    "ltd",
    "inc",
    "llc",
    "co",
];

/// Region prefixes stripped from company names before matching (provinces and large cities).
const REGION_PREFIXES: &[&str] = &[
    "北京市",
    "上海市",
    "天津市",
    "重庆市",
    "广东省",
    "江苏省",
    "浙江省",
    "山东省",
    "河南省",
    "四川省",
    "湖北省",
    "湖南省",
    "福建省",
    "安徽省",
    "河北省",
    "北京",
    "上海",
    "天津",
    "重庆",
    "广州",
    "深圳",
    "杭州",
    "南京",
    "苏州",
    "成都",
    "武汉",
    "西安",
    "广东",
    "江苏",
    "浙江",
    "山东",
    "河南",
    "四川",
    "湖北",
    "湖南",
    "福建",
    "安徽",
    "河北",
];

/// The matching key of a company name: [`person_key`] without region prefixes and legal-form
/// suffixes, so `上海某某机械有限公司` and `某某机械` match.
pub fn company_key(company: &str) -> String {
    let mut key = person_key(company);
    let mut changed = true;
    while changed {
        changed = false;
        for suffix in COMPANY_SUFFIXES {
            if key.len() > suffix.len() && ends_with(&key, suffix) {
                key.truncate(key.len() - suffix.len());
                changed = true;
            }
        }
    }
    for prefix in REGION_PREFIXES {
        if key.len() > prefix.len() + 3 && starts_with(&key, prefix) {
            key.drain(..prefix.len());
            break;
        }
    }
    key
}

/// `text.ends_with(suffix)`, ruling most suffixes out by their last byte before comparing the
/// rest (a company key is checked against every suffix, and again after each one it drops).
fn ends_with(text: &str, suffix: &str) -> bool {
    let last = suffix.as_bytes().last();
    (last.is_none() || text.as_bytes().last() == last) && text.ends_with(suffix)
}

/// `text.starts_with(prefix)`, ruling most prefixes out by their first two bytes (the first
/// byte of a Chinese character is shared by thousands of others).
fn starts_with(text: &str, prefix: &str) -> bool {
    let head = prefix.as_bytes().get(..2);
    (head.is_none() || text.as_bytes().get(..2) == head) && text.starts_with(prefix)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mobiles_in_every_form() {
        for s in [
            "13812345678",
            "138 1234 5678",
            "138-1234-5678",
            "+86 138 1234 5678",
            "+8613812345678",
            "0086 13812345678",
            "8613812345678",
            "１３８１２３４５６７８",
            "(138) 1234.5678",
        ] {
            assert_eq!(
                MobileNumber::parse(s).unwrap().as_str(),
                "13812345678",
                "{s}"
            );
        }
        for bad in [
            "",
            "1381234567",
            "138123456789",
            "12812345678",
            "23812345678",
            "+1 138 1234 5678",
            "138x1234567",
        ] {
            let e = MobileNumber::parse(bad).unwrap_err();
            assert_eq!(e.field(), Some("mobile"), "{bad}: {e}");
        }
    }

    #[test]
    fn other_phones_become_e164() {
        assert_eq!(
            Phone::parse("+44 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            Phone::parse("0044 20 7946 0958").unwrap().as_str(),
            "+442079460958"
        );
        assert_eq!(
            Phone::parse("010-8888 1234").unwrap().as_str(),
            "+861088881234"
        );
        assert_eq!(
            Phone::parse("13812345678")
                .unwrap()
                .as_mobile()
                .unwrap()
                .as_str(),
            "13812345678"
        );
        assert!(Phone::parse("12345").is_err());
        assert!(Phone::parse("+0123456789").is_err());
        assert!(Phone::parse("phone").is_err());
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("Li.Si+crm@Example.com").unwrap().as_str(),
            "li.si+crm@example.com"
        );
        assert_eq!(
            Email::parse("ｌｉ＠ｅｘａｍｐｌｅ．ｃｏｍ")
                .unwrap()
                .as_str(),
            "li@example.com"
        );
        for bad in [
            "",
            "li",
            "li@",
            "@example.com",
            "li@example",
            "li@@example.com",
            "l i@example.com",
            "li@-x.com",
            ".li@x.com",
        ] {
            assert_eq!(
                Email::parse(bad).unwrap_err().field(),
                Some("email"),
                "{bad}"
            );
        }
    }

    #[test]
    fn names_and_companies() {
        assert_eq!(clean_name("  张  三 ", "name").unwrap(), "张 三");
        assert!(clean_name("   ", "name").is_err());
        assert_eq!(person_key("张 三"), "张三");
        assert_eq!(company_key("上海 某某机械有限公司"), "某某机械");
        assert_eq!(company_key("某某机械股份有限公司"), "某某机械");
        assert_eq!(company_key("ACME Co., Ltd."), "acme");
        assert_eq!(company_key("公司"), "公司");
    }

    #[test]
    fn the_quick_affix_checks_agree_with_str() {
        let mut texts: Vec<String> = vec![String::new(), "a".into(), "张".into(), "co".into()];
        for a in REGION_PREFIXES
            .iter()
            .chain(COMPANY_SUFFIXES)
            .chain(&["某某机械", "acme"])
        {
            for b in COMPANY_SUFFIXES
                .iter()
                .chain(REGION_PREFIXES)
                .chain(&["", "x", "公"])
            {
                texts.push(format!("{a}{b}"));
                texts.push(format!("{b}{a}"));
            }
        }
        for t in &texts {
            for affix in COMPANY_SUFFIXES
                .iter()
                .chain(REGION_PREFIXES)
                .chain(&["", "x"])
            {
                assert_eq!(ends_with(t, affix), t.ends_with(affix), "{t:?} {affix:?}");
                assert_eq!(
                    starts_with(t, affix),
                    t.starts_with(affix),
                    "{t:?} {affix:?}"
                );
            }
        }
    }

    #[test]
    fn person_key_fast_paths_match_the_general_rule() {
        let general = |c: char| -> String {
            if c.is_alphanumeric() {
                c.to_lowercase().collect()
            } else {
                String::new()
            }
        };
        for c in ('\0'..='\u{7f}').chain('\u{4e00}'..='\u{9fff}') {
            assert_eq!(person_key(&c.to_string()), general(c), "{c:?}");
        }
        assert_eq!(person_key("Ａｂｃ 张三-Ä"), "abc张三ä");
    }

    #[test]
    fn email_lowercasing_paths() {
        assert_eq!(Email::parse("a.b@c.cn").unwrap().as_str(), "a.b@c.cn");
        assert_eq!(Email::parse("A.B@C.CN").unwrap().as_str(), "a.b@c.cn");
        assert!(Email::parse("a@b..cn").is_err());
    }

    #[test]
    fn wecom_ids() {
        assert!(WeComId::parse("wmABC_123-x").is_ok());
        assert!(WeComId::parse("wm abc").is_err());
        assert!(WeComId::parse("").is_err());
    }
}
