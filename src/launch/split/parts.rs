//! The pieces of a split launch's run: every buffer locked once, its host
//! copy cut between the two parts, the CPU part on the pool, and what each
//! part teaches the dispatcher.
//!
//! Invariant: the CPU part and the GPU side's readback (of buffers that do
//! not stay split) write disjoint byte ranges of the same host copies,
//! elements `..k` and `k..`, which
//! [`Locked::cut`] hands out with `split_at_mut` under locks the launch
//! holds for its whole run. So both sides work at once in safe Rust, and no
//! other launch or host access sees a half-merged buffer.

use std::ops::Range;
use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use super::super::cpu::{run_on_pool, slots_from_views, HostView};
use super::super::route::{learn, Finished};
use super::super::{Arg, LaunchReport, SplitParts};
use crate::buffer::residency::{Residency, Use};
use crate::buffer::transfer::BufferState;
use crate::cpu::{CpuPool, CpuSlot};
use crate::device::{DeviceSpan, GpuContext};
use crate::dispatch::{Predictions, Target};
use crate::error::Result;
use crate::kernel::{CpuPath, Kernel};
use crate::pipeline::CacheOutcome;
use crate::shared::RuntimeShared;
use crate::sync::lock;
use crate::target::CpuImplementation;

/// A written buffer of a split launch that stays split after it (see
/// `Residency::Split`).
#[derive(Clone, Copy, Debug)]
pub(super) struct StaysSplit {
    /// The first byte of the GPU's elements that the CPU does not compute.
    pub at: usize,
    /// The first byte the GPU part computes (at or below `at`).
    pub device_from: usize,
    /// Whether the host copy held the latest data of every element before
    /// the launch, so that the CPU can still run the GPU's elements should
    /// that part fail.
    pub host_was_whole: bool,
}

/// One distinct buffer of a split launch, locked.
struct LockedBuffer<'s> {
    id: u64,
    usage: Use,
    /// Bytes per element of the launch.
    stride: u64,
    /// Where a written buffer stays split (see `Residency::Split`): its
    /// GPU part is not read back, nor its CPU part written to the device.
    /// `None`: merged on both copies, or read only.
    stays_split: Option<StaysSplit>,
    state: MutexGuard<'s, BufferState>,
}

/// Every distinct buffer of a split launch locked once, in id order (the
/// order every launch locks in, so none can deadlock with another).
pub(super) struct Locked<'s> {
    buffers: Vec<LockedBuffer<'s>>,
    /// Each argument's buffer id and use, in argument order.
    arguments: Vec<(u64, Use)>,
}

