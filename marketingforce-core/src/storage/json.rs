//! JSON encoding of stored values in buffers of their exact size.

use std::cell::RefCell;

use serde::Serialize;

/// A thread's scratch buffer is kept between encodings up to this capacity.
const SCRATCH_KEPT: usize = 64 * 1024;

/// `value` as JSON, as `serde_json::to_vec` writes it, in a buffer of exactly its length.
///
/// `to_vec` grows its buffer from nothing by doubling: a 2 KB record costs about eight
/// reallocations and keeps up to twice its length allocated while it is stored. Here the JSON is
/// written into the thread's scratch buffer (kept between calls) and copied out once. The
/// scratch buffer keeps the last value's bytes until the thread's next encoding, as the store
/// keeps the value itself: do not use it for plaintext that is sealed before it is stored.
///
/// ```
/// let json = marketingforce_core::storage::to_json_exact(&("lead", 7)).unwrap();
/// assert_eq!(json, br#"["lead",7]"#);
/// assert_eq!(json.len(), json.capacity());
/// ```
///
/// # Errors
/// A serialization error of `value`.
pub fn to_json_exact<T: Serialize + ?Sized>(value: &T) -> serde_json::Result<Vec<u8>> {
    thread_local! {
        static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
    }
    SCRATCH.with(|scratch| {
        // A value whose serialisation encodes another value on this thread finds the buffer
        // taken: it gets a buffer of its own.
        let Ok(mut buf) = scratch.try_borrow_mut() else {
            return serde_json::to_vec(value);
        };
        buf.clear();
        let written = serde_json::to_writer(&mut *buf, value).map(|()| buf.to_vec());
        if buf.capacity() > SCRATCH_KEPT {
            *buf = Vec::new();
        }
        written
    })
}

#[cfg(test)]
mod tests {
    use super::to_json_exact as to_vec_exact;

    #[test]
    fn bytes_are_those_of_to_vec_and_the_buffer_is_exact() {
        let big = "x".repeat(100_000);
        for value in [
            serde_json::json!({"a": [1, 2, "é\n\"q\""], "b": null}),
            serde_json::json!(big),
            serde_json::json!([]),
        ] {
            let exact = to_vec_exact(&value).unwrap();
            assert_eq!(exact, serde_json::to_vec(&value).unwrap());
            assert_eq!(exact.len(), exact.capacity());
        }
    }

    #[test]
    fn a_value_that_encodes_another_while_it_is_encoded_gets_its_own_buffer() {
        struct Nested;
        impl serde::Serialize for Nested {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let inner = to_vec_exact(&[1, 2, 3]).map_err(serde::ser::Error::custom)?;
                s.serialize_bytes(&inner)
            }
        }
        assert_eq!(
            to_vec_exact(&Nested).unwrap(),
            serde_json::to_vec(&b"[1,2,3]"[..]).unwrap()
        );
    }
}
