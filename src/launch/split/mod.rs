//! One elementwise launch run as two parts at once: elements `0..k` on the
//! CPU, the rest on the GPU ([`Launch::split`](super::Launch::split)).
//!
//! A written buffer whose cut falls on a 4-byte boundary (every `f32`,
//! `u32` or wider element) *stays split*: each part's results stay where
//! they were computed, `Residency::Split`, and only a later use that needs
//! a whole copy moves the other side's part. A split launch repeated at
//! (nearly) the same point, the common case of a simulation's time steps,
//! then moves nothing but the elements the point moved by. Other written
//! buffers are merged on both copies, as below.
//!
//! The order of [`run_split`]:
//! 1. read buffers' host copies are made current, and written ones' below
//!    the cut (`prepare_host_until`), or whole when they merge;
//! 2. the GPU part is recorded over binding slices from element `a`, the
//!    largest multiple of the adapter's offset alignment at or below `k`
//!    (an elementwise kernel computes `a..k` twice, from the same inputs,
//!    and the host keeps the CPU's copy); recording uploads only the
//!    stale bytes from `a` on of a written buffer;
//! 3. every buffer is locked and its host copy cut at element `k`
//!    ([`parts::Locked::cut`]); then, at once:
//!    - a scoped thread submits the GPU part, waits for it and reads
//!      elements `k..n` of every merged buffer into the host copies'
//!      tails (lavapipe runs a submission on the submitting thread, so the
//!      submission cannot happen here);
//!    - this thread runs the CPU part on the pool over the heads `0..k`,
//!      then writes elements `0..a` of merged buffers to the device copies;
//! 4. a buffer that stays split is marked so; a merged one is whole on
//!    both copies.
//!
//! The merge's transfers overlap the other side's work, and the split
//! point counts them: each side's measured time includes the transfer that
//! ends it ([`SplitEstimate`]).
//!
//! If the GPU part fails before it is submitted, the host copies are made
//! whole and the CPU runs every element. If it fails after, the CPU runs
//! `k..n` from the host copies, which the readback leaves untouched unless
//! it succeeds for every buffer, unless a buffer read and written by the
//! launch had the latest data of those elements on the device only: the
//! part may have run, so they are unknown, and the launch reports the
//! GPU's error with those elements lost (read as `DeviceLost`), as a lost
//! device loses any result it alone held.
//!
//! Both parts are learned as launches of their own sizes, so the split
//! point follows the two targets' costs as launches repeat.

mod parts;

use std::time::Instant;

use super::cpu::cpu_path_of;
use super::gpu::{run_gpu, GpuLaunch};
use super::plan::{plan_slices, GpuPlan, Slices};
use super::report::SplitParts;
use super::route::Routed;
use super::{run_routed, Arg, LaunchReport};
use crate::buffer::residency::Use;
use crate::device::TransferStats;
use crate::dispatch::{Direction, Reason, SplitRates, SplitSides, Target};
use crate::error::{Error, Result};
use crate::sync::lock;
use parts::{learn_parts, run_gpu_side, CpuPart, Locked, StaysSplit};

/// Below this many elements `Auto` never splits: the second thread and the
/// read-back cost tens of microseconds.
const AUTO_SPLIT_MIN_ELEMENTS: u64 = 1 << 16;

/// What splitting costs beyond its parts, for `Auto`'s estimate: a scoped
/// thread, a second submission wait, the merge's locks.
const SPLIT_OVERHEAD_SECONDS: f64 = 100e-6;

/// `Auto` splits only when the split is predicted this much faster than
/// the better single target: the first prediction of a split comes from
/// each target measured alone, and the two slow each other down.
const AUTO_SPLIT_MARGIN: f64 = 0.8;

/// The same once the kernel's splits were measured, both sides running.
const AUTO_SPLIT_MARGIN_MEASURED: f64 = 0.9;

/// A requested split's first point gives each side at least this
/// fraction (1/N) of the elements (see `run_split`).
const FIRST_SPLIT_LEAST_SHARE: u64 = 8;

/// After this many `Auto` launches not split, one is split anyway when a
/// split is still predicted faster than either target, so that rates one
/// slow split spoiled are measured again.
const AUTO_SPLIT_REMEASURE_AFTER: u32 = 8;