impl<'s> Locked<'s> {
    /// Locks the buffers of `order` (each distinct buffer's argument index,
    /// in id order); `strides` are per argument, `stays_split` per entry
    /// of `order`.
    pub fn lock(
        buffers: &'s [Arg<'_>],
        order: &[usize],
        strides: &[u64],
        stays_split: &[Option<StaysSplit>],
    ) -> Self {
        Locked {
            buffers: order
                .iter()
                .zip(stays_split)
                .map(|(&index, &stays_split)| {
                    let arg = &buffers[index];
                    LockedBuffer {
                        id: arg.raw().id,
                        usage: arg.usage(),
                        stride: strides[index],
                        stays_split,
                        state: lock(&arg.raw().state),
                    }
                })
                .collect(),
            arguments: buffers
                .iter()
                .map(|arg| (arg.raw().id, arg.usage()))
                .collect(),
        }
    }

    /// The host bytes of elements `range` of every buffer, for the CPU;
    /// and, when `tail_from` is given (at or past `range.end`), each written
    /// buffer's bytes from that element on, with the device copy to read
    /// them from, for the GPU side's readback.
    pub fn cut(
        &mut self,
        range: Range<u64>,
        tail_from: Option<u64>,
    ) -> (HostCut<'_>, Vec<DeviceSpan<'_>>) {
        let mut ids = Vec::with_capacity(self.buffers.len());
        let mut parts = Vec::with_capacity(self.buffers.len());
        let mut tails = Vec::new();
        for buffer in &mut self.buffers {
            let stride = buffer.stride;
            let bytes = (range.start * stride) as usize..(range.end * stride) as usize;
            let BufferState { host, device, .. } = &mut *buffer.state;
            let device = device.as_ref().map(|device| device.buffer());
            ids.push(buffer.id);
            if buffer.usage == Use::Read {
                parts.push(CutPart::Read(&host.bytes()[bytes]));
                continue;
            }
            let mut all = host.bytes_mut();
            let read_back = buffer.stays_split.is_none();
            if let (Some(from), Some(source), true) = (tail_from, device, read_back) {
                let offset = from * stride;
                let (head, tail) = std::mem::take(&mut all).split_at_mut(offset as usize);
                tails.push(DeviceSpan {
                    source,
                    offset,
                    out: tail,
                });
                all = head;
            }
            parts.push(CutPart::Written {
                host: &mut all[bytes],
                device,
                stride,
                first: range.start,
                merges: read_back,
            });
        }
        let cut = HostCut {
            ids,
            parts,
            arguments: &self.arguments,
        };
        (cut, tails)
    }

    /// Records where the written buffers' results are. `merged`: both
    /// parts ran; a buffer that stays split is then split, every other one
    /// is whole on the host, and on the device too with `device_current`.
    /// Not `merged`: the CPU ran the GPU's elements too, so every host copy
    /// is whole.
    pub fn finish(&mut self, merged: bool, device_current: bool) {
        for buffer in &mut self.buffers {
            if buffer.usage == Use::Read {
                continue;
            }
            match buffer.stays_split {
                Some(stays) if merged => buffer.state.finish_split(stays.at, stays.device_from),
                _ => {
                    buffer.state.finish_host(buffer.usage);
                    if merged && device_current && buffer.state.device.is_some() {
                        buffer.state.residency = Residency::Both;
                    }
                }
            }
        }
    }

    /// Whether the CPU can run the GPU's elements after that part failed:
    /// no buffer it reads and writes left the latest data of those
    /// elements on the device only. The part may have run before it
    /// failed, so those bytes are no longer known.
    pub fn cpu_can_take_over(&self) -> bool {
        self.buffers.iter().all(|buffer| {
            buffer.usage != Use::ReadWrite
                || buffer.stays_split.is_none_or(|stays| stays.host_was_whole)
        })
    }

    /// After a GPU part that failed and left some elements' latest data
    /// unknown (see [`cpu_can_take_over`](Self::cpu_can_take_over)): every
    /// written buffer keeps the CPU's elements on the host and loses its
    /// device copy, so that reading the rest reports the loss instead of
    /// returning stale bytes.
    pub fn lose_gpu_parts(&mut self, k: u64) {
        for buffer in &mut self.buffers {
            if buffer.usage == Use::Read {
                continue;
            }
            let at = (k * buffer.stride) as usize;
            buffer.state.finish_split(at, at);
            buffer.state.device = None;
        }
    }
}

/// One buffer's share of a [`HostCut`].
enum CutPart<'h> {
    Read(&'h [u8]),
    Written {
        host: &'h mut [u8],
        device: Option<&'h wgpu::Buffer>,
        stride: u64,
        /// The element `host` starts at.
        first: u64,
        /// Whether the CPU's elements go to the device copy too (not for a
        /// buffer that stays split).
        merges: bool,
    },
}

/// The CPU's share of every locked host copy (see [`Locked::cut`]).
pub(super) struct HostCut<'h> {
    ids: Vec<u64>,
    parts: Vec<CutPart<'h>>,
    arguments: &'h [(u64, Use)],
}

impl HostCut<'_> {
    /// The kernel's arguments over the cut, in argument order.
    pub fn slots(&mut self) -> Vec<CpuSlot<'_>> {
        let views = self
            .parts
            .iter_mut()
            .map(|part| match part {
                CutPart::Read(bytes) => HostView::Shared(bytes),
                CutPart::Written { host, .. } => HostView::Exclusive(Some(&mut **host)),
            })
            .collect();
        slots_from_views(&self.ids, views, self.arguments)
    }

    /// Writes each written buffer's elements from the cut's start up to
    /// `until` into its device copy (queued, applied before the next
    /// submission); returns the bytes written. `until` must be at or below
    /// the first element the recorded GPU part binds.
    ///
    /// # Errors
    /// A buffer without a device copy, which then cannot be made current.
    pub fn upload_until(&self, gpu: &GpuContext, until: u64) -> Result<u64> {
        let mut total = 0;
        for part in &self.parts {
            let CutPart::Written {
                host,
                device,
                stride,
                first,
                merges: true,
            } = part
            else {
                continue;
            };
            let bytes = (until.saturating_sub(*first) * stride) as usize;
            if bytes == 0 {
                continue;
            }
            let device = device.ok_or_else(|| crate::Error::DeviceLost {
                reason: "Unknown".into(),
                message: "a split launch's device copy is missing".into(),
            })?;
            // Straight into the queue, not through `upload_at`: that would
            // first wait for the lock the GPU side holds while its part
            // runs. The write may land before the recorded part, which is
            // sound: the part binds elements from `until` on, and no other
            // launch's recorded work can use this buffer while it is locked.
            gpu.write_padded(device, first * stride, &host[..bytes]);
            total += bytes as u64;
        }
        Ok(total)
    }
}

