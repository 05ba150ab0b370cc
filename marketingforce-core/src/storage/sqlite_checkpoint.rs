//! Copying the write-ahead log into the database file off the commit path.
//!
//! SQLite's own policy checkpoints inside the commit that crosses the mark: that commit copies
//! the whole log into the database file and syncs it before it returns, so one batch in every
//! few waits for tens of megabytes of copying. Here the writer's WAL hook only wakes a thread
//! with a connection of its own, which runs a `PASSIVE` checkpoint (it never blocks readers or
//! the writer) while the next batches commit.
//!
//! The log stays bounded. It starts again from the beginning only when a write transaction
//! begins with every frame copied, which a writer committing back to back rarely gives the
//! thread time for: once the thread has copied all but a short tail (1,024 pages), the next
//! commit copies that tail itself, which is quick. That works while the frames committed during
//! one of the thread's checkpoints fit in the tail: by estimate, 5,000 commits a second of three
//! pages each add about 75 frames during a 5 ms checkpoint. Should the log still reach the hard
//! mark, the commit waits for the thread to copy it, as SQLite's own policy would have made it
//! copy the log itself. Should the thread or its connection fail to start, the writer
//! checkpoints at the soft mark, as SQLite does.
//!
//! A checkpoint never changes a commit's answer: the hook runs after the commit is durable,
//! and a checkpoint that fails (busy because another process is checkpointing the same file,
//! say) is left to the next mark, as SQLite's default hook does.
//!
//! With several processes on one file, each runs its own thread; SQLite lets one checkpoint run
//! at a time and the others find the work done or busy. Processes that all commit back to back
//! can leave the log no moment to start again and grow it past the hard mark, as they can under
//! SQLite's own policy.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

use rusqlite::hooks::Wal;
use rusqlite::{Connection, OpenFlags};

use super::sqlite::{db_err, open_side_connection, Durability};
use crate::error::Result;

/// When the log is copied: from `soft` pages on, the commit wakes the checkpoint thread, or
/// copies a tail of at most `tail` pages the thread has not copied itself; from `hard` pages
/// on, it waits for the thread's checkpoint before it returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Marks {
    pub(super) soft: i64,
    pub(super) tail: i64,
    pub(super) hard: i64,
}

impl Marks {
    /// 16,384 pages (64 MiB of 4 KiB pages; SQLite's default is 1,000), a tail of 1,024 pages
    /// (4 MiB) and four times the soft mark. With large batches a checkpoint every few commits
    /// copies each hot page (the end of a table, an index's interior pages) once instead of
    /// once per commit.
    pub(super) const DEFAULT: Marks = Marks {
        soft: 16_384,
        tail: 1_024,
        hard: 4 * 16_384,
    };
}

/// A request to the checkpoint thread: `None` to checkpoint when it can, `Some(done)` to
/// checkpoint and then say so.
type Wake = Option<SyncSender<()>>;

/// What the thread tells the writer's hook.
#[derive(Debug, Default)]
struct Progress {
    /// A checkpoint is asked for or running.
    busy: AtomicBool,
    /// The frames of the log copied by the last checkpoint.
    copied: AtomicI64,
}

/// The writer's handle on its checkpoint thread.
struct Checkpointer {
    wake: SyncSender<Wake>,
    progress: Arc<Progress>,
}

impl Checkpointer {
    /// At `pages` frames, past the soft mark: `true` when the commit should copy the log
    /// itself. The log starts again from the beginning only when a write transaction begins
    /// with every frame copied; a writer that commits back to back rarely gives the thread that
    /// moment, so once the thread has copied all but a short tail, the commit copies the tail.
    fn due(&self, pages: i64, marks: Marks) -> bool {
        if self.progress.busy.load(Ordering::Acquire) {
            return false;
        }
        let tail = pages - self.progress.copied.load(Ordering::Acquire);
        if (0..=marks.tail).contains(&tail) {
            return true;
        }
        self.progress.busy.store(true, Ordering::Release);
        match self.wake.try_send(None) {
            // Already asked when the channel is full.
            Ok(()) | Err(TrySendError::Full(_)) => false,
            Err(TrySendError::Disconnected(_)) => {
                self.progress.busy.store(false, Ordering::Release);
                true
            }
        }
    }

    /// Have the thread checkpoint now and wait until it has: the writer's next transaction then
    /// finds the log copied and starts it again from the beginning. `false` if the thread is
    /// gone.
    fn wait(&self) -> bool {
        let (done, finished) = sync_channel(1);
        self.wake.send(Some(done)).is_ok() && finished.recv().is_ok()
    }
}

