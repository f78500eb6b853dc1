//! What a launch costs beyond the work: a tiny kernel (saxpy on 2^10
//! elements) launched
//! - `raw_wgpu`: by hand, pipeline and bind group built once, then encode,
//!   submit, wait (`support/raw_wgpu.rs`);
//! - `switchyard_gpu` / `switchyard_cpu`: through switchyard on each target;
//! - `plain_call`: as a plain function call on the calling thread;
//!
//! then 100 launches in one submission against 100 separate submissions
//! (`sequence_100`), and a pipeline found in switchyard's cache against one
//! built from scratch (`pipeline`). GPU rows are skipped without an adapter.
//! See `benches/README.md`.

#[path = "support/raw_wgpu.rs"]
mod raw_wgpu;
#[path = "support/timing.rs"]
mod timing;
#[path = "support/workloads.rs"]
mod workloads;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use raw_wgpu::RawGpu;
use switchyard::kernels::{self, SaxpyParams};
use switchyard::{Kernel, Runtime, RuntimeConfig, Target};
use workloads::{Problem, RawCase, SwitchyardCase, SAXPY_A, SCALE_WGSL};

const N: u32 = 1 << 10;
const SEQUENCE: usize = 100;

fn runtime() -> Runtime {
    Runtime::with_config(RuntimeConfig::default().cache_dir(None)).expect("runtime")
}

fn raw_gpu(rt: &Runtime) -> Option<RawGpu> {
    rt.gpu_info().and_then(|info| RawGpu::open(&info.name))
}

fn launch(c: &mut Criterion) {
    let rt = runtime();
    let raw = raw_gpu(&rt);
    let problem = Problem::new("saxpy", N.ilog2());
    let mut group = c.benchmark_group("launch_overhead");
    if let Some(raw) = &raw {
        let case = RawCase::new(raw, &problem);
        group.bench_function("raw_wgpu", |b| b.iter(|| case.run(raw)));
    }
    for (name, target) in [
        ("switchyard_gpu", Target::Gpu),
        ("switchyard_cpu", Target::Cpu),
    ] {
        if target == Target::Gpu && !rt.gpu_available() {
            continue;
        }
        let mut case = SwitchyardCase::new(&rt, &problem).expect("buffers");
        group.bench_function(name, |b| b.iter(|| case.run(&rt, target).expect("launch")));
    }
    let x = problem.input.clone();
    let mut y = vec![0.0f32; N as usize];
    group.bench_function("plain_call", |b| {
        b.iter(|| {
            for (y, &x) in y.iter_mut().zip(&x) {
                *y += SAXPY_A * x;
            }
            std::hint::black_box(&mut y);
        })
    });
    group.finish();
}

fn sequence(c: &mut Criterion) {
    let rt = runtime();
    let Some(raw) = raw_gpu(&rt) else { return };
    let problem = Problem::new("saxpy", N.ilog2());
    let mut group = c.benchmark_group("sequence_100");
    let x = rt.buffer_from_slice(&problem.input).expect("buffer");
    let mut y = rt.buffer_zeroed::<f32>(N as usize).expect("buffer");
    let kernel = kernels::saxpy();
    group.bench_function(BenchmarkId::new("switchyard", "one_submission"), |b| {
        b.iter(|| {
            let mut seq = rt.sequence().on(Target::Gpu);
            for _ in 0..SEQUENCE {
                seq.launch(&kernel)
                    .uniform(&SaxpyParams { a: SAXPY_A, n: N })
                    .read(&x)
                    .write(&mut y)
                    .invocations(N)
                    .run()
                    .expect("launch");
            }
            seq.finish().expect("sequence")
        })
    });
    group.bench_function(
        BenchmarkId::new("switchyard", "separate_submissions"),
        |b| {
            b.iter(|| {
                for _ in 0..SEQUENCE {
                    rt.launch(&kernel)
                        .uniform(&SaxpyParams { a: SAXPY_A, n: N })
                        .read(&x)
                        .write(&mut y)
                        .invocations(N)
                        .on(Target::Gpu)
                        .run()
                        .expect("launch");
                }
            })
        },
    );
    let case = RawCase::new(&raw, &problem);
    group.bench_function(BenchmarkId::new("raw_wgpu", "one_submission"), |b| {
        b.iter(|| case.run_batch(&raw, SEQUENCE))
    });
    group.bench_function(BenchmarkId::new("raw_wgpu", "separate_submissions"), |b| {
        b.iter(|| {
            for _ in 0..SEQUENCE {
                case.run(&raw);
            }
        })
    });
    group.finish();
}

fn pipeline(c: &mut Criterion) {
    let rt = runtime();
    if !rt.gpu_available() {
        return;
    }
    let base = Kernel::wgsl("scale", SCALE_WGSL, "main").expect("valid WGSL");
    rt.prepare_gpu(&base).expect("pipeline");
    let mut group = c.benchmark_group("pipeline");
    group.bench_function("cache_hit", |b| {
        b.iter(|| rt.prepare_gpu(&base).expect("pipeline"))
    });
    // A value from the clock first, so no earlier run (and no driver cache
    // on disk) has built it.
    let mut next_value = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |t| f64::from(t.subsec_nanos()) * 1e-9)
        + 3.0;
    group.sample_size(20);
    group.bench_function("cold_build", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                next_value += 1.0;
                let kernel = base.clone().constant("factor", next_value);
                let started = Instant::now();
                rt.prepare_gpu(&kernel).expect("pipeline");
                total += started.elapsed();
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, launch, sequence, pipeline);
criterion_main!(benches);
