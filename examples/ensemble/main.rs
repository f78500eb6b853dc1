//! An ensemble: a sweep of independent heat problems (one per diffusion
//! number), every step of every member submitted at once with
//! `Launch::submit`, so that `Auto` spreads them over the GPU and the CPU
//! pool by predicted finish time. Prints the makespan, where launches ran
//! and why, and checks every member against its exact solution.
//!
//! Run: `cargo run --release --example ensemble [-- OPTIONS]`
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `--members N` | 32 | heat problems, diffusion numbers 0.05 to 0.25 |
//! | `--size N` | 128 | grid side of each |
//! | `--steps N` | 40 | steps of each |
//! | `--target auto\|gpu\|cpu` | auto | where launches run (one target, for comparison) |
//! | `--cpu wgsl\|twin` | twin | what CPU launches run |
//! | `--cpu-threads N` | all cores | the runtime's CPU pool |
//! | `--json` | off | print one JSON object as the last line |

#[path = "../support/cli.rs"]
mod cli;
mod sweep;

use cli::{number, parse_args, progress_bar, target_name, RunOptions};
use switchyard::{Runtime, RuntimeConfig, Target};

struct Options {
    members: usize,
    size: usize,
    cpu_threads: usize,
    run: RunOptions,
}

fn parse_options() -> Result<Options, String> {
    let mut options = Options {
        members: 32,
        size: 128,
        cpu_threads: 0,
        run: RunOptions::new(40, 1),
    };
    parse_args(
        &mut options.run,
        "examples/ensemble/main.rs",
        |arg, value| {
            match arg {
                "--members" => options.members = number(arg, &value()?)?,
                "--size" => options.size = number(arg, &value()?)?,
                "--cpu-threads" => options.cpu_threads = number(arg, &value()?)?,
                _ => return Ok(false),
            }
            Ok(true)
        },
    )?;
    if !(3..=4096).contains(&options.size) {
        return Err(format!("--size {} is outside 3..=4096", options.size));
    }
    if options.members == 0 || options.run.steps == 0 {
        return Err("--members and --steps must be at least 1".into());
    }
    Ok(options)
}

fn main() {
    cli::main_with("ensemble", parse_options, run);
}

fn run(options: &Options) -> Result<(), String> {
    let config = RuntimeConfig::from_env()
        .map_err(|e| e.to_string())?
        .cpu_threads(options.cpu_threads);
    let rt = Runtime::with_config(config).map_err(|e| e.to_string())?;
    let target = options.run.target.unwrap_or(Target::Auto);
    let sweep = sweep::Sweep {
        members: options.members,
        size: options.size,
        steps: options.run.steps,
        target,
        wgsl_on_cpu: options.run.wgsl_on_cpu,
    };
    let adapter = rt
        .gpu_info()
        .map_or_else(|| "none".to_string(), |info| info.to_string());
    if !options.run.json {
        println!(
            "switchyard ensemble: {} heat problems of {}×{}, {} steps each, target {}",
            sweep.members,
            sweep.size,
            sweep.size,
            sweep.steps,
            target_name(target)
        );
        match rt.gpu_unavailable_reason() {
            None => println!("GPU: {adapter}"),
            Some(why) => println!("GPU: none ({why}); running on the CPU"),
        }
    }
    let kernel = sweep::step_kernel(sweep.wgsl_on_cpu);
    sweep::warm_up(&rt, &kernel, sweep.size)?;
    let bar = progress_bar(sweep.members * sweep.steps, options.run.json);
    let outcome = sweep::run_sweep(&rt, &kernel, &sweep, |done| bar.set_position(done as u64))?;
    bar.finish_and_clear();

    if options.run.json {
        let reasons: serde_json::Map<String, serde_json::Value> = outcome
            .reasons
            .iter()
            .map(|(target, reason)| (target_name(*target).to_string(), reason.clone().into()))
            .collect();
        let summary = serde_json::json!({
            "members": sweep.members,
            "size": sweep.size,
            "steps": sweep.steps,
            "target": target_name(target),
            "adapter": adapter,
            "cpu_threads": rt.cpu_threads(),
            "makespan_s": outcome.makespan.as_secs_f64(),
            "launches": outcome.launches,
            "gpu_launches": outcome.gpu_launches,
            "cpu_launches": outcome.cpu_launches,
            "worst_error_over_bound": outcome.worst_error_ratio,
            "reasons": reasons,
        });
        println!("{summary}");
    } else {
        println!(
            "makespan {:.3} s: {} launches, {} on the GPU and {} on the CPU",
            outcome.makespan.as_secs_f64(),
            outcome.launches,
            outcome.gpu_launches,
            outcome.cpu_launches
        );
        for (target, reason) in &outcome.reasons {
            println!("  e.g. {}: {reason}", target_name(*target));
        }
        println!(
            "every member within {:.2} of its rounding bound against the exact solution",
            outcome.worst_error_ratio
        );
    }
    if outcome.worst_error_ratio > 1.0 {
        return Err(format!(
            "a member's error is {:.2}× its rounding bound",
            outcome.worst_error_ratio
        ));
    }
    Ok(())
}
