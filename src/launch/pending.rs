//! Launches that run while their caller goes on: what
//! [`Launch::submit`](super::Launch::submit) returns.
//!
//! A [`PendingLaunch`] owns no borrow of its buffers. Soundness rests on the
//! buffers, never on this value's destructor: a CPU launch's job holds a
//! share of each buffer's state and leaves a fence in the buffer that every
//! later use waits for (see `buffer::in_flight`); a GPU launch is in the
//! queue, which orders it against later GPU work, and any host read of its
//! results downloads, so waits, first. Dropping or leaking a pending launch
//! therefore loses only its report: the work still finishes, and the next
//! use of its buffers sees the result.
//!
//! Invariant: every pending launch resolves, to its report or a typed error,
//! also when the device is lost while it runs (the lost GPU work is re-run
//! on the CPU first, as for a sequence).

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use super::replay::ReplayFate;
use super::route::{learn, Finished};
use super::LaunchReport;
use crate::device::{GpuContext, Submission};
use crate::dispatch::{Exploration, Predictions};
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::shared::{Outstanding, RuntimeShared};
use crate::sync::lock;

/// A launch submitted with [`Launch::submit`](super::Launch::submit) that may
/// still be running.
///
/// [`wait`](Self::wait) blocks until it is done and returns its report; it
/// is also a [`Future`] with the same output, which any executor can await
/// (`pollster::block_on(pending)` works). Dropping it without waiting is
/// allowed: the launch still runs to the end, and any later use of its
/// buffers waits for it. Only its report (and what the dispatcher would
/// have learned from a GPU run's timing) is lost.
#[must_use = "a pending launch's errors are only seen through `wait` or `.await`"]
pub struct PendingLaunch {
    kernel: String,
    state: State,
    /// Counts it among the runtime's outstanding launches while held.
    _outstanding: Option<Outstanding>,
}

enum State {
    /// Done when submitted: it ran on the calling thread, was recorded into
    /// a sequence, or its result was taken.
    Ready(Option<Box<Result<LaunchReport>>>),
    Cpu(Arc<Completion>),
    Gpu(Box<GpuPending>),
}

impl std::fmt::Debug for PendingLaunch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let on = match &self.state {
            State::Ready(_) => "ready",
            State::Cpu(_) => "cpu",
            State::Gpu(_) => "gpu",
        };
        f.debug_struct("PendingLaunch")
            .field("kernel", &self.kernel)
            .field("on", &on)
            .field("finished", &self.is_finished())
            .finish()
    }
}

impl PendingLaunch {
    pub(super) fn ready(kernel: &str, result: Result<LaunchReport>) -> Self {
        PendingLaunch {
            kernel: kernel.into(),
            state: State::Ready(Some(Box::new(result))),
            _outstanding: None,
        }
    }

    pub(super) fn cpu(kernel: &str, completion: Arc<Completion>, outstanding: Outstanding) -> Self {
        PendingLaunch {
            kernel: kernel.into(),
            state: State::Cpu(completion),
            _outstanding: Some(outstanding),
        }
    }

    pub(super) fn gpu(kernel: &str, pending: GpuPending, outstanding: Outstanding) -> Self {
        PendingLaunch {
            kernel: kernel.into(),
            state: State::Gpu(Box::new(pending)),
            _outstanding: Some(outstanding),
        }
    }

    /// Whether the launch has finished (its result is then ready without
    /// blocking). Never blocks; for a GPU launch it asks wgpu to notice
    /// finished work first.
    pub fn is_finished(&self) -> bool {
        match &self.state {
            State::Ready(_) => true,
            State::Cpu(completion) => lock(&completion.slot).result.is_some(),
            State::Gpu(pending) => {
                pending.gpu.poll_without_waiting();
                pending.done.is_set()
            }
        }
    }

    /// Blocks until the launch is done and returns its report.
    ///
    /// # Errors
    /// The execution errors of [`Launch::run`](super::Launch::run)
    /// (the argument and target errors came from `submit` already). A
    /// device lost while a GPU launch ran re-runs it on the CPU, as for a
    /// sequence; [`Error::DeviceLost`] when that could not reproduce its
    /// results. Every buffer keeps its last valid contents on every error.
    pub fn wait(mut self) -> Result<LaunchReport> {
        self.wait_mut()
    }

    fn wait_mut(&mut self) -> Result<LaunchReport> {
        let taken = || Error::LaunchResultTaken {
            kernel: self.kernel.clone(),
        };
        let result = match &mut self.state {
            State::Ready(result) => result.take().map_or_else(|| Err(taken()), |result| *result),
            State::Cpu(completion) => completion.wait().unwrap_or_else(|| Err(taken())),
            State::Gpu(pending) => pending.wait(),
        };
        self.state = State::Ready(None);
        result
    }
}

impl Future for PendingLaunch {
    type Output = Result<LaunchReport>;

    fn poll(mut self: Pin<&mut Self>, context: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        match &mut this.state {
            State::Ready(_) => Poll::Ready(this.wait_mut()),
            State::Cpu(completion) => {
                let mut slot = lock(&completion.slot);
                if slot.result.is_some() || slot.taken {
                    drop(slot);
                    return Poll::Ready(this.wait_mut());
                }
                slot.waker = Some(context.waker().clone());
                Poll::Pending
            }
            State::Gpu(pending) => {
                pending.gpu.poll_without_waiting();
                if pending.done.is_set() {
                    return Poll::Ready(this.wait_mut());
                }
                pending.done.set_waker(context.waker());
                if !pending.helper_started {
                    pending.helper_started = true;
                    pending.start_helper();
                }
                // Finished between the check and the waker being stored.
                if pending.done.is_set() {
                    return Poll::Ready(this.wait_mut());
                }
                Poll::Pending
            }
        }
    }
}

