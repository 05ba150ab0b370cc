//! The per-row work of a large batch — normalising, blind indexes, fingerprints, encoding,
//! sealing, history entries, decoding the stored leads it joins — spread over the machine's
//! cores: scoped threads, results in input order. A commit's threads only read its working
//! copies ([`map`], [`map_with`]), and the calling thread, which allocated them, frees them:
//! threads freeing memory another thread allocated made the commit slower. Batches too small to
//! pay for a thread run on the calling thread, and so does everything when no thread can be
//! started.
//!
//! The rows are cut into blocks that the threads take in turn, the calling one included,
//! rather than into one fixed share per thread: a thread that starts late or runs slower (a
//! new thread first grows its allocator's heap and faults its pages in) takes fewer blocks,
//! instead of keeping the others waiting for its share at the end.
//!
//! Only pure, synchronous work goes through here (no `.await`, no shared state): a command's
//! effects are still applied and committed in order on the calling task.

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Rows each extra thread must have at least: starting one costs about as much as a few dozen
/// rows of the cheapest work sent here.
pub(crate) const MIN_ROWS_PER_THREAD: usize = 256;

/// Threads at most (the calling one included).
const MAX_THREADS: usize = 8;

/// Blocks per thread: enough that the last block taken is a small part of a thread's work.
const BLOCKS_PER_THREAD: usize = 16;

/// Rows per block at least: taking a block costs one atomic increment and a lock.
const MIN_BLOCK_ROWS: usize = 16;

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

/// The rows of each block when `rows` rows go to `threads` threads.
fn block_rows(rows: usize, threads: usize) -> usize {
    if threads <= 1 {
        return rows.max(1);
    }
    rows.div_ceil(threads * BLOCKS_PER_THREAD)
        .max(MIN_BLOCK_ROWS)
}

/// `f` of every item, in order.
pub(crate) fn map<T: Sync, R: Send>(items: &[T], f: impl Fn(&T) -> R + Sync) -> Vec<R> {
    map_with(items, || (), |_, t| f(t))
}

/// `f` of every item, in order, each thread with its own state made by `init` (a cipher with
/// its own nonce sequence, say) when it takes its first block.
pub(crate) fn map_with<T: Sync, S, R: Send>(
    items: &[T],
    init: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> R + Sync,
) -> Vec<R> {
    let n = threads_for(items.len(), MIN_ROWS_PER_THREAD);
    let blocks: Vec<&[T]> = items.chunks(block_rows(items.len(), n)).collect();
    run_blocks(blocks, n, init, |state, block| {
        block.iter().map(|t| f(state, t)).collect()
    })
}

/// [`map`] for heavier rows: `min_rows` is the least number of rows worth a thread of their own
/// ([`MIN_ROWS_PER_THREAD`] is for light work; fewer for rows such as opening a sealed vault).
pub(crate) fn map_heavy<T: Sync, R: Send>(
    items: &[T],
    min_rows: usize,
    f: impl Fn(&T) -> R + Sync,
) -> Vec<R> {
    let n = threads_for(items.len(), min_rows);
    let blocks: Vec<&[T]> = items.chunks(block_rows(items.len(), n)).collect();
    run_blocks(blocks, n, || (), |_, block| block.iter().map(&f).collect())
}

/// The results of the blocks one thread took, each with its block's number.
type Taken<R> = Vec<(usize, Vec<R>)>;

