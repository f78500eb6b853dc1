//! Every built-in kernel on the GPU agrees with its Rust twin, at sizes that
//! are 1, not multiples of the workgroup size, and large enough to need more
//! than 65 535 workgroups (folded into a 2-D grid). Each tolerance is derived
//! in a comment beside it.

mod common;

use common::{gpu_runtime, jacobi_steps, random_f32, saxpy};
use switchyard::kernels::{self, KickDriftParams, NbodyFromParams, NbodyParams, ReduceParams};
use switchyard::{Kernel, Runtime, Target};

const EPS: f32 = f32::EPSILON;

fn saxpy_on(rt: &Runtime, target: Target, a: f32, x: &[f32], y: &[f32]) -> Vec<f32> {
    let xb = rt.buffer_from_slice(x).unwrap();
    let mut yb = rt.buffer_from_slice(y).unwrap();
    assert_eq!(saxpy(rt, a, &xb, &mut yb, target).target, target);
    yb.to_vec().unwrap()
}

#[test]
fn saxpy_gpu_matches_cpu_including_folded_grids() {
    let Some(rt) = gpu_runtime() else { return };
    // 65 535 × 256 + 1 needs 65 536 workgroups: the launch is folded into 2-D.
    for n in [1usize, 255, 257, 10_000, 65_535 * 256 + 1] {
        let x = random_f32(n, 1);
        let y = random_f32(n, 2);
        let a = 1.75;
        let gpu = saxpy_on(&rt, Target::Gpu, a, &x, &y);
        let cpu = saxpy_on(&rt, Target::Cpu, a, &x, &y);
        for i in 0..n {
            // The driver may fuse a*x + y into one FMA; that skips one
            // rounding of a*x (≤ ½ ulp of |a*x|) and the sum's rounding can
            // then differ by ≤ 1 ulp of the result.
            let tol = EPS * ((a * x[i]).abs() + cpu[i].abs());
            assert!(
                (gpu[i] - cpu[i]).abs() <= tol,
                "n={n} i={i}: gpu {} cpu {}",
                gpu[i],
                cpu[i]
            );
        }
    }
}

fn reduce_pass_on(rt: &Runtime, target: Target, input: &[f32]) -> Vec<f32> {
    let groups = input.len().div_ceil(kernels::REDUCE_ITEMS_PER_GROUP);
    let inb = rt.buffer_from_slice(input).unwrap();
    let mut partial = rt.buffer_zeroed::<f32>(groups).unwrap();
    rt.launch(&kernels::reduce_sum())
        .uniform(&ReduceParams {
            n: input.len() as u32,
        })
        .read(&inb)
        .overwrite(&mut partial)
        .invocations((groups * 256) as u32)
        .on(target)
        .run()
        .unwrap();
    partial.to_vec().unwrap()
}

#[test]
fn reduce_pass_is_bit_identical_and_full_sum_is_accurate() {
    let Some(rt) = gpu_runtime() else { return };
    for n in [1usize, 255, 1023, 1025, 300_001, 3_000_000] {
        let input = random_f32(n, n as u64);
        // Twin and shader add in the same order (4 strided loads per lane,
        // then the same pairwise tree) with IEEE f32 adds, which SPIR-V does
        // not let the driver reassociate: the partial sums match exactly.
        assert_eq!(
            reduce_pass_on(&rt, Target::Gpu, &input),
            reduce_pass_on(&rt, Target::Cpu, &input),
            "n={n}"
        );
        let exact: f64 = input.iter().map(|&v| f64::from(v)).sum();
        let magnitude: f64 = input.iter().map(|&v| f64::from(v).abs()).sum();
        let buffer = rt.buffer_from_slice(&input).unwrap();
        for target in [Target::Gpu, Target::Cpu] {
            let total = f64::from(kernels::sum(&rt, &buffer, target).unwrap());
            // Each element passes through at most 3 levels of 4 + 8 adds:
            // relative error ≤ 36 u Σ|x| (u = 2^-24); 4e-6 leaves 1.8× margin.
            assert!(
                (total - exact).abs() <= 4e-6 * magnitude + 1e-30,
                "n={n} {target}: {total} vs {exact}"
            );
        }
    }
}

/// `n` bodies as `[x.., y.., z.., m..]`: positions in [-1, 1), masses in
/// [0.5, 1).
fn random_bodies(n: usize) -> Vec<f32> {
    let mut bodies = random_f32(4 * n, 99);
    for m in &mut bodies[3 * n..] {
        *m = 0.5 + 0.5 * m.abs();
    }
    bodies
}

