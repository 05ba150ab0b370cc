//! Decoding the platform's answers: the envelope, exact money, counts, ids and enums.
//!
//! A body is first rewritten with every number quoted ([`json::rewrite`](super::json)), then
//! parsed into a `serde_json::Value` whose numbers are therefore strings holding the literal
//! text. The helpers here read fields from it and name the field path in every error
//! (`data.list[3].stat_cost`), so a malformed answer is a validation error saying where.

use serde_json::Value;

use marketingforce_core::money::{Currency, Decimal, Money};
use marketingforce_core::{Error, Result};

use super::codes::OceanEngineError;
use super::json::{self, Rewrite};

/// The envelope every endpoint answers with.
#[derive(Debug, Clone)]
pub(crate) struct Envelope {
    pub code: i64,
    pub message: String,
    pub request_id: String,
    pub data: Value,
}

/// Parse a response body into its envelope, numbers kept exact.
pub(crate) fn envelope(
    body: &str,
    endpoint: &str,
) -> std::result::Result<Envelope, OceanEngineError> {
    let malformed = |reason: String| OceanEngineError::Malformed {
        endpoint: endpoint.to_string(),
        reason,
    };
    let text = json::rewrite(
        body,
        Rewrite {
            quote_numbers: true,
            ..Rewrite::default()
        },
    )
    .map_err(|e| malformed(e.to_string()))?;
    let mut doc: Value = serde_json::from_str(&text).map_err(|e| malformed(e.to_string()))?;
    let Some(obj) = doc.as_object_mut() else {
        return Err(malformed("the body is not a JSON object".into()));
    };
    let code = match obj.get("code") {
        Some(Value::String(s)) => s
            .parse::<i64>()
            .map_err(|_| malformed(format!("code {s:?} is not an integer")))?,
        _ => return Err(malformed("no numeric `code` in the envelope".into())),
    };
    let text_of = |v: Option<&Value>| match v {
        Some(Value::String(s)) => s.clone(),
        _ => String::new(),
    };
    Ok(Envelope {
        code,
        message: text_of(obj.get("message")),
        request_id: text_of(obj.get("request_id")),
        data: obj.remove("data").unwrap_or(Value::Null),
    })
}

/// Join a field path.
pub(crate) fn at(parent: &str, child: &str) -> String {
    if parent.is_empty() {
        child.to_string()
    } else if child.starts_with('[') {
        format!("{parent}{child}")
    } else {
        format!("{parent}.{child}")
    }
}

/// A member that must be present and not null.
pub(crate) fn field<'a>(v: &'a Value, name: &str, path: &str) -> Result<&'a Value> {
    match v.get(name) {
        None | Some(Value::Null) => Err(Error::validation(
            at(path, name),
            "missing from the platform's answer",
        )),
        Some(x) => Ok(x),
    }
}

/// A string (numbers arrive as their literal text).
pub(crate) fn text(v: &Value, path: &str) -> Result<String> {
    match v {
        Value::String(s) => Ok(s.clone()),
        other => Err(Error::validation(
            path,
            format!("expected a string, got {}", kind(other)),
        )),
    }
}

/// An optional string member (missing or null: empty).
pub(crate) fn opt_text(v: &Value, name: &str, path: &str) -> Result<String> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(String::new()),
        Some(x) => text(x, &at(path, name)),
    }
}

/// A platform id: digits only (ids exceed 2^53, so they are read as text, never as floats).
pub(crate) fn id(v: &Value, path: &str) -> Result<String> {
    let s = text(v, path)?;
    if super::config::all_digits(&s) {
        Ok(s)
    } else {
        Err(Error::validation(
            path,
            format!("{s:?} is not a numeric id"),
        ))
    }
}

/// A non-negative whole count; missing, null or `""` (the platform's "no data") is 0.
pub(crate) fn count(v: &Value, name: &str, path: &str) -> Result<u64> {
    let path = at(path, name);
    let s = match v.get(name) {
        None | Some(Value::Null) => return Ok(0),
        Some(x) => text(x, &path)?,
    };
    if s.is_empty() {
        return Ok(0);
    }
    // Whole numbers may come as "12" or "12.0"; anything else is not a count.
    let whole = match s.split_once('.') {
        Some((int, frac)) if frac.bytes().all(|b| b == b'0') && !frac.is_empty() => int,
        Some(_) => return Err(Error::validation(path, format!("{s} is not a whole count"))),
        None => s.as_str(),
    };
    whole
        .parse::<u64>()
        .map_err(|_| Error::validation(path, format!("{s} is not a non-negative count")))
}

/// An amount in yuan, read from the literal text exactly.
///
/// Refused (a validation error naming `path`): an exponent (`1.2e3`), more than
/// `max_decimals` decimals (a float artefact such as `0.30000000000000004`), more digits than
/// an exact decimal holds, booleans, objects. Never rounded.
pub(crate) fn money(v: &Value, path: &str, currency: Currency, max_decimals: u32) -> Result<Money> {
    let s = match v {
        Value::String(s) => s.as_str(),
        other => {
            return Err(Error::validation(
                path,
                format!("expected an amount, got {}", kind(other)),
            ))
        }
    };
    let d = exact_decimal(s, path)?;
    if d.scale() > max_decimals {
        return Err(Error::validation(
            path,
            format!(
                "{s} has {} decimals, more than the {max_decimals} the platform documents: \
                 refused rather than rounded (was it computed in binary floating point?)",
                d.scale()
            ),
        ));
    }
    let mut amount = d;
    if amount.scale() < currency.minor_units() {
        amount.rescale(currency.minor_units());
    }
    Ok(Money::new(amount, currency))
}

