//! Several launches recorded into one GPU submission.
//!
//! Inside a [`Sequence`] a GPU launch is recorded, not waited for; `finish`
//! submits and waits once. Each recorded launch is logged for replay until a
//! wait shows it finished, so a device lost mid-sequence costs re-running
//! the unfinished work on the CPU, not its results.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{Launch, LaunchReport};
use crate::device::TransferStats;
use crate::dispatch::Target;
use crate::error::Result;
use crate::kernel::Kernel;
use crate::shared::RuntimeShared;

/// Totals of a finished [`Sequence`].
#[derive(Clone, Debug, PartialEq)]
pub struct SequenceReport {
    /// Every launch's report, in order.
    pub launches: Vec<LaunchReport>,
    /// Launches that ran on the GPU.
    pub gpu_launches: usize,
    /// Launches that ran on the CPU.
    pub cpu_launches: usize,
    /// GPU command submissions made while the sequence was open.
    pub submissions: u64,
    /// Transfers made while the sequence was open.
    pub transfers: TransferStats,
    /// GPU launches lost with the device before they finished and re-run on
    /// the CPU while the sequence was open (this sequence's, and any other
    /// unfinished ones of the runtime). Their entries in `launches` still
    /// say where they were first sent.
    pub replayed_on_cpu: usize,
    /// Wall time from the sequence's start to the end of `finish`, GPU
    /// execution included.
    pub wall: Duration,
}

/// Several launches recorded into one GPU submission.
///
/// GPU launches inside a sequence are recorded, not waited for; the work is
/// submitted by [`finish`](Self::finish) (or earlier, when a host read or a
/// CPU launch needs results). CPU launches run immediately, on the pool, in
/// order. Dropping an unfinished sequence submits its work without waiting.
///
/// ```
/// # use switchyard::{Runtime, Target, kernels};
/// # fn main() -> switchyard::Result<()> {
/// let rt = Runtime::new()?;
/// let (w, h) = (64u32, 64u32);
/// let mut a = rt.buffer_zeroed::<f32>((w * h) as usize)?;
/// let mut b = rt.buffer_zeroed::<f32>((w * h) as usize)?;
/// let step = kernels::jacobi2d();
/// let params = kernels::Jacobi2dParams { width: w, height: h, alpha: 0.2, _pad: 0 };
/// let mut seq = rt.sequence();
/// for _ in 0..10 {
///     seq.launch(&step).uniform(&params).read(&a).write(&mut b).grid([w, h, 1]).run()?;
///     std::mem::swap(&mut a, &mut b);
/// }
/// let report = seq.finish()?;
/// assert_eq!(report.launches.len(), 10);
/// # Ok(()) }
/// ```
pub struct Sequence<'rt> {
    shared: &'rt Arc<RuntimeShared>,
    target: Option<Target>,
    reports: Vec<LaunchReport>,
    started: Instant,
    transfers_before: TransferStats,
    submissions_before: u64,
    replayed_before: u64,
    finished: bool,
}

impl<'rt> Sequence<'rt> {
    pub(crate) fn new(shared: &'rt Arc<RuntimeShared>) -> Self {
        Sequence {
            shared,
            target: None,
            reports: Vec::with_capacity(shared.expected_sequence_length()),
            started: Instant::now(),
            transfers_before: shared.counters().snapshot(),
            submissions_before: shared.gpu().map_or(0, |g| g.submissions()),
            replayed_before: shared.handle().replayed_launches(),
            finished: false,
        }
    }

    /// The target of launches in this sequence that do not choose their own.
    pub fn on(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Describes the next launch of the sequence.
    pub fn launch<'s>(&'s mut self, kernel: &'s Kernel) -> Launch<'s> {
        Launch::new(self.shared, kernel, self.target, Some(&mut self.reports))
    }

    /// Submits the recorded GPU work, waits for it, and reports.
    ///
    /// If the device is lost before the GPU finishes, the lost launches are
    /// re-run on the CPU, in order, from the host copies (see
    /// [`SequenceReport::replayed_on_cpu`]); a launch is re-run only when
    /// that reproduces exactly what the GPU would have computed.
    ///
    /// # Errors
    /// GPU submission or wait failures. After device loss:
    /// [`Error::DeviceLost`](crate::Error::DeviceLost) naming the launches that could not be re-run
    /// (an input that only the GPU held when the launch was recorded, a
    /// kernel without twin, a failing twin); the buffers they wrote report
    /// `DeviceLost` too, and every other buffer keeps valid data.
    pub fn finish(mut self) -> Result<SequenceReport> {
        self.finished = true;
        if let Some(gpu) = self.shared.gpu() {
            let waited = if gpu.has_pending() || gpu.has_unfinished_log() {
                gpu.flush_and_wait("sequence")
            } else {
                Ok(())
            };
            if gpu.is_lost() {
                if let Some(error) = self.shared.handle().settle_device_loss().error() {
                    return Err(error);
                }
            } else {
                waited?;
            }
        }
        let reports = std::mem::take(&mut self.reports);
        self.shared.finished_sequence(reports.len());
        Ok(SequenceReport {
            replayed_on_cpu: (self.shared.handle().replayed_launches() - self.replayed_before)
                as usize,
            gpu_launches: reports.iter().filter(|r| r.target == Target::Gpu).count(),
            cpu_launches: reports.iter().filter(|r| r.target == Target::Cpu).count(),
            launches: reports,
            submissions: self.shared.gpu().map_or(0, |g| g.submissions()) - self.submissions_before,
            transfers: self.shared.counters().snapshot() - self.transfers_before,
            wall: self.started.elapsed(),
        })
    }
}

impl Drop for Sequence<'_> {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        self.shared.finished_sequence(self.reports.len());
        if let Some(gpu) = self.shared.gpu() {
            if let Err(e) = gpu.submit_pending("unfinished sequence") {
                log::warn!("switchyard: submitting an unfinished sequence failed: {e}");
            }
        }
    }
}
