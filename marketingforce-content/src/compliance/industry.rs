//! The industry vocabulary industry layers switch on with: the crate's own industries (those of
//! the text templates, via [`industry_id`](crate::distribution::industry_id)) plus the
//! regulated ones the Advertising Law treats apart (`data/compliance/industries.json`).

use std::collections::HashMap;
use std::sync::OnceLock;

use serde::Deserialize;

use crate::distribution::industry_id;

/// The compliance industries file.
const INDUSTRIES: &str = include_str!("../../data/compliance/industries.json");

#[derive(Deserialize)]
struct File {
    industries: Vec<Entry>,
}

#[derive(Deserialize)]
struct Entry {
    id: String,
    names: Vec<String>,
}

fn aliases() -> &'static HashMap<String, String> {
    static MAP: OnceLock<HashMap<String, String>> = OnceLock::new();
    MAP.get_or_init(|| {
        let mut m = HashMap::new();
        // The file is checked by the test suite; a broken file only loses the aliases.
        if let Ok(f) = serde_json::from_str::<File>(INDUSTRIES) {
            for e in f.industries {
                for n in &e.names {
                    m.insert(industry_id(n), e.id.clone());
                }
                m.insert(industry_id(&e.id), e.id);
            }
        }
        m
    })
}

/// The industry id compliance rules use for an advertiser's industry as written: the crate's
/// vocabulary first (`机械设备` → `industrial-machinery`), then the regulated industries and
/// their names (`房地产` → `real-estate`, `保健品` → `health-food`); anything else trimmed,
/// lower-cased and hyphenated.
///
/// ```
/// use marketingforce_content::compliance::resolve_industry;
/// assert_eq!(resolve_industry("房地产"), "real-estate");
/// assert_eq!(resolve_industry("Real Estate"), "real-estate");
/// assert_eq!(resolve_industry("教育培训"), "education");
/// assert_eq!(resolve_industry("机械设备"), "industrial-machinery");
/// assert_eq!(resolve_industry("Pet Shop"), "pet-shop");
/// ```
pub fn resolve_industry(raw: &str) -> String {
    let id = industry_id(raw);
    aliases().get(&id).cloned().unwrap_or(id)
}

/// The regulated industries of the compliance vocabulary (ids).
pub fn regulated_industries() -> Vec<String> {
    serde_json::from_str::<File>(INDUSTRIES)
        .map(|f| f.industries.into_iter().map(|e| e.id).collect())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_parses_and_names_are_unambiguous() {
        let f: File = serde_json::from_str(INDUSTRIES).unwrap();
        let mut seen = HashMap::new();
        for e in &f.industries {
            for n in &e.names {
                if let Some(prev) = seen.insert(industry_id(n), e.id.clone()) {
                    assert_eq!(prev, e.id, "{n} names two industries");
                }
            }
        }
        assert_eq!(resolve_industry("保健品"), "health-food");
        assert_eq!(resolve_industry(" Medical Device "), "medical-devices");
    }
}
