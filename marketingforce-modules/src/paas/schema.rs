//! A small, strict JSON Schema subset for module configuration: enough to describe settings
//! (objects of typed properties), checked when a manifest is registered and when a tenant's
//! configuration is set. Unknown keywords are refused so that typos surface at registration.
//!
//! Supported: `type` (`object`, `string`, `integer`, `number`, `boolean`, `array`, `null`, or a
//! list of them), `properties`, `required`, `additionalProperties` (boolean or schema), `items`,
//! `enum`, `minimum`, `maximum`, `minLength`, `maxLength`, `minItems`, `maxItems`, and the
//! annotations `title`, `description`, `default`, `examples`, `$schema`.

use serde_json::{Map, Value};

use crate::error::{ModulesError, Result};

const TYPES: [&str; 7] = [
    "object", "string", "integer", "number", "boolean", "array", "null",
];
const ANNOTATIONS: [&str; 5] = ["title", "description", "default", "examples", "$schema"];

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn err(path: &str, reason: impl Into<String>) -> ModulesError {
    ModulesError::validation(path, reason)
}

/// Check that `schema` is a schema of the supported subset; errors name the path inside it
/// (`properties.depth.type`).
///
/// # Errors
/// A validation error naming the offending keyword.
pub fn validate_schema(schema: &Value) -> Result<()> {
    check(schema, "")
}

fn check(schema: &Value, path: &str) -> Result<()> {
    let Value::Object(map) = schema else {
        return Err(err(path, "a schema must be a JSON object"));
    };
    for (k, v) in map {
        let p = join(path, k);
        match k.as_str() {
            "type" => match v {
                Value::String(t) if TYPES.contains(&t.as_str()) => {}
                Value::Array(ts)
                    if !ts.is_empty()
                        && ts
                            .iter()
                            .all(|t| t.as_str().is_some_and(|t| TYPES.contains(&t))) => {}
                _ => {
                    return Err(err(
                        &p,
                        format!("must be one of {} or a list of them", TYPES.join(", ")),
                    ))
                }
            },
            "properties" => {
                let Value::Object(props) = v else {
                    return Err(err(&p, "must be an object of schemas"));
                };
                for (name, s) in props {
                    check(s, &join(&p, name))?;
                }
            }
            "required" => {
                let Value::Array(names) = v else {
                    return Err(err(&p, "must be an array of property names"));
                };
                let props = map.get("properties").and_then(Value::as_object);
                for (i, n) in names.iter().enumerate() {
                    let Some(n) = n.as_str() else {
                        return Err(err(&format!("{p}[{i}]"), "must be a string"));
                    };
                    if !props.is_some_and(|ps| ps.contains_key(n)) {
                        return Err(err(
                            &format!("{p}[{i}]"),
                            format!("{n:?} is not among the properties"),
                        ));
                    }
                }
            }
            "additionalProperties" => match v {
                Value::Bool(_) => {}
                other => check(other, &p)?,
            },
            "items" => check(v, &p)?,
            "enum" => {
                if v.as_array().is_none_or(|a| a.is_empty()) {
                    return Err(err(&p, "must be a non-empty array"));
                }
            }
            "minimum" | "maximum" => {
                if !v.is_number() {
                    return Err(err(&p, "must be a number"));
                }
            }
            "minLength" | "maxLength" | "minItems" | "maxItems" => {
                if v.as_u64().is_none() {
                    return Err(err(&p, "must be a non-negative integer"));
                }
            }
            a if ANNOTATIONS.contains(&a) => {}
            other => return Err(err(&p, format!("unsupported keyword {other:?}"))),
        }
    }
    Ok(())
}

fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn type_matches(expected: &str, v: &Value) -> bool {
    let actual = type_of(v);
    actual == expected || (expected == "number" && actual == "integer")
}

/// Check `value` against a schema of the supported subset; errors name the path inside the
/// value (`depth`, `channels[2]`).
///
/// # Errors
/// A validation error naming the offending value.
pub fn validate_instance(schema: &Value, value: &Value) -> Result<()> {
    instance(schema, value, "")
}

