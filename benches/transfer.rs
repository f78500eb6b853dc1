//! Host↔device copies from 4 KiB to 256 MiB (throughput in bytes; latency
//! is the time at 4 KiB):
//! - `upload/switchyard`: `Buffer::prefetch_to_gpu` of a buffer whose host
//!   copy was just modified; `upload/raw_wgpu`: `queue.write_buffer`,
//!   submit, wait;
//! - `readback/switchyard`: `Buffer::read_into` of a buffer a GPU launch
//!   just wrote, every element of it, as a simulation's output loop does;
//!   `readback/raw_wgpu`: copy to a staging buffer, `map_async`, wait, copy
//!   out into the same vector.
//!
//! Nothing is measured without an adapter. See `benches/README.md`.

#[path = "support/raw_wgpu.rs"]
mod raw_wgpu;

use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use raw_wgpu::RawGpu;
use switchyard::{Kernel, Runtime, RuntimeConfig, Target};

const SIZES: [u64; 5] = [4 << 10, 64 << 10, 1 << 20, 16 << 20, 256 << 20];

/// Adds 1 to every element, as a simulation step writes its whole field.
const TOUCH: &str = r#"
@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) id: vec3<u32>, @builtin(num_workgroups) groups: vec3<u32>) {
    let i = id.x + id.y * groups.x * 256u;
    if (i < arrayLength(&v)) { v[i] = v[i] + 1.0; }
}"#;

fn transfer(c: &mut Criterion) {
    let rt = Runtime::with_config(RuntimeConfig::default().cache_dir(None)).expect("runtime");
    let Some(raw) = rt.gpu_info().and_then(|info| RawGpu::open(&info.name)) else {
        eprintln!("transfer: no GPU adapter, nothing to measure");
        return;
    };
    let touch = Kernel::wgsl("touch", TOUCH, "main").expect("valid WGSL");
    let mut group = c.benchmark_group("transfer");
    group.sample_size(10);
    group.warm_up_time(Duration::from_millis(300));
    for bytes in SIZES {
        let floats = (bytes / 4) as usize;
        let data: Vec<f32> = (0..floats).map(|i| i as f32).collect();
        group.throughput(Throughput::Bytes(bytes));

        let mut ours = rt.buffer_from_slice(&data).expect("buffer");
        group.bench_function(BenchmarkId::new("upload/switchyard", bytes), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    ours.host_mut().expect("host copy")[0] += 1.0;
                    let started = Instant::now();
                    ours.prefetch_to_gpu().expect("upload");
                    total += started.elapsed();
                }
                total
            })
        });
        let theirs = raw.storage(&data);
        group.bench_function(BenchmarkId::new("upload/raw_wgpu", bytes), |b| {
            b.iter(|| raw.upload(&theirs, bytemuck::cast_slice(&data)))
        });

        let mut out = vec![0.0f32; floats];
        let touch_on_gpu = |buffer: &mut switchyard::Buffer<f32>| {
            let n = buffer.len() as u32;
            rt.launch(&touch)
                .write(buffer)
                .invocations(n)
                .on(Target::Gpu)
                .run()
                .map(|_| ())
        };
        match touch_on_gpu(&mut ours) {
            // Binding the whole buffer can exceed the adapter's limit.
            Err(e) => eprintln!("transfer: readback/switchyard/{bytes} skipped: {e}"),
            Ok(()) => {
                group.bench_function(BenchmarkId::new("readback/switchyard", bytes), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            touch_on_gpu(&mut ours).expect("launch");
                            rt.synchronize().expect("synchronize");
                            let started = Instant::now();
                            ours.read_into(&mut out).expect("readback");
                            total += started.elapsed();
                        }
                        total
                    })
                });
            }
        }
        let staging = raw.staging(bytes);
        group.bench_function(BenchmarkId::new("readback/raw_wgpu", bytes), |b| {
            b.iter(|| raw.readback(&theirs, &staging, bytemuck::cast_slice_mut(&mut out)))
        });
    }
    group.finish();
}

criterion_group!(benches, transfer);
criterion_main!(benches);