fn nbody_on(rt: &Runtime, target: Target, bodies: &[f32], softening2: f32) -> Vec<f32> {
    let n = bodies.len() / 4;
    let b = rt.buffer_from_slice(bodies).unwrap();
    let mut acc = rt.buffer_zeroed::<f32>(3 * n).unwrap();
    rt.launch(&kernels::nbody_accel())
        .uniform(&NbodyParams {
            n: n as u32,
            softening2,
            _pad0: 0,
            _pad1: 0,
        })
        .read(&b)
        .overwrite(&mut acc)
        .invocations(n as u32)
        .on(target)
        .run()
        .unwrap();
    acc.to_vec().unwrap()
}

#[test]
fn nbody_gpu_matches_cpu_within_the_summation_bound() {
    let Some(rt) = gpu_runtime() else { return };
    let softening2 = 1e-2f32;
    // 1, a partial tile, just over one tile, a partial SIMD tail on the CPU.
    for n in [1usize, 127, 129, 1000] {
        let bodies = random_bodies(n);
        let gpu = nbody_on(&rt, Target::Gpu, &bodies, softening2);
        let cpu = nbody_on(&rt, Target::Cpu, &bodies, softening2);
        let position = |j: usize, c: usize| f64::from(bodies[c * n + j]);
        for i in 0..n {
            // Σ_j |term_j| per component, in f64: the scale of the rounding error.
            let mut scale = [0.0f64; 3];
            for j in 0..n {
                let d: Vec<f64> = (0..3).map(|c| position(j, c) - position(i, c)).collect();
                let r2 = d.iter().map(|v| v * v).sum::<f64>() + f64::from(softening2);
                let s = f64::from(bodies[3 * n + j]) / (r2 * r2.sqrt());
                for c in 0..3 {
                    scale[c] += (d[c] * s).abs();
                }
            }
            for c in 0..3 {
                // Different summation orders (tiles of 128 vs 16 lanes and a
                // tail) differ by at most n u Σ|t| to first order; each term
                // carries ≤ 8 u more (inverseSqrt is 2 ulp in WGSL, plus 3
                // products).
                let tol = (n as f64 + 8.0) * f64::from(EPS) * scale[c] + 1e-30;
                let (g, k) = (gpu[c * n + i], cpu[c * n + i]);
                let diff = f64::from(g - k).abs();
                assert!(
                    diff <= tol,
                    "n={n} body {i} axis {c}: gpu {g} cpu {k} tol {tol}"
                );
            }
        }
    }
}

/// `nbody_accel_from` on `target`: accelerations of `targets` due to
/// `sources`, added to `accel`.
fn nbody_from_on(
    rt: &Runtime,
    target: Target,
    targets: &[f32],
    sources: &[f32],
    accel: &[f32],
    softening2: f32,
) -> Vec<f32> {
    let (nt, ns) = (targets.len() / 4, sources.len() / 4);
    let t = rt.buffer_from_slice(targets).unwrap();
    let s = rt.buffer_from_slice(sources).unwrap();
    let mut a = rt.buffer_from_slice(accel).unwrap();
    let report = rt
        .launch(&kernels::nbody_accel_from())
        .uniform(&NbodyFromParams {
            targets: nt as u32,
            sources: ns as u32,
            softening2,
            accumulate: 1,
        })
        .read(&t)
        .read(&s)
        .write(&mut a)
        .invocations(nt as u32)
        .work((nt * ns) as u64)
        .on(target)
        .run()
        .unwrap();
    assert_eq!(report.target, target);
    a.to_vec().unwrap()
}

