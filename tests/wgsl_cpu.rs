//! The WGSL executor: every built-in kernel's own shader, run on the CPU
//! pool with no twin, against its Rust twin on the same inputs; WGSL-only
//! kernels on a runtime without a GPU; refusals named with their line.
//! Each tolerance is derived in a comment beside it.

mod common;

use common::{cpu_runtime, gpu_runtime, random_f32};
use switchyard::kernels::{
    self, Jacobi2dParams, KickDriftParams, NbodyFromParams, NbodyParams, ReduceParams, SaxpyParams,
};
use switchyard::{CpuImplementation, Error, Kernel, Runtime, Target};

const EPS: f32 = f32::EPSILON;

/// Runs `launch` once with the twin and once with the WGSL executor on a
/// CPU-only runtime; returns (twin, executor) results.
fn both_ways<R>(kernel: Kernel, launch: impl Fn(&Runtime, &Kernel) -> R) -> (R, R) {
    let rt = cpu_runtime();
    let twin = launch(&rt, &kernel);
    let wgsl = launch(&rt, &kernel.prefer_wgsl_on_cpu());
    (twin, wgsl)
}

#[test]
fn saxpy_on_the_executor_is_bit_identical_to_its_twin() {
    let rt = cpu_runtime();
    // 1 and 255: one partial workgroup; 1000: a partial batch; 100 000 and
    // 300 001: many batches spread over the pool.
    for n in [1usize, 255, 1000, 100_000, 300_001] {
        let x = rt.buffer_from_slice(&random_f32(n, 11)).unwrap();
        let mut y = rt.buffer_from_slice(&random_f32(n, 12)).unwrap();
        let check = rt
            .launch(&kernels::saxpy())
            .uniform(&SaxpyParams {
                a: -1.25,
                n: n as u32,
            })
            .read(&x)
            .write(&mut y)
            .invocations(n as u32)
            .check_twin()
            .unwrap();
        // Both compute `a * x` then `+ y`, each rounded once (no fusing).
        assert_eq!(check.max_ulps(), 0, "n={n}: {check}");
        assert_eq!(check.outputs.len(), 1);
        assert_eq!(check.outputs[0].name, "y");
    }
}

#[test]
fn a_twin_check_leaves_the_twins_results_and_reports_differences() {
    let rt = cpu_runtime();
    // A twin that is off by one in its last element.
    let kernel = kernels::saxpy().cpu(|args| {
        let a = args.uniform::<SaxpyParams>(0)?.a;
        let x = args.input::<f32>(0)?;
        let y = args.output::<f32>(1)?;
        for (yi, xi) in y.iter_mut().zip(x) {
            *yi += a * xi;
        }
        if let Some(last) = y.last_mut() {
            *last = f32::from_bits(last.to_bits() + 4);
        }
        Ok(())
    });
    let x = rt.buffer_from_slice(&[1.0f32; 300]).unwrap();
    let mut y = rt.buffer_from_slice(&[0.5f32; 300]).unwrap();
    let check = rt
        .launch(&kernel)
        .uniform(&SaxpyParams { a: 2.0, n: 300 })
        .read(&x)
        .write(&mut y)
        .invocations(300)
        .check_twin()
        .unwrap();
    let out = &check.outputs[0];
    assert_eq!(
        (out.max_ulps, out.worst_word, out.differing_words),
        (4, Some(299), 1),
        "{check}"
    );
    let after = y.to_vec().unwrap();
    assert_eq!(after[0], 2.5, "each run started from the same input");
    assert_eq!(
        after[299],
        f32::from_bits(2.5f32.to_bits() + 4),
        "the twin's results are kept"
    );
}

