//! Heat diffusion over MPI: the grid of `examples/stencil` split into row
//! slabs, one per rank, ghost rows exchanged with non-blocking sends and
//! receives before every step, each slab updated through the rank's own
//! `Runtime` (so each rank picks the CPU or its GPU for itself). The global
//! error against the exact solution, the slowest rank's time and where the
//! launches ran are reduced to rank 0, which prints them.
//!
//! Build and run (needs an MPI library and libclang; see the README):
//!
//! ```text
//! cargo build --release --features mpi --example stencil_mpi
//! mpirun -np 4 target/release/examples/stencil_mpi --ranks 4 --check
//! ```
//!
//! | option | default | meaning |
//! |---|---|---|
//! | `--ranks N` | required | the number of ranks `mpirun` was asked for; checked against MPI's |
//! | `--size N` | 1024 | grid of N×N cells |
//! | `--steps N` | 200 | time steps |
//! | `--alpha A` | 0.24 | diffusion number D·dt/dx², stable up to 0.25 |
//! | `--target auto\|gpu\|cpu` | the runtime's default (auto) | where each rank's launches run |
//! | `--threads N` | cores on the node / ranks on the node | CPU threads per rank |
//! | `--check` | off | rank 0 also runs the single-process grid and requires the gathered field to equal it bit for bit |
//! | `--json` | off | print one JSON object as rank 0's last line |
//!
//! Exit codes: 0 success, 1 a failed run or check (every rank is stopped),
//! 2 bad arguments.

#[path = "support/cli.rs"]
mod cli;
#[path = "support/mpi_ranks.rs"]
mod mpi_ranks;
#[path = "support/ranks.rs"]
mod ranks;
#[path = "stencil/sim.rs"]
mod sim;
#[path = "stencil/slab.rs"]
mod slab;

use cli::{number, target_name};
use mpi_ranks::{MpiRanks, RankOptions};
use ranks::Ranks;

struct Options {
    size: usize,
    steps: usize,
    alpha: f32,
    common: RankOptions,
}

fn parse_options() -> Result<Options, String> {
    let (mut size, mut steps, mut alpha) = (1024, 200, 0.24);
    let common = mpi_ranks::parse_rank_args("examples/stencil_mpi.rs", |arg, value| {
        match arg {
            "--size" => size = number(arg, &value()?)?,
            "--steps" => steps = number(arg, &value()?)?,
            "--alpha" => alpha = number(arg, &value()?)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let options = Options {
        size,
        steps,
        alpha,
        common,
    };
    sim::check_size_and_alpha(options.size, options.alpha)?;
    Ok(options)
}

fn main() {
    mpi_ranks::main_with_ranks(
        "stencil_mpi",
        parse_options,
        |options| options.common.ranks,
        run,
    );
}

fn run(options: &Options, ranks: &MpiRanks) -> Result<(), String> {
    let (rt, threads, device) = mpi_ranks::rank_runtime(options.common.threads)?;
    let target = options.common.target.unwrap_or(rt.default_target());
    if !options.common.json {
        println!(
            "rank {}/{}: {device}, {threads} CPU thread(s), target {}",
            ranks.rank(),
            ranks.size(),
            target_name(target)
        );
    }

    let (size, steps, alpha) = (options.size, options.steps, options.alpha);
    let summary =
        slab::run_decomposed(ranks, &rt, size, steps, alpha, target, options.common.check)?;
    let Some(summary) = summary else {
        return Ok(()); // not rank 0
    };

    let bound = sim::error_bound(steps);
    if summary.max_error > bound {
        return Err(format!(
            "max error {:e} exceeds the rounding bound {bound:e}",
            summary.max_error
        ));
    }
    let bit_equal = match &summary.field {
        Some(field) => {
            let mut single = sim::HeatGrid::new(&rt, &sim::initial_field(size), size)
                .map_err(|e| e.to_string())?;
            single
                .advance(steps, alpha, target)
                .map_err(|e| e.to_string())?;
            let expected = single.field().map_err(|e| e.to_string())?;
            let differing = field
                .iter()
                .zip(&expected)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            if differing > 0 || field.len() != expected.len() {
                return Err(format!(
                    "{differing} of {} cells differ from the single-process run",
                    expected.len()
                ));
            }
            Some(true)
        }
        None => None,
    };

    let updates = (size * size * steps) as f64;
    let mlups = updates / summary.times.seconds / 1e6;
    if options.common.json {
        let line = serde_json::json!({
            "example": "stencil_mpi",
            "ranks": ranks.size(),
            "size": size,
            "steps": steps,
            "target": target_name(target),
            "threads_per_rank": threads,
            "seconds": summary.times.seconds,
            "exchange_seconds": summary.times.exchange_seconds,
            "mlups": mlups,
            "max_error": summary.max_error,
            "error_bound": bound,
            "gpu_launches": summary.times.gpu_launches,
            "cpu_launches": summary.times.cpu_launches,
            "bit_equal_to_single_process": bit_equal,
        });
        println!("{line}");
    } else {
        println!(
            "{size}×{size} grid, {steps} steps on {} rank(s): {:.3} s (slowest rank; {:.3} s of it \
             in ghost exchanges), {mlups:.1} MLUPS",
            ranks.size(),
            summary.times.seconds,
            summary.times.exchange_seconds
        );
        println!(
            "launches: {} on GPUs, {} on CPU pools; max error {:.3e} (bound {bound:.3e})",
            summary.times.gpu_launches, summary.times.cpu_launches, summary.max_error
        );
        if bit_equal.is_some() {
            println!("check: the gathered field equals the single-process run bit for bit");
        }
    }
    Ok(())
}
