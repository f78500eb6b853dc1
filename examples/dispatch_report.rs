//! How close `Auto` comes to the better of the two targets, kernel by kernel
//! and size by size, measured side by side in one process.
//!
//! Run: `cargo run --release --example dispatch_report [-- --json]
//! [--min-log2 10] [--max-log2 24] [--reps 15]`
//!
//! For each built-in kernel and each work size 2^min … 2^max, it warms up
//! every target (which also teaches the dispatcher, since explicit launches
//! are measured too), then times `reps` rounds in which Cpu, Gpu and Auto
//! each run a block of consecutive launches (5 ms or three launches of the
//! faster target, whichever is longer; at most 16 launches, at least one), in an order that rotates per round so that drift on a shared machine
//! hits all three alike, and prints the median launch time of each and
//! `auto / min(cpu, gpu)`. Each target has its own
//! buffers, so each stays where its target left it: the times are steady
//! state, not transfers caused by the other target. Sizes count work: elements
//! for saxpy and reduce_sum, grid cells for jacobi2d, body pairs for
//! nbody_accel (so its body count is the square root).
//!
//! With `--json`, the last line is one JSON object: `adapter`, `worst_ratio`,
//! `geomean_ratio` and `rows` (`kernel`, `n`, `cpu_s`, `gpu_s`, `auto_s`,
//! `auto_target`).

#[path = "support/cli.rs"]
mod cli;
#[path = "../benches/support/raw_wgpu.rs"]
mod raw_wgpu;
#[path = "../benches/support/workloads.rs"]
mod workloads;

use std::time::Instant;

use cli::json_string;
use switchyard::{Runtime, Target};
use workloads::{median, Problem, SwitchyardCase, KERNELS};

struct Options {
    json: bool,
    min_log2: u32,
    max_log2: u32,
    reps: usize,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        json: false,
        min_log2: 10,
        max_log2: 24,
        reps: 15,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> Result<u32, String> {
            args.next()
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| format!("{name} needs a whole number"))
        };
        match arg.as_str() {
            "--json" => options.json = true,
            "--min-log2" => options.min_log2 = value("--min-log2")?,
            "--max-log2" => options.max_log2 = value("--max-log2")?,
            "--reps" => options.reps = value("--reps")?.max(1) as usize,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    if options.min_log2 > options.max_log2 || options.max_log2 > 26 {
        return Err("need min-log2 <= max-log2 <= 26".into());
    }
    Ok(options)
}

/// Each target runs consecutive launches for about this long per round...
const BLOCK_SECONDS: f64 = 5e-3;
/// ...but at most this many.
const MAX_BLOCK_LAUNCHES: usize = 16;

struct Row {
    kernel: &'static str,
    n: u64,
    cpu_s: f64,
    gpu_s: f64,
    auto_s: f64,
    auto_target: String,
}

fn main() {
    cli::main_with("dispatch_report", parse_options, |options| {
        run(options).map_err(|e| e.to_string())
    });
}

