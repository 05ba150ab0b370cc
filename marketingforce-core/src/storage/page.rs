//! Keyset pagination: stable under concurrent inserts and deletes.

use crate::error::{Error, Result};

/// An opaque position in a key-ordered listing: the key of the last item returned.
///
/// Pages continue strictly after the cursor, so items inserted or deleted elsewhere never make a
/// listing repeat or skip the items that were there throughout.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Cursor(String);

impl Cursor {
    /// A cursor positioned after `key`.
    pub fn after(key: impl Into<String>) -> Cursor {
        Cursor(key.into())
    }

    /// The key the next page starts after.
    pub fn key(&self) -> &str {
        &self.0
    }
}

/// Which page to read: up to `limit` items after `after` (from the start when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    /// Maximum number of items, 1–10,000.
    pub limit: usize,
    /// Continue after this cursor.
    pub after: Option<Cursor>,
}

impl Default for PageRequest {
    fn default() -> Self {
        PageRequest {
            limit: 100,
            after: None,
        }
    }
}

impl PageRequest {
    /// The largest page a backend returns.
    pub const MAX_LIMIT: usize = 10_000;

    /// The first page of `limit` items.
    pub fn first(limit: usize) -> PageRequest {
        PageRequest { limit, after: None }
    }

    /// The page after `cursor`, of `limit` items.
    pub fn next(limit: usize, cursor: Cursor) -> PageRequest {
        PageRequest {
            limit,
            after: Some(cursor),
        }
    }

    /// Check the limit.
    ///
    /// # Errors
    /// A validation error on `page.limit` outside 1–10,000.
    pub fn validate(&self) -> Result<()> {
        if self.limit == 0 || self.limit > Self::MAX_LIMIT {
            return Err(Error::validation(
                "page.limit",
                format!("{} is outside 1-{}", self.limit, Self::MAX_LIMIT),
            ));
        }
        Ok(())
    }

    /// The key to continue after, if any.
    pub fn after_key(&self) -> Option<&str> {
        self.after.as_ref().map(Cursor::key)
    }
}

/// One page of results and the cursor of the next page (`None` on the last page).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in key order.
    pub items: Vec<T>,
    /// Where the next page starts, if there is one.
    pub next: Option<Cursor>,
}

impl<T> Page<T> {
    /// Build a page from up to `limit + 1` fetched items: the extra item only signals that a
    /// next page exists. `key_of` gives the cursor key of an item.
    pub fn from_overfetch(mut items: Vec<T>, limit: usize, key_of: impl Fn(&T) -> &str) -> Page<T> {
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(|i| Cursor::after(key_of(i)))
        } else {
            None
        };
        Page { items, next }
    }

    /// Transform the items, keeping the cursor.
    pub fn try_map<U>(self, f: impl FnMut(T) -> Result<U>) -> Result<Page<U>> {
        Ok(Page {
            items: self.items.into_iter().map(f).collect::<Result<_>>()?,
            next: self.next,
        })
    }
}
