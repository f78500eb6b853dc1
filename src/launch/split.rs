//! One elementwise launch run as two parts at once: elements `0..k` on the
//! CPU, the rest on the GPU ([`Launch::split`](super::Launch::split)).
//!
//! The order of [`run_split`]:
//! 1. every argument's host copy is made current (the CPU part and the
//!    merge need it);
//! 2. the GPU part is recorded over binding slices from element `a`, the
//!    largest multiple of the adapter's offset alignment at or below `k`
//!    (an elementwise kernel computes `a..k` twice, from the same inputs,
//!    and the host keeps the CPU's copy);
//! 3. a scoped thread submits the GPU part and waits for it while this
//!    thread runs the CPU part on the pool over host sub-slices `0..k`
//!    (lavapipe runs a submission on the submitting thread, so the
//!    submission cannot happen here);
//! 4. elements `k..n` of every written buffer are read back into its host
//!    copy, which then holds the whole result, and elements `0..a` are
//!    written to its device copy, which then holds it too.
//!
//! If the GPU part fails at any step, the CPU runs `k..n` too, from the
//! host copies, which step 1 made current and the CPU part left untouched
//! there: the result is the same.
//!
//! Both parts are learned as launches of their own sizes, so the split
//! point follows the two targets' costs as launches repeat.

use std::sync::{Arc, MutexGuard};
use std::time::{Duration, Instant};

use super::cpu::{cpu_path_of, run_on_pool, twin_slots};
use super::gpu::{run_gpu, GpuLaunch};
use super::plan::{plan_slices, GpuPlan, Slices};
use super::report::SplitParts;
use super::route::{learn, Finished, Routed};
use super::{run_routed, Arg, LaunchReport};
use crate::buffer::residency::{Residency, Use};
use crate::buffer::transfer::BufferState;
use crate::cpu::CpuSlot;
use crate::device::{GpuContext, TransferStats};
use crate::dispatch::{Direction, Predictions, Reason, Target};
use crate::error::{Error, Result};
use crate::kernel::Kernel;
use crate::pipeline::CacheOutcome;
use crate::sync::lock;
use crate::target::CpuImplementation;

/// Below this many elements `Auto` never splits: the second thread and the
/// read-back cost tens of microseconds.
const AUTO_SPLIT_MIN_ELEMENTS: u64 = 1 << 16;

/// What splitting costs beyond its parts, for `Auto`'s estimate: a scoped
/// thread, a second submission wait, the merge's locks.
const SPLIT_OVERHEAD_SECONDS: f64 = 100e-6;

/// `Auto` splits only when the split is predicted this much faster than
/// the better single target: a split leaves its result on the host, which
/// the next launches' transfers may pay for.
const AUTO_SPLIT_MARGIN: f64 = 0.8;

/// Whether an `Auto` launch is predicted to finish clearly sooner split
/// than on either target alone; the reason's text when it is.
pub(super) fn auto_split_pays(routed: &Routed<'_>) -> Option<String> {
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
    let (cpu, gpu) = (predictions.of(Target::Cpu), predictions.of(Target::Gpu));
    let (k, _) = split_point(predictions, n);
    let written: u64 = routed
        .buffers
        .iter()
        .filter(|arg| arg.usage() != Use::Read)
        .map(|arg| arg.raw().byte_len())
        .sum();
    let read_back_bytes = (written as f64 * (n - k) as f64 / n as f64) as u64;
    let read_back = routed
        .shared
        .dispatcher()
        .transfer_seconds(Direction::Download, read_back_bytes);
    let split = cpu * gpu / (cpu + gpu) + read_back + SPLIT_OVERHEAD_SECONDS;
    let pays = split.is_finite() && split < AUTO_SPLIT_MARGIN * cpu.min(gpu);
    if !pays || splittable(routed).is_err() {
        return None;
    }
    Some(format!(
        "predicted {:.3} ms split vs cpu {:.3} ms, gpu {:.3} ms",
        split * 1e3,
        cpu * 1e3,
        gpu * 1e3
    ))
}

