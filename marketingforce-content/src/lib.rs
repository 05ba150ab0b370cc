//! # marketingforce-content
//!
//! Part of the Marketingforce SDK (skeleton; filled by its issue).
//!
//! ```
//! assert!(true);
//! ```

#![deny(missing_docs)]
#![forbid(unsafe_code)]