/// Where to split a launch and what that is predicted to cost.
#[derive(Clone, Copy, Debug, PartialEq)]
struct SplitEstimate {
    /// Elements `0..cpu_elements` go to the CPU.
    cpu_elements: u64,
    /// The whole split: transfers before it, the slower side, overhead.
    seconds: f64,
    /// Both single targets' predictions for the whole launch.
    cpu: f64,
    gpu: f64,
    /// The kernel's splits measured so far; 0 when the point comes from the
    /// single-target models.
    splits: u32,
}

impl SplitEstimate {
    /// The split point at which both sides are predicted to end together,
    /// from the kernel's measured splits when it has any, else from both
    /// targets' models; counting what this split must move first: the host
    /// copies' stale bytes below the point (step 1, before either side
    /// starts) and the device copies' above it (uploaded as the GPU part
    /// starts). Data a split left split moves nothing at the same point.
    fn of(routed: &Routed<'_>, strides: &[u64]) -> Self {
        let n = u64::from(routed.invocations[0]);
        let predictions = &routed.predictions;
        let measured = routed
            .shared
            .dispatcher()
            .split_rates(routed.kernel.dispatch_key());
        let per_element = |seconds: f64| seconds / n.max(1) as f64;
        let rates = measured.unwrap_or(SplitRates {
            cpu_seconds_per_element: per_element(predictions.exec(Target::Cpu)),
            gpu_seconds_per_element: per_element(predictions.exec(Target::Gpu)),
            splits: 0,
            declined: 0,
        });
        let (first_guess, _) = rates.balance(n);
        let (host_bytes, device_bytes) = bytes_to_move(&routed.buffers, strides, first_guess);
        let (before, gpu_fixed) = {
            let dispatcher = routed.shared.dispatcher();
            (
                dispatcher.transfer_seconds(Direction::Download, host_bytes),
                dispatcher.transfer_seconds(Direction::Upload, device_bytes),
            )
        };
        let (cpu_elements, seconds) = rates.balance_with(n, gpu_fixed);
        SplitEstimate {
            cpu_elements,
            seconds: before + seconds + SPLIT_OVERHEAD_SECONDS,
            cpu: predictions.of(Target::Cpu),
            gpu: predictions.of(Target::Gpu),
            splits: measured.map_or(0, |rates| rates.splits),
        }
    }

    /// What the split point was chosen from, for the reason.
    fn basis(&self) -> String {
        match self.splits {
            0 => format!(
                "predicted cpu {:.3} ms vs gpu {:.3} ms for all of it",
                self.cpu * 1e3,
                self.gpu * 1e3
            ),
            splits => format!(
                "balanced by {splits} measured split{}",
                if splits == 1 { "" } else { "s" }
            ),
        }
    }
}

