//! What switchyard costs over the code a user would write instead, measured
//! side by side in one process: a markdown table of median times and their
//! ratios, taken in rotating blocks of calls (see `benches/support/timing.rs`).
//! Each ratio is paired by round: the median over rounds of one side's block
//! median over the other's in the same round, so that a slow spell of a
//! shared machine divides out instead of landing on one side.
//!
//! Run: `cargo run --release --example bench_report [-- --json] [--rounds 15]
//! [--only executor]`
//!
//! - **GPU launch**: saxpy on 2^10 elements, switchyard `Target::Gpu` against
//!   raw wgpu with the pipeline and bind group built once (encode, submit,
//!   wait per launch; `benches/support/raw_wgpu.rs`).
//! - **GPU launch in a sequence**: 100 such launches in one switchyard
//!   sequence against 100 compute passes in one raw submission, per launch.
//! - **CPU**: each built-in kernel at a large size on `Target::Cpu` against
//!   the rayon code a competent user would write (`benches/support/
//!   workloads.rs`): 2^22 elements or cells, 4096 bodies.
//! - **Pipeline cache**: building a pipeline (`Runtime::prepare_gpu` on a
//!   kernel whose override constant is new each time, so no cache of ours or
//!   the driver's has it) against finding it in the cache.
//! - **Auto**: each built-in kernel at 2^10, 2^16 and 2^22 work on Cpu, Gpu
//!   and Auto after warm-up; the worst `auto / min(cpu, gpu)` of the three.
//! - **Hot path** (`hot_path.rs`): the CPU time to record a GPU launch in a
//!   sequence, Auto's decision over an explicit launch, and a 16 MiB
//!   readback of GPU-written data against raw wgpu.
//! - **WGSL executor** (`executor.rs`): each built-in kernel's shader on the
//!   CPU executor against its twin and against the GPU, one launch each, at
//!   2^10, 2^16 and 2^20 work.
//!
//! With `--json`, the last line is one JSON object: `adapter`,
//! `gpu_over_raw_wgpu`, `gpu_seq_over_raw_wgpu`, `cpu_over_rayon` (keyed by
//! kernel), `cache_cold_over_hit`, `auto_over_best` (keyed by kernel),
//! `sequence_record_us`, `sequence_batch_cpu_over_raw_wgpu` (the CPU time
//! of recording, submitting and waiting for the batch), `auto_decision_us` and
//! `readback_16mib_over_raw_wgpu` (the worse of `to_vec` and `read_into`),
//! `wgsl_cpu_over_lavapipe` and `wgsl_cpu_over_twin` (keyed by kernel: the
//! executor's throughput over the GPU's and the twin's at 2^20 work) and
//! `wgsl_cpu_small_over_lavapipe` (at 2^10); GPU entries are `null` (or
//! empty) without a GPU.

#[path = "../support/cli.rs"]
mod cli;
mod executor;
mod hot_path;
#[path = "../../benches/support/raw_wgpu.rs"]
mod raw_wgpu;
#[path = "../../benches/support/timing.rs"]
mod timing;
#[path = "../../benches/support/workloads.rs"]
mod workloads;

use std::time::Instant;

use raw_wgpu::RawGpu;
use switchyard::kernels::{self, SaxpyParams};
use switchyard::{CacheOutcome, Kernel, Runtime, RuntimeConfig, Target};
use timing::{median, Blocks, Contender};
use workloads::{time_targets, Problem, RawCase, RayonCase, SwitchyardCase, KERNELS, SCALE_WGSL};