/// What the CPU needs to run any range of a split launch's elements.
pub(super) struct CpuPart<'p> {
    pub cpu: &'p CpuPool,
    pub kernel: &'p Kernel,
    pub path: &'p CpuPath<'p>,
    pub uniforms: &'p [Vec<u8>],
    pub deadline: Option<Duration>,
}

impl CpuPart<'_> {
    /// Runs `elements` invocations over `slots` (a [`HostCut`]'s); returns
    /// its seconds and what ran.
    pub fn run(&self, slots: Vec<CpuSlot<'_>>, elements: u64) -> Result<(f64, CpuImplementation)> {
        let started = Instant::now();
        if elements == 0 {
            let implementation = match self.path {
                CpuPath::Twin(_) => CpuImplementation::Twin,
                CpuPath::Wgsl(_) => CpuImplementation::Wgsl,
            };
            return Ok((0.0, implementation));
        }
        let uniform_slices: Vec<&[u8]> = self.uniforms.iter().map(Vec::as_slice).collect();
        let implementation = run_on_pool(
            self.cpu,
            self.kernel,
            self.path,
            slots,
            uniform_slices,
            [elements as u32, 1, 1],
            self.deadline,
        )?;
        Ok((started.elapsed().as_secs_f64(), implementation))
    }
}

/// What the GPU side of a split measured.
pub(super) struct GpuSide {
    /// Submission to finish of its part, the readback excluded: the GPU's
    /// execution time for its elements.
    pub part_seconds: f64,
    /// Submission to the end of the readback.
    pub seconds: f64,
    pub bytes_read: u64,
}

/// The GPU side of a split, on a thread of its own: submits the part
/// recorded before, waits for it, then reads its elements into `tails`.
pub(super) fn run_gpu_side(
    gpu: &Arc<GpuContext>,
    operation: &str,
    tails: &mut [DeviceSpan<'_>],
) -> Result<GpuSide> {
    let submitted = Instant::now();
    let submission = gpu.submit_for_later(operation)?;
    gpu.wait_for(submission.as_ref(), operation)?;
    let part_seconds = submitted.elapsed().as_secs_f64();
    let bytes_read = gpu.download_spans_here(tails)?;
    Ok(GpuSide {
        part_seconds,
        seconds: submitted.elapsed().as_secs_f64(),
        bytes_read,
    })
}

/// Teaches the dispatcher each part as a launch of its own size.
#[allow(clippy::too_many_arguments)]
pub(super) fn learn_parts(
    shared: &RuntimeShared,
    kernel: &Kernel,
    report: &LaunchReport,
    work: u64,
    n: u64,
    parts: SplitParts,
    cpu_seconds: f64,
    gpu_seconds: Option<f64>,
) {
    let share = |elements: u64| (work as f64 * elements as f64 / n.max(1) as f64).round() as u64;
    // The predictions were for the whole launch: a part is not scored
    // against them.
    let predictions = &Predictions::default();
    let mut part = report.clone();
    if parts.cpu_elements > 0 {
        part.target = Target::Cpu;
        learn(
            shared,
            &Finished {
                key: kernel.dispatch_key(),
                work: share(parts.cpu_elements).max(1),
                report: &part,
                predictions,
                exploration: None,
                exec_seconds: Some(cpu_seconds),
                cold_pipeline: false,
            },
        );
    }
    if let (true, Some(seconds)) = (parts.gpu_elements > 0, gpu_seconds) {
        part.target = Target::Gpu;
        part.cpu_implementation = None;
        learn(
            shared,
            &Finished {
                key: kernel.dispatch_key(),
                work: share(parts.gpu_elements).max(1),
                report: &part,
                predictions,
                exploration: None,
                exec_seconds: Some(seconds),
                cold_pipeline: report.pipeline == Some(CacheOutcome::Miss),
            },
        );
    }
}