/// The bytes a split at `k` must download to the host copies and upload
/// to the device copies first: a read buffer's stale bytes whole (both
/// sides read it, and it is then current on both), a buffer read and
/// written only the part each side reads, an overwritten one nothing.
fn bytes_to_move(buffers: &[Arg<'_>], strides: &[u64], k: u64) -> (u64, u64) {
    let overlap = |range: std::ops::Range<usize>, within: std::ops::Range<usize>| {
        range
            .end
            .min(within.end)
            .saturating_sub(range.start.max(within.start)) as u64
    };
    let (mut host, mut device) = (0, 0);
    for (arg, &stride) in buffers.iter().zip(strides) {
        let len = arg.raw().byte_len() as usize;
        let cut = ((k * stride) as usize).min(len);
        let residency = lock(&arg.raw().state).residency;
        match arg.usage() {
            Use::Read => {
                host += residency.stale_on_host(len).len() as u64;
                device += residency.stale_on_device(len).len() as u64;
            }
            Use::ReadWrite => {
                host += overlap(residency.stale_on_host(len), 0..cut);
                device += overlap(residency.stale_on_device(len), cut..len);
            }
            Use::Overwrite => {}
        }
    }
    (host, device)
}

/// Where `Auto` splits a launch, and why, when that is predicted clearly
/// sooner than either target alone.
pub(super) fn auto_split_pays(routed: &Routed<'_>) -> Option<(u64, String)> {
    let report = &routed.report;
    let n = u64::from(routed.invocations[0]);
    let predictions = &routed.predictions;
    if routed.requested != Target::Auto
        || routed.sequence.is_some()
        || report.alternative.is_none()
        || report.explored
        || !routed.kernel.is_elementwise()
        || n < AUTO_SPLIT_MIN_ELEMENTS
        || !(predictions.cpu_measured && predictions.gpu_measured)
    {
        return None;
    }
    let slices = splittable(routed).ok()?;
    let estimate = SplitEstimate::of(routed, &slices.strides);
    let best = estimate.cpu.min(estimate.gpu);
    let margin = if estimate.splits > 0 {
        AUTO_SPLIT_MARGIN_MEASURED
    } else {
        AUTO_SPLIT_MARGIN
    };
    let pays = estimate.seconds.is_finite() && estimate.seconds < margin * best;
    let prediction = format!(
        "predicted {:.3} ms split vs cpu {:.3} ms, gpu {:.3} ms; {}",
        estimate.seconds * 1e3,
        estimate.cpu * 1e3,
        estimate.gpu * 1e3,
        estimate.basis()
    );
    if pays {
        return Some((estimate.cpu_elements, prediction));
    }
    let faster = estimate.splits > 0 && estimate.seconds < best;
    let declined = routed
        .shared
        .dispatcher()
        .split_declined(routed.kernel.dispatch_key());
    (faster && declined >= AUTO_SPLIT_REMEASURE_AFTER).then(|| {
        (
            estimate.cpu_elements,
            format!("re-measuring after {declined} launches not split: {prediction}"),
        )
    })
}

/// Runs `routed` split at `at` CPU elements (chosen here when `None`), or
/// on one target when it cannot be split (its reason then says why). `why`
/// says why it was split, when not requested.
pub(super) fn run_split(
    mut routed: Routed<'_>,
    at: Option<u64>,
    why: Option<String>,
) -> Result<LaunchReport> {
    let slices = match splittable(&routed) {
        Ok(slices) => slices,
        Err(why) => {
            let text = routed.report.reason.to_string();
            let rest = text
                .split_once(": ")
                .map_or(text.as_str(), |(_, rest)| rest);
            routed.report.reason =
                Reason::settled(routed.report.target, format!("{rest} (not split: {why})"));
            return run_routed(routed);
        }
    };
    let n = u64::from(routed.invocations[0]);
    let (k, chosen) = match at {
        Some(k) => (k.min(n), why.unwrap_or_else(|| "requested".to_string())),
        None => {
            let estimate = SplitEstimate::of(&routed, &slices.strides);
            if estimate.splits == 0 {
                // Until a split has been measured the point comes from each
                // target alone, which may give one side nothing; a split
                // asked for still runs both, so that its rates are learned.
                let least = n / FIRST_SPLIT_LEAST_SHARE;
                let k = estimate.cpu_elements.clamp(least, n - least);
                (
                    k,
                    format!(
                        "{}, each side at least 1/{FIRST_SPLIT_LEAST_SHARE}",
                        estimate.basis()
                    ),
                )
            } else {
                (estimate.cpu_elements, estimate.basis())
            }
        }
    };
    let start = k / slices.align * slices.align;
    let Routed {
        shared,
        kernel,
        mut buffers,
        uniforms,
        work,
        deadline,
        mut report,
        started,
        transfers_before,
        plan,
        ..
    } = routed;
    let gpu = shared.gpu().filter(|_| k < n);
    let wgsl = kernel.wgsl_part();
    let path = cpu_path_of(kernel)?;
    let strides = slices.strides.clone();

    // 1. Host copies current, each distinct buffer once: a buffer that
    // stays split only below the cut.
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by_key(|&index| buffers[index].raw().id);
    order.dedup_by_key(|index| buffers[*index].raw().id);
    let mut stays_split: Vec<Option<StaysSplit>> = Vec::with_capacity(order.len());
    for &index in &order {
        let arg = &buffers[index];
        let at = (k * strides[index]) as usize;
        let aligned = at.is_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT as usize);
        let mut state = lock(&arg.raw().state);
        if gpu.is_some() && arg.usage() != Use::Read && aligned {
            stays_split.push(Some(StaysSplit {
                at,
                device_from: (start * strides[index]) as usize,
                host_was_whole: state.residency.host_valid(),
            }));
            state.prepare_host_until(shared.gpu(), shared.counters(), arg.usage(), at)?;
        } else {
            stays_split.push(None);
            state.prepare_host(shared.gpu(), shared.counters(), arg.usage())?;
        }
    }

    // 2. The GPU part recorded; a failure leaves it to the CPU.
    let mut gpu_failure: Option<String> = None;
    let mut pipeline = None;
    if let (Some(gpu), Some(wgsl), Ok(plan)) = (gpu, wgsl, &plan) {
        let part = GpuPlan {
            grid: plan.grid,
            slices: Some(Slices {
                first: start,
                ..slices.clone()
            }),
        };
        let launch = GpuLaunch {
            wgsl,
            uniforms: &uniforms,
            invocations: [n as u32, 1, 1],
            plan: &part,
            wait: false,
        };
        match run_gpu(shared, gpu, &launch, &mut buffers) {
            Ok(run) => pipeline = Some(run.outcome),
            Err(error) => gpu_failure = Some(error.to_string()),
        }
    }
    let gpu_runs = gpu.filter(|_| pipeline.is_some());
    // What steps 1 and 2 moved: the GPU side runs the uploads first, once.
    let uploaded_before = (shared.counters().snapshot() - transfers_before).bytes_uploaded;
    if gpu_runs.is_none() && stays_split.iter().any(Option::is_some) {
        // The CPU will run every element: whole host copies. Nothing was
        // submitted, so the device copies still hold what they held.
        for (&index, stays) in order.iter().zip(&mut stays_split) {
            if stays.take().is_some() {
                let arg = &buffers[index];
                lock(&arg.raw().state).prepare_host(
                    shared.gpu(),
                    shared.counters(),
                    arg.usage(),
                )?;
            }
        }
    }

    // 3. Both sides at once, over the host copies cut at `k`.
    let name = kernel.name().to_string();
    let part = CpuPart {
        cpu: shared.cpu(),
        kernel,
        path: &path,
        uniforms: &uniforms,
        deadline,
    };
    let mut locked = Locked::lock(&buffers, &order, &strides, &stays_split);
    let (mut cut, mut tails) = locked.cut(0..k, gpu_runs.map(|_| k));
    let (cpu_part, gpu_part, uploaded, cpu_side) = std::thread::scope(|scope| {
        let gpu_thread = gpu_runs.map(|gpu| {
            let operation = format!("split launch of kernel `{name}`");
            scope.spawn(move || run_gpu_side(gpu, &operation, &mut tails))
        });
        let cpu_side_started = Instant::now();
        let cpu_part = part.run(cut.slots(), k);
        // The CPU's elements go to the device while the GPU side may still
        // be reading its own back; if that side fails, the device copy is
        // not marked current, so these bytes are merely unused.
        let uploaded = match (gpu_runs, &cpu_part) {
            (Some(gpu), Ok(_)) => Some(cut.upload_until(gpu, start)),
            _ => None,
        };
        let cpu_side = cpu_side_started.elapsed();
        let gpu_part = gpu_thread.map(|thread| {
            thread.join().unwrap_or_else(|payload| {
                Err(Error::CpuKernelPanicked {
                    kernel: name.clone(),
                    message: format!(
                        "the thread running the split's GPU part panicked: {}",
                        crate::error::panic_message(payload.as_ref())
                    ),
                })
            })
        });
        (cpu_part, gpu_part, uploaded, cpu_side)
    });
    drop(cut);

    // 4. The GPU's elements are in the host copies or, for a buffer that
    // stays split, in its device copy; or, if that side failed, the CPU
    // runs them too.
    let mut gpu_side = None;
    let mut gpu_error = None;
    let gpu_seconds = match gpu_part {
        Some(Ok(side)) => {
            shared.counters().downloaded(side.bytes_read);
            gpu_side = Some(side.seconds);
            Some(side.part_seconds)
        }
        Some(Err(error)) => {
            gpu_failure = Some(error.to_string());
            gpu_error = Some(error);
            None
        }
        None => None,
    };
    let failed = k < n && gpu_seconds.is_none();
    let (cpu_seconds, implementation) = match cpu_part {
        Ok(ran) => ran,
        Err(error) => {
            // Both copies as the parts left them, as a failed CPU launch
            // leaves its outputs.
            if failed {
                locked.lose_gpu_parts(k);
            } else {
                locked.finish(true, false);
            }
            return Err(error);
        }
    };
    let mut parts = SplitParts {
        cpu_elements: k,
        gpu_elements: n - k,
    };
    if failed && !locked.cpu_can_take_over() {
        locked.lose_gpu_parts(k);
        return Err(gpu_error.unwrap_or_else(|| Error::DeviceLost {
            reason: "Unknown".into(),
            message: format!("the GPU part of split `{name}` failed"),
        }));
    }
    if failed {
        let why = gpu_failure.unwrap_or_else(|| "no usable GPU".into());
        log::warn!("switchyard: the GPU part of split `{name}` failed ({why}); the CPU ran it");
        let (mut rest, _) = locked.cut(k..n, None);
        part.run(rest.slots(), n - k)?;
        parts = SplitParts {
            cpu_elements: n,
            gpu_elements: 0,
        };
        chosen_failed(&mut report, &why);
    }
    let device_current = match uploaded {
        Some(Ok(bytes)) if !failed => {
            shared.counters().uploaded(bytes);
            gpu.is_some_and(|gpu| gpu.check_healthy().is_ok())
        }
        _ => false,
    };
    locked.finish(!failed, device_current);
    drop(locked);
    if let (Some(gpu_seconds), false) = (gpu_side, failed) {
        // The rates are for the next split, which at (nearly) the same
        // point uploads nothing: this one's uploads are taken out (at most
        // down to a quarter of what was measured, should the transfer model
        // overestimate them).
        let mut dispatcher = shared.dispatcher();
        let uploads = dispatcher.transfer_seconds(Direction::Upload, uploaded_before);
        dispatcher.observe_split(
            kernel.dispatch_key(),
            SplitSides {
                cpu_elements: k,
                cpu_seconds: cpu_side.as_secs_f64(),
                gpu_elements: n - k,
                gpu_seconds: (gpu_seconds - uploads).max(gpu_seconds / 4.0),
            },
        );
    }

    let moved: TransferStats = shared.counters().snapshot() - transfers_before;
    report.bytes_uploaded = moved.bytes_uploaded;
    report.bytes_downloaded = moved.bytes_downloaded;
    report.wall = started.elapsed();
    report.cpu_implementation = Some(implementation);
    report.pipeline = pipeline.filter(|_| parts.gpu_elements > 0);
    report.split = Some(parts);
    if !failed {
        report.target = if parts.cpu_elements >= parts.gpu_elements {
            Target::Cpu
        } else {
            Target::Gpu
        };
        report.reason = Reason::settled(
            report.target,
            format!(
                "split: cpu 0..{}, gpu {}..{n} ({chosen})",
                parts.cpu_elements, parts.cpu_elements
            ),
        );
    }
    learn_parts(
        shared,
        kernel,
        &report,
        work,
        n,
        parts,
        cpu_seconds,
        gpu_seconds,
    );
    Ok(report)
}

/// Why a routed launch cannot be split, or the slicing its GPU part uses.
fn splittable(routed: &Routed<'_>) -> std::result::Result<Slices, String> {
    let kernel = routed.kernel;
    if !kernel.is_elementwise() {
        return Err("the kernel is not declared elementwise".into());
    }
    kernel.cpu_path()?;
    let Some(wgsl) = kernel.wgsl_part() else {
        return Err("the kernel has no WGSL for the GPU".into());
    };
    let gpu = routed
        .shared
        .gpu()
        .filter(|gpu| gpu.check_healthy().is_ok())
        .ok_or("there is no usable GPU")?;
    if !gpu.features.contains(kernel.required_features()) {
        return Err("the GPU lacks features the kernel needs".into());
    }
    routed.plan.as_ref().map_err(Clone::clone)?;
    plan_slices(gpu, kernel, wgsl, &routed.buffers, routed.invocations)
}

/// Marks the report as a CPU run after the GPU part failed.
fn chosen_failed(report: &mut LaunchReport, why: &str) {
    report.target = Target::Cpu;
    report.reason = Reason::settled(
        Target::Cpu,
        format!("the GPU part of the split failed ({why}); the CPU ran all of it"),
    );
}
