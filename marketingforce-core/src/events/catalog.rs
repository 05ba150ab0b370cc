//! The event catalogue: each crate lists its event types with their schemas, and the committed
//! `schemas/events/` files are generated from the lists.

use std::collections::BTreeSet;
use std::fmt;

use schemars::Schema;

use super::{check_event_name, DomainEvent, EventEnvelope};
use crate::error::{Error, Result};

/// One event type of a catalogue: name, version, the Rust type and its JSON Schema.
#[derive(Clone)]
pub struct EventType {
    name: &'static str,
    version: u32,
    rust_type: &'static str,
    schema: fn() -> Schema,
}

impl fmt::Debug for EventType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EventType")
            .field("name", &self.name)
            .field("version", &self.version)
            .field("rust_type", &self.rust_type)
            .finish()
    }
}

fn schema_of<E: DomainEvent>() -> Schema {
    schemars::schema_for!(E)
}

impl EventType {
    /// The catalogue entry of `E`.
    pub fn of<E: DomainEvent>() -> EventType {
        EventType {
            name: E::NAME,
            version: E::VERSION,
            rust_type: std::any::type_name::<E>(),
            schema: schema_of::<E>,
        }
    }

    /// The event's name.
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// The payload's version.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The Rust type's path.
    pub fn rust_type(&self) -> &'static str {
        self.rust_type
    }

    /// The payload's JSON Schema.
    pub fn schema(&self) -> Schema {
        (self.schema)()
    }

    /// The one-line description of the event: the first line of its type's doc comment.
    pub fn description(&self) -> String {
        self.schema()
            .get("description")
            .and_then(|d| d.as_str())
            .and_then(|d| d.lines().next())
            .unwrap_or("")
            .to_string()
    }

    /// The committed schema's file name under `schemas/events/`: `<name>.v<version>.schema.json`.
    pub fn file_name(&self) -> String {
        format!("{}.v{}.schema.json", self.name, self.version)
    }
}

/// The events of one area (a crate: `crm`, `modules`, `ads`, …). Each crate exposes its
/// catalogue from a `pub fn event_catalog() -> EventCatalog`; the workspace's schema test
/// collects them all ([`schema_files`]).
///
/// ```
/// use marketingforce_core::events::{DomainEvent, EventCatalog};
/// use schemars::JsonSchema;
/// use serde::{Deserialize, Serialize};
///
/// /// A lead was captured from a form, an import or a channel.
/// #[derive(Serialize, Deserialize, JsonSchema)]
/// struct LeadCaptured { lead: String, source: String }
/// impl DomainEvent for LeadCaptured {
///     const NAME: &'static str = "crm.lead.captured";
///     const VERSION: u32 = 1;
/// }
///
/// let catalog = EventCatalog::new("crm").with::<LeadCaptured>();
/// catalog.validate().unwrap();
/// assert_eq!(catalog.types()[0].file_name(), "crm.lead.captured.v1.schema.json");
/// assert_eq!(catalog.types()[0].description(), "A lead was captured from a form, an import or a channel.");
/// // Events must be named under the catalogue's area.
/// assert!(EventCatalog::new("ads").with::<LeadCaptured>().validate().is_err());
/// ```
#[derive(Debug, Clone)]
pub struct EventCatalog {
    area: &'static str,
    types: Vec<EventType>,
}

impl EventCatalog {
    /// An empty catalogue for `area` (the first segment of every event name in it).
    pub fn new(area: &'static str) -> EventCatalog {
        EventCatalog {
            area,
            types: Vec::new(),
        }
    }

    /// Add `E`.
    #[must_use]
    pub fn with<E: DomainEvent>(mut self) -> EventCatalog {
        self.types.push(EventType::of::<E>());
        self
    }

