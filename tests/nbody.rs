//! The N-body demo's physics at small sizes, on the CPU and on the GPU
//! adapter: the same `sim.rs` the demo runs, included by path.

mod common;
#[path = "../examples/nbody/sim.rs"]
mod sim;

use common::{cpu_runtime, gpu_runtime};
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
