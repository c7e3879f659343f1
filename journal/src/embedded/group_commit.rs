//! Group commit: who runs the writer, and when.
//!
//! Appends wait in one queue. Whoever holds the writer commits the appends waiting (up to a
//! batch's byte limit) with one write and one fdatasync, so appends that arrive while a sync
//! is in flight share the next one.
//!
//! Two kinds of committer take turns:
//! - A caller that finds the writer free commits its own group on its own thread. A lone
//!   writer therefore pays for its fdatasync and nothing else: no hand-off to another
//!   thread and back, which on a small virtual machine costs tens of microseconds, a large
//!   share of a 150 us sync.
//! - The committer thread takes over whenever appends are left waiting after a group
//!   (they arrived while the writer was busy), and drains the queue until it is empty.
//!
//! No append is ever left waiting without a committer: a caller that finds the writer busy
//! has queued its append before looking, and every committer looks at the queue after
//! releasing the writer and wakes the thread if anything is there.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};

use super::writer::{AppendRequest, Writer};

pub struct GroupCommit {
    queue: Mutex<Queue>,
    work: Condvar,
    writer: Mutex<Writer>,
    batch_bytes_max: usize,
}

struct Queue {
    waiting: VecDeque<AppendRequest>,
    shutting_down: bool,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // The writer poisons the store itself on I/O errors; a panic while holding a lock leaves
    // nothing half-written that a later holder could misread (batches are written whole).
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl GroupCommit {
    pub fn new(mut writer: Writer, batch_bytes_max: usize) -> GroupCommit {
        writer.start();
        GroupCommit {
            queue: Mutex::new(Queue {
                waiting: VecDeque::new(),
                shutting_down: false,
            }),
            work: Condvar::new(),
            writer: Mutex::new(writer),
            batch_bytes_max,
        }
    }

    /// Queues `request` and, if the writer is free, commits on the calling thread.
    pub fn submit(&self, request: AppendRequest) {
        lock(&self.queue).waiting.push_back(request);
        let Ok(mut writer) = self.writer.try_lock() else {
            // Busy: its holder looks at the queue when it lets go.
            return;
        };
        let batch = self.take_batch();
        if !batch.is_empty() {
            in_place(|| writer.commit(batch));
        }
        drop(writer);
        self.wake_if_waiting();
    }

    /// The committer thread: drains the queue whenever appends are left waiting.
    pub fn run_committer(&self) {
        loop {
            {
                let mut queue = lock(&self.queue);
                while queue.waiting.is_empty() && !queue.shutting_down {
                    queue = self.work.wait(queue).unwrap_or_else(|p| p.into_inner());
                }
                if queue.waiting.is_empty() && queue.shutting_down {
                    break;
                }
            }
            let mut writer = lock(&self.writer);
            loop {
                let batch = self.take_batch();
                if batch.is_empty() {
                    break;
                }
                writer.commit(batch);
            }
        }
        lock(&self.writer).shutdown();
    }

    /// Asks the committer thread to finish what is queued and stop.
    pub fn shut_down(&self) {
        lock(&self.queue).shutting_down = true;
        self.work.notify_all();
    }

    fn wake_if_waiting(&self) {
        if !lock(&self.queue).waiting.is_empty() {
            self.work.notify_one();
        }
    }

    /// The appends at the front of the queue, up to the batch byte limit (at least one).
    fn take_batch(&self) -> Vec<AppendRequest> {
        let mut queue = lock(&self.queue);
        let mut batch = Vec::new();
        let mut bytes = 0;
        while let Some(next) = queue.waiting.front() {
            if !batch.is_empty() && bytes + next.encoded_bytes_max > self.batch_bytes_max {
                break;
            }
            bytes += next.encoded_bytes_max;
            batch.extend(queue.waiting.pop_front());
        }
        batch
    }
}

/// Runs blocking work (a write and an fdatasync) on the calling thread. On tokio's
/// multi-threaded runtime the worker first hands its other tasks to another thread, so the
/// runtime keeps going; elsewhere the work simply runs.
fn in_place<R>(work: impl FnOnce() -> R) -> R {
    use tokio::runtime::{Handle, RuntimeFlavor};
    match Handle::try_current() {
        Ok(handle) if handle.runtime_flavor() == RuntimeFlavor::MultiThread => {
            tokio::task::block_in_place(work)
        }
        _ => work(),
    }
}