    /// The area.
    pub fn area(&self) -> &'static str {
        self.area
    }

    /// The event types, in the order added.
    pub fn types(&self) -> &[EventType] {
        &self.types
    }

    /// Check every name (well formed, under the area) and that no (name, version) is listed
    /// twice.
    ///
    /// # Errors
    /// A validation error naming the entry (`events.crm[2].name`).
    pub fn validate(&self) -> Result<()> {
        let mut seen = BTreeSet::new();
        for (i, t) in self.types.iter().enumerate() {
            let field = format!("events.{}[{i}].name", self.area);
            check_event_name(t.name, &field)?;
            if t.name.split('.').next() != Some(self.area) {
                return Err(Error::validation(
                    field,
                    format!("{} is not in area {}", t.name, self.area),
                ));
            }
            if t.version == 0 {
                return Err(Error::validation(
                    format!("events.{}[{i}].version", self.area),
                    "versions start at 1",
                ));
            }
            if !seen.insert((t.name, t.version)) {
                return Err(Error::validation(
                    field,
                    format!("{} v{} is listed twice", t.name, t.version),
                ));
            }
        }
        Ok(())
    }
}

/// A generated file of `schemas/events/`: its path relative to that directory and its
/// contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaFile {
    /// File name under `schemas/events/` (`envelope.schema.json`, `README.md`,
    /// `crm.lead.captured.v1.schema.json`).
    pub path: String,
    /// The exact contents to commit.
    pub contents: String,
}

fn pretty(schema: &Schema) -> Result<String> {
    Ok(serde_json::to_string_pretty(schema)? + "\n")
}

/// Every file of `schemas/events/` for `catalogs`: the envelope's schema, one schema per event
/// type and version, and `README.md` (the catalogue: name, version, description, schema file,
/// Rust type). A staleness test compares them with the committed files and rewrites them on
/// request, as `tests/schemas.rs` does for configuration:
///
/// ```no_run
/// # fn catalogs() -> Vec<marketingforce_core::events::EventCatalog> { vec![] }
/// use marketingforce_core::events::schema_files;
///
/// let dir = std::path::Path::new("schemas/events");
/// for file in schema_files(&catalogs()).unwrap() {
///     let path = dir.join(&file.path);
///     if std::env::var_os("UPDATE_SCHEMAS").is_some() {
///         std::fs::write(&path, &file.contents).unwrap();
///     } else {
///         assert_eq!(std::fs::read_to_string(&path).unwrap(), file.contents, "{} is stale", file.path);
///     }
/// }
/// ```
///
/// # Errors
/// The first catalogue's validation error; a name listed in two catalogues.
pub fn schema_files(catalogs: &[EventCatalog]) -> Result<Vec<SchemaFile>> {
    let mut files = vec![SchemaFile {
        path: "envelope.schema.json".into(),
        contents: pretty(&schemars::schema_for!(EventEnvelope))?,
    }];
    let mut names = BTreeSet::new();
    let mut index = String::from(
        "# Event catalogue\n\n\
         Generated from each crate's `event_catalog()` by `tests/event_schemas.rs`; do not edit \
         by hand\n(`UPDATE_SCHEMAS=1 cargo test -p marketingforce --test event_schemas` \
         regenerates it).\n\n\
         Every event travels in the envelope of `envelope.schema.json` (id, name, version, \
         tenant,\noccurred_at, causation_id, correlation_id, payload). On NATS JetStream it is \
         published to\n`mf.<tenant>.<name>` in stream `MARKETINGFORCE`; webhooks POST it as the \
         request body.\n\n",
    );
    let mut rows = Vec::new();
    for catalog in catalogs {
        catalog.validate()?;
        for t in catalog.types() {
            if !names.insert((t.name, t.version)) {
                return Err(Error::validation(
                    format!("events.{}", catalog.area),
                    format!("{} v{} is listed in two catalogues", t.name, t.version),
                ));
            }
            files.push(SchemaFile {
                path: t.file_name(),
                contents: pretty(&t.schema())?,
            });
            rows.push(format!(
                "| `{}` | {} | {} | [`{}`]({}) | `{}` |\n",
                t.name,
                t.version,
                t.description().replace('|', "\\|"),
                t.file_name(),
                t.file_name(),
                t.rust_type
            ));
        }
    }
    if rows.is_empty() {
        index.push_str("No crate lists events yet.\n");
    } else {
        index.push_str(
            "| event | version | what happened | payload schema | Rust type |\n\
             |---|---:|---|---|---|\n",
        );
        for row in rows {
            index.push_str(&row);
        }
    }
    files.push(SchemaFile {
        path: "README.md".into(),
        contents: index,
    });
    Ok(files)
}
