//! Deterministic cancellation for tests (feature `testing`): drop a future after a chosen number
//! of polls, the way a disconnecting client or a firing timeout drops a service call at one of
//! its `.await` points.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A future that polls `inner` at most `polls` times: it resolves to `Some(output)` if `inner`
/// finished within them, and otherwise drops `inner` (running its destructors, as a real
/// cancellation does) and resolves to `None`. Made by [`poll_then_drop`].
///
/// After each poll that leaves `inner` pending, `Cancel` wakes itself, so it keeps counting
/// even when `inner` waits for something that never comes (a [hung store](super::Fault::HangAfterCommit)).
/// The count is therefore of polls, not of wall-clock time: over in-memory stores (no I/O) the
/// `n`-th poll reaches the same `.await` point on every run, so a seeded choice of `n` cancels
/// a service call at a reproducible point; over real I/O some polls find the I/O not yet ready.
#[derive(Debug)]
#[must_use = "futures do nothing unless polled"]
pub struct Cancel<F> {
    inner: Option<Pin<Box<F>>>,
    polls_left: usize,
}

impl<F: Future> Cancel<F> {
    /// Poll `inner` at most `polls` times (0 drops it unpolled).
    pub fn new(inner: F, polls: usize) -> Cancel<F> {
        Cancel {
            inner: Some(Box::pin(inner)),
            polls_left: polls,
        }
    }
}

impl<F: Future> Future for Cancel<F> {
    type Output = Option<F::Output>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // `Cancel` is Unpin: the inner future is boxed.
        let this = self.get_mut();
        let Some(inner) = this.inner.as_mut() else {
            return Poll::Ready(None);
        };
        if this.polls_left == 0 {
            this.inner = None;
            return Poll::Ready(None);
        }
        this.polls_left -= 1;
        match inner.as_mut().poll(cx) {
            Poll::Ready(out) => {
                this.inner = None;
                Poll::Ready(Some(out))
            }
            Poll::Pending if this.polls_left == 0 => {
                // Cancelled here: drop the future at the await point it is suspended at.
                this.inner = None;
                Poll::Ready(None)
            }
            Poll::Pending => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
        }
    }
}

/// Poll `future` at most `polls` times; `Some(output)` if it finished, `None` if it was dropped
/// unfinished. See [`Cancel`].
///
/// ```
/// use marketingforce_core::storage::poll_then_drop;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let two_awaits = async {
///     tokio::task::yield_now().await;
///     tokio::task::yield_now().await;
///     "done"
/// };
/// assert_eq!(poll_then_drop(two_awaits, 2).await, None); // dropped at the second await
/// let two_awaits = async {
///     tokio::task::yield_now().await;
///     tokio::task::yield_now().await;
///     "done"
/// };
/// assert_eq!(poll_then_drop(two_awaits, 3).await, Some("done"));
/// # });
/// ```
pub fn poll_then_drop<F: Future>(future: F, polls: usize) -> Cancel<F> {
    Cancel::new(future, polls)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn run<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    /// Counts how far it got, and whether it was dropped.
    struct Probe(Arc<AtomicUsize>);
    impl Drop for Probe {
        fn drop(&mut self) {
            self.0.fetch_add(100, Ordering::SeqCst);
        }
    }

    #[test]
    fn drops_at_each_await_point_and_runs_destructors() {
        for polls in 0..5 {
            let progress = Arc::new(AtomicUsize::new(0));
            let p = progress.clone();
            let fut = async move {
                let _probe = Probe(p.clone());
                for _ in 0..3 {
                    p.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                }
                "finished"
            };
            let out = run(poll_then_drop(fut, polls));
            let reached = progress.load(Ordering::SeqCst);
            if polls >= 4 {
                assert_eq!(out, Some("finished"));
                assert_eq!(reached, 103);
            } else {
                assert_eq!(out, None, "polls {polls}");
                // Each poll advances to the next await; the drop ran the destructor (unless
                // the future was never polled, when it never started).
                let started = if polls == 0 { 0 } else { 100 };
                assert_eq!(reached, polls + started, "polls {polls}");
            }
        }
    }

    #[test]
    fn gives_up_on_a_future_that_never_wakes() {
        assert_eq!(run(poll_then_drop(std::future::pending::<()>(), 10)), None);
    }
}