/// An optional amount: missing or null is zero.
pub(crate) fn money_or_zero(
    v: &Value,
    name: &str,
    path: &str,
    currency: Currency,
    max_decimals: u32,
) -> Result<Money> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(Money::zero(currency)),
        Some(x) => money(x, &at(path, name), currency, max_decimals),
    }
}

/// A decimal literal to an exact `Decimal`: plain digits with an optional sign and fraction.
pub(crate) fn exact_decimal(s: &str, path: &str) -> Result<Decimal> {
    let unsigned = s.strip_prefix('-').unwrap_or(s);
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let plain = match unsigned.split_once('.') {
        Some((int, frac)) => digits(int) && digits(frac),
        None => digits(unsigned),
    };
    if !plain {
        return Err(Error::validation(
            path,
            format!("{s:?} is not a plain decimal amount (exponents and floats are refused)"),
        ));
    }
    let significant = unsigned.bytes().filter(u8::is_ascii_digit).count();
    if significant > 28 {
        return Err(Error::validation(
            path,
            format!("{s} has more digits than an exact decimal holds (28): refused, not rounded"),
        ));
    }
    s.parse::<Decimal>()
        .map_err(|e| Error::validation(path, format!("{s}: {e}")))
}

/// The rows of an array member (missing or null: none).
pub(crate) fn rows<'a>(v: &'a Value, name: &str, path: &str) -> Result<&'a [Value]> {
    match v.get(name) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(rows)) => Ok(rows),
        Some(other) => Err(Error::validation(
            at(path, name),
            format!("expected an array, got {}", kind(other)),
        )),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number that did not keep its literal text",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A page of a paginated answer (`page_info`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PageInfo {
    pub page: u64,
    pub total_page: u64,
    pub total_number: u64,
}

/// The `page_info` of `data` (missing: a single page).
pub(crate) fn page_info(data: &Value, path: &str) -> Result<PageInfo> {
    match data.get("page_info") {
        None | Some(Value::Null) => Ok(PageInfo {
            page: 1,
            total_page: 1,
            total_number: 0,
        }),
        Some(p) => {
            let path = at(path, "page_info");
            Ok(PageInfo {
                page: count(p, "page", &path)?,
                total_page: count(p, "total_page", &path)?,
                total_number: count(p, "total_number", &path)?,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn env(body: &str) -> Envelope {
        envelope(body, "test/").unwrap()
    }

    #[test]
    fn the_envelope_keeps_numbers_exact() {
        let e = env(
            r#"{"code":0,"message":"OK","request_id":"2026030109","data":{"stat_cost":123.45,"id":7160000000000000123}}"#,
        );
        assert_eq!(e.code, 0);
        assert_eq!(e.request_id, "2026030109");
        let m = money(&e.data["stat_cost"], "stat_cost", Currency::CNY, 2).unwrap();
        assert_eq!(m.to_string(), "123.45 CNY");
        assert_eq!(id(&e.data["id"], "id").unwrap(), "7160000000000000123");
    }

    #[test]
    fn malformed_envelopes_are_typed() {
        for bad in [
            "<html>502</html>",
            "{\"code\":\"x\"}",
            "[]",
            "{\"message\":\"no code\"}",
        ] {
            match envelope(bad, "2/x/") {
                Err(OceanEngineError::Malformed { endpoint, .. }) => assert_eq!(endpoint, "2/x/"),
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn money_is_exact_or_refused() {
        let cny = Currency::CNY;
        let ok = |s: &str| money(&json!(s), "c", cny, 2).unwrap().to_string();
        assert_eq!(ok("5"), "5.00 CNY");
        assert_eq!(ok("0.1"), "0.10 CNY");
        assert_eq!(ok("-12.30"), "-12.30 CNY");
        assert_eq!(ok("99999999999.99"), "99999999999.99 CNY");
        for bad in [
            "0.30000000000000004",
            "1.2e3",
            "12.345",
            "1e2",
            "+1",
            "1.",
            "NaN",
            "",
            "12345678901234567890123456789",
        ] {
            let e = money(&json!(bad), "data.list[0].stat_cost", cny, 2).unwrap_err();
            assert!(
                e.to_string().contains("data.list[0].stat_cost"),
                "{bad}: {e}"
            );
        }
        assert!(money(&json!(true), "c", cny, 2).is_err());
        assert_eq!(
            money(&json!("1.234"), "c", cny, 3).unwrap().to_string(),
            "1.234 CNY"
        );
    }

    #[test]
    fn counts_and_ids() {
        let row = json!({"a": "12", "b": "12.0", "c": "", "d": "-1", "e": "1.5", "f": null});
        assert_eq!(count(&row, "a", "r").unwrap(), 12);
        assert_eq!(count(&row, "b", "r").unwrap(), 12);
        assert_eq!(count(&row, "c", "r").unwrap(), 0);
        assert_eq!(count(&row, "f", "r").unwrap(), 0);
        assert_eq!(count(&row, "missing", "r").unwrap(), 0);
        assert_eq!(
            count(&row, "d", "r").unwrap_err().to_string(),
            "invalid r.d: -1 is not a non-negative count"
        );
        assert!(count(&row, "e", "r").is_err());
        assert!(id(&json!("12a"), "id").is_err());
        assert!(id(&json!(""), "id").is_err());
    }
}
