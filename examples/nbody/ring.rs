//! The N-body simulation of `sim.rs` with its bodies split among ranks:
//! what `examples/nbody_mpi.rs` runs under MPI and `tests/nbody.rs` runs on
//! threads ([`Ranks`]). Includers name the modules `sim` and `ranks`.
//!
//! Each rank owns a consecutive block of bodies ([`owned_range`]) and
//! integrates only those. Their accelerations are summed block by block as
//! the blocks travel round a ring: first the rank's own block, then each
//! other rank's in turn, every rank passing the block it holds to the next
//! rank and taking the previous rank's (`nbody_accel_from` with
//! `accumulate`). After `ranks − 1` passes every rank has felt every body,
//! having sent and received `n` bodies' positions and masses per force
//! evaluation, however many ranks there are.
//!
//! Each launch runs through the rank's own runtime, so each rank picks the
//! CPU or its GPU for itself.
//!
//! Accelerations are the same sums as in the single-process run, added in
//! another order (block by block rather than in one pass), so results agree
//! to rounding, not bit for bit; with one rank the order is the same and so
//! are the bits (`tests/nbody.rs`). Energy, the quantity the demo checks,
//! agrees to well within the integrator's own drift.

#![allow(dead_code)] // each includer uses its own part

use std::ops::Range;
use std::time::Instant;

use switchyard::kernels::{self, KickDriftParams, NbodyFromParams};
use switchyard::{Buffer, Kernel, Runtime, Target};

use crate::ranks::{owned_range, RankTimes, Ranks};
use crate::sim::State;

/// One rank's bodies in three buffers, and the two kernels.
pub struct RingSimulation<'rt> {
    rt: &'rt Runtime,
    /// Global indices of this rank's bodies.
    owned: Range<usize>,
    /// Bodies on every rank, for the sizes of the blocks that come round.
    total: usize,
    softening2: f32,
    bodies: Buffer<f32>,
    vel: Buffer<f32>,
    accel: Buffer<f32>,
    accel_from: Kernel,
    kick_drift: Kernel,
    /// The block this rank holds during a ring pass, and the one arriving.
    held: Vec<f32>,
    incoming: Vec<f32>,
    /// Buffers for visiting blocks, one per block length (blocks differ by
    /// at most one body, so there are at most two), reused every pass.
    visiting: Vec<Buffer<f32>>,
    /// Launch counts and time spent passing blocks (`seconds` is left to
    /// the caller).
    pub times: RankTimes,
}

/// The block of `state` (all bodies, structure of arrays) at `range`, in
/// the same layout: `[x.., y.., z.., m..]` and `[vx.., vy.., vz..]`.
fn block_of(all: &[f32], total: usize, range: &Range<usize>, components: usize) -> Vec<f32> {
    (0..components)
        .flat_map(|c| &all[c * total + range.start..c * total + range.end])
        .copied()
        .collect()
}

impl<'rt> RingSimulation<'rt> {
    /// This rank's bodies of `state` (every rank passes the same state),
    /// with their first accelerations computed.
    ///
    /// # Errors
    /// More ranks than bodies, buffer creation or a launch failing.
    pub fn new(
        rt: &'rt Runtime,
        state: &State,
        softening: f32,
        ranks: &impl Ranks,
        target: Target,
    ) -> Result<Self, String> {
        let total = state.len();
        if ranks.size() > total {
            return Err(format!(
                "{total} bodies cannot be split among {} ranks",
                ranks.size()
            ));
        }
        let owned = owned_range(total, ranks.rank(), ranks.size());
        let bodies = block_of(&state.bodies, total, &owned, 4);
        let vel = block_of(&state.vel, total, &owned, 3);
        let error = |e: switchyard::Error| e.to_string();
        let mut simulation = RingSimulation {
            rt,
            total,
            softening2: softening * softening,
            bodies: rt.buffer_from_slice(&bodies).map_err(error)?,
            vel: rt.buffer_from_slice(&vel).map_err(error)?,
            accel: rt.buffer_zeroed(3 * owned.len()).map_err(error)?,
            owned,
            accel_from: kernels::nbody_accel_from(),
            kick_drift: kernels::nbody_kick_drift(),
            held: Vec::new(),
            incoming: Vec::new(),
            visiting: Vec::new(),
            times: RankTimes::default(),
        };
        simulation.accelerations(ranks, target).map_err(error)?;
        Ok(simulation)
    }