/// `run` of every block on `threads` threads — the calling one and scoped threads of their
/// own — each taking the next block not yet taken until none is left, with its own state made
/// by `init` at its first block; the results joined in block order. The calling thread takes
/// blocks too, so the work is done even when no other thread can be started.
fn run_blocks<B: Send, S, R: Send>(
    blocks: Vec<B>,
    threads: usize,
    init: impl Fn() -> S + Sync,
    run: impl Fn(&mut S, B) -> Vec<R> + Sync,
) -> Vec<R> {
    if threads <= 1 || blocks.len() <= 1 {
        let mut state = None;
        return blocks
            .into_iter()
            .flat_map(|b| run(state.get_or_insert_with(&init), b))
            .collect();
    }
    let count = blocks.len();
    let slots: Vec<Mutex<Option<B>>> = blocks.into_iter().map(|b| Mutex::new(Some(b))).collect();
    let next = AtomicUsize::new(0);
    // Take blocks until none is left: each result with its block's number.
    let work = || {
        let mut state = None;
        let mut done: Taken<R> = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(slot) = slots.get(i) else {
                return done;
            };
            let block = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
            if let Some(b) = block {
                done.push((i, run(state.get_or_insert_with(&init), b)));
            }
        }
    };
    let parts: Vec<Taken<R>> = std::thread::scope(|s| {
        let work = &work;
        let spawned: Vec<std::thread::ScopedJoinHandle<'_, Taken<R>>> = (1..threads)
            .filter_map(|_| {
                std::thread::Builder::new()
                    .name("mf-crm-batch".into())
                    .spawn_scoped(s, work)
                    .ok()
            })
            .collect();
        let mut parts = vec![work()];
        for h in spawned {
            match h.join() {
                Ok(part) => parts.push(part),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        }
        parts
    });
    let mut ordered: Vec<Option<Vec<R>>> = std::iter::repeat_with(|| None).take(count).collect();
    for (i, rows) in parts.into_iter().flatten() {
        if let Some(slot) = ordered.get_mut(i) {
            *slot = Some(rows);
        }
    }
    let total = ordered.iter().flatten().map(Vec::len).sum();
    let mut out = Vec::with_capacity(total);
    for rows in ordered.into_iter().flatten() {
        out.extend(rows);
    }
    out
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

    /// The states `seen` reports, as (state, count so far): each state's counts, read in input
    /// order, are 0, 1, 2… (a thread takes its blocks in ascending order and keeps its state
    /// across them), and no more states than threads were made.
    fn check_states(seen: &[(usize, u32)], threads: usize) {
        let mut next: std::collections::HashMap<usize, u32> = Default::default();
        for (state, count) in seen {
            let expected = next.entry(*state).or_insert(0);
            assert_eq!(count, expected, "state {state} skipped or repeated a count");
            *expected += 1;
        }
        assert!(
            (1..=threads).contains(&next.len()),
            "{} states for {threads} threads",
            next.len()
        );
    }

    /// A state of its own for each call of `init`.
    fn numbered() -> impl Fn() -> (usize, u32) + Sync {
        let made = AtomicUsize::new(0);
        move || (made.fetch_add(1, Ordering::Relaxed), 0)
    }

    fn count(state: &mut (usize, u32)) -> (usize, u32) {
        state.1 += 1;
        (state.0, state.1 - 1)
    }

    #[test]
    fn each_thread_has_its_own_state() {
        let items: Vec<u32> = (0..5000).collect();
        let seen = map_with(&items, numbered(), |s, _| count(s));
        assert_eq!(seen.len(), items.len());
        check_states(&seen, threads_for(items.len(), MIN_ROWS_PER_THREAD));
    }

    #[test]
    fn a_slow_thread_takes_fewer_blocks_and_the_order_holds() {
        // Every row of the first block is slow: while one thread works through it, the
        // others take the rest. The results are still in input order.
        let items: Vec<u64> = (0..4096).collect();
        let first = block_rows(items.len(), threads_for(items.len(), MIN_ROWS_PER_THREAD));
        let got = map(&items, |x| {
            if (*x as usize) < first {
                std::thread::sleep(std::time::Duration::from_micros(200));
            }
            x * 7
        });
        assert_eq!(got, items.iter().map(|x| x * 7).collect::<Vec<_>>());
    }

    #[test]
    fn blocks_cover_every_row_once_at_every_size() {
        for rows in [
            0, 1, 15, 16, 17, 255, 256, 511, 512, 513, 2000, 4099, 100_003,
        ] {
            for threads in 1..=MAX_THREADS {
                let size = block_rows(rows, threads);
                assert!(size >= 1);
                if threads > 1 {
                    assert!(size >= MIN_BLOCK_ROWS);
                    assert!(rows.div_ceil(size) <= threads * BLOCKS_PER_THREAD.max(1) + 1);
                } else {
                    assert!(rows.div_ceil(size) <= 1);
                }
            }
        }
    }

    #[test]
    fn heavy_rows_are_mapped_in_order_and_each_exactly_once_at_every_size() {
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
            let got = map_heavy(&items, min, |s| {
                s.parse::<usize>().map_or(usize::MAX, |v| v * 2)
            });
            assert_eq!(got, expected, "{n} items, {min} per thread");
        }
    }
}
