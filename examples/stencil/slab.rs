//! The heat-diffusion grid of `sim.rs` split into row slabs, one per rank:
//! what `examples/stencil_mpi.rs` runs under MPI and `tests/stencil.rs`
//! runs on threads ([`Ranks`]). Includers name the modules `sim` and `ranks`.
//!
//! Each rank owns consecutive rows ([`owned_range`]) and keeps one ghost row
//! above and below them, copies of its neighbours' edge rows (rank 0 has no
//! row above: the grid's top boundary row is its own first row; likewise
//! the last rank at the bottom). A step first exchanges edge rows for ghost
//! rows, moving only those rows in and out of the field wherever it lives
//! (`Buffer::read_range_into` / `write_range`), then runs the same
//! `jacobi2d` launch as the single-process grid on the slab, through the
//! rank's own runtime, so each rank picks the CPU or GPU for itself.
//!
//! The kernel treats the slab's first and last rows as fixed boundary; for
//! a ghost row that is just right (it is the neighbour's data, replaced at
//! the next exchange), and every owned cell is updated from the same five
//! values by the same operations as in the single-process run. The result
//! is therefore the same to the last bit whenever the ranks and the
//! single-process run compute on targets that round alike (the CPU twin and
//! lavapipe do: `tests/parity.rs`).

#![allow(dead_code)] // each includer uses its own part

use std::ops::Range;
use std::time::Instant;

use switchyard::kernels::{self, Jacobi2dParams};
use switchyard::{Buffer, Kernel, Runtime, Target};

use crate::ranks::{owned_range, RankTimes, Ranks};
use crate::sim;

/// One rank's rows of the grid, with ghost rows, in two buffers.
pub struct Slab<'rt> {
    rt: &'rt Runtime,
    size: usize,
    /// Global rows this rank updates.
    owned: Range<usize>,
    ghost_above: bool,
    ghost_below: bool,
    current: Buffer<f32>,
    next: Buffer<f32>,
    step: Kernel,
    edge_rows: [Vec<f32>; 2],
    ghost_rows: [Vec<f32>; 2],
}

impl<'rt> Slab<'rt> {
    /// This rank's slab of the `size`×`size` initial field of `sim.rs`.
    ///
    /// # Errors
    /// More ranks than rows, or buffer creation failing.
    pub fn new(rt: &'rt Runtime, size: usize, ranks: &impl Ranks) -> Result<Self, String> {
        let (rank, count) = (ranks.rank(), ranks.size());
        if size < 3 || count > size {
            return Err(format!(
                "a {size}×{size} grid cannot be split into {count} slabs of at least one row"
            ));
        }
        let owned = owned_range(size, rank, count);
        let ghost_above = rank > 0;
        let ghost_below = rank + 1 < count;
        let local = owned.start - usize::from(ghost_above)..owned.end + usize::from(ghost_below);
        let field = sim::initial_rows(size, local);
        let buffer = |data: &[f32]| rt.buffer_from_slice(data).map_err(|e| e.to_string());
        Ok(Slab {
            rt,
            size,
            owned,
            ghost_above,
            ghost_below,
            current: buffer(&field)?,
            // A copy, as in `HeatGrid`: the boundary rows, which the
            // kernel copies through, are then right in both buffers.
            next: buffer(&field)?,
            step: kernels::jacobi2d(),
            edge_rows: [vec![0.0; size], vec![0.0; size]],
            ghost_rows: [vec![0.0; size], vec![0.0; size]],
        })
    }

    /// Global rows this rank updates.
    pub fn owned(&self) -> Range<usize> {
        self.owned.clone()
    }

    /// Rows in the slab, ghosts included.
    fn local_rows(&self) -> usize {
        self.owned.len() + usize::from(self.ghost_above) + usize::from(self.ghost_below)
    }