#[test]
fn reduce_pass_on_the_executor_is_bit_identical_to_its_twin() {
    let rt = cpu_runtime();
    for n in [1usize, 1023, 1025, 300_001] {
        let groups = n.div_ceil(kernels::REDUCE_ITEMS_PER_GROUP);
        let input = rt.buffer_from_slice(&random_f32(n, n as u64)).unwrap();
        let mut partial = rt.buffer_zeroed::<f32>(groups).unwrap();
        let check = rt
            .launch(&kernels::reduce_sum())
            .uniform(&ReduceParams { n: n as u32 })
            .read(&input)
            .overwrite(&mut partial)
            .invocations((groups * 256) as u32)
            .check_twin()
            .unwrap();
        // The twin follows the shader's order (4 strided adds, then the
        // pairwise tree), and the executor runs exactly the shader's adds.
        assert_eq!(check.max_ulps(), 0, "n={n}: {check}");
    }
}

#[test]
fn jacobi_on_the_executor_is_bit_identical_to_its_twin() {
    let rt = cpu_runtime();
    for (w, h) in [(1u32, 1u32), (3, 5), (17, 33), (130, 70)] {
        let src = rt
            .buffer_from_slice(&random_f32((w * h) as usize, u64::from(w * h)))
            .unwrap();
        let mut dst = rt.buffer_zeroed::<f32>((w * h) as usize).unwrap();
        let check = rt
            .launch(&kernels::jacobi2d())
            .uniform(&Jacobi2dParams {
                width: w,
                height: h,
                alpha: 0.2,
                _pad: 0,
            })
            .read(&src)
            .overwrite(&mut dst)
            .grid([w, h, 1])
            .check_twin()
            .unwrap();
        // Same operations in the same order: `c + α((l + r) + (u + d) − 4c)`.
        assert_eq!(check.max_ulps(), 0, "{w}x{h}: {check}");
    }
}

/// Bodies in a unit cube with masses in (0, 1].
fn bodies(n: usize, seed: u64) -> Vec<f32> {
    let mut b = random_f32(4 * n, seed);
    for m in &mut b[3 * n..] {
        *m = 0.5 * (*m + 1.0) + 1e-3;
    }
    b
}

/// Checks accelerations against the twin's. Both sum the same `n` terms but
/// in different orders (the twin in SIMD blocks, the shader one tile at a
/// time) and with differently rounded `1/sqrt`: each term differs by a few
/// ulps of itself, and reordering a sum of `n` terms moves it by at most
/// `(n - 1) ε Σ|term|`. `Σ|term|` is bounded by the sum of the absolute
/// components, computed here in f64.
fn assert_accelerations_close(
    twin: &[f32],
    wgsl: &[f32],
    targets: &[f32],
    sources: &[f32],
    eps2: f32,
) {
    let nt = twin.len() / 3;
    let ns = sources.len() / 4;
    for i in 0..nt {
        for axis in 0..3 {
            let mut magnitude = 0.0f64;
            for j in 0..ns {
                let d = [0, 1, 2].map(|a| f64::from(sources[a * ns + j] - targets[a * nt + i]));
                let r2 = d.iter().map(|v| v * v).sum::<f64>() + f64::from(eps2);
                magnitude += f64::from(sources[3 * ns + j]) * d[axis].abs() / (r2 * r2.sqrt());
            }
            let tol = (ns as f64 + 8.0) * f64::from(EPS) * magnitude;
            let k = axis * nt + i;
            assert!(
                f64::from((twin[k] - wgsl[k]).abs()) <= tol,
                "body {i} axis {axis}: twin {} wgsl {} tol {tol:e}",
                twin[k],
                wgsl[k]
            );
        }
    }
}

