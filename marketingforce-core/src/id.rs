//! Typed, time-ordered identifiers.
//!
//! Every entity id is a UUIDv7 (48-bit millisecond timestamp + randomness), so ids sort by
//! creation time and make good B-tree keys. Each id type has its own prefix in text form —
//! `tenant_0192f0c1e3d47a8b9c0d1e2f3a4b5c6d` — so a lead id can never be passed where a tenant id
//! is expected, in code or in an API.
//!
//! Define an id type with [`entity_id!`](crate::entity_id):
//!
//! ```
//! use marketingforce_core::entity_id;
//!
//! entity_id! {
//!     /// Identifies an invoice.
//!     pub struct InvoiceId("inv");
//! }
//!
//! let id = InvoiceId::new();
//! let text = id.to_string();
//! assert!(text.starts_with("inv_"));
//! assert_eq!(text.parse::<InvoiceId>().unwrap(), id);
//! assert!("lead_0192f0c1e3d47a8b9c0d1e2f3a4b5c6d".parse::<InvoiceId>().is_err());
//! ```
//!
//! Ids come from an [`IdGenerator`]: [`RandomIds`] in production, [`SeededIds`] when a test or a
//! simulation must produce the same ids on every run.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

pub use uuid::Uuid;

use crate::error::{quote_input, Error, Result};
use crate::time::Clock;

/// A source of fresh UUIDv7 values.
pub trait IdGenerator: Send + Sync + fmt::Debug {
    /// The next id. Ids from one generator increase strictly.
    fn next_uuid(&self) -> Uuid;
}

/// Random UUIDv7s from the system clock and the OS random source.
#[derive(Debug, Default, Clone, Copy)]
pub struct RandomIds;

impl IdGenerator for RandomIds {
    fn next_uuid(&self) -> Uuid {
        Uuid::now_v7()
    }
}

/// Deterministic UUIDv7s: the timestamp comes from a [`Clock`], the rest from a counter mixed
/// with a seed. The same seed and clock give the same ids, which makes simulations replayable.
#[derive(Debug, Clone)]
pub struct SeededIds {
    seed: u64,
    counter: Arc<AtomicU64>,
    clock: Arc<dyn Clock>,
}

impl SeededIds {
    /// A generator for `seed` reading time from `clock`.
    pub fn new(seed: u64, clock: Arc<dyn Clock>) -> SeededIds {
        SeededIds {
            seed,
            counter: Arc::new(AtomicU64::new(0)),
            clock,
        }
    }
}

impl IdGenerator for SeededIds {
    fn next_uuid(&self) -> Uuid {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let millis = u64::try_from(self.clock.now().timestamp_millis()).unwrap_or(0);
        // 10 bytes after the timestamp: a 40-bit counter keeps ids strictly increasing within a
        // millisecond, 40 bits of seeded noise keep different seeds apart.
        let noise = splitmix64(self.seed ^ n.rotate_left(17));
        let mut bytes = [0u8; 10];
        bytes[..5].copy_from_slice(&n.to_be_bytes()[3..]);
        bytes[5..].copy_from_slice(&noise.to_be_bytes()[..5]);
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes).into_uuid()
    }
}

