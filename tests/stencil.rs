//! The heat-diffusion demo's correctness check at small sizes, on the CPU
//! and on the GPU adapter: the same `sim.rs` the demo runs, included by
//! path.

mod common;
#[path = "../examples/stencil/sim.rs"]
mod sim;

use common::{cpu_runtime, gpu_runtime};
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