fn run(options: &Options) -> switchyard::Result<()> {
    let started = Instant::now();
    let rt = Runtime::new()?;
    let adapter = rt
        .gpu_info()
        .map_or_else(|| "none".to_string(), |info| info.to_string());
    if !rt.gpu_available() {
        eprintln!(
            "dispatch_report: no GPU ({}); Gpu columns are empty and Auto is the CPU",
            rt.gpu_unavailable_reason().unwrap_or_default()
        );
    }
    let targets: Vec<Target> = if rt.gpu_available() {
        vec![Target::Cpu, Target::Gpu, Target::Auto]
    } else {
        vec![Target::Cpu, Target::Auto]
    };
    if !options.json {
        println!(
            "switchyard dispatch report on {adapter}, {} CPU threads",
            rt.cpu_threads()
        );
        println!("| kernel | n | cpu µs | gpu µs | auto µs | auto ran on | auto / best |");
        println!("|---|---:|---:|---:|---:|---|---:|");
    }
    let mut rows = Vec::new();
    for kernel in KERNELS {
        for log2 in options.min_log2..=options.max_log2 {
            let problem = Problem::new(kernel, log2);
            let mut cases = Vec::new();
            for _ in &targets {
                cases.push(SwitchyardCase::new(&rt, &problem)?);
            }
            // Warm-up: cold pipelines and pool wake-ups, and the first
            // measurements the dispatcher learns from.
            let mut fastest_warm_up = f64::INFINITY;
            for _ in 0..2 {
                for (case, &target) in cases.iter_mut().zip(&targets) {
                    fastest_warm_up = fastest_warm_up.min(case.run(&rt, target)?.0);
                }
            }
            // Each target runs in blocks of consecutive launches, so every
            // time is what a program calling only that target would see. (A
            // launch right after another target's pays for that switch: the
            // pool's threads fall asleep during a GPU launch, and lavapipe's
            // threads compete for the cores. Interleaving launch by launch
            // charged that to whichever target most often followed the GPU.)
            // Block order rotates per round, so drift on a shared machine
            // hits every target alike.
            // The faster target gets at least three launches per block.
            let block_budget = BLOCK_SECONDS.max(3.0 * fastest_warm_up);
            let mut times: Vec<Vec<f64>> = vec![Vec::new(); targets.len()];
            let mut auto_ran = Vec::new();
            for round in 0..options.reps {
                for k in 0..targets.len() {
                    let i = (k + round) % targets.len();
                    let target = targets[i];
                    let block_started = Instant::now();
                    for _ in 0..MAX_BLOCK_LAUNCHES {
                        let (seconds, ran) = cases[i].run(&rt, target)?;
                        times[i].push(seconds);
                        if target == Target::Auto {
                            auto_ran.push(ran);
                        }
                        if block_started.elapsed().as_secs_f64() >= block_budget {
                            break;
                        }
                    }
                }
            }
            let medians: Vec<f64> = times.iter_mut().map(|t| median(t)).collect();
            let cpu_s = medians[0];
            let (gpu_s, auto_s) = if medians.len() == 3 {
                (medians[1], medians[2])
            } else {
                (f64::NAN, medians[1])
            };
            let gpus = auto_ran.iter().filter(|&&t| t == Target::Gpu).count();
            let cpus = auto_ran.iter().filter(|&&t| t == Target::Cpu).count();
            let auto_target = match (cpus, gpus) {
                (_, 0) if cpus > 0 => "cpu".to_string(),
                (0, _) if gpus > 0 => "gpu".to_string(),
                _ => format!(
                    "cpu {cpus}, gpu {gpus}, mixed {}",
                    auto_ran.len() - cpus - gpus
                ),
            };
            let n = 1u64 << log2;
            let row = Row {
                kernel,
                n,
                cpu_s,
                gpu_s,
                auto_s,
                auto_target,
            };
            if !options.json {
                println!(
                    "| {} | 2^{log2} | {:.1} | {:.1} | {:.1} | {} | {:.2} |",
                    row.kernel,
                    row.cpu_s * 1e6,
                    row.gpu_s * 1e6,
                    row.auto_s * 1e6,
                    row.auto_target,
                    ratio(&row)
                );
            }
            rows.push(row);
        }
    }
    let ratios: Vec<f64> = rows.iter().map(ratio).collect();
    let worst = ratios.iter().copied().fold(0.0, f64::max);
    let geomean = (ratios.iter().map(|r| r.ln()).sum::<f64>() / ratios.len() as f64).exp();
    if options.json {
        let rows_json: Vec<String> = rows
            .iter()
            .map(|r| {
                format!(
                    "{{\"kernel\":{},\"n\":{},\"cpu_s\":{:e},\"gpu_s\":{},\"auto_s\":{:e},\"auto_target\":{}}}",
                    json_string(r.kernel),
                    r.n,
                    r.cpu_s,
                    if r.gpu_s.is_nan() { "null".to_string() } else { format!("{:e}", r.gpu_s) },
                    r.auto_s,
                    json_string(&r.auto_target)
                )
            })
            .collect();
        println!(
            "{{\"adapter\":{},\"worst_ratio\":{worst:.4},\"geomean_ratio\":{geomean:.4},\"rows\":[{}]}}",
            json_string(&adapter),
            rows_json.join(",")
        );
    } else {
        println!();
        println!(
            "auto / min(cpu, gpu): worst {worst:.3}, geometric mean {geomean:.3} over {} rows (goal: <= 1.10 and <= 1.03)",
            rows.len()
        );
        println!();
        print!("{}", rt.report());
        println!("total {:.1} s", started.elapsed().as_secs_f64());
    }
    Ok(())
}

fn ratio(row: &Row) -> f64 {
    let best = if row.gpu_s.is_nan() {
        row.cpu_s
    } else {
        row.cpu_s.min(row.gpu_s)
    };
    row.auto_s / best
}