struct Options {
    json: bool,
    rounds: usize,
    /// `--only executor`: just the WGSL executor's rows (a quicker run
    /// while working on the executor).
    executor_only: bool,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        json: false,
        rounds: 15,
        executor_only: false,
    };
    cli::for_each_arg("examples/bench_report/main.rs", |arg, value| {
        match arg {
            "--json" => options.json = true,
            "--rounds" => options.rounds = cli::number::<usize>(arg, &value()?)?.max(1),
            "--only" => match value()?.as_str() {
                "executor" => options.executor_only = true,
                other => return Err(format!("--only {other}: the one section is `executor`")),
            },
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(options)
}

fn main() {
    cli::main_with("bench_report", parse_options, |options| {
        run(options).map_err(|e| e.to_string())
    });
}

/// One line of the table: what was compared, the two median times, their
/// ratio (paired by round where the two ran in rounds; see
/// `Comparison::ratio`), the goal.
struct Line {
    what: String,
    ours_s: f64,
    baseline: &'static str,
    baseline_s: f64,
    ratio: f64,
    goal: &'static str,
}

/// Everything the report measured.
#[derive(Default)]
struct Results {
    lines: Vec<Line>,
    gpu_over_raw: Option<f64>,
    gpu_seq_over_raw: Option<f64>,
    cpu_over_rayon: Vec<(&'static str, f64)>,
    cache_cold_over_hit: Option<f64>,
    auto_over_best: Vec<(&'static str, f64)>,
    sequence_record_us: Option<f64>,
    sequence_batch_cpu_over_raw: Option<f64>,
    auto_decision_us: Option<f64>,
    readback_over_raw: Option<f64>,
    wgsl_cpu_over_lavapipe: Vec<(&'static str, f64)>,
    wgsl_cpu_small_over_lavapipe: Vec<(&'static str, f64)>,
    wgsl_cpu_over_twin: Vec<(&'static str, f64)>,
}

/// Errors of the library and of the report itself.
type Fallible<T> = Result<T, Box<dyn std::error::Error>>;

const SEQUENCE_LAUNCHES: usize = 100;

fn run(options: &Options) -> Fallible<()> {
    let started = Instant::now();
    // No on-disk cache: every run learns from scratch, and "cold" pipelines
    // are really cold.
    let rt = Runtime::with_config(RuntimeConfig::from_env()?.cache_dir(None))?;
    let adapter = rt
        .gpu_info()
        .map_or_else(|| "none".to_string(), |info| info.to_string());
    let raw = rt.gpu_info().and_then(|info| RawGpu::open(&info.name));
    if !rt.gpu_available() {
        eprintln!(
            "bench_report: no GPU ({}); only the CPU rows are measured",
            rt.gpu_unavailable_reason().unwrap_or_default()
        );
    } else if raw.is_none() {
        eprintln!("bench_report: raw wgpu could not open switchyard's adapter; GPU rows skipped");
    }
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rt.cpu_threads())
        .build()
        .map_err(|e| format!("rayon pool: {e}"))?;
    let mut results = Results::default();

    let everything = !options.executor_only;
    if let (Some(raw), true, true) = (&raw, rt.gpu_available(), everything) {
        gpu_launches(&rt, raw, options.rounds, &mut results)?;
        hot_path::record(&rt, raw, options.rounds, &mut results)?;
        hot_path::readback(&rt, raw, options.rounds, &mut results)?;
        pipeline_cache(&rt, &mut results)?;
    }
    if everything {
        cpu_kernels(&rt, &pool, options.rounds, &mut results)?;
    }
    executor::measure(&rt, options.rounds, &mut results)?;
    if everything {
        auto_choices(&rt, options.rounds, &mut results)?;
        hot_path::auto_decision(options.rounds, &mut results)?;
    }

    if options.json {
        println!("{}", to_json(&adapter, &results));
    } else {
        println!(
            "switchyard bench report on {adapter}, {} CPU threads, median of {} rounds",
            rt.cpu_threads(),
            options.rounds
        );
        println!();
        println!("| measure | switchyard | baseline | ratio | goal |");
        println!("|---|---:|---:|---:|---|");
        for line in &results.lines {
            println!(
                "| {} | {} | {} {} | {:.3} | {} |",
                line.what,
                duration(line.ours_s),
                line.baseline,
                duration(line.baseline_s),
                line.ratio,
                line.goal
            );
        }
        println!();
        println!("total {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

/// Per launch: switchyard Gpu against raw wgpu, alone and in a sequence.
fn gpu_launches(rt: &Runtime, raw: &RawGpu, rounds: usize, results: &mut Results) -> Fallible<()> {
    let problem = Problem::new("saxpy", 10);
    let mut ours = SwitchyardCase::new(rt, &problem)?;
    let theirs = RawCase::new(raw, &problem);
    for _ in 0..3 {
        ours.run(rt, Target::Gpu)?;
        theirs.run(raw);
    }
    let blocks = Blocks {
        rounds,
        block_seconds: 10e-3,
        min_calls: 5,
        max_calls: 200,
    };
    let compared = blocks.compare(&mut [
        Box::new(|| Ok(ours.run(rt, Target::Gpu)?.0)) as Contender<'_>,
        Box::new(|| Ok(theirs.run(raw))),
    ])?;
    let line = Line {
        what: "Gpu launch, saxpy 2^10".into(),
        ours_s: compared.medians[0],
        baseline: "raw wgpu",
        baseline_s: compared.medians[1],
        ratio: compared.ratio(0, &[1]),
        goal: "≤ 1.20",
    };
    results.gpu_over_raw = Some(line.ratio);
    results.lines.push(line);

    // A sequence of launches against one raw submission of as many passes.
    let n = 1u32 << 10;
    let x = rt.buffer_from_slice(&problem.input)?;
    let mut y = rt.buffer_zeroed::<f32>(n as usize)?;
    let kernel = kernels::saxpy();
    let mut sequence = || -> switchyard::Result<f64> {
        let started = Instant::now();
        let mut seq = rt.sequence().on(Target::Gpu);
        for _ in 0..SEQUENCE_LAUNCHES {
            seq.launch(&kernel)
                .uniform(&SaxpyParams { a: 1e-3, n })
                .read(&x)
                .write(&mut y)
                .invocations(n)
                .run()?;
        }
        seq.finish()?;
        Ok(started.elapsed().as_secs_f64() / SEQUENCE_LAUNCHES as f64)
    };
    let raw_batch = || theirs.run_batch(raw, SEQUENCE_LAUNCHES) / SEQUENCE_LAUNCHES as f64;
    sequence()?;
    raw_batch();
    // A call here is a whole sequence (about 4 ms), so a block holds only
    // two or three: three times the rounds keep the paired ratio from
    // resting on a few noisy blocks.
    let compared = Blocks {
        rounds: 3 * rounds,
        min_calls: 2,
        max_calls: 50,
        ..blocks
    }
    .compare(&mut [
        Box::new(&mut sequence) as Contender<'_>,
        Box::new(|| Ok(raw_batch())),
    ])?;
    let line = Line {
        what: format!("Gpu launch in a sequence of {SEQUENCE_LAUNCHES}, saxpy 2^10"),
        ours_s: compared.medians[0],
        baseline: "raw wgpu, one submission,",
        baseline_s: compared.medians[1],
        ratio: compared.ratio(0, &[1]),
        goal: "≤ 1.10",
    };
    results.gpu_seq_over_raw = Some(line.ratio);
    results.lines.push(line);
    Ok(())
}

const COLD_BUILDS: usize = 9;
const HITS_PER_CALL: usize = 1000;

/// Building a pipeline against finding it in the cache.
fn pipeline_cache(rt: &Runtime, results: &mut Results) -> Fallible<()> {
    let base = Kernel::wgsl("scale", SCALE_WGSL, "main")?;
    // Values no earlier run used, so the driver's own shader cache on disk
    // (Mesa keeps one) cannot hold them either.
    let salt = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |t| t.subsec_nanos());
    let variant = |i: usize| {
        base.clone()
            .constant("factor", 3.0 + i as f64 + f64::from(salt) * 1e-9)
    };
    let variants: Vec<Kernel> = (0..COLD_BUILDS).map(variant).collect();
    let mut cold = Vec::new();
    for kernel in &variants {
        let started = Instant::now();
        let outcome = rt.prepare_gpu(kernel)?;
        cold.push(started.elapsed().as_secs_f64());
        if outcome != CacheOutcome::Miss {
            return Err("a new override value hit the pipeline cache".into());
        }
    }
    rt.prepare_gpu(&base)?;
    let mut hits: Vec<f64> = (0..COLD_BUILDS)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..HITS_PER_CALL {
                let _ = std::hint::black_box(rt.prepare_gpu(&base));
            }
            started.elapsed().as_secs_f64() / HITS_PER_CALL as f64
        })
        .collect();
    let (cold_s, hit_s) = (median(&mut cold), median(&mut hits));
    let line = Line {
        what: "pipeline: build (cold) vs cache hit".into(),
        ours_s: cold_s,
        baseline: "hit",
        baseline_s: hit_s,
        ratio: cold_s / hit_s,
        goal: "≥ 100",
    };
    results.cache_cold_over_hit = Some(line.ratio);
    results.lines.push(line);

    // What the user waits for: a driver may compile only at the first
    // dispatch (lavapipe does), so the first launch pays for the rest.
    let mut v = rt.buffer_from_slice(&[1.0f32; 256])?;
    let mut launch = |kernel: &Kernel| -> switchyard::Result<f64> {
        let report = rt
            .launch(kernel)
            .write(&mut v)
            .invocations(256)
            .on(Target::Gpu)
            .run()?;
        Ok(report.wall.as_secs_f64())
    };
    let mut cold_launches = Vec::new();
    for i in COLD_BUILDS..2 * COLD_BUILDS {
        cold_launches.push(launch(&variant(i))?);
    }
    launch(&base)?;
    let mut hit_launches = Vec::new();
    for _ in 0..10 * COLD_BUILDS {
        hit_launches.push(launch(&base)?);
    }
    let (cold_s, cached_s) = (median(&mut cold_launches), median(&mut hit_launches));
    results.lines.push(Line {
        what: "launch with a new pipeline vs a cached one (tiny kernel)".into(),
        ours_s: cold_s,
        baseline: "cached",
        baseline_s: cached_s,
        ratio: cold_s / cached_s,
        goal: "-",
    });
    Ok(())
}

/// Work size (log2) of each kernel's CPU comparison.
fn cpu_log2(kernel: &str) -> u32 {
    match kernel {
        "nbody_accel" => 24, // 4096 bodies
        _ => 22,
    }
}

/// Switchyard's CPU target against hand-written rayon, per kernel.
fn cpu_kernels(
    rt: &Runtime,
    pool: &rayon::ThreadPool,
    rounds: usize,
    results: &mut Results,
) -> Fallible<()> {
    for kernel in KERNELS {
        let problem = Problem::new(kernel, cpu_log2(kernel));
        let mut ours = SwitchyardCase::new(rt, &problem)?;
        let mut theirs = RayonCase::new(&problem);
        for _ in 0..2 {
            ours.run(rt, Target::Cpu)?;
            theirs.run(pool);
        }
        let compared = Blocks {
            rounds,
            block_seconds: 20e-3,
            min_calls: 2,
            max_calls: 100,
        }
        .compare(&mut [
            Box::new(|| Ok(ours.run(rt, Target::Cpu)?.0)) as Contender<'_>,
            Box::new(|| Ok(theirs.run(pool))),
        ])?;
        let line = Line {
            what: format!("Cpu, {kernel} 2^{}", cpu_log2(kernel)),
            ours_s: compared.medians[0],
            baseline: "rayon",
            baseline_s: compared.medians[1],
            ratio: compared.ratio(0, &[1]),
            goal: "≤ 1.05",
        };
        results.cpu_over_rayon.push((kernel, line.ratio));
        results.lines.push(line);
    }
    Ok(())
}

const AUTO_LOG2: [u32; 3] = [10, 16, 22];

/// Auto against the better of Cpu and Gpu, per kernel: the worst of three sizes.
fn auto_choices(rt: &Runtime, rounds: usize, results: &mut Results) -> Fallible<()> {
    for kernel in KERNELS {
        let mut worst: Option<(u32, workloads::TargetTimes)> = None;
        for log2 in AUTO_LOG2 {
            let times = time_targets(rt, &Problem::new(kernel, log2), rounds)?;
            if worst
                .as_ref()
                .is_none_or(|(_, w)| times.auto_over_best > w.auto_over_best)
            {
                worst = Some((log2, times));
            }
        }
        let Some((log2, times)) = worst else { continue };
        let (baseline, baseline_s) = if times.gpu_s.is_nan() || times.cpu_s <= times.gpu_s {
            ("cpu", times.cpu_s)
        } else {
            ("gpu", times.gpu_s)
        };
        let line = Line {
            what: format!(
                "Auto, {kernel}, worst of 2^{{{}}}: 2^{log2}, ran on {}",
                AUTO_LOG2.map(|l| l.to_string()).join(", "),
                times.auto_target
            ),
            ours_s: times.auto_s,
            baseline,
            baseline_s,
            ratio: times.auto_over_best,
            goal: "≤ 1.10",
        };
        results.auto_over_best.push((kernel, line.ratio));
        results.lines.push(line);
    }
    Ok(())
}

fn duration(seconds: f64) -> String {
    if seconds >= 1e-3 {
        format!("{:.3} ms", seconds * 1e3)
    } else {
        format!("{:.2} µs", seconds * 1e6)
    }
}

fn to_json(adapter: &str, results: &Results) -> String {
    let by_kernel = |pairs: &[(&str, f64)]| -> serde_json::Map<String, serde_json::Value> {
        pairs
            .iter()
            .map(|(kernel, ratio)| (kernel.to_string(), serde_json::json!(ratio)))
            .collect()
    };
    serde_json::json!({
        "adapter": adapter,
        "gpu_over_raw_wgpu": results.gpu_over_raw,
        "gpu_seq_over_raw_wgpu": results.gpu_seq_over_raw,
        "cpu_over_rayon": by_kernel(&results.cpu_over_rayon),
        "cache_cold_over_hit": results.cache_cold_over_hit,
        "auto_over_best": by_kernel(&results.auto_over_best),
        "sequence_record_us": results.sequence_record_us,
        "sequence_batch_cpu_over_raw_wgpu": results.sequence_batch_cpu_over_raw,
        "auto_decision_us": results.auto_decision_us,
        "readback_16mib_over_raw_wgpu": results.readback_over_raw,
        "wgsl_cpu_over_lavapipe": by_kernel(&results.wgsl_cpu_over_lavapipe),
        "wgsl_cpu_small_over_lavapipe": by_kernel(&results.wgsl_cpu_small_over_lavapipe),
        "wgsl_cpu_over_twin": by_kernel(&results.wgsl_cpu_over_twin),
    })
    .to_string()
}
