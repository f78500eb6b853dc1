//! The queue of recorded-but-unsubmitted work, submission, and waiting.
//!
//! Work is recorded into one pending command encoder and submitted at a sync
//! point (a wait, a readback, an upload that must follow pending work).
//! Dispatches recorded back to back share one open compute pass: beginning
//! and ending a pass per launch cost about as much as the rest of recording
//! one. wgpu still orders the dispatches of a pass (each is a usage scope
//! of its own, with the barriers its storage writes need).
//! Sequence launches recorded or in flight are logged beside the encoder in a
//! [`ReplayLog`] until a wait shows they finished; after device loss the log
//! is handed to the recovery layer, which re-runs them on the CPU.
//!
//! Invariants:
//! - Queue order is program order: `queue.write_buffer` is only issued with no
//!   recorded-but-unsubmitted work (see `transfer`), because wgpu applies such
//!   writes before the next submission.
//! - The pending lock is held until `queue.submit` returns, so a thread that
//!   finds nothing pending knows everything recorded before was submitted.
//! - An open compute pass is ended before anything else is recorded into
//!   its encoder, and before the encoder is finished or dropped.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use super::GpuContext;
use crate::error::{Error, Result};
use crate::recovery::{ReplayEntry, ReplayLog};
use crate::sync::lock;

/// One submission of commands, which a pending launch waits for.
#[derive(Clone, Debug)]
pub(crate) struct Submission {
    index: wgpu::SubmissionIndex,
    /// The runtime's count of submissions, 1 for the first.
    number: u64,
}

/// The command encoder being recorded, and the log of sequence launches
/// recorded into it or in flight, kept for replay on the CPU should the
/// device be lost first.
#[derive(Default)]
pub(super) struct Pending {
    /// The compute pass dispatches are being recorded into, open on
    /// `encoder`. Declared first so that it is dropped (ended) first.
    pass: Option<OpenPass>,
    pub encoder: Option<wgpu::CommandEncoder>,
    /// An empty encoder made while the GPU ran the last submission, for
    /// the next launch to record into (see [`GpuContext::flush_and_wait`]).
    spare: Option<wgpu::CommandEncoder>,
    pub log: ReplayLog,
}

/// A compute pass kept open across launches, which skips setting again
/// the pipeline and the bind groups the previous dispatch left bound.
pub(crate) struct OpenPass {
    pass: wgpu::ComputePass<'static>,
    pipeline: Option<wgpu::ComputePipeline>,
    /// The kernel's own groups `0..n`, as one launch bound them.
    groups: Option<Arc<[wgpu::BindGroup]>>,
}

impl OpenPass {
    /// Binds `pipeline`, unless it is bound already.
    pub fn set_pipeline(&mut self, pipeline: &wgpu::ComputePipeline) {
        if self.pipeline.as_ref() != Some(pipeline) {
            self.pass.set_pipeline(pipeline);
            self.pipeline = Some(pipeline.clone());
            // Another layout may have disturbed what was bound.
            self.groups = None;
        }
    }

    /// Binds `groups[i]` at group `i`, unless this very set is bound
    /// already (sets are shared, so the same set is the same `Arc`).
    pub fn set_bind_groups(&mut self, groups: &Arc<[wgpu::BindGroup]>) {
        if self
            .groups
            .as_ref()
            .is_some_and(|bound| Arc::ptr_eq(bound, groups))
        {
            return;
        }
        for (index, group) in groups.iter().enumerate() {
            self.pass.set_bind_group(index as u32, group, &[]);
        }
        self.groups = Some(Arc::clone(groups));
    }

    /// Binds `group` at `index`, past the kernel's own groups (a split
    /// grid's offset).
    pub fn set_extra_bind_group(&mut self, index: u32, group: &wgpu::BindGroup) {
        self.pass.set_bind_group(index, group, &[]);
    }

    pub fn dispatch_workgroups(&mut self, [x, y, z]: [u32; 3]) {
        self.pass.dispatch_workgroups(x, y, z);
    }
}

impl Pending {
    /// Ends the open compute pass, if any, so its encoder can be used.
    fn end_pass(&mut self) {
        self.pass = None;
    }
}

