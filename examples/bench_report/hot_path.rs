//! The hot path's own costs, measured side by side with what a user would
//! write instead (issue "Core in layers", item 3):
//!
//! - **record**: the caller's CPU time to record one GPU launch (saxpy 2^10)
//!   in a sequence of 100, against raw wgpu recording the same pass into one
//!   encoder. Thread CPU time, so the software adapter's threads do not blur
//!   it; submitting and waiting happen outside the timed part on both sides.
//!   Since a sequence keeps one compute pass open across its launches, part
//!   of what raw wgpu pays per pass moves to the submission: a second row
//!   times the whole batch (encoder, recording, submission, wait) in CPU
//!   time on both sides, so that nothing is only moved out of sight.
//! - **Auto's decision**: the CPU time of an `Auto` launch of saxpy 2^10 less
//!   that of the same launch on the target Auto settled on, paired by round
//!   (launches that explored the other target left out: their cost is the
//!   other target's, counted by the Auto rows and dispatch_report).
//! - **readback**: what a user waits for after a GPU launch wrote 16 MiB:
//!   `to_vec` against raw wgpu mapping a staging buffer and copying into a
//!   new vector, and `read_into` a reused vector against raw wgpu copying
//!   into one; each call follows a GPU launch that wrote the buffer.

use bytemuck::cast_slice_mut;
use switchyard::kernels::{self, SaxpyParams};
use switchyard::{Runtime, RuntimeConfig, Target};

use super::raw_wgpu::RawGpu;
use super::timing::{median, thread_cpu_seconds, Blocks, Contender};
use super::workloads::{Problem, RawCase, SwitchyardCase};
use super::{Fallible, Line, Results};

const RECORDED: usize = 100;

/// CPU time per launch recorded in a sequence, ours against raw wgpu.
pub fn record(rt: &Runtime, raw: &RawGpu, rounds: usize, results: &mut Results) -> Fallible<()> {
    let problem = Problem::new("saxpy", 10);
    let n = 1u32 << 10;
    let x = rt.buffer_from_slice(&problem.input)?;
    let mut y = rt.buffer_zeroed::<f32>(n as usize)?;
    let kernel = kernels::saxpy();
    let theirs = RawCase::new(raw, &problem);
    // Per launch: (CPU time recording, CPU time of the whole batch).
    let mut ours = || -> switchyard::Result<(f64, f64)> {
        let started = thread_cpu_seconds();
        let mut seq = rt.sequence().on(Target::Gpu);
        let recording = thread_cpu_seconds();
        for _ in 0..RECORDED {
            seq.launch(&kernel)
                .uniform(&SaxpyParams { a: 1e-3, n })
                .read(&x)
                .write(&mut y)
                .invocations(n)
                .run()?;
        }
        let recorded = thread_cpu_seconds() - recording;
        seq.finish()?;
        let total = thread_cpu_seconds() - started;
        Ok((recorded / RECORDED as f64, total / RECORDED as f64))
    };
    // Both sides pay for their command encoder in the timed part, as a
    // program recording a batch does.
    let raw_record = || {
        let started = thread_cpu_seconds();
        let mut encoder = raw.encoder();
        for _ in 0..RECORDED {
            theirs.record_into(&mut encoder);
        }
        let recorded = thread_cpu_seconds() - started;
        raw.submit_and_wait(encoder);
        let total = thread_cpu_seconds() - started;
        (recorded / RECORDED as f64, total / RECORDED as f64)
    };
    for _ in 0..3 {
        ours()?;
        raw_record();
    }
    // One run feeds both rows; each contender reports its recording time
    // to the comparison and keeps its batch time aside, round by round.
    let mut totals = [Vec::new(), Vec::new()];
    let [our_totals, raw_totals] = &mut totals;
    let compared = Blocks {
        rounds: 3 * rounds,
        block_seconds: 10e-3,
        min_calls: 3,
        max_calls: 50,
    }
    .compare(&mut [
        Box::new(|| {
            let (recorded, total) = ours()?;
            our_totals.push(total);
            Ok(recorded)
        }) as Contender<'_>,
        Box::new(|| {
            let (recorded, total) = raw_record();
            raw_totals.push(total);
            Ok(recorded)
        }),
    ])?;
    let line = Line {
        what: format!("CPU time to record a Gpu launch in a sequence of {RECORDED}, saxpy 2^10"),
        ours_s: compared.medians[0],
        baseline: "raw wgpu recording a pass",
        baseline_s: compared.medians[1],
        ratio: compared.ratio(0, &[1]),
        goal: "≤ 1.0 µs",
    };
    results.sequence_record_us = Some(line.ours_s * 1e6);
    results.lines.push(line);
    let [our_total, raw_total] = totals.map(|mut seconds| median(&mut seconds));
    results.sequence_batch_cpu_over_raw = Some(our_total / raw_total);
    results.lines.push(Line {
        what: format!(
            "CPU time per launch of a sequence of {RECORDED} recorded, submitted and waited for"
        ),
        ours_s: our_total,
        baseline: "raw wgpu, a pass per launch",
        baseline_s: raw_total,
        ratio: our_total / raw_total,
        goal: "≤ 1.10×",
    });
    Ok(())
}

