//! [`Ranks`] over MPI (the `mpi` crate, rsmpi), for the `--features mpi`
//! examples; also the launcher checks and per-rank settings they share.
//! Includers name the trait's module `ranks`.
//!
//! Point-to-point transfers are non-blocking (`MPI_Isend`/`MPI_Irecv`, all
//! in flight before any is waited for), so neighbours never wait on each
//! other's send order. MPI errors abort the job (MPI's default handler),
//! which is what a rank that cannot go on should do to its peers anyway.

#![allow(dead_code)] // each includer uses its own part

use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::request::WaitGuard;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use mpi::Count;

use switchyard::{Runtime, RuntimeConfig, Target};

use crate::ranks::Ranks;

const TOWARD_NEXT: i32 = 1;
const TOWARD_PREVIOUS: i32 = 2;
const RING: i32 = 3;

/// All processes of `MPI_COMM_WORLD`, as [`Ranks`].
pub struct MpiRanks {
    world: SimpleCommunicator,
}

impl MpiRanks {
    /// The world communicator, after checking that the launcher started
    /// `expected` ranks: an executable built against one MPI and started by
    /// another's `mpirun` runs as that many independent single ranks
    /// instead, each believing it is alone.
    ///
    /// # Errors
    /// The world's size is not `expected`.
    pub fn world(universe: &mpi::environment::Universe, expected: usize) -> Result<Self, String> {
        let world = universe.world();
        let size = world.size() as usize;
        if size != expected {
            return Err(format!(
                "MPI reports {size} rank(s) but --ranks {expected} was asked for: start with \
                 `mpirun -np {expected}` of the MPI this binary was built against"
            ));
        }
        Ok(MpiRanks { world })
    }

    /// Stops every rank: a rank that cannot go on would leave the others
    /// waiting for its messages.
    pub fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
}

/// How many ranks share this node, from the launcher's environment (Open MPI,
/// then MPICH/Hydra); 1 when neither says.
pub fn ranks_on_this_node() -> usize {
    ["OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"]
        .iter()
        .find_map(|key| std::env::var(key).ok()?.parse().ok())
        .unwrap_or(1)
}

/// CPU threads for one rank's pool: the cores this rank may run on (its
/// affinity mask) shared among the ranks on the node, at least one, so that
/// ranks do not fight over cores. Right for unbound ranks and ranks bound
/// to one core each; ranks bound to a shared socket get too few (the
/// examples' `--threads` overrides).
pub fn threads_per_rank() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    (cores / ranks_on_this_node()).max(1)
}

impl Ranks for MpiRanks {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }

    fn size(&self) -> usize {
        self.world.size() as usize
    }

    fn exchange_with_neighbours(
        &self,
        to_previous: &[f32],
        to_next: &[f32],
        from_previous: &mut [f32],
        from_next: &mut [f32],
    ) {
        let rank = self.world.rank();
        let has_previous = rank > 0;
        let has_next = rank + 1 < self.world.size();
        mpi::request::scope(|scope| {
            // Dropping a guard waits for its request: all four are posted
            // first, then waited for together at the end of the scope.
            let mut in_flight: Vec<WaitGuard<'_, [f32], _>> = Vec::with_capacity(4);
            if has_previous {
                let previous = self.world.process_at_rank(rank - 1);
                in_flight.push(
                    previous
                        .immediate_receive_into_with_tag(scope, from_previous, TOWARD_NEXT)
                        .into(),
                );
                in_flight.push(
                    previous
                        .immediate_send_with_tag(scope, to_previous, TOWARD_PREVIOUS)
                        .into(),
                );
            }
            if has_next {
                let next = self.world.process_at_rank(rank + 1);
                in_flight.push(
                    next.immediate_receive_into_with_tag(scope, from_next, TOWARD_PREVIOUS)
                        .into(),
                );
                in_flight.push(
                    next.immediate_send_with_tag(scope, to_next, TOWARD_NEXT)
                        .into(),
                );
            }
            drop(in_flight);
        });
    }

    fn ring_shift(&self, outgoing: &[f32], incoming: &mut [f32]) {
        let (rank, size) = (self.world.rank(), self.world.size());
        let next = self.world.process_at_rank((rank + 1) % size);
        let previous = self.world.process_at_rank((rank + size - 1) % size);
        mpi::request::scope(|scope| {
            let _received: WaitGuard<'_, [f32], _> = previous
                .immediate_receive_into_with_tag(scope, incoming, RING)
                .into();
            let _sent: WaitGuard<'_, [f32], _> =
                next.immediate_send_with_tag(scope, outgoing, RING).into();
        });
    }

    fn sum_to_root(&self, value: f64) -> Option<f64> {
        self.reduce(value, SystemOperation::sum())
    }

    fn max_to_root(&self, value: f64) -> Option<f64> {
        self.reduce(value, SystemOperation::max())
    }

    fn gather_to_root(&self, local: &[f32]) -> Option<Vec<f32>> {
        let root = self.world.process_at_rank(0);
        let count = local.len() as Count;
        if self.world.rank() != 0 {
            root.gather_into(&count);
            root.gather_varcount_into(local);
            return None;
        }
        let mut counts = vec![0 as Count; self.world.size() as usize];
        root.gather_into_root(&count, &mut counts[..]);
        let offsets: Vec<Count> = counts
            .iter()
            .scan(0, |end, &count| {
                let start = *end;
                *end += count;
                Some(start)
            })
            .collect();
        let total: usize = counts.iter().map(|&c| c as usize).sum();
        let mut all = vec![0.0f32; total];
        let mut partition = PartitionMut::new(&mut all[..], counts, &offsets[..]);
        root.gather_varcount_into_root(local, &mut partition);
        Some(all)
    }
}