/// The SplitMix64 mixing function, a fast bijective hash of 64-bit integers.
pub fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Parse the text form `<prefix>_<32 hex digits>` (a hyphenated UUID after the prefix is also
/// accepted). Used by [`entity_id!`](crate::entity_id).
///
/// # Errors
/// A validation error on `<prefix> id` that says what is wrong.
pub fn parse_prefixed(prefix: &str, s: &str) -> Result<Uuid> {
    let field = || format!("{prefix} id");
    let rest = s
        .strip_prefix(prefix)
        .and_then(|r| r.strip_prefix('_'))
        .ok_or_else(|| {
            Error::validation(
                field(),
                format!("{} does not start with \"{prefix}_\"", quote_input(s)),
            )
        })?;
    let uuid = Uuid::try_parse(rest).map_err(|e| {
        Error::validation(
            field(),
            format!("{} is not a valid id: {e}", quote_input(s)),
        )
    })?;
    if uuid.get_version_num() != 7 {
        return Err(Error::validation(
            field(),
            format!("{} is not a UUIDv7", quote_input(s)),
        ));
    }
    Ok(uuid)
}

/// `f` of the text form `<prefix>_<32 hex digits>` of an id, written into a stack buffer: ids
/// are written into every record, key and event, and `format!` costs several times as much.
#[doc(hidden)]
pub fn __with_text<R>(prefix: &str, uuid: &Uuid, f: impl FnOnce(&str) -> R) -> R {
    const HEX: usize = 32;
    let mut buf = [0u8; 64];
    let p = prefix.len();
    match buf.get_mut(..p + 1 + HEX) {
        Some(text) => {
            let (head, hex) = text.split_at_mut(p + 1);
            let (name, underscore) = head.split_at_mut(p);
            name.copy_from_slice(prefix.as_bytes());
            underscore.fill(b'_');
            uuid.simple().encode_lower(hex);
            match std::str::from_utf8(text) {
                Ok(text) => f(text),
                Err(_) => f(&format!("{prefix}_{}", uuid.simple())),
            }
        }
        None => f(&format!("{prefix}_{}", uuid.simple())),
    }
}

/// Define a typed, prefixed, time-ordered id (see the [module docs](crate::id)).
///
/// The type gets `new()`, `generate(&dyn IdGenerator)`, `from_uuid`, `as_uuid`, `Display`,
/// `FromStr`, serde (as its text form) and a JSON Schema.
#[macro_export]
macro_rules! entity_id {
    ($(#[$meta:meta])* $vis:vis struct $name:ident($prefix:literal);) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        $vis struct $name($crate::id::Uuid);

        #[allow(dead_code)]
        impl $name {
            /// The text prefix of this id type.
            pub const PREFIX: &'static str = $prefix;

            /// A fresh id from the system clock and the OS random source.
            #[allow(clippy::new_without_default)]
            pub fn new() -> Self {
                Self($crate::id::Uuid::now_v7())
            }

            /// A fresh id from `ids`.
            pub fn generate(ids: &dyn $crate::id::IdGenerator) -> Self {
                Self(ids.next_uuid())
            }

            /// Wrap an existing UUID.
            pub const fn from_uuid(uuid: $crate::id::Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &$crate::id::Uuid {
                &self.0
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                $crate::id::__with_text($prefix, &self.0, |text| f.write_str(text))
            }
        }

        impl ::std::fmt::Debug for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                ::std::fmt::Display::fmt(self, f)
            }
        }

        impl ::std::str::FromStr for $name {
            type Err = $crate::Error;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                $crate::id::parse_prefixed($prefix, s).map(Self)
            }
        }

        impl $crate::__private::serde::Serialize for $name {
            fn serialize<S: $crate::__private::serde::Serializer>(
                &self,
                s: S,
            ) -> ::std::result::Result<S::Ok, S::Error> {
                $crate::id::__with_text($prefix, &self.0, |text| s.serialize_str(text))
            }
        }

        impl<'de> $crate::__private::serde::Deserialize<'de> for $name {
            fn deserialize<D: $crate::__private::serde::Deserializer<'de>>(
                d: D,
            ) -> ::std::result::Result<Self, D::Error> {
                let s = <::std::borrow::Cow<'de, str> as $crate::__private::serde::Deserialize>::deserialize(d)?;
                s.parse().map_err(<D::Error as $crate::__private::serde::de::Error>::custom)
            }
        }

        impl $crate::__private::schemars::JsonSchema for $name {
            fn schema_name() -> ::std::borrow::Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(
                _: &mut $crate::__private::schemars::SchemaGenerator,
            ) -> $crate::__private::schemars::Schema {
                $crate::__private::schemars::json_schema!({
                    "type": "string",
                    "pattern": concat!("^", $prefix, "_[0-9a-f]{32}$"),
                    "description": concat!("A ", stringify!($name), ": \"", $prefix, "_\" followed by a UUIDv7 in 32 hex digits."),
                })
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::ManualClock;

    entity_id! {
        /// A test id.
        pub struct ThingId("thing");
    }

    #[test]
    fn the_text_form_is_the_prefix_and_the_uuid_s_hex_digits() {
        let id = ThingId::new();
        let expected = format!("thing_{}", id.as_uuid().simple());
        assert_eq!(id.to_string(), expected);
        assert_eq!(format!("{id:?}"), expected);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            format!("\"{expected}\"")
        );
        let long = "p".repeat(40);
        assert_eq!(
            __with_text(&long, id.as_uuid(), str::to_string),
            format!("{long}_{}", id.as_uuid().simple())
        );
    }

    #[test]
    fn text_form_round_trips_and_rejects_garbage() {
        let id = ThingId::new();
        let s = id.to_string();
        assert_eq!(s.len(), "thing_".len() + 32);
        assert_eq!(s.parse::<ThingId>().unwrap(), id);
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<ThingId>(&json).unwrap(), id);
        for bad in [
            "",
            "thing_",
            "thing_xyz",
            "other_0192f0c1e3d47a8b9c0d1e2f3a4b5c6d",
            "thing0192",
        ] {
            let e = bad.parse::<ThingId>().unwrap_err();
            assert!(e.to_string().contains("thing id"), "{e}");
        }
        // A UUIDv4 is not accepted as an entity id.
        assert!("thing_6f1c1e8a0d4b4c2e9a7b3c5d1e2f3a4b"
            .parse::<ThingId>()
            .is_err());
    }

    #[test]
    fn seeded_ids_are_deterministic_and_increasing() {
        let clock: Arc<dyn Clock> =
            Arc::new(ManualClock::at_rfc3339("2026-01-01T00:00:00Z").unwrap());
        let a = SeededIds::new(7, clock.clone());
        let b = SeededIds::new(7, clock.clone());
        let xs: Vec<_> = (0..100).map(|_| ThingId::generate(&a)).collect();
        let ys: Vec<_> = (0..100).map(|_| ThingId::generate(&b)).collect();
        assert_eq!(xs, ys);
        assert!(xs.windows(2).all(|w| w[0] < w[1]));
        let c = SeededIds::new(8, clock);
        assert_ne!(ThingId::generate(&c), xs[0]);
    }
}