#[test]
fn nbody_accelerations_on_the_executor_match_the_twin() {
    for n in [1usize, 100, 300] {
        let b = bodies(n, 5 + n as u64);
        let eps2 = 1e-2;
        let (twin, wgsl) = both_ways(kernels::nbody_accel(), |rt, kernel| {
            let bodies = rt.buffer_from_slice(&b).unwrap();
            let mut accel = rt.buffer_zeroed::<f32>(3 * n).unwrap();
            rt.launch(kernel)
                .uniform(&NbodyParams {
                    n: n as u32,
                    softening2: eps2,
                    _pad0: 0,
                    _pad1: 0,
                })
                .read(&bodies)
                .overwrite(&mut accel)
                .invocations(n as u32)
                .on(Target::Cpu)
                .run()
                .unwrap();
            accel.to_vec().unwrap()
        });
        assert_accelerations_close(&twin, &wgsl, &b, &b, eps2);
    }
}

#[test]
fn nbody_accelerations_from_sources_on_the_executor_match_the_twin() {
    let (nt, ns) = (130usize, 257usize);
    let targets = bodies(nt, 1);
    let sources = bodies(ns, 2);
    let previous = random_f32(3 * nt, 3);
    let eps2 = 1e-3;
    for accumulate in [0u32, 1] {
        let (twin, wgsl) = both_ways(kernels::nbody_accel_from(), |rt, kernel| {
            let t = rt.buffer_from_slice(&targets).unwrap();
            let s = rt.buffer_from_slice(&sources).unwrap();
            let mut accel = rt.buffer_from_slice(&previous).unwrap();
            rt.launch(kernel)
                .uniform(&NbodyFromParams {
                    targets: nt as u32,
                    sources: ns as u32,
                    softening2: eps2,
                    accumulate,
                })
                .read(&t)
                .read(&s)
                .write(&mut accel)
                .invocations(nt as u32)
                .on(Target::Cpu)
                .run()
                .unwrap();
            accel.to_vec().unwrap()
        });
        if accumulate == 0 {
            assert_accelerations_close(&twin, &wgsl, &targets, &sources, eps2);
        } else {
            // The previous value is added once, after the sum, in both: the
            // difference is the sum's, plus one rounding of the result.
            let fresh_twin: Vec<f32> = twin.iter().zip(&previous).map(|(a, p)| a - p).collect();
            let fresh_wgsl: Vec<f32> = wgsl.iter().zip(&previous).map(|(a, p)| a - p).collect();
            for (k, (a, b)) in twin.iter().zip(&wgsl).enumerate() {
                let slack = 2.0 * EPS * (a.abs() + previous[k].abs() + 1.0);
                assert!(
                    (a - b).abs() <= (fresh_twin[k] - fresh_wgsl[k]).abs() + slack + 1e-3 * a.abs(),
                    "{k}: twin {a} wgsl {b}"
                );
            }
        }
    }
}

#[test]
fn kick_drift_on_the_executor_is_bit_identical_to_its_twin() {
    let rt = cpu_runtime();
    let n = 1000usize;
    let accel = rt.buffer_from_slice(&random_f32(3 * n, 7)).unwrap();
    let mut vel = rt.buffer_from_slice(&random_f32(3 * n, 8)).unwrap();
    let mut pos = rt.buffer_from_slice(&bodies(n, 9)).unwrap();
    let check = rt
        .launch(&kernels::nbody_kick_drift())
        .uniform(&KickDriftParams {
            n: n as u32,
            kick: 0.005,
            drift: 0.01,
            _pad: 0,
        })
        .read(&accel)
        .write(&mut vel)
        .write(&mut pos)
        .invocations(n as u32)
        .check_twin()
        .unwrap();
    // `v + a·kick` and `x + v·drift`, each a product then a sum, in both.
    assert_eq!(check.max_ulps(), 0, "{check}");
    assert_eq!(check.outputs.len(), 2);
}

const COLLATZ: &str = r#"
@group(0) @binding(0) var<storage, read_write> values: array<u32>;

// Steps for n to reach 1 under the Collatz map, or 0xffffffff on overflow.
fn collatz_steps(start: u32) -> u32 {
    var n = start;
    var steps = 0u;
    loop {
        if n <= 1u { break; }
        if n % 2u == 0u {
            n = n / 2u;
        } else {
            if n >= 1431655765u { return 4294967295u; }
            n = 3u * n + 1u;
        }
        steps += 1u;
    }
    return steps;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&values) {
        values[id.x] = collatz_steps(values[id.x]);
    }
}
"#;