impl MpiRanks {
    fn reduce(&self, value: f64, operation: SystemOperation) -> Option<f64> {
        let root = self.world.process_at_rank(0);
        if self.world.rank() != 0 {
            root.reduce_into(&value, operation);
            return None;
        }
        let mut total = 0.0f64;
        root.reduce_into_root(&value, &mut total, operation);
        Some(total)
    }
}

/// The whole of an MPI example's `main`: MPI started, options parsed (exit
/// code 2 when they are bad), the world checked against the rank count the
/// options ask for, then `run`; a rank whose `run` fails reports why and
/// stops every rank (exit code 1).
pub fn main_with_ranks<O>(
    program: &str,
    parse: impl FnOnce() -> Result<O, String>,
    expected_ranks: impl FnOnce(&O) -> usize,
    run: impl FnOnce(&O, &MpiRanks) -> Result<(), String>,
) {
    let Some(universe) = mpi::initialize() else {
        eprintln!("{program}: MPI was already initialized");
        std::process::exit(1);
    };
    crate::cli::main_with(program, parse, |options| {
        let ranks = MpiRanks::world(&universe, expected_ranks(options))?;
        if let Err(message) = run(options, &ranks) {
            eprintln!("{program}: rank {}: {message}", ranks.rank());
            ranks.abort(1);
        }
        Ok(())
    });
}

/// A rank's own runtime: the `SWITCHYARD_*` settings (so a job script can
/// give each rank its GPU with `SWITCHYARD_ADAPTER`) with `threads` CPU
/// threads, or the node's cores shared among its ranks. Returns it with the
/// thread count and a line naming its device.
///
/// # Errors
/// A bad `SWITCHYARD_*` value, or the runtime failing to start.
pub fn rank_runtime(threads: Option<usize>) -> Result<(Runtime, usize, String), String> {
    let threads = threads.unwrap_or_else(threads_per_rank);
    let config = RuntimeConfig::from_env()
        .map_err(|e| e.to_string())?
        .cpu_threads(threads);
    let rt = Runtime::with_config(config).map_err(|e| e.to_string())?;
    let device = match rt.gpu_info() {
        Some(gpu) => format!("{gpu}"),
        None => format!(
            "no GPU ({})",
            rt.gpu_unavailable_reason().unwrap_or_default()
        ),
    };
    Ok((rt, threads, device))
}

/// The options every MPI example takes besides its own.
pub struct RankOptions {
    /// The rank count `mpirun` was asked for.
    pub ranks: usize,
    pub target: Option<Target>,
    /// CPU threads per rank; by default the node's cores shared among its
    /// ranks.
    pub threads: Option<usize>,
    /// Compare with the single-process run on rank 0.
    pub check: bool,
    pub json: bool,
}

/// Reads the command line: each argument is offered to `demo` (which
/// answers whether it took it), then taken as one of [`RankOptions`];
/// `--help` points to `help_file`. `--ranks` is required.
pub fn parse_rank_args(
    help_file: &str,
    mut demo: impl FnMut(&str, crate::cli::NextValue<'_>) -> Result<bool, String>,
) -> Result<RankOptions, String> {
    use crate::cli::{number, parse_target};
    let mut ranks = None;
    let mut options = RankOptions {
        ranks: 0,
        target: None,
        threads: None,
        check: false,
        json: false,
    };
    crate::cli::for_each_arg(help_file, |arg, value| {
        if demo(arg, &mut *value)? {
            return Ok(true);
        }
        match arg {
            "--ranks" => ranks = Some(number(arg, &value()?)?),
            "--target" => options.target = Some(parse_target(&value()?)?),
            "--threads" => options.threads = Some(number(arg, &value()?)?),
            "--check" => options.check = true,
            "--json" => options.json = true,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    options.ranks = ranks
        .filter(|&r| r > 0)
        .ok_or("--ranks N is required: the rank count mpirun was asked for")?;
    Ok(options)
}
