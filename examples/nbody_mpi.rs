//! N-body gravity over MPI: the bodies of `examples/nbody` split into one
//! block per rank, each rank integrating its own bodies and summing the
//! pull of every block as the blocks are passed round a ring (non-blocking
//! sends and receives), each launch through the rank's own `Runtime`. Rank
//! 0 gathers the final state and prints the energy drift, the slowest
//! rank's time and where the launches ran.
//!
//! Build and run (needs an MPI library and libclang; see the README):
//!
//! ```text
//! cargo build --release --features mpi --example nbody_mpi
//! mpirun -np 4 target/release/examples/nbody_mpi --ranks 4 --check
//! ```
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `--ranks N` | required | the number of ranks `mpirun` was asked for; checked against MPI's |
//! | `--bodies N` | 4096 | bodies |
//! | `--steps N` | 50 | leapfrog steps |
//! | `--dt T` | 0.01 | step, in Hénon time units |
//! | `--softening E` | 0.05 | Plummer softening length |
//! | `--ic plummer\|cube` | plummer | initial conditions |
//! | `--seed S` | 1 | random seed of the initial conditions |
//! | `--target auto\|gpu\|cpu` | the runtime's default (auto) | where each rank's launches run |
//! | `--threads N` | cores on the node / ranks on the node | CPU threads per rank |
//! | `--check` | off | rank 0 also runs the single-process simulation and requires the energies to agree (see below) |
//! | `--json` | off | print one JSON object as rank 0's last line |
//!
//! The check: the decomposed run adds each acceleration's terms block by
//! block, the single-process run in one pass, so the two agree to rounding,
//! not bit for bit. Their energies must differ by at most a tenth of the
//! single-process run's own drift |E − E₀| (or 1e-7 |E₀|, if larger): the
//! decomposition may not cost a tenth of what the integrator itself does.
//! `tests/nbody.rs` measured 2e-9 to 6e-9 |E₀| against a drift of 1e-6 |E₀|.
//!
//! Exit codes: 0 success, 1 a failed run or check (every rank is stopped),
//! 2 bad arguments.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/mpi_ranks.rs"]
mod mpi_ranks;
#[path = "support/ranks.rs"]
mod ranks;
#[path = "nbody/ring.rs"]
mod ring;
#[path = "nbody/sim.rs"]
mod sim;

use cli::{number, target_name};
use mpi_ranks::{MpiRanks, RankOptions};
use ranks::Ranks;
use sim::{InitialConditions, Simulation};

struct Options {
    bodies: usize,
    steps: usize,
    dt: f32,
    softening: f32,
    ic: InitialConditions,
    seed: u64,
    common: RankOptions,
}

fn parse_options() -> Result<Options, String> {
    let (mut bodies, mut steps, mut dt, mut softening) = (4096, 50, 0.01f32, 0.05f32);
    let (mut ic, mut seed) = (InitialConditions::Plummer, 1);
    let common = mpi_ranks::parse_rank_args("examples/nbody_mpi.rs", |arg, value| {
        match arg {
            "--bodies" => bodies = number(arg, &value()?)?,
            "--steps" => steps = number(arg, &value()?)?,
            "--dt" => dt = number(arg, &value()?)?,
            "--softening" => softening = number(arg, &value()?)?,
            "--seed" => seed = number(arg, &value()?)?,
            "--ic" => {
                let name = value()?;
                ic = InitialConditions::parse(&name)
                    .filter(|&ic| ic != InitialConditions::Binary)
                    .ok_or_else(|| format!("--ic: `{name}` is not plummer or cube"))?;
            }
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    if bodies < common.ranks || bodies > u32::MAX as usize / 4 {
        return Err(format!(
            "--bodies {bodies} is out of range (at least one per rank)"
        ));
    }
    if !(softening > 0.0 && dt > 0.0 && dt.is_finite()) {
        return Err("--softening and --dt must be positive".into());
    }
    Ok(Options {
        bodies,
        steps,
        dt,
        softening,
        ic,
        seed,
        common,
    })
}

fn main() {
    mpi_ranks::main_with_ranks(
        "nbody_mpi",
        parse_options,
        |options| options.common.ranks,
        run,
    );
}

fn run(options: &Options, ranks: &MpiRanks) -> Result<(), String> {
    let common = &options.common;
    let (rt, threads, device) = mpi_ranks::rank_runtime(common.threads)?;
    let target = common.target.unwrap_or(rt.default_target());
    if !common.json {
        println!(
            "rank {}/{}: {device}, {threads} CPU thread(s), target {}",
            ranks.rank(),
            ranks.size(),
            target_name(target)
        );
    }
    let softening = f64::from(options.softening);
    // Every rank draws the same bodies and keeps its own block.
    let initial = options.ic.generate(options.bodies, options.seed, softening);
    let (steps, dt) = (options.steps, options.dt);
    let summary = ring::run_decomposed(ranks, &rt, &initial, options.softening, steps, dt, target)?;
    let Some(summary) = summary else {
        return Ok(()); // not rank 0
    };

    let e0 = initial.energy(softening);
    let energy = summary.state.energy(softening);
    let drift = (energy - e0) / e0.abs();
    let single_energy = if common.check {
        let mut single =
            Simulation::new(&rt, &initial, options.softening, target).map_err(|e| e.to_string())?;
        single
            .advance(steps, dt, target)
            .map_err(|e| e.to_string())?;
        let single_energy = single.state().map_err(|e| e.to_string())?.energy(softening);
        let allowed = (0.1 * (single_energy - e0).abs()).max(1e-7 * e0.abs());
        if (energy - single_energy).abs() > allowed {
            return Err(format!(
                "energy {energy} differs from the single-process run's {single_energy} by more \
                 than {allowed:e} (E0 = {e0})"
            ));
        }
        Some(single_energy)
    } else {
        None
    };

    let interactions = (options.bodies as f64).powi(2) * (steps as f64);
    let rate = interactions / summary.times.seconds / 1e9;
    if common.json {
        let line = serde_json::json!({
            "example": "nbody_mpi",
            "ranks": ranks.size(),
            "bodies": options.bodies,
            "steps": steps,
            "target": target_name(target),
            "threads_per_rank": threads,
            "seconds": summary.times.seconds,
            "exchange_seconds": summary.times.exchange_seconds,
            "ginteractions_per_s": rate,
            "energy_start": e0,
            "energy_end": energy,
            "relative_energy_drift": drift,
            "single_process_energy": single_energy,
            "gpu_launches": summary.times.gpu_launches,
            "cpu_launches": summary.times.cpu_launches,
        });
        println!("{line}");
    } else {
        println!(
            "{} bodies, {steps} steps on {} rank(s): {:.3} s (slowest rank; {:.3} s of it passing \
             blocks), {rate:.3} G interactions/s",
            options.bodies,
            ranks.size(),
            summary.times.seconds,
            summary.times.exchange_seconds
        );
        println!(
            "launches: {} on GPUs, {} on CPU pools; energy {e0:.9} -> {energy:.9} (drift {drift:.2e})",
            summary.times.gpu_launches, summary.times.cpu_launches
        );
        if let Some(single_energy) = single_energy {
            println!(
                "check: the single-process run ends at {single_energy:.9}, {:.2e} of |E0| away",
                (energy - single_energy).abs() / e0.abs()
            );
        }
    }
    Ok(())
}