const DECISIONS_PER_CALL: usize = 50;

/// Auto's decision: the CPU time of an Auto launch over an explicit launch
/// on the target Auto chose.
pub fn auto_decision(rounds: usize, results: &mut Results) -> Fallible<()> {
    // A runtime of its own: the rows before taught the shared one's
    // dispatcher from explicit launches, which also widen its exploration
    // budget; this row measures Auto as a program that only uses Auto sees it.
    let own = Runtime::with_config(RuntimeConfig::from_env()?.cache_dir(None))?;
    let rt = &own;
    let problem = Problem::new("saxpy", 10);
    let mut case = SwitchyardCase::new(rt, &problem)?;
    // Warm up until the choice has settled; the settled target is where
    // most of the last launches ran (an exploration may be the last).
    let mut on_gpu = 0;
    for launch in 0..3000 {
        let ran = case.run(rt, Target::Auto)?.1;
        on_gpu += usize::from(launch >= 2000 && ran == Target::Gpu);
    }
    let settled = if on_gpu > 500 {
        Target::Gpu
    } else {
        Target::Cpu
    };
    let case = std::cell::RefCell::new(case);
    // A call that explored the other target counts as infinitely slow, so
    // the medians leave it out: an exploring launch costs what the other
    // target costs, which `auto_over_best` and dispatch_report charge to
    // Auto; this row is the decision alone. (Per-launch CPU clocks are
    // system calls that cost more than the decision.)
    let cpu_time_per_launch = |target: Target| -> switchyard::Result<f64> {
        let mut case = case.borrow_mut();
        let mut explored = false;
        let started = thread_cpu_seconds();
        for _ in 0..DECISIONS_PER_CALL {
            explored |= case.run(rt, target)?.1 != settled;
        }
        let spent = (thread_cpu_seconds() - started) / DECISIONS_PER_CALL as f64;
        Ok(if explored { f64::INFINITY } else { spent })
    };
    let blocks = Blocks {
        rounds: 3 * rounds,
        block_seconds: 5e-3,
        min_calls: 3,
        max_calls: 40,
    };
    let times = blocks.run(&mut [
        Box::new(|| cpu_time_per_launch(Target::Auto)) as Contender<'_>,
        Box::new(|| cpu_time_per_launch(settled)),
    ])?;
    // Paired by round: the difference of the two block medians.
    let mut auto_blocks: Vec<f64> = times[0].iter().map(|b| median(&mut b.clone())).collect();
    let explicit_blocks: Vec<f64> = times[1].iter().map(|b| median(&mut b.clone())).collect();
    let mut differences: Vec<f64> = auto_blocks
        .iter()
        .zip(&explicit_blocks)
        .map(|(auto, explicit)| auto - explicit)
        .collect();
    let decision = median(&mut differences);
    let auto_s = median(&mut auto_blocks);
    results.lines.push(Line {
        what: format!("Auto's decision over an explicit {settled} launch, saxpy 2^10 (CPU time)"),
        ours_s: decision.max(0.0),
        baseline: "explicit launch",
        baseline_s: auto_s - decision,
        ratio: auto_s / (auto_s - decision),
        goal: "≤ 0.05 µs",
    });
    results.auto_decision_us = Some(decision * 1e6);
    Ok(())
}

