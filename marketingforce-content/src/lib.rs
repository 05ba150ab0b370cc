//! # marketingforce-content
//!
//! T Cloud's content side: generate marketing text, images and video; review them for the
//! Advertising Law; recommend channels, publish, optimise, monitor; report.

#![deny(missing_docs)]
#![forbid(unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

pub mod compliance;
pub mod distribution;
pub mod error;
pub mod image;
pub mod keywords;
pub mod optimise;
pub mod report;
pub mod rng;
pub mod text;
pub mod video;

pub use error::{ContentError, LlmError, Result};