/// Runs `routed` split at `at` CPU elements (chosen when `None`; `why`
/// then says why it was split, if not requested), or on one target when it
/// cannot be split (its reason then says why).
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
        Some(k) => (k.min(n), "requested".to_string()),
        None => {
            let (k, point) = split_point(&routed.predictions, n);
            (k, why.unwrap_or(point))
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

    // 1. Host copies current, each distinct buffer once.
    let mut order: Vec<usize> = (0..buffers.len()).collect();
    order.sort_by_key(|&index| buffers[index].raw().id);
    order.dedup_by_key(|index| buffers[*index].raw().id);
    for &index in &order {
        let arg = &buffers[index];
        lock(&arg.raw().state).prepare_host(shared.gpu(), shared.counters(), arg.usage())?;
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

    // 3. Both parts at once.
    let name = kernel.name().to_string();
    let part = CpuPart {
        cpu: shared.cpu(),
        kernel,
        path: &path,
        buffers: &buffers,
        order: &order,
        strides: &strides,
        uniforms: &uniforms,
        deadline,
    };
    let (cpu_part, gpu_part) = std::thread::scope(|scope| {
        let gpu_thread = gpu.filter(|_| pipeline.is_some()).map(|gpu| {
            let operation = format!("split launch of kernel `{name}`");
            scope.spawn(move || -> Result<Duration> {
                let submitted = Instant::now();
                let submission = gpu.submit_for_later(&operation)?;
                gpu.wait_for(submission.as_ref(), &operation)?;
                Ok(submitted.elapsed())
            })
        });
        let cpu_part = part.run(0..k);
        let gpu_part = gpu_thread.map(|thread| {
            thread.join().unwrap_or_else(|payload| {
                Err(Error::CpuKernelPanicked {
                    kernel: name.clone(),
                    message: format!(
                        "the thread waiting for the split's GPU part panicked: {}",
                        crate::error::panic_message(payload.as_ref())
                    ),
                })
            })
        });
        (cpu_part, gpu_part)
    });
    let (cpu_seconds, implementation) = cpu_part?;

    // 4. The GPU's elements into the host copies; or, if it failed, the
    // CPU runs them too.
    let gpu_seconds = match gpu_part {
        Some(Ok(elapsed)) => match read_back(gpu, &buffers, &order, &strides, k..n) {
            Ok(bytes) => {
                shared.counters().downloaded(bytes);
                Some(elapsed.as_secs_f64())
            }
            Err(error) => {
                gpu_failure = Some(error.to_string());
                None
            }
        },
        Some(Err(error)) => {
            gpu_failure = Some(error.to_string());
            None
        }
        None => None,
    };
    let mut parts = SplitParts {
        cpu_elements: k,
        gpu_elements: n - k,
    };
    let failed = k < n && gpu_seconds.is_none();
    if failed {
        let why = gpu_failure.unwrap_or_else(|| "no usable GPU".into());
        log::warn!("switchyard: the GPU part of split `{name}` failed ({why}); the CPU ran it");
        part.run(k..n)?;
        parts = SplitParts {
            cpu_elements: n,
            gpu_elements: 0,
        };
        chosen_failed(&mut report, &why);
    }
    for &index in &order {
        let arg = &buffers[index];
        if arg.usage() == Use::Read {
            continue;
        }
        let mut state = lock(&arg.raw().state);
        state.finish_host(arg.usage());
        if !failed && k < n {
            // The device copy was made current before the GPU part and
            // holds its elements from `start`: with the CPU's elements
            // before them it is current again, and the next launch, on
            // either target or split, moves nothing.
            let bytes = (start * strides[index]) as usize;
            let gpu = gpu.filter(|gpu| gpu.check_healthy().is_ok());
            let BufferState {
                host,
                device,
                residency,
                ..
            } = &mut *state;
            if let (Some(gpu), Some(device)) = (gpu, device.as_ref()) {
                if bytes == 0
                    || gpu
                        .upload_at(device.buffer(), 0, &host.bytes()[..bytes])
                        .is_ok()
                {
                    shared.counters().uploaded(bytes as u64);
                    *residency = Residency::Both;
                }
            }
        }
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

/// The CPU's share: elements in proportion to the other target's predicted
/// cost, so both parts are predicted to end together.
fn split_point(predictions: &Predictions, n: u64) -> (u64, String) {
    let (cpu, gpu) = (predictions.of(Target::Cpu), predictions.of(Target::Gpu));
    let share = gpu / (cpu + gpu);
    let share = if share.is_finite() {
        share.clamp(0.0, 1.0)
    } else {
        0.5
    };
    let k = ((n as f64) * share).round() as u64;
    let why = format!(
        "predicted cpu {:.3} ms vs gpu {:.3} ms for all of it",
        cpu * 1e3,
        gpu * 1e3
    );
    (k.min(n), why)
}

/// Marks the report as a CPU run after the GPU part failed.
fn chosen_failed(report: &mut LaunchReport, why: &str) {
    report.target = Target::Cpu;
    report.reason = Reason::settled(
        Target::Cpu,
        format!("the GPU part of the split failed ({why}); the CPU ran all of it"),
    );
}

/// What the CPU needs to run any range of a split launch's elements.
struct CpuPart<'p, 'a> {
    cpu: &'p crate::cpu::CpuPool,
    kernel: &'p Kernel,
    path: &'p crate::kernel::CpuPath<'p>,
    buffers: &'p [Arg<'a>],
    /// Each distinct buffer's argument index, in buffer-id order.
    order: &'p [usize],
    strides: &'p [u64],
    uniforms: &'p [Vec<u8>],
    deadline: Option<Duration>,
}

impl CpuPart<'_, '_> {
    /// Runs elements `range` on the CPU over the host copies (each distinct
    /// buffer locked once, in id order), as a launch of `range.len()`
    /// invocations over sub-slices of every buffer; returns its seconds and
    /// what ran.
    fn run(&self, range: std::ops::Range<u64>) -> Result<(f64, CpuImplementation)> {
        let CpuPart {
            cpu,
            kernel,
            path,
            buffers,
            order,
            strides,
            uniforms,
            deadline,
        } = *self;
        let started = Instant::now();
        if range.is_empty() {
            let implementation = match path {
                crate::kernel::CpuPath::Twin(_) => CpuImplementation::Twin,
                crate::kernel::CpuPath::Wgsl(_) => CpuImplementation::Wgsl,
            };
            return Ok((0.0, implementation));
        }
        let mut guards: Vec<(usize, MutexGuard<'_, BufferState>)> = order
            .iter()
            .map(|&index| (index, lock(&buffers[index].raw().state)))
            .collect();
        let arguments: Vec<(u64, Use)> = buffers
            .iter()
            .map(|arg| (arg.raw().id, arg.usage()))
            .collect();
        let slots = twin_slots(
            guards
                .iter_mut()
                .map(|(index, guard)| {
                    let arg = &buffers[*index];
                    (arg.raw().id, &mut **guard, arg.usage())
                })
                .collect(),
            &arguments,
        );
        // Each argument's slot cut to the range's bytes.
        let slots: Vec<CpuSlot<'_>> = slots
            .into_iter()
            .zip(strides)
            .map(|(slot, &stride)| {
                let bytes = (range.start * stride) as usize..(range.end * stride) as usize;
                match slot {
                    CpuSlot::Read(all) => CpuSlot::Read(&all[bytes]),
                    CpuSlot::Write(all) => CpuSlot::Write(all.map(|all| &mut all[bytes])),
                }
            })
            .collect();
        let uniform_slices: Vec<&[u8]> = uniforms.iter().map(Vec::as_slice).collect();
        let invocations = [(range.end - range.start) as u32, 1, 1];
        let implementation = run_on_pool(
            cpu,
            kernel,
            path,
            slots,
            uniform_slices,
            invocations,
            deadline,
        )?;
        Ok((started.elapsed().as_secs_f64(), implementation))
    }
}

/// Reads elements `range` of every written buffer's device copy into its
/// host copy; returns the bytes read.
fn read_back(
    gpu: Option<&Arc<GpuContext>>,
    buffers: &[Arg<'_>],
    order: &[usize],
    strides: &[u64],
    range: std::ops::Range<u64>,
) -> Result<u64> {
    let gpu = gpu.ok_or_else(|| Error::DeviceLost {
        reason: "Unknown".into(),
        message: "the GPU went away during a split launch".into(),
    })?;
    let mut total = 0;
    for &index in order {
        let arg = &buffers[index];
        if arg.usage() == Use::Read {
            continue;
        }
        let bytes = (range.start * strides[index]) as usize..(range.end * strides[index]) as usize;
        let mut state = lock(&arg.raw().state);
        let BufferState { host, device, .. } = &mut *state;
        let device = device.as_ref().ok_or_else(|| Error::DeviceLost {
            reason: "Unknown".into(),
            message: "a split launch's device copy is missing".into(),
        })?;
        gpu.download_at(
            device.buffer(),
            bytes.start as u64,
            &mut host.bytes_mut()[bytes.clone()],
        )?;
        total += bytes.len() as u64;
    }
    Ok(total)
}

/// Teaches the dispatcher each part as a launch of its own size.
#[allow(clippy::too_many_arguments)]
fn learn_parts(
    shared: &crate::shared::RuntimeShared,
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