const READBACK_LOG2: u32 = 22;

/// A 16 MiB readback right after a GPU launch wrote the buffer.
pub fn readback(rt: &Runtime, raw: &RawGpu, rounds: usize, results: &mut Results) -> Fallible<()> {
    let problem = Problem::new("saxpy", READBACK_LOG2);
    let n = 1usize << READBACK_LOG2;
    let mut ours = SwitchyardCase::new(rt, &problem)?;
    let theirs = RawCase::new(raw, &problem);
    let staging = raw.staging((n * 4) as u64);
    let mut out = vec![0.0f32; n];
    let mut raw_out = vec![0.0f32; n];
    let blocks = Blocks {
        rounds,
        block_seconds: 50e-3,
        min_calls: 3,
        max_calls: 10,
    };
    let timed = |f: &mut dyn FnMut() -> switchyard::Result<()>| -> switchyard::Result<f64> {
        let started = std::time::Instant::now();
        f()?;
        Ok(started.elapsed().as_secs_f64())
    };
    let compared = {
        let ours = std::cell::RefCell::new(&mut ours);
        let written = |case: &mut SwitchyardCase| -> switchyard::Result<()> {
            case.run(rt, Target::Gpu)?;
            Ok(())
        };
        let compared = blocks.compare(&mut [
            Box::new(|| {
                let mut case = ours.borrow_mut();
                written(&mut case)?;
                let y = case.output().expect("saxpy writes y");
                timed(&mut || y.to_vec().map(|v| drop(std::hint::black_box(v))))
            }) as Contender<'_>,
            Box::new(|| {
                let mut case = ours.borrow_mut();
                written(&mut case)?;
                let y = case.output().expect("saxpy writes y");
                timed(&mut || y.read_into(&mut out))
            }),
            Box::new(|| {
                theirs.run(raw);
                timed(&mut || {
                    let mut fresh = vec![0.0f32; n];
                    raw.readback(theirs.output(), &staging, cast_slice_mut(&mut fresh));
                    drop(std::hint::black_box(fresh));
                    Ok(())
                })
            }),
            Box::new(|| {
                theirs.run(raw);
                timed(&mut || {
                    raw.readback(theirs.output(), &staging, cast_slice_mut(&mut raw_out));
                    Ok(())
                })
            }),
        ])?;
        compared
    };
    let to_vec = compared.ratio(0, &[2]);
    let read_into = compared.ratio(1, &[3]);
    results.lines.push(Line {
        what: "readback of 16 MiB just written by a GPU launch: to_vec".into(),
        ours_s: compared.medians[0],
        baseline: "raw wgpu map + copy into a new Vec",
        baseline_s: compared.medians[2],
        ratio: to_vec,
        goal: "≤ 1.10",
    });
    results.lines.push(Line {
        what: "readback of 16 MiB just written by a GPU launch: read_into".into(),
        ours_s: compared.medians[1],
        baseline: "raw wgpu map + copy into the same Vec",
        baseline_s: compared.medians[3],
        ratio: read_into,
        goal: "≤ 1.10",
    });
    results.readback_over_raw = Some(to_vec.max(read_into));
    Ok(())
}