fn collatz_reference(start: u32) -> u32 {
    let (mut n, mut steps) = (start, 0u32);
    while n > 1 {
        if n.is_multiple_of(2) {
            n /= 2;
        } else {
            if n >= 1_431_655_765 {
                return u32::MAX;
            }
            n = 3 * n + 1;
        }
        steps += 1;
    }
    steps
}

#[test]
fn a_wgsl_only_kernel_runs_without_a_gpu_on_auto_and_cpu() {
    let kernel = Kernel::wgsl("collatz", COLLATZ, "main").unwrap();
    assert!(kernel.has_cpu() && !kernel.has_twin());
    let rt = cpu_runtime();
    let starts: Vec<u32> = (0..5000)
        .chain([27, 97, 871, 1_431_655_765, u32::MAX])
        .collect();
    for target in [Target::Auto, Target::Cpu] {
        let mut values = rt.buffer_from_slice(&starts).unwrap();
        let report = rt
            .launch(&kernel)
            .write(&mut values)
            .invocations(starts.len() as u32)
            .on(target)
            .run()
            .unwrap();
        assert_eq!(report.target, Target::Cpu);
        assert_eq!(report.cpu_implementation, Some(CpuImplementation::Wgsl));
        assert!(report.to_string().contains("cpu (wgsl)"), "{report}");
        let expected: Vec<u32> = starts.iter().map(|&s| collatz_reference(s)).collect();
        assert_eq!(values.to_vec().unwrap(), expected);
    }
}

#[test]
fn an_unsupported_construct_is_refused_with_its_line() {
    let source = "enable f16;\n\
                  @group(0) @binding(0) var<storage, read_write> sums: array<f32>;\n\
                  @compute @workgroup_size(64)\n\
                  fn main(@builtin(global_invocation_id) id: vec3<u32>) {\n\
                      sums[id.x] = f32(f16(f64(sums[id.x]) * 2.0lf));\n\
                  }\n";
    let kernel = Kernel::wgsl("doubled", source, "main").unwrap();
    assert!(!kernel.has_cpu());
    let rt = cpu_runtime();
    let mut sums = rt.buffer_from_slice(&[1.0f32; 4]).unwrap();
    let err = rt
        .launch(&kernel)
        .write(&mut sums)
        .invocations(4)
        .on(Target::Cpu)
        .run()
        .unwrap_err();
    let text = err.to_string();
    assert!(
        matches!(err, Error::TargetUnavailable { .. })
            && text.contains("a conversion from F64 to F16")
            && text.contains("line 5"),
        "{text}"
    );
    assert_eq!(
        sums.to_vec().unwrap(),
        [1.0; 4],
        "the caller's data is kept"
    );
}

/// Compound interest in `f64` and a 64-bit hash: a kernel a GPU without
/// `SHADER_F64` and `SHADER_INT64` cannot run, and the executor can.
const SIXTY_FOUR_BIT: &str = r#"
@group(0) @binding(0) var<storage, read> seeds: array<u32>;
@group(0) @binding(1) var<storage, read_write> balances: array<f64>;
@group(0) @binding(2) var<storage, read_write> hashes: array<u64>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    let i = id.x;
    if i >= arrayLength(&seeds) {
        return;
    }
    var balance = f64(seeds[i]) / 100.0lf;
    var hash = 0xcbf29ce484222325lu;
    for (var year = 0u; year < 30u; year++) {
        balance = balance * 1.0375lf + 12.5lf;
        hash = (hash ^ u64(seeds[i] + year)) * 0x100000001b3lu;
    }
    balances[i] = balance;
    hashes[i] = hash;
}
"#;