    /// Replaces the ghost rows with the neighbours' edge rows.
    ///
    /// # Errors
    /// A range read or write failing.
    fn exchange_ghost_rows(&mut self, ranks: &impl Ranks) -> switchyard::Result<()> {
        let size = self.size;
        let first_owned = usize::from(self.ghost_above);
        let last_owned = first_owned + self.owned.len() - 1;
        let [top_edge, bottom_edge] = &mut self.edge_rows;
        let [above, below] = &mut self.ghost_rows;
        // Rows that go nowhere are left empty, as `Ranks` asks.
        let (to_previous, from_previous) = if self.ghost_above {
            self.current.read_range_into(first_owned * size, top_edge)?;
            (&top_edge[..], &mut above[..])
        } else {
            (<&[f32]>::default(), <&mut [f32]>::default())
        };
        let (to_next, from_next) = if self.ghost_below {
            self.current
                .read_range_into(last_owned * size, bottom_edge)?;
            (&bottom_edge[..], &mut below[..])
        } else {
            (<&[f32]>::default(), <&mut [f32]>::default())
        };
        ranks.exchange_with_neighbours(to_previous, to_next, from_previous, from_next);
        if self.ghost_above {
            self.current.write_range(0, above)?;
        }
        if self.ghost_below {
            self.current.write_range((last_owned + 1) * size, below)?;
        }
        Ok(())
    }

    /// `steps` steps: exchange, then update, each time.
    ///
    /// # Errors
    /// A launch or a range transfer failing; the caller should stop every
    /// rank then (the others would wait for this one).
    pub fn advance(
        &mut self,
        ranks: &impl Ranks,
        steps: usize,
        alpha: f32,
        target: Target,
    ) -> switchyard::Result<RankTimes> {
        let params = Jacobi2dParams {
            width: self.size as u32,
            height: self.local_rows() as u32,
            alpha,
            _pad: 0,
        };
        let mut times = RankTimes::default();
        let started = Instant::now();
        for _ in 0..steps {
            let exchange_started = Instant::now();
            self.exchange_ghost_rows(ranks)?;
            times.exchange_seconds += exchange_started.elapsed().as_secs_f64();
            let report = self
                .rt
                .launch(&self.step)
                .uniform(&params)
                .read(&self.current)
                .overwrite(&mut self.next)
                .grid([params.width, params.height, 1])
                .on(target)
                .run()?;
            times.count(report.target);
            std::mem::swap(&mut self.current, &mut self.next);
        }
        times.seconds = started.elapsed().as_secs_f64();
        Ok(times)
    }

    /// The owned rows, row-major, read from wherever they are.
    ///
    /// # Errors
    /// The readback failing.
    pub fn owned_field(&self) -> switchyard::Result<Vec<f32>> {
        let first = usize::from(self.ghost_above) * self.size;
        self.current
            .read_range(first..first + self.owned.len() * self.size)
    }
}

/// What rank 0 learns from a decomposed run: reductions over all ranks.
#[derive(Debug)]
pub struct SlabSummary {
    /// The whole field, when it was gathered.
    pub field: Option<Vec<f32>>,
    /// The largest difference from the exact solution `g^K u₀`, f64.
    pub max_error: f64,
    /// The slowest rank's step loop and ghost exchanges; launches on all
    /// ranks.
    pub times: RankTimes,
}

/// Runs `steps` steps of the `size`×`size` grid decomposed over `ranks`,
/// each rank on `rt`, and reduces the outcome to rank 0 (`None` on the
/// others). `gather` also collects the whole field there.
///
/// # Errors
/// As [`Slab::new`] and [`Slab::advance`].
pub fn run_decomposed(
    ranks: &impl Ranks,
    rt: &Runtime,
    size: usize,
    steps: usize,
    alpha: f32,
    target: Target,
    gather: bool,
) -> Result<Option<SlabSummary>, String> {
    let mut slab = Slab::new(rt, size, ranks)?;
    let times = slab
        .advance(ranks, steps, alpha, target)
        .map_err(|e| e.to_string())?;
    let owned = slab.owned_field().map_err(|e| e.to_string())?;
    let error = sim::max_error_of_rows(&owned, size, slab.owned().start, steps, f64::from(alpha));
    let field = if gather {
        ranks.gather_to_root(&owned)
    } else {
        None
    };
    let max_error = ranks.max_to_root(error);
    let times = times.reduce(ranks);
    Ok(max_error.zip(times).map(|(max_error, times)| SlabSummary {
        field,
        max_error,
        times,
    }))
}
