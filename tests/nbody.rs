//! The N-body demo's physics at small sizes, on the CPU and on the GPU
//! adapter: the same `sim.rs` the demo runs, included by path.

mod common;
#[path = "../examples/support/ranks.rs"]
mod ranks;
#[path = "../examples/nbody/ring.rs"]
mod ring;
#[path = "../examples/nbody/sim.rs"]
mod sim;

use common::{cpu_runtime, gpu_runtime};
use ranks::ThreadRanks;
use sim::{InitialConditions, Simulation};
use switchyard::{Runtime, Target};

/// The CPU-only runtime with `Target::Cpu`, and the GPU adapter with
/// `Target::Gpu` when there is one.
fn targets() -> Vec<(Runtime, Target)> {
    let mut targets = vec![(cpu_runtime(), Target::Cpu)];
    targets.extend(gpu_runtime().map(|rt| (rt, Target::Gpu)));
    targets
}

#[test]
fn the_binary_keeps_its_separation_within_1e_3_over_ten_orbits() {
    let (softening, dt) = (0.05, 0.01);
    let steps = (10.0 * sim::binary_period(softening) / dt).ceil() as usize;
    for (rt, target) in targets() {
        let initial = InitialConditions::Binary.generate(2, 0, softening);
        assert!((initial.separation() - 1.0).abs() < 1e-7);
        let mut simulation = Simulation::new(&rt, &initial, softening as f32, target).unwrap();
        let mut worst: f64 = 0.0;
        let mut done = 0;
        // Sampled every 50 steps (about 13 samples per orbit), so a drift
        // at any point of the run is seen, not only at its end.
        while done < steps {
            let batch = 50.min(steps - done);
            let report = simulation.advance(batch, dt as f32, target).unwrap();
            assert_eq!(report.launches.len(), 3 * batch);
            assert!(report.launches.iter().all(|l| l.target == target));
            done += batch;
            let separation = simulation.state().unwrap().separation();
            worst = worst.max((separation - 1.0).abs());
        }
        // Leapfrog keeps a circular orbit's radius to O((ω dt)²) ≈ 1e-4 at
        // ω ≈ 1; f32 rounding over 6 300 steps adds far less.
        assert!(worst < 1e-3, "{target}: separation off by {worst:e}");
    }
}

#[test]
fn a_plummer_sphere_starts_in_virial_equilibrium() {
    let state = InitialConditions::Plummer.generate(2048, 7, 0.01);
    let energy = state.energy(0.01);
    // Hénon units give E = -1/4 for the ideal sphere; 2048 samples, the
    // cut at 10 scale radii and the softening move it by a few percent.
    assert!((energy + 0.25).abs() < 0.02, "E = {energy}");
    let momentum = state.momentum();
    assert!(momentum.iter().all(|p| p.abs() < 1e-6), "{momentum:?}");
    // Reproducible from the seed, different for another seed.
    assert_eq!(state, InitialConditions::Plummer.generate(2048, 7, 0.01));
    assert_ne!(state, InitialConditions::Plummer.generate(2048, 8, 0.01));
}

#[test]
fn a_plummer_run_conserves_energy_and_momentum() {
    let softening = 0.05;
    let initial = InitialConditions::Plummer.generate(500, 3, softening);
    let energy_start = initial.energy(softening);
    let momentum_start = initial.momentum();
    for (rt, target) in targets() {
        let mut simulation = Simulation::new(&rt, &initial, softening as f32, target).unwrap();
        simulation.advance(100, 0.01, target).unwrap();
        let end = simulation.state().unwrap();
        let drift = ((end.energy(softening) - energy_start) / energy_start).abs();
        // Measured 1.3e-6 on both targets here (the demo with `--bodies 500
        // --steps 100 --seed 3`). Leapfrog's error is O(dt²) and bounded,
        // and f32 forces add about 1e-7 per step at random: 15× margin.
        assert!(drift < 2e-5, "{target}: relative energy drift {drift:e}");
        // Pairwise forces cancel up to f32 rounding of each sum, about
        // u · Σ m|a| dt per step: measured 2.8e-8 of Σ m|v| here.
        let momentum_end = end.momentum();
        let change = (0..3)
            .map(|c| (momentum_end[c] - momentum_start[c]).powi(2))
            .sum::<f64>()
            .sqrt();
        let scale = initial.momentum_scale();
        assert!(
            change < 1e-6 * scale,
            "{target}: momentum changed by {change:e} of {scale:e}"
        );
    }
}

