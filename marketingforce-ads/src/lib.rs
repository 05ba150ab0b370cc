//! # marketingforce-ads
//!
//! Precision-marketing ad operations and rebate accounting on a double-entry ledger.

#![deny(missing_docs)]
#![forbid(unsafe_code)]

pub mod error;
pub mod ids;
pub mod ledger;
pub mod period;

pub use error::{AdsError, Result};