/// Where a CPU launch's job leaves its result.
#[derive(Default)]
pub(super) struct Completion {
    slot: Mutex<Slot>,
    filled: Condvar,
}

#[derive(Default)]
struct Slot {
    result: Option<Result<LaunchReport>>,
    taken: bool,
    waker: Option<Waker>,
}

impl Completion {
    /// Stores the result and wakes whoever waits or awaits it.
    pub fn complete(&self, result: Result<LaunchReport>) {
        let waker = {
            let mut slot = lock(&self.slot);
            slot.result = Some(result);
            slot.waker.take()
        };
        self.filled.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// Blocks until the result is there and takes it; `None` when it was
    /// taken before.
    fn wait(&self) -> Option<Result<LaunchReport>> {
        let mut slot = lock(&self.slot);
        while slot.result.is_none() && !slot.taken {
            slot = self
                .filled
                .wait(slot)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        slot.taken = true;
        slot.result.take()
    }
}

/// Whether a GPU submission has finished, and who to wake when it has.
#[derive(Default)]
pub(super) struct GpuDone {
    finished: Mutex<(bool, Option<Waker>)>,
}

impl GpuDone {
    pub fn set(&self) {
        let waker = {
            let mut finished = lock(&self.finished);
            finished.0 = true;
            finished.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    pub fn is_set(&self) -> bool {
        lock(&self.finished).0
    }

    fn set_waker(&self, waker: &Waker) {
        lock(&self.finished).1 = Some(waker.clone());
    }
}

/// A GPU launch recorded and submitted, not yet known to be finished.
pub(super) struct GpuPending {
    pub shared: Arc<RuntimeShared>,
    pub gpu: Arc<GpuContext>,
    pub kernel: Kernel,
    pub submission: Option<Submission>,
    pub done: Arc<GpuDone>,
    pub report: LaunchReport,
    pub work: u64,
    pub predictions: Predictions,
    pub exploration: Option<Exploration>,
    pub cold_pipeline: bool,
    /// When the submission was made, if the GPU had no earlier work in
    /// flight: only then does the time to its end measure this launch.
    pub timed_from: Option<Instant>,
    pub started: Instant,
    /// What a replay after device loss made of it (see `replay`).
    pub fate: Arc<ReplayFate>,
    pub helper_started: bool,
    /// Learned when submitted (a submission that ran on the submitting
    /// thread was timed by its call): `wait` does not learn it again.
    pub learned: bool,
}

impl GpuPending {
    /// Waits for the submission; after device loss, re-runs the lost work
    /// on the CPU and says whether this launch's results survived.
    fn wait(&mut self) -> Result<LaunchReport> {
        let name = self.kernel.name().to_string();
        // Work that finished while nobody polled is noticed first, so that it
        // is not timed as though it had run until now.
        self.gpu.poll_without_waiting();
        let finished_before = self.done.is_set();
        let operation = format!("pending launch of kernel `{name}`");
        match self.gpu.wait_for(self.submission.as_ref(), &operation) {
            Ok(()) => {
                self.done.set();
                let mut report = self.report.clone();
                report.wall = self.started.elapsed();
                let exec_seconds = self
                    .timed_from
                    .filter(|_| !finished_before)
                    .map(|from| from.elapsed().as_secs_f64());
                if !self.learned {
                    learn(
                        &self.shared,
                        &Finished {
                            key: self.kernel.dispatch_key(),
                            work: self.work,
                            report: &report,
                            predictions: &self.predictions,
                            exploration: self.exploration,
                            exec_seconds,
                            cold_pipeline: self.cold_pipeline,
                        },
                    );
                }
                Ok(report)
            }
            Err(error) if self.gpu.is_lost() => {
                self.done.set();
                self.shared.handle().settle_device_loss();
                match self.fate.get() {
                    // Re-run on the CPU, superseded by later host writes, or
                    // finished on the GPU before the loss.
                    Some(Ok(())) | None => {
                        let mut report = self.report.clone();
                        report.wall = self.started.elapsed();
                        Ok(report)
                    }
                    Some(Err(why)) => {
                        // The device's own error says why it went; the one
                        // returned says what was lost.
                        log::warn!("switchyard: {error}");
                        Err(Error::DeviceLost {
                            reason: "Replay".into(),
                            message: format!(
                                "kernel `{name}`: the device was lost before the launch \
                                 finished, and it could not be re-run on the CPU: {why}"
                            ),
                        })
                    }
                }
            }
            Err(error) => {
                self.done.set();
                Err(error)
            }
        }
    }

    /// A thread that waits on the device for a future: it wakes the
    /// awaiting task when the submission is done, whatever the outcome
    /// (the task then reads it through [`wait`](Self::wait)).
    fn start_helper(&self) {
        let gpu = Arc::clone(&self.gpu);
        let submission = self.submission.clone();
        let done = Arc::clone(&self.done);
        let spawned = std::thread::Builder::new()
            .name("switchyard-gpu-wait".into())
            .spawn(move || {
                let _ = gpu.wait_for(submission.as_ref(), "awaiting a pending launch");
                done.set();
            });
        if spawned.is_err() {
            // Without a helper the task is woken now and waits on its own.
            self.done.set();
        }
    }
}