/// Install the checkpoint policy on the writer of the database at `path`. The thread ends when
/// the writer connection closes (the hook, and with it the thread's channel, is dropped).
pub(super) fn install(
    writer: &mut Connection,
    path: &Path,
    durability: Durability,
    marks: Marks,
) -> Result<()> {
    let thread = match spawn(path, durability) {
        Ok(thread) => Some(thread),
        Err(e) => {
            tracing::warn!(error = %e, "no sqlite checkpoint thread; commits checkpoint the log");
            None
        }
    };
    let hook = move |wal: &mut Wal, pages: std::os::raw::c_int| {
        let pages = i64::from(pages);
        if pages < marks.soft {
            return Ok(());
        }
        let copy_here = match &thread {
            None => true,
            Some(t) if pages >= marks.hard => !t.wait(),
            Some(t) => t.due(pages, marks),
        };
        if copy_here {
            // The commit is durable already; a failed checkpoint is retried at the next mark.
            let outcome = wal.checkpoint_v2(rusqlite::wal::CheckpointMode::PASSIVE);
            if let (Some(t), Ok((_, copied))) = (&thread, outcome) {
                t.progress
                    .copied
                    .store(i64::from(copied), Ordering::Release);
            }
        }
        Ok(())
    };
    writer.wal_hook(Some(hook)).map_err(db_err)
}

