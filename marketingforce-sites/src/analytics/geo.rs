//! Regions from client addresses: the pluggable [`IpLocator`] and a CSV range table.
//!
//! Only the region is kept; the address itself is never stored.
//!
//! ```
//! use marketingforce_sites::analytics::{CsvRangeTable, IpLocator};
//!
//! let table = CsvRangeTable::test_table();
//! let r = table.locate("198.51.100.7".parse().unwrap()).unwrap();
//! assert_eq!(r.key(), "江苏/苏州");
//! assert!(table.locate("8.8.8.8".parse().unwrap()).is_none());
//! ```

use std::fmt;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::error::{Result, SitesError};

/// Where an address is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    /// ISO 3166 country code.
    pub country: String,
    /// Province (or state).
    pub province: String,
    /// City, when known.
    pub city: Option<String>,
}

impl Region {
    /// `province/city`, or the province alone.
    pub fn key(&self) -> String {
        match &self.city {
            Some(c) if c != &self.province => format!("{}/{c}", self.province),
            _ => self.province.clone(),
        }
    }
}

/// Finds the region of an address. Implement it over your IP database (ip2region, a
/// commercial feed, …).
pub trait IpLocator: Send + Sync + fmt::Debug {
    /// The region of `ip`, if known.
    fn locate(&self, ip: IpAddr) -> Option<Region>;
}

/// A table of address ranges read from CSV (`start,end,country,province,city`; `#` comments),
/// searched by binary search.
#[derive(Debug, Clone, Default)]
pub struct CsvRangeTable {
    ranges: Vec<(u128, u128, Region)>,
}

/// The test table shipped with the crate (documentation ranges, loopback, not real data).
pub const TEST_TABLE: &str = include_str!("../../data/ip-ranges.test.csv");

fn key(ip: IpAddr) -> u128 {
    match ip {
        // IPv4 as its IPv4-mapped IPv6 address, so both share one ordered space.
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

impl CsvRangeTable {
    /// The shipped test table.
    ///
    /// # Panics
    /// Never: the shipped table is checked by the tests.
    pub fn test_table() -> CsvRangeTable {
        #[allow(clippy::expect_used)]
        CsvRangeTable::from_csv(TEST_TABLE).expect("the shipped test table is valid")
    }

    /// Read a table. Ranges must not overlap.
    ///
    /// # Errors
    /// A validation error naming the line (`line 7.start`).
    pub fn from_csv(text: &str) -> Result<CsvRangeTable> {
        let data: String = text
            .lines()
            .map(|l| {
                if l.trim_start().starts_with('#') {
                    ""
                } else {
                    l
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(true)
            .flexible(false)
            .trim(csv::Trim::All)
            .from_reader(data.as_bytes());
        let mut ranges = Vec::new();
        for row in reader.records() {
            let row = row.map_err(|e| {
                let line = e.position().map_or(0, csv::Position::line);
                SitesError::validation(format!("line {line}"), e.to_string())
            })?;
            let line = row.position().map_or(0, csv::Position::line);
            let at = |f: &str| format!("line {line}.{f}");
            let ip = |i: usize, f: &str| -> Result<IpAddr> {
                row.get(i)
                    .unwrap_or_default()
                    .parse()
                    .map_err(|_| SitesError::validation(at(f), "is not an IP address"))
            };
            let (start, end) = (ip(0, "start")?, ip(1, "end")?);
            if start.is_ipv4() != end.is_ipv4() || key(start) > key(end) {
                return Err(SitesError::validation(
                    at("end"),
                    "must be an address of the same family, not before start",
                ));
            }
            let text = |i: usize| row.get(i).unwrap_or_default().to_string();
            if text(2).is_empty() || text(3).is_empty() {
                return Err(SitesError::validation(
                    at("province"),
                    "country and province are required",
                ));
            }
            let city = Some(text(4)).filter(|c| !c.is_empty());
            ranges.push((
                key(start),
                key(end),
                Region {
                    country: text(2),
                    province: text(3),
                    city,
                },
            ));
        }
        ranges.sort_by_key(|r| r.0);
        for w in ranges.windows(2) {
            if w[1].0 <= w[0].1 {
                return Err(SitesError::validation(
                    "ranges",
                    format!("the range of {} overlaps the one before it", w[1].2.key()),
                ));
            }
        }
        Ok(CsvRangeTable { ranges })
    }

    /// Number of ranges.
    pub fn len(&self) -> usize {
        self.ranges.len()
    }

    /// Whether the table is empty.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }
}

impl IpLocator for CsvRangeTable {
    fn locate(&self, ip: IpAddr) -> Option<Region> {
        let k = key(ip);
        let i = self.ranges.partition_point(|r| r.0 <= k);
        let (start, end, region) = self.ranges.get(i.checked_sub(1)?)?;
        (*start <= k && k <= *end).then(|| region.clone())
    }
}