#[test]
fn a_cold_cube_collapses_towards_its_centre() {
    let softening = 0.05;
    let initial = InitialConditions::Cube.generate(400, 11, softening);
    assert_eq!(initial.momentum_scale(), 0.0);
    let rt = cpu_runtime();
    let mut simulation = Simulation::new(&rt, &initial, softening as f32, Target::Cpu).unwrap();
    // The free-fall time of a uniform cube of mass 1 and side 2 is ~1.5.
    simulation.advance(50, 0.01, Target::Cpu).unwrap();
    let end = simulation.state().unwrap();
    let mean_radius = |state: &sim::State| {
        let n = state.len();
        (0..n)
            .map(|i| {
                (0..3)
                    .map(|c| f64::from(state.bodies[c * n + i]).powi(2))
                    .sum::<f64>()
                    .sqrt()
            })
            .sum::<f64>()
            / n as f64
    };
    assert!(mean_radius(&end) < mean_radius(&initial));
    assert!(end.energy(softening) < 0.0);
}

#[test]
fn bodies_passed_round_a_ring_of_1_to_4_ranks_conserve_the_single_process_energy() {
    // 300 bodies (blocks of 75 to 300: partial GPU tiles and SIMD tails),
    // 20 steps of a Plummer sphere.
    let (n, softening, dt, steps) = (300, 0.05f32, 0.01f32, 20);
    let initial = InitialConditions::Plummer.generate(n, 3, f64::from(softening));
    let e0 = initial.energy(f64::from(softening));
    for (rt, target) in targets() {
        let mut single = Simulation::new(&rt, &initial, softening, target).unwrap();
        single.advance(steps, dt, target).unwrap();
        let expected = single.state().unwrap();
        let e_single = expected.energy(f64::from(softening));
        for count in 1..=4 {
            let summaries = ThreadRanks::run(count, |ranks| {
                ring::run_decomposed(ranks, &rt, &initial, softening, steps, dt, target).unwrap()
            });
            let summary = summaries[0].as_ref().expect("rank 0 has the summary");
            assert!(summaries[1..].iter().all(Option::is_none));
            // 2 kick-drifts per step per rank, one accel launch per block
            // per step and once at the start.
            let launches = count * 2 * steps + count * count * (steps + 1);
            let on_target = if target == Target::Gpu {
                summary.times.gpu_launches
            } else {
                summary.times.cpu_launches
            };
            assert_eq!(on_target, launches, "{target}, {count} ranks");
            if count == 1 {
                // One block, summed in the single-process order.
                assert_eq!(summary.state, expected, "{target}: one rank");
                continue;
            }
            let e_ring = summary.state.energy(f64::from(softening));
            // The two runs differ only by the order of each acceleration's
            // sum (≤ n u Σ|term| apart), which perturbs the energy far less
            // than the integrator's own drift over these steps. Measured
            // here: |E_single − E0| = 1.0e-6 |E0| on both targets, and
            // |E_ring − E_single| from 1.6e-9 to 6.3e-9 |E0| over 2 to 4
            // ranks. 1e-7 |E0| leaves a 16× margin over the latter and
            // stays 10× below the drift, so a ring that dropped or doubled
            // a block would fail.
            let difference = (e_ring - e_single).abs();
            assert!(
                difference <= 1e-7 * e0.abs(),
                "{target}, {count} ranks: E {e_ring} vs {e_single} (E0 {e0})"
            );
            let moved = summary
                .state
                .bodies
                .iter()
                .zip(&expected.bodies)
                .map(|(a, b)| (a - b).abs())
                .fold(0.0f32, f32::max);
            // Seen: at most 1.8e-7 (a few ulps of coordinates near 1).
            assert!(
                moved < 1e-5,
                "{target}, {count} ranks: positions differ by {moved}"
            );
        }
    }
}
