//! The built-in kernels over geometric sizes, every way a user could run
//! them: `raw_wgpu` (by hand, `support/raw_wgpu.rs`), switchyard on `gpu`,
//! `cpu` and `auto`, the `rayon` code a competent user would write
//! (`support/workloads.rs`), and for nbody_accel the `textbook_scalar` loop.
//! Ids are `kernel/way/work`; throughput is work items (elements, grid
//! cells, body pairs). `auto` is measured after the dispatcher has seen the
//! size on both targets. GPU rows are skipped without an adapter.
//!
//! `SWITCHYARD_BENCH_MAX_LOG2` (default 22) caps the sizes; see
//! `benches/README.md`.

#[path = "support/raw_wgpu.rs"]
mod raw_wgpu;
#[path = "support/timing.rs"]
mod timing;
#[path = "support/workloads.rs"]
mod workloads;

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use raw_wgpu::RawGpu;
use switchyard::{Runtime, RuntimeConfig, Target};
use workloads::{textbook_nbody, to_aos, Problem, RawCase, RayonCase, SwitchyardCase, KERNELS};

fn max_log2() -> u32 {
    std::env::var("SWITCHYARD_BENCH_MAX_LOG2")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(22)
}

fn kernels(c: &mut Criterion) {
    let rt = Runtime::with_config(RuntimeConfig::default().cache_dir(None)).expect("runtime");
    let raw = rt.gpu_info().and_then(|info| RawGpu::open(&info.name));
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rt.cpu_threads())
        .build()
        .expect("pool");
    let mut targets = vec![("cpu", Target::Cpu), ("auto", Target::Auto)];
    if rt.gpu_available() {
        targets.insert(0, ("gpu", Target::Gpu));
    }
    for kernel in KERNELS {
        let mut group = c.benchmark_group(kernel);
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(2));
        for log2 in (10..=max_log2()).step_by(4) {
            let problem = Problem::new(kernel, log2);
            let work = problem.work;
            group.throughput(Throughput::Elements(work));
            if let (Some(raw), true) = (&raw, rt.gpu_available()) {
                let case = RawCase::new(raw, &problem);
                group.bench_function(BenchmarkId::new("raw_wgpu", work), |b| {
                    b.iter(|| case.run(raw))
                });
            }
            for &(name, target) in &targets {
                let mut case = SwitchyardCase::new(&rt, &problem).expect("buffers");
                if target == Target::Auto {
                    // Let the dispatcher measure both targets at this size.
                    for warm_up_target in [Target::Cpu, Target::Gpu, Target::Cpu, Target::Gpu] {
                        if warm_up_target == Target::Cpu || rt.gpu_available() {
                            let mut warm_up = SwitchyardCase::new(&rt, &problem).expect("buffers");
                            warm_up.run(&rt, warm_up_target).expect("launch");
                        }
                    }
                }
                group.bench_function(BenchmarkId::new(name, work), |b| {
                    b.iter(|| case.run(&rt, target).expect("launch"))
                });
            }
            let mut case = RayonCase::new(&problem);
            group.bench_function(BenchmarkId::new("rayon", work), |b| {
                b.iter(|| case.run(&pool))
            });
            if kernel == "nbody_accel" && log2 <= 20 {
                let aos = to_aos(&problem.input);
                let mut accel = vec![[0.0f32; 3]; aos.len()];
                group.bench_function(BenchmarkId::new("textbook_scalar", work), |b| {
                    b.iter(|| textbook_nbody(&aos, &mut accel))
                });
            }
        }
        group.finish();
    }
}

criterion_group!(benches, kernels);
criterion_main!(benches);