#[test]
fn nbody_from_gpu_matches_cpu_within_the_summation_bound() {
    let Some(rt) = gpu_runtime() else { return };
    let softening2 = 1e-2f32;
    // One of each; a partial tile of sources over a partial SIMD tail; one
    // source; more targets than a workgroup and a multi-tile source block.
    for (nt, ns) in [(1usize, 1usize), (127, 300), (129, 1), (1000, 257)] {
        let targets = random_bodies(nt);
        let sources: Vec<f32> = random_bodies(ns + 3)[..4 * ns]
            .iter()
            .map(|v| 0.5 * v)
            .collect();
        let before = random_f32(3 * nt, 7);
        let gpu = nbody_from_on(&rt, Target::Gpu, &targets, &sources, &before, softening2);
        let cpu = nbody_from_on(&rt, Target::Cpu, &targets, &sources, &before, softening2);
        for i in 0..nt {
            let mut scale = [0.0f64; 3];
            for j in 0..ns {
                let d: Vec<f64> = (0..3)
                    .map(|c| f64::from(sources[c * ns + j]) - f64::from(targets[c * nt + i]))
                    .collect();
                let r2 = d.iter().map(|v| v * v).sum::<f64>() + f64::from(softening2);
                let s = f64::from(sources[3 * ns + j]) / (r2 * r2.sqrt());
                for c in 0..3 {
                    scale[c] += (d[c] * s).abs();
                }
            }
            for (c, scale) in scale.into_iter().enumerate() {
                // As for nbody_accel over ns sources, plus the final add of
                // the old value, rounded alike on both sides (≤ 1 u of the
                // result's magnitude between the two).
                let k = c * nt + i;
                let magnitude = f64::from(before[k].abs()) + scale;
                let tol =
                    (ns as f64 + 8.0) * f64::from(EPS) * scale + f64::from(EPS) * magnitude + 1e-30;
                let diff = f64::from(gpu[k] - cpu[k]).abs();
                assert!(
                    diff <= tol,
                    "nt={nt} ns={ns} body {i} axis {c}: gpu {} cpu {} tol {tol}",
                    gpu[k],
                    cpu[k]
                );
                // The old value was really added.
                assert!((f64::from(cpu[k] - before[k])).abs() <= scale * 1.01 + 1e-6);
            }
        }
    }
}

#[test]
fn nbody_from_with_itself_as_sources_is_nbody_accel_on_the_cpu() {
    // Same twin code, same order: bit-equal, so the decomposed N-body's one
    // block of its own bodies computes what the single-process step does.
    let rt = common::cpu_runtime();
    let n = 300;
    let bodies = random_bodies(n);
    let whole = nbody_on(&rt, Target::Cpu, &bodies, 1e-2);
    let from = nbody_from_on(&rt, Target::Cpu, &bodies, &bodies, &vec![0.0; 3 * n], 1e-2);
    assert!(whole
        .iter()
        .zip(&from)
        .all(|(a, b)| a.to_bits() == b.to_bits()));
}

fn kick_drift_on(
    rt: &Runtime,
    target: Target,
    (accel, vel, bodies): (&[f32], &[f32], &[f32]),
    params: KickDriftParams,
) -> (Vec<f32>, Vec<f32>) {
    let a = rt.buffer_from_slice(accel).unwrap();
    let mut v = rt.buffer_from_slice(vel).unwrap();
    let mut b = rt.buffer_from_slice(bodies).unwrap();
    rt.launch(&kernels::nbody_kick_drift())
        .uniform(&params)
        .read(&a)
        .write(&mut v)
        .write(&mut b)
        .invocations(params.n)
        .on(target)
        .run()
        .unwrap();
    (v.to_vec().unwrap(), b.to_vec().unwrap())
}

#[test]
fn kick_drift_gpu_matches_cpu_and_leaves_masses_alone() {
    let Some(rt) = gpu_runtime() else { return };
    // 65 535 × 64 + 1 bodies need 65 536 workgroups: the launch is folded.
    for n in [1usize, 63, 65, 65_535 * 64 + 1] {
        let accel = random_f32(3 * n, 5);
        let vel = random_f32(3 * n, 6);
        let bodies = random_bodies(n);
        let params = KickDriftParams {
            n: n as u32,
            kick: 0.005,
            drift: 0.01,
            _pad: 0,
        };
        let buffers = (&accel[..], &vel[..], &bodies[..]);
        let (gpu_v, gpu_b) = kick_drift_on(&rt, Target::Gpu, buffers, params);
        let (cpu_v, cpu_b) = kick_drift_on(&rt, Target::Cpu, buffers, params);
        for k in 0..3 * n {
            // As saxpy, twice: a fused multiply-add skips one rounding of
            // the product, so each result may differ by an ulp of the
            // product plus one of the sum; the position also inherits the
            // velocity's difference times drift (0.01, far below an ulp).
            let v_tol = EPS * ((accel[k] * params.kick).abs() + cpu_v[k].abs());
            assert!((gpu_v[k] - cpu_v[k]).abs() <= v_tol, "n={n} vel[{k}]");
            let x_tol =
                EPS * ((cpu_v[k] * params.drift).abs() + cpu_b[k].abs()) + v_tol * params.drift;
            assert!((gpu_b[k] - cpu_b[k]).abs() <= x_tol, "n={n} bodies[{k}]");
        }
        assert_eq!(gpu_b[3 * n..], bodies[3 * n..], "masses, gpu");
        assert_eq!(cpu_b[3 * n..], bodies[3 * n..], "masses, cpu");
    }
}