#[test]
fn a_sixty_four_bit_kernel_runs_on_the_cpu() {
    let kernel = Kernel::wgsl("sixty_four_bit", SIXTY_FOUR_BIT, "main").unwrap();
    assert!(kernel.has_cpu() && !kernel.has_twin());
    let seeds: Vec<u32> = (0..300u32)
        .map(|i| i.wrapping_mul(2_654_435_761) >> 8)
        .collect();
    let expected: Vec<(f64, u64)> = seeds
        .iter()
        .map(|&seed| {
            let mut balance = f64::from(seed) / 100.0;
            let mut hash = 0xcbf2_9ce4_8422_2325u64;
            for year in 0..30u32 {
                balance = balance * 1.0375 + 12.5;
                hash = (hash ^ u64::from(seed.wrapping_add(year))).wrapping_mul(0x100_0000_01b3);
            }
            (balance, hash)
        })
        .collect();
    let rt = cpu_runtime();
    let seeds = rt.buffer_from_slice(&seeds).unwrap();
    let mut balances = rt.buffer_from_slice(&[0.0f64; 300]).unwrap();
    let mut hashes = rt.buffer_from_slice(&[0u64; 300]).unwrap();
    let report = rt
        .launch(&kernel)
        .read(&seeds)
        .write(&mut balances)
        .write(&mut hashes)
        .invocations(300)
        .run()
        .unwrap();
    assert_eq!(report.cpu_implementation, Some(CpuImplementation::Wgsl));
    // Each step is one rounding of `balance * 1.0375` and one of `+ 12.5`
    // in both (the executor does not fuse them), so the results are equal.
    let balances = balances.to_vec().unwrap();
    let hashes = hashes.to_vec().unwrap();
    for (i, &(balance, hash)) in expected.iter().enumerate() {
        assert_eq!(balances[i].to_bits(), balance.to_bits(), "balance {i}");
        assert_eq!(hashes[i], hash, "hash {i}");
    }
}

/// Valid WGSL that naga 30's SPIR-V writer panics on ("Expression is not
/// cached"): a pointer argument that is an element of a function array.
const GPU_COMPILER_PANICS: &str = r#"
struct Particle { pos: vec3<f32>, id: u32, history: array<f32, 3> }
@group(0) @binding(0) var<storage, read_write> output: array<f32>;
fn nudge(p: ptr<function, Particle>, by: f32) {
    (*p).history[(*p).id % 3u] = by;
}
@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    var ps: array<Particle, 2>;
    ps[0].id = gid.x;
    nudge(&ps[gid.x % 2u], 0.25);
    output[gid.x] = ps[0].history[0] + ps[1].history[0] * 2.0;
}
"#;

#[test]
fn a_shader_the_gpu_compiler_panics_on_is_an_error_there_and_runs_on_the_cpu_under_auto() {
    let Some(rt) = gpu_runtime() else { return };
    let kernel = Kernel::wgsl("compiler_panic", GPU_COMPILER_PANICS, "main").unwrap();
    let mut output = rt.buffer_zeroed::<f32>(64).unwrap();
    let err = rt
        .launch(&kernel)
        .write(&mut output)
        .invocations(64)
        .on(Target::Gpu)
        .run()
        .unwrap_err();
    assert!(
        matches!(err, Error::UnsupportedKernel { .. }) && err.to_string().contains("compiler"),
        "{err}"
    );
    let report = rt
        .launch(&kernel)
        .write(&mut output)
        .invocations(64)
        .on(Target::Auto)
        .run()
        .unwrap();
    assert_eq!(report.target, Target::Cpu, "{report}");
    assert_eq!(report.cpu_implementation, Some(CpuImplementation::Wgsl));
    // Even lanes write history[gid % 3] of ps[0]; odd lanes history[0] of ps[1].
    let expected: Vec<f32> = (0..64u32)
        .map(|g| match (g % 2, g % 3) {
            (0, 0) => 0.25,
            (0, _) => 0.0,
            _ => 0.5,
        })
        .collect();
    assert_eq!(output.to_vec().unwrap(), expected);
    // The device is still healthy: another kernel runs on it.
    let x = rt.buffer_from_slice(&[1.0f32; 4]).unwrap();
    let mut y = rt.buffer_from_slice(&[1.0f32; 4]).unwrap();
    let report = common::saxpy(&rt, 2.0, &x, &mut y, Target::Gpu);
    assert_eq!(report.target, Target::Gpu);
    assert_eq!(y.to_vec().unwrap(), [3.0; 4]);
}