fn instance(schema: &Value, value: &Value, path: &str) -> Result<()> {
    let Value::Object(s) = schema else {
        return Ok(());
    };
    if let Some(t) = s.get("type") {
        let ok = match t {
            Value::String(t) => type_matches(t, value),
            Value::Array(ts) => ts
                .iter()
                .filter_map(Value::as_str)
                .any(|t| type_matches(t, value)),
            _ => true,
        };
        if !ok {
            return Err(err(path, format!("expected {t}, got {}", type_of(value))));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(value) {
            return Err(err(
                path,
                format!("{value} is not one of {}", Value::Array(options.clone())),
            ));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
            if n < min {
                return Err(err(path, format!("{value} is below the minimum {min}")));
            }
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
            if n > max {
                return Err(err(path, format!("{value} is above the maximum {max}")));
            }
        }
    }
    if let Some(text) = value.as_str() {
        let len = text.chars().count() as u64;
        if s.get("minLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len < m)
        {
            return Err(err(path, "too short"));
        }
        if s.get("maxLength")
            .and_then(Value::as_u64)
            .is_some_and(|m| len > m)
        {
            return Err(err(path, "too long"));
        }
    }
    if let Some(items) = value.as_array() {
        let n = items.len() as u64;
        if s.get("minItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| n < m)
        {
            return Err(err(path, "too few items"));
        }
        if s.get("maxItems")
            .and_then(Value::as_u64)
            .is_some_and(|m| n > m)
        {
            return Err(err(path, "too many items"));
        }
        if let Some(item_schema) = s.get("items") {
            for (i, v) in items.iter().enumerate() {
                instance(item_schema, v, &format!("{path}[{i}]"))?;
            }
        }
    }
    if let Some(obj) = value.as_object() {
        object(s, obj, path)?;
    }
    Ok(())
}

fn object(s: &Map<String, Value>, obj: &Map<String, Value>, path: &str) -> Result<()> {
    let props = s.get("properties").and_then(Value::as_object);
    if let Some(Value::Array(required)) = s.get("required") {
        for r in required.iter().filter_map(Value::as_str) {
            if !obj.contains_key(r) {
                return Err(err(&join(path, r), "is required"));
            }
        }
    }
    for (k, v) in obj {
        let p = join(path, k);
        match props.and_then(|ps| ps.get(k)) {
            Some(ps) => instance(ps, v, &p)?,
            None => match s.get("additionalProperties") {
                Some(Value::Bool(false)) => return Err(err(&p, "is not an allowed property")),
                Some(extra @ Value::Object(_)) => instance(extra, v, &p)?,
                _ => {}
            },
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn schemas_are_checked_with_paths() {
        let good = json!({"type":"object","properties":{"depth":{"type":"integer","minimum":1,"maximum":5}},"required":["depth"],"additionalProperties":false});
        validate_schema(&good).unwrap();
        let e = validate_schema(&json!({"type":"object","properties":{"depth":{"type":"int"}}}))
            .unwrap_err();
        assert_eq!(e.field(), Some("properties.depth.type"));
        let e = validate_schema(&json!({"type":"object","required":["x"]})).unwrap_err();
        assert_eq!(e.field(), Some("required[0]"));
        let e = validate_schema(&json!({"type":"object","patternProperties":{}})).unwrap_err();
        assert!(e.to_string().contains("unsupported"));
        assert!(validate_schema(&json!("object")).is_err());
    }

    #[test]
    fn instances_are_checked_with_paths() {
        let s = json!({"type":"object","properties":{
            "depth":{"type":"integer","minimum":1,"maximum":5},
            "channels":{"type":"array","items":{"enum":["baidu","douyin"]}}},
            "required":["depth"],"additionalProperties":false});
        validate_instance(&s, &json!({"depth":3,"channels":["baidu"]})).unwrap();
        assert_eq!(
            validate_instance(&s, &json!({"depth":9}))
                .unwrap_err()
                .field(),
            Some("depth")
        );
        assert_eq!(
            validate_instance(&s, &json!({})).unwrap_err().field(),
            Some("depth")
        );
        assert_eq!(
            validate_instance(&s, &json!({"depth":1,"channels":["x"]}))
                .unwrap_err()
                .field(),
            Some("channels[0]")
        );
        assert_eq!(
            validate_instance(&s, &json!({"depth":1,"zz":1}))
                .unwrap_err()
                .field(),
            Some("zz")
        );
        assert!(validate_instance(&s, &json!({"depth":"3"})).is_err());
    }
}
