//! The ensemble demo's sweep (`examples/ensemble/sweep.rs`), small, on
//! every target of both runtimes: every member matches its exact solution
//! within the rounding bound, whatever ran where.

mod common;

#[path = "../examples/ensemble/sweep.rs"]
mod sweep;

use common::all_runtimes;
use switchyard::Target;

#[test]
fn every_member_of_a_submitted_sweep_matches_its_exact_solution() {
    for rt in all_runtimes() {
        let mut targets = vec![Target::Cpu, Target::Auto];
        if rt.gpu_available() {
            targets.push(Target::Gpu);
        }
        for wgsl_on_cpu in [false, true] {
            let kernel = sweep::step_kernel(wgsl_on_cpu);
            sweep::warm_up(&rt, &kernel, 48).unwrap();
            for &target in &targets {
                let run = sweep::Sweep {
                    members: 6,
                    size: 48,
                    steps: 12,
                    target,
                    wgsl_on_cpu,
                };
                let outcome = sweep::run_sweep(&rt, &kernel, &run, |_| {}).unwrap();
                assert_eq!(outcome.launches, 72);
                assert_eq!(outcome.gpu_launches + outcome.cpu_launches, 72);
                match target {
                    Target::Cpu => assert_eq!(outcome.cpu_launches, 72),
                    Target::Gpu => assert_eq!(outcome.gpu_launches, 72),
                    Target::Auto => {}
                }
                assert!(
                    outcome.worst_error_ratio <= 1.0,
                    "{target} (wgsl on cpu: {wgsl_on_cpu}): {outcome:?}"
                );
            }
        }
    }
}