#[test]
fn a_launch_past_its_deadline_stops_and_keeps_every_buffer() {
    let kernel = Kernel::wgsl("never_ends", common::NEVER_ENDS, "main").unwrap();
    let rt = cpu_runtime();
    let values: Vec<u32> = (0..100_000)
        .map(|i| if i == 77_777 { 3 } else { 2 * i })
        .collect();
    let mut v = rt.buffer_from_slice(&values).unwrap();
    let started = std::time::Instant::now();
    let err = rt
        .launch(&kernel)
        .write(&mut v)
        .invocations(values.len() as u32)
        .on(Target::Cpu)
        .deadline(std::time::Duration::from_millis(50))
        .run()
        .unwrap_err();
    assert!(
        matches!(err, Error::CpuDeadlineExceeded { ref kernel, .. } if kernel == "never_ends"),
        "{err}"
    );
    assert!(started.elapsed() < std::time::Duration::from_secs(10));
    assert_eq!(
        v.to_vec().unwrap(),
        values,
        "the writes before the loop were not kept"
    );

    // The runtime's default deadline applies to launches that set none; a
    // launch that ends in time is unaffected by it.
    let rt = switchyard::Runtime::with_config(
        switchyard::RuntimeConfig::default()
            .backend(switchyard::BackendChoice::None)
            .cache_dir(None)
            .cpu_deadline(Some(std::time::Duration::from_millis(50))),
    )
    .unwrap();
    let mut v = rt.buffer_from_slice(&values).unwrap();
    let err = rt
        .launch(&kernel)
        .write(&mut v)
        .invocations(100_000)
        .run()
        .unwrap_err();
    assert!(matches!(err, Error::CpuDeadlineExceeded { .. }), "{err}");
    let even: Vec<u32> = (0..1000).map(|i| 2 * i).collect();
    let mut w = rt.buffer_from_slice(&even).unwrap();
    rt.launch(&kernel)
        .write(&mut w)
        .invocations(1000)
        .run()
        .unwrap();
    assert_eq!(w.to_vec().unwrap(), even);
}

#[test]
fn the_runtime_report_names_what_ran_on_the_cpu() {
    let rt = cpu_runtime();
    let kernel = Kernel::wgsl("collatz", COLLATZ, "main").unwrap();
    let mut values = rt.buffer_from_slice(&[27u32; 64]).unwrap();
    rt.launch(&kernel)
        .write(&mut values)
        .invocations(64)
        .run()
        .unwrap();
    let x = rt.buffer_from_slice(&[1.0f32; 64]).unwrap();
    let mut y = rt.buffer_from_slice(&[1.0f32; 64]).unwrap();
    common::saxpy(&rt, 2.0, &x, &mut y, Target::Cpu);
    let report = rt.report();
    let of = |name: &str| {
        report
            .kernels
            .iter()
            .find(|k| k.kernel == name)
            .and_then(|k| k.cpu_implementation)
    };
    assert_eq!(of("collatz"), Some(CpuImplementation::Wgsl));
    assert_eq!(of("saxpy"), Some(CpuImplementation::Twin));
    let table = report.to_string();
    assert!(
        table.contains("collatz (cpu: wgsl)") && table.contains("saxpy (cpu: twin)"),
        "{table}"
    );
}
