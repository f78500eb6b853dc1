//! The N-body force twin against the CPU code a user would write instead,
//! side by side at the same sizes: interactions per second (criterion's
//! "elements") for
//! - `switchyard`: `nbody_accel` launched on `Target::Cpu` (launch overhead
//!   included);
//! - `rayon_autovec`: a straightforward rayon loop that the compiler
//!   vectorizes for the default target: structure of arrays, blocks of
//!   bodies in parallel, and for each other body an element-wise update of
//!   the block's accelerations;
//! - `textbook_scalar`: the double loop over `[x, y, z, m]` bodies on one
//!   thread.
//!
//! The goals: the twin at least 1.5× `rayon_autovec` and 10×
//! `textbook_scalar`.

#[path = "support/raw_wgpu.rs"]
mod raw_wgpu;
#[path = "support/timing.rs"]
mod timing;
#[path = "support/workloads.rs"]
mod workloads;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use switchyard::kernels;
use switchyard::{Runtime, RuntimeConfig, Target};
use workloads::{nbody_bodies, nbody_params, rayon_nbody, textbook_nbody, to_aos};

fn nbody_cpu(c: &mut Criterion) {
    let rt = Runtime::with_config(RuntimeConfig::default().cache_dir(None)).expect("runtime");
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(rt.cpu_threads())
        .build()
        .expect("pool");
    let kernel = kernels::nbody_accel();
    let mut group = c.benchmark_group("nbody_cpu");
    group.sample_size(10);
    for n in [1024usize, 4096] {
        let soa = nbody_bodies(n);
        group.throughput(Throughput::Elements((n * n) as u64));

        let input = rt.buffer_from_slice(&soa).expect("buffer");
        let mut output = rt.buffer_zeroed::<f32>(3 * n).expect("buffer");
        group.bench_function(BenchmarkId::new("switchyard", n), |b| {
            b.iter(|| {
                rt.launch(&kernel)
                    .uniform(&nbody_params(n as u32))
                    .read(&input)
                    .overwrite(&mut output)
                    .invocations(n as u32)
                    .on(Target::Cpu)
                    .run()
                    .expect("launch")
            })
        });

        let mut accel = vec![0.0f32; 3 * n];
        group.bench_function(BenchmarkId::new("rayon_autovec", n), |b| {
            b.iter(|| rayon_nbody(&pool, &soa, &mut accel))
        });

        let aos = to_aos(&soa);
        let mut accel = vec![[0.0f32; 3]; n];
        group.bench_function(BenchmarkId::new("textbook_scalar", n), |b| {
            b.iter(|| textbook_nbody(&aos, &mut accel))
        });
    }
    group.finish();
}

criterion_group!(benches, nbody_cpu);
criterion_main!(benches);
