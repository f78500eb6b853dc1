//! CPU launches still running over a buffer, which every later use waits for.
//!
//! A submitted CPU launch (`Launch::submit`) runs on the pool after its
//! caller has moved on and given back its borrows, so the borrow checker no
//! longer orders it against what the caller does next with those buffers.
//! Each buffer therefore keeps the [`Fence`]s of the CPU launches still
//! using it, and every use waits for the ones it conflicts with first: a
//! read waits for the launch writing the buffer, a write (or a drop of the
//! host copy's contents) for every launch using it.
//!
//! GPU launches need no fence: their residency is recorded when they are
//! submitted, and the queue orders them against later GPU work, as any host
//! read that needs their results downloads (and so waits) first.
//!
//! Invariants:
//! - A launch's job never waits on a fence: whoever submitted it waited for
//!   what it conflicts with, so a pool thread never blocks on another job.
//! - A fence is finished only after its launch has stored its results and
//!   let go of every buffer's state, so a use that waited sees them.
//! - Fences never make safety depend on a destructor: a leaked pending
//!   launch still finishes its fence when its job ends.

use std::sync::{Arc, Condvar, Mutex};

use super::residency::Use;
use crate::sync::lock;

/// The end of one CPU launch in flight.
#[derive(Debug, Default)]
pub(crate) struct Fence {
    finished: Mutex<bool>,
    changed: Condvar,
}

impl Fence {
    pub fn new() -> Arc<Self> {
        Arc::new(Fence::default())
    }

    /// Marks the launch finished and wakes whoever waits for it.
    pub fn finish(&self) {
        *lock(&self.finished) = true;
        self.changed.notify_all();
    }

    pub fn is_finished(&self) -> bool {
        *lock(&self.finished)
    }

    /// Blocks until [`finish`](Self::finish) has been called.
    pub fn wait(&self) {
        let mut finished = lock(&self.finished);
        while !*finished {
            finished = self
                .changed
                .wait(finished)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
    }
}

/// The CPU launches in flight over one buffer: at most one writer (writes
/// wait for every earlier use) and any number of readers.
#[derive(Debug, Default)]
pub(crate) struct InFlight {
    writer: Option<Arc<Fence>>,
    readers: Vec<Arc<Fence>>,
}

impl InFlight {
    /// The unfinished launches a new use must wait for; finished ones are
    /// forgotten on the way.
    pub fn blocking(&mut self, usage: Use) -> Vec<Arc<Fence>> {
        if self
            .writer
            .as_ref()
            .is_some_and(|fence| fence.is_finished())
        {
            self.writer = None;
        }
        self.readers.retain(|fence| !fence.is_finished());
        let mut blocking: Vec<Arc<Fence>> = self.writer.iter().cloned().collect();
        if usage != Use::Read {
            blocking.extend(self.readers.iter().cloned());
        }
        blocking
    }

    /// Records a launch that now uses the buffer. Its caller has waited for
    /// [`blocking`](Self::blocking) first, so a writer replaces nothing
    /// unfinished.
    pub fn add(&mut self, usage: Use, fence: Arc<Fence>) {
        match usage {
            Use::Read => self.readers.push(fence),
            Use::ReadWrite | Use::Overwrite => self.writer = Some(fence),
        }
    }
}

/// Waits until no CPU launch in `in_flight` conflicts with `usage`.
pub(crate) fn wait_for_conflicts(in_flight: &Mutex<InFlight>, usage: Use) {
    loop {
        // Taken out of the lock: a job never needs it, but another waiter
        // might.
        let blocking = lock(in_flight).blocking(usage);
        if blocking.is_empty() {
            return;
        }
        for fence in blocking {
            fence.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_wait_for_the_writer_and_writes_for_everyone() {
        let mut in_flight = InFlight::default();
        let reader = Fence::new();
        in_flight.add(Use::Read, Arc::clone(&reader));
        assert!(in_flight.blocking(Use::Read).is_empty());
        assert_eq!(in_flight.blocking(Use::Overwrite).len(), 1);
        reader.finish();
        assert!(in_flight.blocking(Use::ReadWrite).is_empty());

        let writer = Fence::new();
        in_flight.add(Use::ReadWrite, Arc::clone(&writer));
        assert_eq!(in_flight.blocking(Use::Read).len(), 1);
        writer.finish();
        assert!(in_flight.blocking(Use::Read).is_empty());
    }

    #[test]
    fn a_waiter_wakes_when_the_launch_finishes_on_another_thread() {
        let in_flight = Mutex::new(InFlight::default());
        let fence = Fence::new();
        lock(&in_flight).add(Use::ReadWrite, Arc::clone(&fence));
        let finisher = {
            let fence = Arc::clone(&fence);
            std::thread::spawn(move || {
                std::thread::sleep(std::time::Duration::from_millis(20));
                fence.finish();
            })
        };
        wait_for_conflicts(&in_flight, Use::Read);
        assert!(fence.is_finished());
        finisher.join().unwrap();
    }
}