/// Start the checkpoint thread.
fn spawn(path: &Path, durability: Durability) -> Result<Checkpointer> {
    let conn = open_side_connection(path, OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    // A checkpoint syncs the database file as the writer's setting says.
    let sync = match durability {
        Durability::Full => "FULL",
        Durability::Normal => "NORMAL",
    };
    conn.pragma_update(None, "synchronous", sync)
        .map_err(db_err)?;
    let (wake, woken) = sync_channel(1);
    let progress = Arc::new(Progress::default());
    let reports = progress.clone();
    std::thread::Builder::new()
        .name("mf-sqlite-checkpoint".into())
        .spawn(move || run(&conn, &woken, &reports))
        .map_err(|e| {
            crate::error::Error::backend_message(
                "sqlite",
                false,
                format!("cannot start the checkpoint thread: {e}"),
            )
        })?;
    Ok(Checkpointer { wake, progress })
}

fn run(conn: &Connection, woken: &Receiver<Wake>, progress: &Progress) {
    while let Ok(request) = woken.recv() {
        progress.busy.store(true, Ordering::Release);
        // (busy, frames in the log, frames copied)
        let outcome = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i64>(2));
        match outcome {
            Ok(copied) => progress.copied.store(copied, Ordering::Release),
            Err(e) => {
                tracing::debug!(error = %e, "sqlite checkpoint failed; retried at the next mark");
            }
        }
        progress.busy.store(false, Ordering::Release);
        if let Some(done) = request {
            let _ = done.send(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{Batch, Expect, PageRequest, SqliteStore, Store, StoreLimits};
    use crate::tenant::TenantId;
    use std::time::{Duration, Instant};

    /// Marks small enough for a test's few hundred pages.
    const SMALL: Marks = Marks {
        soft: 30,
        tail: 4,
        hard: 60,
    };

    async fn open(path: &Path, durability: Durability, marks: Marks) -> SqliteStore {
        SqliteStore::open_marked(path, durability, StoreLimits::default(), marks)
            .await
            .unwrap()
    }

    /// Commit batches `batches` of `records` records of about 3 KiB each (about a page each).
    async fn fill(
        store: &SqliteStore,
        tenant: &TenantId,
        batches: std::ops::Range<usize>,
        records: usize,
    ) {
        for b in batches {
            let mut batch = Batch::new();
            for r in 0..records {
                let seed = (b * records + r) as u64;
                let value: Vec<u8> = (0..3_000u64)
                    .map(|i| crate::id::splitmix64(seed << 16 | i) as u8)
                    .collect();
                batch.put("pages", format!("{b}-{r}"), value, vec![], Expect::Absent);
            }
            store.commit(tenant, batch).await.unwrap();
        }
    }

    /// The records `fill` wrote that `store` reads back.
    async fn stored(store: &SqliteStore, tenant: &TenantId) -> usize {
        let page = store
            .list(tenant, "pages", &PageRequest::first(1000))
            .await
            .unwrap();
        page.items.len()
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap()
    }

    fn len(path: &Path) -> u64 {
        std::fs::metadata(path).map_or(0, |m| m.len())
    }

    #[test]
    fn the_store_s_thread_copies_the_log_into_the_file_after_the_soft_mark() {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("soft.sqlite");
            // The hard mark is out of reach: only the thread can copy the log.
            let marks = Marks {
                soft: 40,
                tail: 0,
                hard: i64::MAX,
            };
            let store = open(&path, Durability::Full, marks).await;
            let before = len(&path);
            let tenant = TenantId::new();
            fill(&store, &tenant, 0..3, 20).await;
            // In WAL mode only a checkpoint writes the database file.
            let deadline = Instant::now() + Duration::from_secs(20);
            while len(&path) <= before && Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            assert!(
                len(&path) > before + 40 * 4096,
                "the file grew from {before} to {} bytes",
                len(&path)
            );
            assert_eq!(stored(&store, &tenant).await, 60);
        });
    }

    #[test]
    fn below_the_soft_mark_nothing_is_copied() {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("below.sqlite");
            let store = open(&path, Durability::Full, Marks::DEFAULT).await;
            let before = len(&path);
            fill(&store, &TenantId::new(), 0..3, 20).await;
            tokio::time::sleep(Duration::from_millis(200)).await;
            assert_eq!(len(&path), before);
        });
    }

    #[test]
    fn the_log_stays_bounded_by_the_hard_mark_under_continuous_commits() {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("hard.sqlite");
            let store = open(&path, Durability::Normal, SMALL).await;
            let tenant = TenantId::new();
            let wal = dir.path().join("hard.sqlite-wal");
            let mut largest = 0;
            for round in 0..40 {
                fill(&store, &tenant, round..round + 1, 10).await;
                largest = largest.max(len(&wal));
                if round % 10 == 0 {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
            // Frames are a page plus a 24-byte header; one batch of ten 3 KiB records and
            // its index pages is well under 30 frames.
            let bound = 32 + (SMALL.hard as u64 + 30) * (4096 + 24);
            assert!(
                largest <= bound,
                "log reached {largest} bytes (bound {bound})"
            );
            assert_eq!(stored(&store, &tenant).await, 400);
        });
    }

    /// Two stores on one file (stand-ins for two processes), each with its thread, commit at
    /// once: every batch lands and the log is copied into the file.
    #[test]
    fn two_stores_on_one_file_each_with_its_thread_commit_and_checkpoint_together() {
        runtime().block_on(async {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("shared.sqlite");
            let first = open(&path, Durability::Normal, SMALL).await;
            let second = open(&path, Durability::Normal, SMALL).await;
            let before = len(&path);
            let tenant = TenantId::new();
            for round in 0..20 {
                let (a, b) = (2 * round, 2 * round + 1);
                tokio::join!(
                    fill(&first, &tenant, a..a + 1, 10),
                    fill(&second, &tenant, b..b + 1, 10)
                );
            }
            // No bound on the log here: two writers that never pause leave it no moment to
            // start again from the beginning, whoever checkpoints (SQLite's own policy lets it
            // grow the same way).
            assert!(len(&path) > before, "nothing was copied into the file");
            assert_eq!(stored(&first, &tenant).await, 400);
            assert_eq!(stored(&second, &tenant).await, 400);
        });
    }

    #[test]
    fn a_commit_wakes_the_thread_or_copies_a_short_tail_itself() {
        let marks = Marks {
            soft: 100,
            tail: 16,
            hard: 400,
        };
        let (wake, woken) = sync_channel(1);
        let t = Checkpointer {
            wake,
            progress: Arc::new(Progress::default()),
        };
        // Nothing copied yet: the thread is woken, once.
        assert!(!t.due(120, marks));
        assert!(matches!(woken.try_recv(), Ok(None)));
        assert!(!t.due(130, marks), "the thread is still busy");
        assert!(woken.try_recv().is_err());
        // The thread copied 125 frames; 5 more came since: a short tail, copied here.
        t.progress.copied.store(125, Ordering::Release);
        t.progress.busy.store(false, Ordering::Release);
        assert!(t.due(130, marks));
        assert!(woken.try_recv().is_err());
        // A longer way behind: the thread again.
        assert!(!t.due(200, marks));
        assert!(matches!(woken.try_recv(), Ok(None)));
        // The thread is gone: the commit copies.
        t.progress.busy.store(false, Ordering::Release);
        drop(woken);
        assert!(t.due(300, marks));
        assert!(!t.wait());
    }
}
