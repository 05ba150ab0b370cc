//! The per-row work of a large batch — normalising, blind indexes, sealing, encoding — spread
//! over the machine's cores: scoped threads, results in input order. Batches too small to pay
//! for a thread run on the calling thread, and so does everything when no thread can be
//! started.
//!
//! Only pure, synchronous work goes through here (no `.await`, no shared state): a command's
//! effects are still applied and committed in order on the calling task.

use std::num::NonZeroUsize;
use std::sync::{Mutex, OnceLock, PoisonError};

/// Rows each extra thread must have at least: starting one costs about as much as a few dozen
/// rows of the cheapest work sent here.
pub(crate) const MIN_ROWS_PER_THREAD: usize = 256;

/// Threads at most (the calling one included).
const MAX_THREADS: usize = 8;

fn available() -> usize {
    static N: OnceLock<usize> = OnceLock::new();
    *N.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(MAX_THREADS)
    })
}

/// How many threads `rows` rows are worth, at `min_rows` rows per extra thread at least.
fn threads_for(rows: usize, min_rows: usize) -> usize {
    available().min(rows / min_rows.max(1)).max(1)
}

/// `f` of every item, in order.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_with(items, || (), |_, t| f(t))
}

/// `f` of every item, in order, each thread with its own state made by `init` (a cipher with
/// its own nonce sequence, say).
pub(crate) fn map_with<T: Sync, S, R: Send>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    let n = threads_for(items.len(), MIN_ROWS_PER_THREAD);
    let chunks: Vec<&[T]> = if n == 1 {
        vec![items]
    } else {
        items.chunks(items.len().div_ceil(n)).collect()
    };
    run_chunks(chunks, |chunk| {
        let mut state = init();
        chunk.iter().map(|t| f(&mut state, t)).collect()
    })
}

/// `f` of every item, taking it: what `f` does not keep is dropped on the thread that ran it,
/// so freeing a batch's working copies is spread over the cores too. `min_rows` is the least
/// number of rows worth a thread of their own ([`MIN_ROWS_PER_THREAD`] for light work; less
/// for heavier rows, such as opening a sealed vault).
pub(crate) fn map_owned<T: Send, R: Send>(
    items: Vec<T>,
    min_rows: usize,
    f: impl Fn(T) -> R + Sync,
) -> Vec<R> {
    map_owned_with(items, min_rows, || (), |_, t| f(t))
}

/// [`map_owned`] with a state per thread, as [`map_with`].
pub(crate) fn map_owned_with<T: Send, S, R: Send>(
    items: Vec<T>,
    min_rows: usize,
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, T) -> R + Sync,
) -> Vec<R> {
    let n = threads_for(items.len(), min_rows);
    let size = items.len().div_ceil(n).max(1);
    // Chunks are cut from the end, so each item is moved once.
    let mut chunks = Vec::with_capacity(n);
    let mut rest = items;
    while rest.len() > size {
        chunks.push(rest.split_off(rest.len() - size));
    }
    chunks.push(rest);
    chunks.reverse();
    run_chunks(chunks, |chunk| {
        let mut state = init();
        chunk.into_iter().map(|t| f(&mut state, t)).collect()
    })
}

/// `run` of every chunk, the first on the calling thread and each other on a scoped thread of
/// its own; the results joined in chunk order. A chunk whose thread cannot be started is run
/// on the calling thread, after the first.
fn run_chunks<C: Send, R: Send>(chunks: Vec<C>, run: impl Fn(C) -> Vec<R> + Sync) -> Vec<R> {
    let mut chunks = chunks.into_iter();
    let Some(first) = chunks.next() else {
        return Vec::new();
    };
    if chunks.len() == 0 {
        return run(first);
    }
    // Each other chunk waits in a slot its thread takes it from: a chunk whose thread could
    // not be started is still there afterwards.
    let slots: Vec<Mutex<Option<C>>> = chunks.map(|c| Mutex::new(Some(c))).collect();
    let take = |slot: &Mutex<Option<C>>| slot.lock().unwrap_or_else(PoisonError::into_inner).take();
    std::thread::scope(|s| {
        let (run, take) = (&run, &take);
        let spawned: Vec<Option<std::thread::ScopedJoinHandle<'_, Vec<R>>>> = slots
            .iter()
            .map(|slot| {
                std::thread::Builder::new()
                    .name("mf-crm-batch".into())
                    .spawn_scoped(s, move || take(slot).map_or_else(Vec::new, run))
                    .ok()
            })
            .collect();
        let mut out = run(first);
        for (slot, h) in slots.iter().zip(spawned) {
            if let Some(h) = h {
                match h.join() {
                    Ok(part) => out.extend(part),
                    Err(panic) => std::panic::resume_unwind(panic),
                }
            }
            if let Some(c) = take(slot) {
                out.extend(run(c));
            }
        }
        out
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_the_input_order_at_every_size() {
        for n in [0, 1, 255, 256, 511, 512, 513, 1000, 4099] {
            let items: Vec<u64> = (0..n).collect();
            assert_eq!(
                map(&items, |x| x * 3 + 1),
                items.iter().map(|x| x * 3 + 1).collect::<Vec<_>>(),
                "{n} items"
            );
        }
    }

    #[test]
    fn each_thread_has_its_own_state() {
        // A counter per thread: within a chunk it counts up from zero, so every chunk's first
        // item sees 0, and the numbers seen sum to what the chunks' lengths say.
        let items: Vec<u32> = (0..5000).collect();
        let seen = map_with(
            &items,
            || 0u32,
            |c, _| {
                *c += 1;
                *c - 1
            },
        );
        assert_eq!(seen.len(), items.len());
        assert_eq!(seen[0], 0);
        let starts = seen.iter().filter(|c| **c == 0).count();
        assert_eq!(starts, threads_for(items.len(), MIN_ROWS_PER_THREAD));
        assert!(seen.windows(2).all(|w| w[1] == w[0] + 1 || w[1] == 0));
    }

    #[test]
    fn owned_items_are_mapped_in_order_and_each_exactly_once_at_every_size() {
        for (n, min) in [
            (0, 1),
            (1, 1),
            (7, 1),
            (63, 64),
            (64, 16),
            (1000, 64),
            (4099, 256),
        ] {
            let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
            let expected: Vec<usize> = (0..n).map(|i| i * 2).collect();
            let got = map_owned(items, min, |s| {
                s.parse::<usize>().map_or(usize::MAX, |v| v * 2)
            });
            assert_eq!(got, expected, "{n} items, {min} per thread");
        }
    }

    #[test]
    fn owned_items_get_a_state_per_thread() {
        let items: Vec<u32> = (0..1000).collect();
        let seen = map_owned_with(
            items,
            100,
            || 0u32,
            |c, _| {
                *c += 1;
                *c - 1
            },
        );
        assert_eq!(seen.len(), 1000);
        let starts = seen.iter().filter(|c| **c == 0).count();
        assert_eq!(starts, threads_for(1000, 100));
    }
}
