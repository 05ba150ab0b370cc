//! [`EventFilter`]: which event names a sink (a webhook endpoint) receives.

use std::fmt;

use marketingforce_core::error::{quote_input, Error, Result};

/// Event-name patterns in NATS subject style: a pattern is dot-separated segments where `*`
/// matches exactly one segment and a final `>` matches one or more; an event is selected when
/// any pattern matches its name. [`EventFilter::all`] selects everything.
///
/// ```
/// use marketingforce_events::EventFilter;
///
/// let filter = EventFilter::new(["crm.lead.*", "modules.quota.>"]).unwrap();
/// assert!(filter.matches("crm.lead.captured"));
/// assert!(!filter.matches("crm.lead.sla.breached"));
/// assert!(filter.matches("modules.quota.threshold_reached"));
/// assert!(!filter.matches("ads.settlement.closed"));
/// assert!(EventFilter::all().matches("ads.settlement.closed"));
/// assert!(EventFilter::new(["crm.>.lead"]).is_err()); // '>' only at the end
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EventFilter {
    patterns: Vec<Vec<String>>,
}

impl fmt::Debug for EventFilter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown: Vec<String> = self.patterns.iter().map(|p| p.join(".")).collect();
        f.debug_tuple("EventFilter").field(&shown).finish()
    }
}

impl Default for EventFilter {
    fn default() -> Self {
        EventFilter::all()
    }
}

impl EventFilter {
    /// Every event.
    pub fn all() -> EventFilter {
        EventFilter {
            patterns: vec![vec![">".to_string()]],
        }
    }

    /// The events matching any of `patterns`.
    ///
    /// # Errors
    /// A validation error on `events[i]` for an empty pattern list, an empty segment, a `>`
    /// that is not last, or a character outside `a-z 0-9 _ * >`.
    pub fn new<I, S>(patterns: I) -> Result<EventFilter>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut parsed = Vec::new();
        for (i, pattern) in patterns.into_iter().enumerate() {
            let pattern = pattern.as_ref();
            let field = format!("events[{i}]");
            let segments: Vec<String> = pattern.split('.').map(str::to_string).collect();
            for (j, s) in segments.iter().enumerate() {
                let ok = match s.as_str() {
                    "*" => true,
                    ">" => j == segments.len() - 1,
                    s => {
                        !s.is_empty()
                            && s.bytes()
                                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
                    }
                };
                if !ok {
                    return Err(Error::validation(
                        field,
                        format!(
                            "{} is not an event pattern: dot-separated names, '*' for one \
                             segment, '>' at the end for the rest",
                            quote_input(pattern)
                        ),
                    ));
                }
            }
            parsed.push(segments);
        }
        if parsed.is_empty() {
            return Err(Error::validation(
                "events",
                "name at least one pattern (\">\" for every event)",
            ));
        }
        Ok(EventFilter { patterns: parsed })
    }

    /// Whether `name` is selected.
    pub fn matches(&self, name: &str) -> bool {
        self.patterns.iter().any(|p| pattern_matches(p, name))
    }
}

fn pattern_matches(pattern: &[String], name: &str) -> bool {
    let mut segments = name.split('.');
    for p in pattern {
        match p.as_str() {
            ">" => return segments.next().is_some(),
            "*" => {
                if segments.next().is_none() {
                    return false;
                }
            }
            literal => {
                if segments.next() != Some(literal) {
                    return false;
                }
            }
        }
    }
    segments.next().is_none()
}