    /// `accel` of the owned bodies due to all bodies, the blocks passed
    /// round the ring.
    fn accelerations(&mut self, ranks: &impl Ranks, target: Target) -> switchyard::Result<()> {
        let (rank, size) = (ranks.rank(), ranks.size());
        let mine = self.owned.len();
        let exchange_started = Instant::now();
        if size > 1 {
            self.held.resize(4 * mine, 0.0);
            self.bodies.read_into(&mut self.held)?;
        }
        self.times.exchange_seconds += exchange_started.elapsed().as_secs_f64();
        for pass in 0..size {
            let mut sources = &self.bodies;
            if pass > 0 {
                // The block now arriving started at rank − pass.
                let origin = (rank + size - pass) % size;
                let started = Instant::now();
                let len = 4 * owned_range(self.total, origin, size).len();
                self.incoming.resize(len, 0.0);
                ranks.ring_shift(&self.held, &mut self.incoming);
                std::mem::swap(&mut self.held, &mut self.incoming);
                let slot = match self.visiting.iter().position(|b| b.len() == len) {
                    Some(slot) => {
                        self.visiting[slot].write_from_slice(&self.held)?;
                        slot
                    }
                    None => {
                        self.visiting.push(self.rt.buffer_from_slice(&self.held)?);
                        self.visiting.len() - 1
                    }
                };
                sources = &self.visiting[slot];
                self.times.exchange_seconds += started.elapsed().as_secs_f64();
            }
            let count = sources.len() / 4;
            let report = self
                .rt
                .launch(&self.accel_from)
                .uniform(&NbodyFromParams {
                    targets: mine as u32,
                    sources: count as u32,
                    softening2: self.softening2,
                    accumulate: u32::from(pass > 0),
                })
                .read(&self.bodies)
                .read(sources)
                .write(&mut self.accel)
                .invocations(mine as u32)
                .work((mine * count) as u64)
                .on(target)
                .run()?;
            self.times.count(report.target);
        }
        Ok(())
    }

    fn kick_drift(&mut self, kick: f32, drift: f32, target: Target) -> switchyard::Result<()> {
        let report = self
            .rt
            .launch(&self.kick_drift)
            .uniform(&KickDriftParams {
                n: self.owned.len() as u32,
                kick,
                drift,
                _pad: 0,
            })
            .read(&self.accel)
            .write(&mut self.vel)
            .write(&mut self.bodies)
            .invocations(self.owned.len() as u32)
            .on(target)
            .run()?;
        self.times.count(report.target);
        Ok(())
    }

    /// `steps` kick-drift-kick steps of `dt`, as `Simulation::advance`.
    ///
    /// # Errors
    /// A launch or a transfer failing; the caller should stop every rank
    /// then (the others would wait for this one).
    pub fn advance(
        &mut self,
        ranks: &impl Ranks,
        steps: usize,
        dt: f32,
        target: Target,
    ) -> switchyard::Result<()> {
        for _ in 0..steps {
            self.kick_drift(0.5 * dt, dt, target)?;
            self.accelerations(ranks, target)?;
            self.kick_drift(0.5 * dt, 0.0, target)?;
        }
        Ok(())
    }

    /// The whole state on rank 0 (`None` elsewhere), in the single-process
    /// layout.
    ///
    /// # Errors
    /// A readback failing.
    pub fn gather(&self, ranks: &impl Ranks) -> switchyard::Result<Option<State>> {
        let bodies = ranks.gather_to_root(&self.bodies.to_vec()?);
        let vel = ranks.gather_to_root(&self.vel.to_vec()?);
        let (Some(bodies), Some(vel)) = (bodies, vel) else {
            return Ok(None);
        };
        let size = ranks.size();
        Ok(Some(State {
            bodies: interleave_blocks(&bodies, self.total, size, 4),
            vel: interleave_blocks(&vel, self.total, size, 3),
        }))
    }
}

/// Rank blocks gathered one after another (`[x.., y.., …]` of each rank's
/// bodies) back into one structure of arrays over all `total` bodies.
fn interleave_blocks(gathered: &[f32], total: usize, ranks: usize, components: usize) -> Vec<f32> {
    let mut all = vec![0.0; components * total];
    let mut offset = 0;
    for rank in 0..ranks {
        let range = owned_range(total, rank, ranks);
        for c in 0..components {
            all[c * total + range.start..c * total + range.end]
                .copy_from_slice(&gathered[offset..offset + range.len()]);
            offset += range.len();
        }
    }
    all
}

/// What rank 0 learns from a decomposed run.
#[derive(Debug)]
pub struct RingSummary {
    /// The final state of all bodies.
    pub state: State,
    /// The slowest rank's run (from the first force evaluation) and time
    /// passing blocks; launches on all ranks.
    pub times: RankTimes,
}

/// Runs `steps` steps of `state` decomposed over `ranks`, each rank on
/// `rt`, and gathers the outcome to rank 0 (`None` on the others).
///
/// # Errors
/// As [`RingSimulation::new`] and [`RingSimulation::advance`].
pub fn run_decomposed(
    ranks: &impl Ranks,
    rt: &Runtime,
    state: &State,
    softening: f32,
    steps: usize,
    dt: f32,
    target: Target,
) -> Result<Option<RingSummary>, String> {
    // Timed from the first force evaluation, which `new` does, so that the
    // exchange time it includes is part of the total.
    let started = Instant::now();
    let mut simulation = RingSimulation::new(rt, state, softening, ranks, target)?;
    simulation
        .advance(ranks, steps, dt, target)
        .map_err(|e| e.to_string())?;
    let mut times = simulation.times;
    times.seconds = started.elapsed().as_secs_f64();
    let gathered = simulation.gather(ranks).map_err(|e| e.to_string())?;
    let times = times.reduce(ranks);
    Ok(gathered
        .zip(times)
        .map(|(state, times)| RingSummary { state, times }))
}
