//! Client-chosen 128-bit ledger ids and the fast hasher the engine indexes them with.

use std::borrow::Cow;
use std::fmt;
use std::hash::{BuildHasherDefault, Hasher};
use std::str::FromStr;

use marketingforce_core::id::splitmix64;
use marketingforce_core::{Error, Result};
use schemars::{json_schema, JsonSchema, Schema, SchemaGenerator};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};

macro_rules! ledger_id {
    ($(#[$meta:meta])* $name:ident, $what:literal) => {
        $(#[$meta])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
        pub struct $name(u128);

        impl $name {
            /// The id with this numeric value (zero is reserved and refused by the ledger).
            pub const fn new(value: u128) -> Self {
                Self(value)
            }

            /// A deterministic id derived from a business key (the first 128 bits of its
            /// SHA-256). The same key always gives the same id, so a retried command re-submits
            /// the same id and the ledger recognises the replay.
            pub fn derive(key: &str) -> Self {
                let digest = Sha256::digest(key.as_bytes());
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&digest[..16]);
                Self(u128::from_be_bytes(bytes).max(1))
            }

            /// A deterministic id derived from raw key bytes (the first 128 bits of their
            /// SHA-256), for hot paths that would rather not format a string key.
            pub fn derive_bytes(key: &[u8]) -> Self {
                let digest = Sha256::digest(key);
                let mut bytes = [0u8; 16];
                bytes.copy_from_slice(&digest[..16]);
                Self(u128::from_be_bytes(bytes).max(1))
            }

            /// The numeric value.
            pub const fn get(self) -> u128 {
                self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{:032x}", self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!($what, "({:032x})"), self.0)
            }
        }

        impl FromStr for $name {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                if s.len() != 32 {
                    return Err(Error::validation(
                        $what,
                        format!("{s:?} is not 32 hexadecimal digits"),
                    ));
                }
                u128::from_str_radix(s, 16)
                    .map(Self)
                    .map_err(|e| Error::validation($what, format!("{s:?}: {e}")))
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                Cow::<str>::deserialize(d)?
                    .parse()
                    .map_err(serde::de::Error::custom)
            }
        }

        impl JsonSchema for $name {
            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }
            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({
                    "type": "string",
                    "pattern": "^[0-9a-f]{32}$",
                    "description": concat!("A ledger ", $what, " id: 128 bits in 32 hex digits."),
                })
            }
        }
    };
}

ledger_id! {
    /// Identifies a ledger account. Chosen by the client (the chart of accounts derives them
    /// from the account kind, owner and currency).
    AccountId, "account"
}

ledger_id! {
    /// Identifies a transfer. Chosen by the client: submitting the same id again with the same
    /// content is a no-op, with different content an error.
    ///
    /// ```
    /// use marketingforce_ads::ledger::TransferId;
    ///
    /// let a = TransferId::derive("settle:2026-03:spend:cust_1:plat_1:0");
    /// assert_eq!(a, TransferId::derive("settle:2026-03:spend:cust_1:plat_1:0"));
    /// assert_eq!(a.to_string().parse::<TransferId>().unwrap(), a);
    /// ```
    TransferId, "transfer"
}

/// A fast hasher for 128-bit ids (SplitMix64 finalisation), for the engine's hash indexes.
///
/// Client-chosen ids may be sequential (1, 2, 3, …), so they are mixed rather than used raw.
#[derive(Debug, Default, Clone, Copy)]
pub struct IdHasher(u64);

impl Hasher for IdHasher {
    fn finish(&self) -> u64 {
        splitmix64(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut word = [0u8; 8];
            word[..chunk.len()].copy_from_slice(chunk);
            self.0 = splitmix64(self.0 ^ u64::from_le_bytes(word));
        }
    }

    fn write_u32(&mut self, n: u32) {
        self.0 = splitmix64(self.0 ^ u64::from(n));
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = splitmix64(self.0 ^ n);
    }

    fn write_u128(&mut self, n: u128) {
        // Truncation is the point: the two halves are folded together.
        #[allow(clippy::cast_possible_truncation)]
        let (lo, hi) = (n as u64, (n >> 64) as u64);
        self.0 = lo ^ hi.rotate_left(29) ^ self.0.rotate_left(7);
    }

    fn write_usize(&mut self, n: usize) {
        self.write_u64(n as u64);
    }
}

/// `BuildHasher` for [`IdHasher`].
pub type IdBuildHasher = BuildHasherDefault<IdHasher>;

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn ids_parse_and_refuse_garbage() {
        let id = AccountId::new(0xabc);
        assert_eq!(id.to_string(), format!("{:032x}", 0xabc));
        assert_eq!(id.to_string().parse::<AccountId>().unwrap(), id);
        assert!("xyz".parse::<AccountId>().is_err());
        assert!("g".repeat(32).parse::<TransferId>().is_err());
        let json = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<AccountId>(&json).unwrap(), id);
        assert_ne!(TransferId::derive("a"), TransferId::derive("b"));
        assert_ne!(TransferId::derive("").get(), 0);
    }

    #[test]
    fn sequential_ids_spread_over_the_hash_space() {
        let mut m: HashMap<u128, u32, IdBuildHasher> = HashMap::default();
        for i in 0..10_000u32 {
            m.insert(u128::from(i), i);
        }
        assert_eq!(m.get(&7), Some(&7));
        assert_eq!(m.len(), 10_000);
    }
}