impl GpuContext {
    /// Records commands into the pending encoder.
    pub fn record<R>(&self, f: impl FnOnce(&mut wgpu::CommandEncoder) -> R) -> R {
        let mut pending = lock(&self.pending);
        pending.end_pass();
        let encoder = self.pending_encoder(&mut pending);
        f(encoder)
    }

    /// Records dispatches into the open compute pass of the pending
    /// encoder, beginning one if none is open.
    pub fn record_compute<R>(&self, f: impl FnOnce(&mut OpenPass) -> R) -> R {
        let mut pending = lock(&self.pending);
        if pending.pass.is_none() {
            let pass = self
                .pending_encoder(&mut pending)
                .begin_compute_pass(&wgpu::ComputePassDescriptor {
                    label: Some("switchyard launches"),
                    timestamp_writes: None,
                })
                .forget_lifetime();
            pending.pass = Some(OpenPass {
                pass,
                pipeline: None,
                groups: None,
            });
        }
        // Present: opened just above if it was not. Taken in place, since
        // moving the pass out and back costs a copy of it per launch.
        f(pending.pass.as_mut().expect("an open pass to record into"))
    }

    /// The pending encoder, made (or taken from the spare) if there is none.
    fn pending_encoder<'p>(&self, pending: &'p mut Pending) -> &'p mut wgpu::CommandEncoder {
        if pending.encoder.is_none() {
            pending.encoder = Some(pending.spare.take().unwrap_or_else(|| self.new_encoder()));
        }
        // Present: set just above.
        pending.encoder.as_mut().expect("an encoder to record into")
    }

    fn new_encoder(&self) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("switchyard batch"),
            })
    }

    /// Command submissions made so far.
    pub fn submissions(&self) -> u64 {
        self.submissions.load(Ordering::Relaxed)
    }

    /// Whether commands are waiting for submission.
    pub fn has_pending(&self) -> bool {
        lock(&self.pending).encoder.is_some()
    }

    /// Keeps `entry`, a sequence launch just recorded, until a wait shows
    /// that the GPU finished it; [`take_replay_log`](Self::take_replay_log)
    /// hands it back if the device is lost first. Called after recording,
    /// so an entry whose commands another thread has submitted meanwhile
    /// goes with the latest submission: it may be kept longer than needed,
    /// never dropped too early.
    pub fn log_for_replay(&self, entry: ReplayEntry) {
        let mut pending = lock(&self.pending);
        if pending.encoder.is_some() {
            pending.log.log_recorded(entry);
        } else {
            let latest = self.submissions.load(Ordering::Acquire);
            pending.log.log_submitted(latest, entry);
        }
    }

    /// Whether logged launches wait for a submission or for a wait.
    pub fn has_unfinished_log(&self) -> bool {
        !lock(&self.pending).log.is_empty()
    }

    /// After device loss: every logged launch not known to have finished, in
    /// the order they were logged (a thread's own launches in program
    /// order). The unsubmitted commands are discarded.
    pub fn take_replay_log(&self) -> Vec<ReplayEntry> {
        let mut pending = lock(&self.pending);
        pending.end_pass();
        pending.encoder = None;
        pending.spare = None;
        pending.log.take_all()
    }

    /// Drops the logged launches of submissions up to `number`, which a wait
    /// has just shown to be finished.
    fn forget_finished(&self, number: u64) {
        let finished = lock(&self.pending).log.take_finished(number);
        // Dropped outside the lock: the last hold on a buffer's state gives
        // its device copy back to the pool.
        drop(finished);
    }

    /// Submits the pending commands, if any, without waiting.
    ///
    /// # Errors
    /// A validation error caught while finishing or submitting, or device loss.
    pub fn submit_pending(&self, operation: &str) -> Result<Option<wgpu::SubmissionIndex>> {
        Ok(self.submit_numbered(operation)?.map(|(index, _)| index))
    }

    /// [`submit_pending`](Self::submit_pending), also returning the
    /// submission's number (1 for the first).
    pub(super) fn submit_numbered(
        &self,
        operation: &str,
    ) -> Result<Option<(wgpu::SubmissionIndex, u64)>> {
        // The lock is held until the queue has the commands: a thread that
        // finds nothing pending may then rely on everything recorded before
        // being submitted (a readback maps its staging buffer right after,
        // and wgpu refuses a submission that uses a mapped buffer).
        let mut pending = lock(&self.pending);
        pending.end_pass();
        let Some(encoder) = pending.encoder.take() else {
            return Ok(None);
        };
        // On an error the commands are gone but their log stays: it goes
        // with the next submission, or to a replay if the device was lost.
        let index = self.scoped(operation, 0, || self.queue.submit([encoder.finish()]))?;
        let number = self.submissions.fetch_add(1, Ordering::AcqRel) + 1;
        pending.log.submitted(number);
        drop(pending);
        Ok(Some((index, number)))
    }

    /// Submits pending commands, with the queue's writes (uploads) that
    /// have no command after them yet, and blocks until the GPU has finished
    /// them all.
    ///
    /// # Errors
    /// As [`flush_and_wait`](Self::flush_and_wait).
    pub fn apply_writes_and_wait(&self, operation: &str) -> Result<()> {
        // The queue applies writes at the next submission; an empty command
        // makes sure there is one.
        self.record(|_| {});
        self.flush_and_wait(operation)
    }

    /// Submits pending commands and blocks until the GPU has finished them.
    ///
    /// # Errors
    /// As [`submit_pending`](Self::submit_pending), and [`Error::Poll`](crate::Error::Poll).
    pub fn flush_and_wait(&self, operation: &str) -> Result<()> {
        let submitted = self.submit_numbered(operation)?;
        if submitted.is_some() {
            // The GPU is busy with what was just submitted and this thread
            // is about to wait for it: the next batch's encoder is made now,
            // not at its first launch (38 µs of that launch on lavapipe).
            let mut pending = lock(&self.pending);
            if pending.spare.is_none() && !self.is_lost() {
                pending.spare = Some(self.new_encoder());
            }
        }
        self.wait(submitted, operation)
    }

    /// Blocks until `submission` (and all before it) has finished, or all
    /// submitted work when `None`.
    pub(super) fn wait(
        &self,
        submission: Option<(wgpu::SubmissionIndex, u64)>,
        operation: &str,
    ) -> Result<()> {
        let (index, number) = match submission {
            Some((index, number)) => (Some(index), number),
            None => (None, self.submissions.load(Ordering::Acquire)),
        };
        self.device
            .poll(wgpu::PollType::Wait {
                submission_index: index,
                timeout: None,
            })
            .map_err(|source| {
                self.check_healthy().err().unwrap_or(Error::Poll {
                    operation: operation.into(),
                    source,
                })
            })?;
        self.check_healthy()?;
        self.forget_finished(number);
        Ok(())
    }

    /// Submits the pending commands, if any, without waiting, and names the
    /// submission for a later [`wait_for`](Self::wait_for). `None`: another
    /// thread's submission took them (or nothing was recorded), so waiting
    /// for everything submitted so far covers them.
    ///
    /// # Errors
    /// As [`submit_pending`](Self::submit_pending).
    pub fn submit_for_later(&self, operation: &str) -> Result<Option<Submission>> {
        Ok(self
            .submit_numbered(operation)?
            .map(|(index, number)| Submission { index, number }))
    }

    /// Blocks until `submission` (and everything before it) has finished;
    /// all work submitted so far when `None`.
    ///
    /// # Errors
    /// [`Error::Poll`](crate::Error::Poll), or the device's loss or ill health.
    pub fn wait_for(&self, submission: Option<&Submission>, operation: &str) -> Result<()> {
        self.wait(
            submission.map(|submission| (submission.index.clone(), submission.number)),
            operation,
        )
    }

    /// Calls `done` once the GPU has finished everything submitted so far.
    /// wgpu calls it from inside a poll (any thread's): see
    /// [`poll_without_waiting`](Self::poll_without_waiting).
    pub fn when_submitted_work_done(&self, done: impl FnOnce() + Send + 'static) {
        self.queue.on_submitted_work_done(done);
    }

    /// Lets wgpu notice finished work (and call its callbacks) without
    /// blocking. Errors are left for the next wait to report.
    pub fn poll_without_waiting(&self) {
        let _ = self.device.poll(wgpu::PollType::Poll);
    }

    /// Blocks until all submitted work is done (pending work is submitted too).
    ///
    /// # Errors
    /// As [`flush_and_wait`](Self::flush_and_wait).
    pub fn sync(&self) -> Result<()> {
        self.flush_and_wait("synchronize")
    }
}