#[test]
fn nbody_twins_name_the_buffer_that_is_too_short() {
    let rt = common::cpu_runtime();
    let bodies = rt.buffer_from_slice(&random_bodies(10)).unwrap();
    let mut short = rt.buffer_zeroed::<f32>(29).unwrap();
    let error = rt
        .launch(&kernels::nbody_accel())
        .uniform(&NbodyParams {
            n: 10,
            softening2: 1e-2,
            _pad0: 0,
            _pad1: 0,
        })
        .read(&bodies)
        .overwrite(&mut short)
        .invocations(10)
        .on(Target::Cpu)
        .run()
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("nbody_accel") && message.contains("`accel` holds 29 floats"),
        "{message}"
    );
    let mut accel = rt.buffer_zeroed::<f32>(30).unwrap();
    let error = rt
        .launch(&kernels::nbody_accel_from())
        .uniform(&NbodyFromParams {
            targets: 10,
            sources: 11,
            softening2: 1e-2,
            accumulate: 1,
        })
        .read(&bodies)
        .read(&bodies)
        .write(&mut accel)
        .invocations(10)
        .on(Target::Cpu)
        .run()
        .unwrap_err();
    let message = error.to_string();
    assert!(
        message.contains("nbody_accel_from") && message.contains("`sources` holds 40 floats"),
        "{message}"
    );
    assert_eq!(accel.to_vec().unwrap(), vec![0.0; 30], "accel untouched");
}

#[test]
fn jacobi_gpu_matches_cpu_over_many_steps() {
    let Some(rt) = gpu_runtime() else { return };
    for (w, h) in [(1u32, 1u32), (2, 3), (17, 33), (300, 201)] {
        let grid = random_f32((w * h) as usize, u64::from(w * 1000 + h));
        let steps = 20;
        let gpu = jacobi_steps(&rt, &grid, (w, h), 0.24, &[Target::Gpu; 20]).0;
        let cpu = jacobi_steps(&rt, &grid, (w, h), 0.24, &[Target::Cpu; 20]).0;
        // Per step, a driver that contracts into FMAs skips up to two
        // roundings of intermediates bounded by 2 max|u| (alpha ≤ 1/4), and the
        // step is a contraction, so differences add up over steps at most:
        // steps × 4 u max|u|.
        let max = grid.iter().fold(0.0f32, |m, v| m.max(v.abs()));
        let tol = steps as f32 * 4.0 * EPS * max;
        for i in 0..grid.len() {
            assert!(
                (gpu[i] - cpu[i]).abs() <= tol,
                "{w}x{h} cell {i}: gpu {} cpu {}",
                gpu[i],
                cpu[i]
            );
        }
    }
}

#[test]
fn user_kernel_with_tiny_workgroups_folds_past_65535_groups() {
    let Some(rt) = gpu_runtime() else { return };
    let kernel = Kernel::wgsl(
        "index_fill",
        r#"
        @group(0) @binding(0) var<storage, read_write> out: array<u32>;
        @compute @workgroup_size(1)
        fn main(@builtin(global_invocation_id) g: vec3<u32>, @builtin(num_workgroups) n: vec3<u32>) {
            let i = g.x + g.y * n.x;
            if i < arrayLength(&out) { out[i] = i * 3u + 1u; }
        }"#,
        "main",
    )
    .unwrap();
    let n = 70_001u32;
    let mut out = rt.buffer_zeroed::<u32>(n as usize).unwrap();
    let report = rt
        .launch(&kernel)
        .overwrite(&mut out)
        .invocations(n)
        .on(Target::Gpu)
        .run()
        .unwrap();
    assert_eq!(report.workgroups, Some([65_535, 2, 1]));
    let values = out.to_vec().unwrap();
    assert!(values
        .iter()
        .enumerate()
        .all(|(i, &v)| v == i as u32 * 3 + 1));
}
