//! # marketingforce-sites
//!
//! T Cloud's first step: the customer's official platform.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod error;
pub mod forms;
pub mod industry;
pub mod model;
pub mod render;
pub mod validate;

pub use error::{Result, SitesError};
