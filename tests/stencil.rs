//! The heat-diffusion demo's correctness check at small sizes, on the CPU
//! and on the GPU adapter: the same `sim.rs` the demo runs, included by
//! path.

mod common;
#[path = "../examples/support/ranks.rs"]
mod ranks;
#[path = "../examples/stencil/sim.rs"]
mod sim;
#[path = "../examples/stencil/slab.rs"]
mod slab;

use common::{cpu_runtime, gpu_runtime};
use ranks::{owned_range, Ranks, ThreadRanks};
use sim::HeatGrid;
use switchyard::{Runtime, Target};

fn targets() -> Vec<(Runtime, Target)> {
    let mut targets = vec![(cpu_runtime(), Target::Cpu)];
    targets.extend(gpu_runtime().map(|rt| (rt, Target::Gpu)));
    targets
}

#[test]
fn the_sine_mode_decays_exactly_as_the_scheme_predicts() {
    // 49 is not a multiple of the 16×16 workgroup; 200 steps at alpha 0.24
    // shrink the mode to 0.66 of its height, so the decay itself is tested,
    // not only that nothing moved.
    let (size, steps, alpha) = (49, 200, 0.24f32);
    let amplitude = sim::decay_factor(size, f64::from(alpha)).powi(steps as i32);
    assert!((0.5..0.7).contains(&amplitude), "{amplitude}");
    for (rt, target) in targets() {
        let mut grid = HeatGrid::new(&rt, &sim::initial_field(size), size).unwrap();
        // Four sequences of 50 steps, as the demo batches them.
        for _ in 0..4 {
            let report = grid.advance(50, alpha, target).unwrap();
            assert!(report.launches.iter().all(|l| l.target == target));
        }
        let field = grid.field().unwrap();
        let error = sim::max_error(&field, size, steps, f64::from(alpha));
        let bound = sim::error_bound(steps);
        assert!(error <= bound, "{target}: max error {error:e} > {bound:e}");
        // The boundary stays exactly zero (Dirichlet).
        for k in 0..size {
            for cell in [k, (size - 1) * size + k, k * size, k * size + size - 1] {
                assert_eq!(field[cell], 0.0, "{target}: boundary cell {cell}");
            }
        }
    }
}

#[test]
fn the_demo_with_cpu_wgsl_steps_on_the_executor_and_matches_the_twin() {
    // `--cpu wgsl`: the same steps run the shader on the CPU executor; the
    // twin follows the shader's operation order, so the fields are equal.
    let (size, steps, alpha) = (37, 30, 0.24f32);
    let rt = cpu_runtime();
    let mut twin = HeatGrid::with_cpu(&rt, &sim::initial_field(size), size, false).unwrap();
    let mut wgsl = HeatGrid::with_cpu(&rt, &sim::initial_field(size), size, true).unwrap();
    twin.advance(steps, alpha, Target::Cpu).unwrap();
    let report = wgsl.advance(steps, alpha, Target::Cpu).unwrap();
    assert!(report
        .launches
        .iter()
        .all(|l| l.cpu_implementation == Some(switchyard::CpuImplementation::Wgsl)));
    assert_eq!(twin.field().unwrap(), wgsl.field().unwrap());
}

#[test]
fn a_wrong_solution_is_caught_by_the_check() {
    // The check is only as good as its power to fail: the right field after
    // one step less is off by about (1 - g)·1 = 2e-3, far above the bound.
    let (size, steps, alpha) = (33, 40, 0.24f32);
    let rt = cpu_runtime();
    let mut grid = HeatGrid::new(&rt, &sim::initial_field(size), size).unwrap();
    grid.advance(steps - 1, alpha, Target::Cpu).unwrap();
    let field = grid.field().unwrap();
    let error = sim::max_error(&field, size, steps, f64::from(alpha));
    assert!(error > 100.0 * sim::error_bound(steps), "{error:e}");
}

#[test]
fn row_ownership_covers_every_row_once_and_evenly() {
    for rows in [1, 3, 10, 37, 1000] {
        for ranks in 1..=rows.min(9) {
            let ranges: Vec<_> = (0..ranks).map(|r| owned_range(rows, r, ranks)).collect();
            assert_eq!(ranges[0].start, 0);
            assert_eq!(ranges[ranks - 1].end, rows);
            for pair in ranges.windows(2) {
                assert_eq!(pair[0].end, pair[1].start, "{rows} rows, {ranks} ranks");
            }
            let lengths: Vec<_> = ranges.iter().map(|r| r.len()).collect();
            let (shortest, longest) = (lengths.iter().min(), lengths.iter().max());
            assert!(longest.unwrap() - shortest.unwrap() <= 1, "{lengths:?}");
        }
    }
}

