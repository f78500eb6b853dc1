//! Threads beside the pool, for submitted CPU launches that must wait for
//! a buffer's lock.
//!
//! A submitted CPU launch holds its buffers' state locks while its kernel
//! runs on the pool. Its job starts on a pool worker, and a worker that
//! waits inside a kernel's parallel loop for pieces other workers took
//! steals more pool work, rayon's way of keeping busy: it can be handed
//! another submitted launch that needs one of those locks. Were that job to
//! wait for the lock, the worker would block on a lock its own stack holds,
//! and nothing would ever wake it (two CPU launches reading one buffer hung
//! now and then this way). So a job on the pool only *tries* its locks
//! (`launch::cpu::try_run_cpu`), and one that finds a lock held moves here:
//! these are plain threads that only block. They take the locks, hand the
//! kernel to the pool with `install` (which blocks a thread outside the
//! pool without stealing) and let go. Uncontended jobs never come here, so
//! they pay no hand-over between threads.
//!
//! Invariants:
//! - No code that runs on a pool worker waits for a buffer's state lock.
//! - Jobs start in the order they were queued, at most `limit` at a time
//!   (the pool's thread count, so that the pool, not this queue, is what
//!   bounds the CPU work in flight).
//! - Threads start when a job finds none idle and end once the last owner
//!   (the runtime's pool handles) is gone and the queue is empty, so every
//!   queued job runs, even after its runtime was dropped.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex};

use crate::sync::lock;

type Job = Box<dyn FnOnce() + Send + 'static>;

/// The owner's handle: dropping the last one lets the threads end.
#[derive(Debug)]
pub(crate) struct JobThreads {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    queue: Mutex<Queue>,
    queued: Condvar,
    limit: usize,
    name: String,
}

#[derive(Default)]
struct Queue {
    jobs: VecDeque<Job>,
    threads: usize,
    idle: usize,
    closing: bool,
}

impl std::fmt::Debug for Queue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Queue")
            .field("jobs", &self.jobs.len())
            .field("threads", &self.threads)
            .field("idle", &self.idle)
            .field("closing", &self.closing)
            .finish()
    }
}

impl JobThreads {
    /// At most `limit` (at least one) threads, named `name-N`.
    pub fn new(limit: usize, name: &str) -> Self {
        JobThreads {
            shared: Arc::new(Shared {
                queue: Mutex::new(Queue::default()),
                queued: Condvar::new(),
                limit: limit.max(1),
                name: name.to_string(),
            }),
        }
    }

    /// Queues `job`, starting a thread for it when none is idle and the
    /// limit allows. Where the operating system refuses a thread and none
    /// runs yet, the job runs on the calling thread instead (correct,
    /// only no longer asynchronous), with a warning.
    pub fn spawn(&self, job: impl FnOnce() + Send + 'static) {
        let mut queue = lock(&self.shared.queue);
        queue.jobs.push_back(Box::new(job));
        let waiting = queue.jobs.len();
        if queue.idle >= waiting || queue.threads >= self.shared.limit {
            drop(queue);
            self.shared.queued.notify_one();
            return;
        }
        let number = queue.threads;
        queue.threads += 1;
        drop(queue);
        let shared = Arc::clone(&self.shared);
        let started = std::thread::Builder::new()
            .name(format!("{}-{number}", self.shared.name))
            .spawn(move || shared.work());
        if let Err(error) = started {
            let mut queue = lock(&self.shared.queue);
            queue.threads -= 1;
            if queue.threads == 0 {
                let orphans: Vec<Job> = queue.jobs.drain(..).collect();
                drop(queue);
                log::warn!(
                    "switchyard: cannot start a thread for submitted CPU launches ({error}); \
                     running them on the submitting thread"
                );
                for job in orphans {
                    job();
                }
            }
        }
    }

    /// Threads started so far.
    #[cfg(test)]
    fn threads(&self) -> usize {
        lock(&self.shared.queue).threads
    }

    /// Threads waiting for a job.
    #[cfg(test)]
    fn idle(&self) -> usize {
        lock(&self.shared.queue).idle
    }
}

impl Drop for JobThreads {
    fn drop(&mut self) {
        lock(&self.shared.queue).closing = true;
        self.shared.queued.notify_all();
    }
}

impl Shared {
    /// One thread's life: run jobs until the queue is empty and closing.
    fn work(&self) {
        let mut queue = lock(&self.queue);
        loop {
            if let Some(job) = queue.jobs.pop_front() {
                drop(queue);
                // A job catches its own panics (a launch's job turns them
                // into its error); this keeps the thread for the next one
                // should one slip through.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                queue = lock(&self.queue);
                continue;
            }
            if queue.closing {
                queue.threads -= 1;
                return;
            }
            queue.idle += 1;
            queue = self
                .queued
                .wait(queue)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            queue.idle -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::time::Duration;

    #[test]
    fn jobs_run_off_the_calling_thread_up_to_the_limit() {
        let threads = JobThreads::new(2, "test-jobs");
        let (sent, received) = mpsc::channel();
        let caller = std::thread::current().id();
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        for i in 0..5 {
            let (sent, gate) = (sent.clone(), Arc::clone(&gate));
            threads.spawn(move || {
                let mut open = lock(&gate.0);
                while !*open {
                    open = gate.1.wait(open).unwrap();
                }
                sent.send((i, std::thread::current().id())).unwrap();
            });
        }
        assert_eq!(threads.threads(), 2, "no more threads than the limit");
        *lock(&gate.0) = true;
        gate.1.notify_all();
        let mut ran: Vec<usize> = (0..5)
            .map(|_| {
                let (i, thread) = received.recv_timeout(Duration::from_secs(10)).unwrap();
                assert_ne!(thread, caller);
                i
            })
            .collect();
        ran.sort_unstable();
        assert_eq!(ran, vec![0, 1, 2, 3, 4]);
    }

    #[test]
    fn queued_jobs_still_run_after_the_owner_is_dropped() {
        let threads = JobThreads::new(1, "test-jobs");
        let (sent, received) = mpsc::channel();
        for i in 0..3 {
            let sent = sent.clone();
            threads.spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                sent.send(i).unwrap();
            });
        }
        drop(threads);
        let ran: Vec<i32> = (0..3)
            .map(|_| received.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        assert_eq!(ran, vec![0, 1, 2], "in queue order, one thread");
    }

    #[test]
    fn an_idle_thread_takes_the_next_job_instead_of_a_new_thread() {
        let threads = JobThreads::new(4, "test-jobs");
        for _ in 0..3 {
            let (sent, received) = mpsc::channel();
            threads.spawn(move || sent.send(()).unwrap());
            received.recv_timeout(Duration::from_secs(10)).unwrap();
            while threads.idle() < threads.threads() {
                std::thread::yield_now();
            }
        }
        assert_eq!(threads.threads(), 1);
    }
}
