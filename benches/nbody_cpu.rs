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

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use rayon::prelude::*;
use switchyard::kernels::{self, NbodyParams};
use switchyard::{Runtime, RuntimeConfig, Target};

const SOFTENING2: f32 = 1e-4;

/// `[x.., y.., z.., m..]`, deterministic.
fn bodies(n: usize) -> Vec<f32> {
    (0..4 * n)
        .map(|k| {
            let wave = ((k * 7919) % 1000) as f32 * 1e-3;
            if k >= 3 * n {
                1.0 / n as f32
            } else {
                wave
            }
        })
        .collect()
}

/// Blocks of 64 bodies in parallel; per other body j, one element-wise pass
/// over the block, which LLVM turns into SIMD without help.
fn rayon_autovec(soa: &[f32], accel: &mut [f32], pool: &rayon::ThreadPool) {
    let n = soa.len() / 4;
    let (xs, ys, zs, ms) = (&soa[..n], &soa[n..2 * n], &soa[2 * n..3 * n], &soa[3 * n..]);
    let (ax, rest) = accel.split_at_mut(n);
    let (ay, az) = rest.split_at_mut(n);
    pool.install(|| {
        ax.par_chunks_mut(64)
            .zip(ay.par_chunks_mut(64))
            .zip(az.par_chunks_mut(64))
            .enumerate()
            .for_each(|(block, ((ax, ay), az))| {
                let first = block * 64;
                let len = ax.len();
                let (px, py, pz) = (
                    &xs[first..first + len],
                    &ys[first..first + len],
                    &zs[first..first + len],
                );
                ax.fill(0.0);
                ay.fill(0.0);
                az.fill(0.0);
                for j in 0..n {
                    let (qx, qy, qz, m) = (xs[j], ys[j], zs[j], ms[j]);
                    for i in 0..len {
                        let dx = qx - px[i];
                        let dy = qy - py[i];
                        let dz = qz - pz[i];
                        let r2 = dx * dx + dy * dy + dz * dz + SOFTENING2;
                        let inv_r = 1.0 / r2.sqrt();
                        let s = m * inv_r * inv_r * inv_r;
                        ax[i] += dx * s;
                        ay[i] += dy * s;
                        az[i] += dz * s;
                    }
                }
            });
    });
}

fn textbook_scalar(aos: &[[f32; 4]], accel: &mut [[f32; 3]]) {
    for (i, a) in accel.iter_mut().enumerate() {
        let mut sum = [0.0f32; 3];
        for body in aos {
            let d = [
                body[0] - aos[i][0],
                body[1] - aos[i][1],
                body[2] - aos[i][2],
            ];
            let r2 = d[0] * d[0] + d[1] * d[1] + d[2] * d[2] + SOFTENING2;
            let r3 = r2 * r2.sqrt();
            for c in 0..3 {
                sum[c] += body[3] * d[c] / r3;
            }
        }
        *a = sum;
    }
}

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
        let soa = bodies(n);
        group.throughput(Throughput::Elements((n * n) as u64));

        let input = rt.buffer_from_slice(&soa).expect("buffer");
        let mut output = rt.buffer_zeroed::<f32>(3 * n).expect("buffer");
        group.bench_function(BenchmarkId::new("switchyard", n), |b| {
            b.iter(|| {
                rt.launch(&kernel)
                    .uniform(&NbodyParams {
                        n: n as u32,
                        softening2: SOFTENING2,
                        _pad0: 0,
                        _pad1: 0,
                    })
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
            b.iter(|| rayon_autovec(&soa, &mut accel, &pool))
        });

        let aos: Vec<[f32; 4]> = (0..n)
            .map(|i| [soa[i], soa[n + i], soa[2 * n + i], soa[3 * n + i]])
            .collect();
        let mut accel = vec![[0.0f32; 3]; n];
        group.bench_function(BenchmarkId::new("textbook_scalar", n), |b| {
            b.iter(|| textbook_scalar(&aos, &mut accel))
        });
    }
    group.finish();
}

criterion_group!(benches, nbody_cpu);
criterion_main!(benches);