#[test]
fn thread_ranks_deliver_exchanges_rings_reductions_and_gathers() {
    let results = ThreadRanks::run(4, |ranks| {
        let me = ranks.rank() as f32;
        let (mut from_previous, mut from_next) = ([0.0f32; 2], [0.0f32; 2]);
        ranks.exchange_with_neighbours(&[me, -me], &[me, me], &mut from_previous, &mut from_next);
        let mut incoming = vec![0.0f32; 1 + (ranks.rank() + 3) % 4];
        ranks.ring_shift(&vec![me; 1 + ranks.rank()], &mut incoming);
        let sum = ranks.sum_to_root(f64::from(me) + 0.5);
        let max = ranks.max_to_root(-f64::from(me));
        let gathered = ranks.gather_to_root(&vec![me; ranks.rank()]);
        (from_previous, from_next, incoming, sum, max, gathered)
    });
    for (rank, (from_previous, from_next, incoming, sum, max, gathered)) in
        results.into_iter().enumerate()
    {
        let r = rank as f32;
        let expected_previous = if rank > 0 { [r - 1.0; 2] } else { [0.0; 2] };
        let expected_next = if rank < 3 {
            [r + 1.0, -r - 1.0]
        } else {
            [0.0; 2]
        };
        assert_eq!(from_previous, expected_previous, "rank {rank}");
        assert_eq!(from_next, expected_next, "rank {rank}");
        let sender = (rank + 3) % 4;
        assert_eq!(incoming, vec![sender as f32; sender + 1], "rank {rank}");
        if rank == 0 {
            assert_eq!(sum, Some(8.0));
            assert_eq!(max, Some(0.0));
            assert_eq!(gathered, Some(vec![1.0, 2.0, 2.0, 3.0, 3.0, 3.0]));
        } else {
            assert_eq!((sum, max, gathered), (None, None, None));
        }
    }
}

#[test]
fn row_slabs_on_1_to_5_ranks_match_the_single_process_grid_bit_for_bit() {
    // 37 rows split unevenly; 5 ranks leave some slabs of 7 rows, ghosts
    // included. 30 steps carry every cell's influence across several slab
    // boundaries, so a wrong or late exchange shows.
    let (size, steps, alpha) = (37, 30, 0.24f32);
    for (rt, target) in targets() {
        let mut single = HeatGrid::new(&rt, &sim::initial_field(size), size).unwrap();
        single.advance(steps, alpha, target).unwrap();
        let expected = single.field().unwrap();
        for count in 1..=5 {
            let summaries = ThreadRanks::run(count, |ranks| {
                slab::run_decomposed(ranks, &rt, size, steps, alpha, target, true).unwrap()
            });
            let summary = summaries[0].as_ref().expect("rank 0 has the summary");
            let field = summary.field.as_ref().expect("gathered");
            let differing = field
                .iter()
                .zip(&expected)
                .filter(|(a, b)| a.to_bits() != b.to_bits())
                .count();
            assert_eq!(differing, 0, "{target}, {count} ranks: cells differ");
            assert_eq!(field.len(), size * size);
            assert_eq!(
                summary.max_error,
                sim::max_error(&expected, size, steps, f64::from(alpha))
            );
            assert_eq!(
                summary.times.gpu_launches + summary.times.cpu_launches,
                count * steps
            );
            let on_target = if target == Target::Gpu {
                summary.times.gpu_launches
            } else {
                summary.times.cpu_launches
            };
            assert_eq!(on_target, count * steps, "{target}");
            assert!(summaries[1..].iter().all(Option::is_none));
        }
    }
}

/// The ranks of a [`ThreadRanks`] group that drop every ghost-row exchange.
struct WithoutExchange<'a>(&'a ThreadRanks);

impl Ranks for WithoutExchange<'_> {
    fn rank(&self) -> usize {
        self.0.rank()
    }
    fn size(&self) -> usize {
        self.0.size()
    }
    fn exchange_with_neighbours(&self, _: &[f32], _: &[f32], _: &mut [f32], _: &mut [f32]) {}
    fn ring_shift(&self, outgoing: &[f32], incoming: &mut [f32]) {
        self.0.ring_shift(outgoing, incoming)
    }
    fn sum_to_root(&self, value: f64) -> Option<f64> {
        self.0.sum_to_root(value)
    }
    fn max_to_root(&self, value: f64) -> Option<f64> {
        self.0.max_to_root(value)
    }
    fn gather_to_root(&self, local: &[f32]) -> Option<Vec<f32>> {
        self.0.gather_to_root(local)
    }
}

#[test]
fn a_missing_exchange_is_caught_by_the_comparison() {
    // The comparison's power to fail: slabs whose ghost rows are never
    // refreshed differ from the single-process grid.
    let (size, steps, alpha) = (37, 10, 0.24f32);
    let rt = cpu_runtime();
    let mut single = HeatGrid::new(&rt, &sim::initial_field(size), size).unwrap();
    single.advance(steps, alpha, Target::Cpu).unwrap();
    let expected = single.field().unwrap();
    let summaries = ThreadRanks::run(3, |ranks| {
        let ranks = WithoutExchange(ranks);
        slab::run_decomposed(&ranks, &rt, size, steps, alpha, Target::Cpu, true).unwrap()
    });
    let field = summaries[0].as_ref().unwrap().field.as_ref().unwrap();
    assert_eq!(field.len(), expected.len());
    assert_ne!(field, &expected);
}
