//! The per-row work of a large batch — normalising, blind indexes, sealing, encoding — spread
//! over the machine's cores: scoped threads, results in input order. Batches too small to pay
//! for a thread run on the calling thread, and so does everything when no thread can be
//! started.
//!
//! Only pure, synchronous work goes through here (no `.await`, no shared state): a command's
//! effects are still applied and committed in order on the calling task.

use std::num::NonZeroUsize;
use std::sync::OnceLock;

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

/// How many threads `rows` rows are worth.
fn threads_for(rows: usize) -> usize {
    available().min(rows / MIN_ROWS_PER_THREAD).max(1)
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
    let run = |chunk: &[T]| {
        let mut state = init();
        chunk.iter().map(|t| f(&mut state, t)).collect::<Vec<R>>()
    };
    let n = threads_for(items.len());
    if n == 1 {
        return run(items);
    }
    let mut chunks = items.chunks(items.len().div_ceil(n));
    let first = chunks.next().unwrap_or_default();
    std::thread::scope(|s| {
        let run = &run;
        // A chunk whose thread cannot be started is done here, after the first.
        let spawned: Vec<Result<std::thread::ScopedJoinHandle<'_, Vec<R>>, &[T]>> = chunks
            .map(|c| {
                std::thread::Builder::new()
                    .name("mf-crm-batch".into())
                    .spawn_scoped(s, move || run(c))
                    .map_err(|_| c)
            })
            .collect();
        let mut out = run(first);
        out.reserve(items.len() - out.len());
        for h in spawned {
            match h {
                Ok(h) => match h.join() {
                    Ok(part) => out.extend(part),
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(chunk) => out.extend(run(chunk)),
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
        assert_eq!(starts, threads_for(items.len()));
        assert!(seen.windows(2).all(|w| w[1] == w[0] + 1 || w[1] == 0));
    }
}
