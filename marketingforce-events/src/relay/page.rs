//! A page of a tenant's outbox, expanded from entries (one per commit) into events: what the
//! relay hands its sink in one step, and where each event sits, so the cursor can stop inside
//! an entry.

use marketingforce_core::storage::JournalEntry;
use marketingforce_core::tenant::TenantId;

use super::cursor::CursorRecord;
use crate::event::OutboxEvent;

/// Where an event sits in the outbox: its entry, its line, and how many lines the entry has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Place {
    pub seq: u64,
    pub line: u32,
    pub lines: u32,
}

/// The events of a page, in outbox order, after the cursor.
#[derive(Debug)]
pub(crate) struct Expanded {
    /// The events to deliver: at most `page_size`, all decodable, starting at the cursor.
    pub events: Vec<OutboxEvent>,
    /// The place of each event, then — when a line did not decode — that line's place.
    pub places: Vec<Place>,
    /// Why the line after the events did not decode, if one did not.
    pub undecodable: Option<String>,
    /// Entries looked into, and the lines they hold (to size the next read).
    pub entries_seen: usize,
    /// Lines in the entries looked into.
    pub lines_seen: usize,
    /// Whether the page stopped at `page_size` events with more lines left in what was read.
    pub truncated: bool,
}

impl Expanded {
    /// The events of `entries` after `cursor` (lines of the cursor's current entry before its
    /// line are skipped), up to `page_size` and up to the first line that does not decode.
    pub fn of(
        tenant: &TenantId,
        entries: Vec<JournalEntry>,
        cursor: &CursorRecord,
        page_size: usize,
    ) -> Expanded {
        let mut page = Expanded {
            events: Vec::new(),
            places: Vec::new(),
            undecodable: None,
            entries_seen: 0,
            lines_seen: 0,
            truncated: false,
        };
        'entries: for entry in entries {
            let seq = entry.seq;
            let decoded = OutboxEvent::decode_entry(tenant, entry);
            let lines = u32::try_from(decoded.len()).unwrap_or(u32::MAX);
            page.entries_seen += 1;
            page.lines_seen += decoded.len();
            let skip = if seq == cursor.position + 1 {
                cursor.line
            } else {
                0
            };
            for (line, result) in (0..lines).zip(decoded).skip(skip as usize) {
                if page.events.len() == page_size {
                    page.truncated = true;
                    break 'entries;
                }
                page.places.push(Place { seq, line, lines });
                match result {
                    Ok(event) => page.events.push(event),
                    Err(e) => {
                        page.undecodable = Some(format!(
                            "outbox entry #{seq}, line {line} is not an event: {e}"
                        ));
                        break 'entries;
                    }
                }
            }
        }
        page
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;
    use marketingforce_core::events::{EventContext, EventEnvelope, EventId};
    use marketingforce_core::storage::Batch;

    #[derive(serde::Serialize, serde::Deserialize, schemars::JsonSchema)]
    struct Ticked {
        n: u32,
    }
    impl marketingforce_core::events::DomainEvent for Ticked {
        const NAME: &'static str = "test.clock.ticked";
        const VERSION: u32 = 1;
    }

    /// Entries of the given sizes, as the store would return them (seq from 1).
    fn entries(tenant: &TenantId, sizes: &[u32]) -> Vec<JournalEntry> {
        let mut n = 0;
        sizes
            .iter()
            .enumerate()
            .map(|(i, size)| {
                let mut batch = Batch::new();
                for _ in 0..*size {
                    let e = EventEnvelope::new(
                        *tenant,
                        EventId::new(),
                        Utc::now(),
                        &Ticked { n },
                        &EventContext::new(),
                    )
                    .unwrap();
                    batch.append_event(tenant, &e).unwrap();
                    n += 1;
                }
                JournalEntry {
                    seq: i as u64 + 1,
                    payload: batch.appends()[0].payload.clone(),
                }
            })
            .collect()
    }

    fn ticks(page: &Expanded) -> Vec<u32> {
        page.events
            .iter()
            .map(|e| e.envelope().unwrap().decode::<Ticked>().unwrap().n)
            .collect()
    }

    #[test]
    fn a_page_starts_at_the_cursors_line_and_stops_at_its_size() {
        let tenant = TenantId::new();
        let mut cursor = CursorRecord::fresh("s");
        let page = Expanded::of(&tenant, entries(&tenant, &[3, 2, 4]), &cursor, 4);
        assert_eq!(ticks(&page), [0, 1, 2, 3]);
        assert!(page.truncated);
        assert_eq!((page.entries_seen, page.lines_seen), (2, 5));
        let last = page.places[3];
        assert_eq!(
            last,
            Place {
                seq: 2,
                line: 0,
                lines: 2
            }
        );

        // The cursor moves past the fourth event: into the second entry.
        cursor.pass(last.seq, last.line, last.lines);
        assert_eq!((cursor.position, cursor.line), (1, 1));
        let page = Expanded::of(
            &tenant,
            entries(&tenant, &[2, 4]),
            &{
                let mut c = cursor.clone();
                c.position = 0;
                c
            },
            10,
        );
        assert_eq!(ticks(&page), [1, 2, 3, 4, 5]);
        assert!(!page.truncated);

        // Past the last line of an entry: the entry is done.
        let mut c = CursorRecord::fresh("s");
        c.pass(1, 1, 2);
        assert_eq!((c.position, c.line), (1, 0));
        assert!(c.is_ahead(2, 0) && !c.is_ahead(1, 1));
    }

    #[test]
    fn a_line_that_does_not_decode_ends_the_page_and_has_a_place() {
        let tenant = TenantId::new();
        let mut good = entries(&tenant, &[2]);
        good[0].payload.extend_from_slice(b"\nnot an envelope\n");
        let page = Expanded::of(&tenant, good, &CursorRecord::fresh("s"), 10);
        assert_eq!(page.events.len(), 2);
        assert_eq!(page.places.len(), 3);
        assert_eq!(
            page.places[2],
            Place {
                seq: 1,
                line: 2,
                lines: 4
            }
        );
        assert!(page.undecodable.unwrap().contains("line 2"));
    }
}
