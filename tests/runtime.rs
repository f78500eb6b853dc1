//! Runtime-level behaviour: async readback, device loss, the pool's bounded
//! footprint, thread safety.

mod common;

use common::{cpu_runtime, gpu_runtime, saxpy};
use switchyard::kernels::{self, SaxpyParams};
use switchyard::{Buffer, Error, Kernel, Runtime, RuntimeConfig, Sequence, Target};

#[test]
fn public_types_are_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<Runtime>();
    assert_send_sync::<Buffer<f32>>();
    assert_send_sync::<Buffer<[f32; 4]>>();
    assert_send_sync::<Kernel>();
    assert_send_sync::<Error>();
}

fn saxpy_gpu(rt: &Runtime, x: &Buffer<f32>, y: &mut Buffer<f32>) {
    saxpy(rt, 1.0, x, y, Target::Gpu);
}

#[test]
fn read_async_downloads_once_and_matches_to_vec() {
    let Some(rt) = gpu_runtime() else { return };
    let x = rt.buffer_from_slice(&[1.0f32; 1000]).unwrap();
    let mut y = rt.buffer_from_slice(&[1.0f32; 1000]).unwrap();
    saxpy_gpu(&rt, &x, &mut y);
    let before = rt.transfer_stats();
    let values = futures::executor::block_on(y.read_async()).unwrap();
    assert_eq!(values, vec![2.0f32; 1000]);
    let again = futures::executor::block_on(y.read_async()).unwrap();
    assert_eq!(again, values);
    let moved = rt.transfer_stats() - before;
    assert_eq!((moved.downloads, moved.bytes_downloaded), (1, 4000));
    assert_eq!(y.to_vec().unwrap(), values);
}

#[test]
fn after_device_loss_auto_runs_on_the_cpu_and_gpu_is_a_typed_error() {
    let Some(rt) = gpu_runtime() else { return };
    let x = rt.buffer_from_slice(&[1.0f32; 64]).unwrap();
    let mut y = rt.buffer_from_slice(&[0.0f32; 64]).unwrap();
    saxpy_gpu(&rt, &x, &mut y);
    assert_eq!(
        y.to_vec().unwrap(),
        [1.0; 64],
        "host copy current before the fault"
    );

    rt.simulate_device_loss();
    assert!(!rt.gpu_available());
    assert!(rt.gpu_unavailable_reason().unwrap().contains("lost"));
    let params = SaxpyParams { a: 1.0, n: 64 };
    let err = rt
        .launch(&kernels::saxpy())
        .uniform(&params)
        .read(&x)
        .write(&mut y)
        .invocations(64)
        .on(Target::Gpu)
        .run()
        .unwrap_err();
    assert!(matches!(err, Error::TargetUnavailable { .. }), "{err}");
    let report = rt
        .launch(&kernels::saxpy())
        .uniform(&params)
        .read(&x)
        .write(&mut y)
        .invocations(64)
        .run()
        .unwrap();
    assert_eq!(report.target, Target::Cpu);
    assert!(report.reason.contains("lost"), "{}", report.reason);
    assert_eq!(
        y.to_vec().unwrap(),
        [2.0; 64],
        "no data lost, work continued on the CPU"
    );
    // New buffers and launches keep working; dropping them is harmless.
    let z = rt.buffer_from_slice(&[3.0f32; 8]).unwrap();
    assert_eq!(z.to_vec().unwrap(), [3.0; 8]);
    rt.synchronize().unwrap();
}

#[test]
fn pool_reuses_buffers_and_keeps_its_idle_footprint_bounded() {
    let Some(_) = gpu_runtime() else { return };
    let limit = 1 << 20;
    let config = RuntimeConfig::from_env()
        .unwrap()
        .cache_dir(None)
        .pool_idle_limit_bytes(limit);
    let rt = Runtime::with_config(config).unwrap();
    let x = rt.buffer_from_slice(&vec![1.0f32; 50_000]).unwrap();
    for round in 0..20 {
        let mut y = rt.buffer_from_slice(&vec![0.0f32; 50_000]).unwrap();
        saxpy_gpu(&rt, &x, &mut y);
        assert_eq!(y.to_vec().unwrap()[49_999], 1.0, "round {round}");
        let _big = rt.buffer_from_slice(&vec![0.0f32; 400_000]).unwrap();
    }
    let stats = rt.memory_report().gpu_pool;
    assert!(stats.idle_bytes <= limit, "{stats:?}");
    // (The uniform is not pooled: one buffer per distinct value serves
    // every round.)
    assert!(
        stats.hits >= 19 * 2,
        "storage and readback buffers come back: {stats:?}"
    );
    // x's device copy is the only storage buffer still live.
    drop(x);
    let stats = rt.memory_report().gpu_pool;
    assert_eq!(stats.live_bytes, 0, "{stats:?}");
}

#[test]
fn one_runtime_serves_many_threads() {
    for rt in [Some(cpu_runtime()), gpu_runtime()].into_iter().flatten() {
        std::thread::scope(|scope| {
            for t in 0..4 {
                let rt = &rt;
                scope.spawn(move || {
                    let x = rt.buffer_from_slice(&vec![t as f32; 300]).unwrap();
                    let mut y = rt.buffer_from_slice(&vec![1.0f32; 300]).unwrap();
                    for (i, target) in [Target::Cpu, Target::Auto]
                        .iter()
                        .cycle()
                        .take(20)
                        .enumerate()
                    {
                        let target = if rt.gpu_available() && i % 3 == 0 {
                            Target::Gpu
                        } else {
                            *target
                        };
                        rt.launch(&kernels::saxpy())
                            .uniform(&SaxpyParams { a: 1.0, n: 300 })
                            .read(&x)
                            .write(&mut y)
                            .invocations(300)
                            .on(target)
                            .run()
                            .unwrap();
                    }
                    assert_eq!(y.to_vec().unwrap(), vec![1.0 + 20.0 * t as f32; 300]);
                });
            }
        });
    }
}

#[test]
fn launches_below_serial_below_run_on_the_calling_thread_and_others_in_the_pool() {
    let rt = cpu_runtime();
    // The twin reports which thread ran it: its index in a rayon pool, and
    // whether that pool is the runtime's (sized 2 here) by its thread count.
    let kernel = Kernel::cpu_only("where", |args| {
        let out = args.output::<u32>(0)?;
        out[0] = rayon::current_thread_index().map_or(u32::MAX, |i| i as u32);
        Ok(())
    })
    .serial_below(64);
    let mut out = rt.buffer_zeroed::<u32>(1).unwrap();
    rt.launch(&kernel)
        .write(&mut out)
        .invocations(63)
        .run()
        .unwrap();
    assert_eq!(
        out.to_vec().unwrap(),
        [u32::MAX],
        "63 invocations: the caller's thread"
    );
    rt.launch(&kernel)
        .write(&mut out)
        .invocations(64)
        .run()
        .unwrap();
    let index = out.to_vec().unwrap()[0];
    assert!(
        (index as usize) < rt.cpu_threads(),
        "64 invocations: a worker of the runtime's pool, got {index}"
    );
}

#[test]
fn uniform_values_stay_distinct_when_buffers_are_shared_by_content() {
    let Some(rt) = gpu_runtime() else { return };
    let n = 1000u32;
    let x = rt.buffer_from_slice(&vec![1.0f32; n as usize]).unwrap();
    let mut y = rt.buffer_zeroed::<f32>(n as usize).unwrap();
    let kernel = kernels::saxpy();
    // Values repeat inside one submission: a reused uniform buffer must
    // still hold its own value when each pass runs.
    let values = [1.0f32, 2.0, 1.0, 4.0, 2.0, 0.5];
    let mut seq = rt.sequence().on(Target::Gpu);
    for a in values {
        seq.launch(&kernel)
            .uniform(&SaxpyParams { a, n })
            .read(&x)
            .write(&mut y)
            .invocations(n)
            .run()
            .unwrap();
    }
    seq.finish().unwrap();
    assert_eq!(
        y.to_vec().unwrap(),
        vec![values.iter().sum::<f32>(); n as usize]
    );
}

#[test]
fn repeated_launches_reuse_bind_groups_and_compute_what_new_ones_would() {
    let Some(rt) = gpu_runtime() else { return };
    let (w, h) = (33u32, 17u32);
    let grid = common::random_f32((w * h) as usize, 7);
    let steps = [Target::Gpu; 12];
    let (on_gpu, _) = common::jacobi_steps(&rt, &grid, (w, h), 0.2, &steps);
    let stats = rt.bind_group_stats();
    // Ping-pong binds (a→b) and (b→a): two bind groups serve all 12 steps.
    assert_eq!(stats.misses, 2, "{stats:?}");
    assert_eq!(stats.hits, 10, "{stats:?}");
    let cpu = common::cpu_runtime();
    let (on_cpu, _) = common::jacobi_steps(&cpu, &grid, (w, h), 0.2, &[Target::Cpu; 12]);
    assert_eq!(
        on_gpu, on_cpu,
        "lavapipe matched the twin bit for bit before"
    );
}

#[test]
fn a_buffer_the_pool_frees_is_not_kept_alive_by_a_cached_bind_group() {
    let Some(_) = gpu_runtime() else { return };
    // With no idle allocation allowed, every buffer given back is freed.
    let config = RuntimeConfig::from_env()
        .unwrap()
        .cache_dir(None)
        .pool_idle_limit_bytes(0);
    let rt = Runtime::with_config(config).unwrap();
    let x = rt.buffer_from_slice(&vec![1.0f32; 4096]).unwrap();
    let mut y = rt.buffer_zeroed::<f32>(4096).unwrap();
    saxpy_gpu(&rt, &x, &mut y);
    saxpy_gpu(&rt, &x, &mut y);
    let stats = rt.bind_group_stats();
    assert_eq!((stats.hits, stats.entries), (1, 1), "{stats:?}");
    // Not read back: the readback's staging buffer would be freed too.
    drop(y);
    let stats = rt.memory_report().gpu_pool;
    assert!(stats.evictions >= 1, "{stats:?}");
    assert_eq!(
        rt.bind_group_stats().entries,
        0,
        "the bind group holding the freed buffer is gone too"
    );
    // And launches go on with new bind groups.
    let mut z = rt.buffer_zeroed::<f32>(4096).unwrap();
    saxpy_gpu(&rt, &x, &mut z);
    assert_eq!(z.to_vec().unwrap(), vec![1.0; 4096]);
}

#[test]
fn large_readbacks_copied_on_the_pool_arrive_intact() {
    let Some(rt) = gpu_runtime() else { return };
    // Over the 4 MiB at which host copies split across the pool, and not a
    // whole number of its 1 MiB pieces.
    let n = (5 << 20) / 4 + 777;
    let x = common::random_f32(n, 11);
    let y0 = common::random_f32(n, 12);
    let xb = rt.buffer_from_slice(&x).unwrap();
    let mut yb = rt.buffer_from_slice(&y0).unwrap();
    saxpy(&rt, 0.5, &xb, &mut yb, Target::Gpu);
    let expected: Vec<f32> = x.iter().zip(&y0).map(|(x, y)| 0.5 * x + y).collect();
    // The GPU may fuse a·x + y into one rounding where the CPU rounds
    // twice: the two differ by at most one rounding, ε of the operands'
    // size; 2ε leaves room for either order.
    let check = |got: &[f32]| {
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!(
                (g - e).abs() <= 2.0 * f32::EPSILON * e.abs().max(1.0),
                "{i}: {g} vs {e}"
            );
        }
    };
    check(&pollster::block_on(yb.read_async()).unwrap());
    saxpy(&rt, 0.0, &xb, &mut yb, Target::Gpu);
    check(&yb.to_vec().unwrap());
    let mut out = vec![0.0f32; n];
    yb.read_into(&mut out).unwrap();
    check(&out);
    // A large upload whose length is not a multiple of wgpu's 4-byte copy
    // unit is padded in the staging memory.
    let odd: Vec<u8> = (0..(5 << 20) + 3).map(|i| (i % 253) as u8).collect();
    let bytes = rt.buffer_from_slice(&odd).unwrap();
    assert_eq!(bytes.prefetch_to_gpu().unwrap(), odd.len() as u64);
    assert_eq!(bytes.to_vec().unwrap(), odd);
}

#[test]
fn gpu_out_of_memory_frees_idle_buffers_retries_and_then_fails_over_to_the_cpu() {
    let Some(rt) = gpu_runtime() else { return };
    let n = 4096;
    let x = rt.buffer_from_slice(&vec![1.0f32; n]).unwrap();
    // An idle buffer in the pool for the first failure to free.
    {
        let mut spare = rt.buffer_zeroed::<f32>(3 * n).unwrap();
        saxpy_gpu(&rt, &x, &mut spare);
    }
    let before = rt.memory_report().gpu_pool;
    assert!(before.idle_bytes > 0, "{before:?}");

    // One failure: the pool frees its idle buffers, the retry succeeds.
    rt.simulate_gpu_out_of_memory(1);
    let mut y = rt.buffer_from_slice(&vec![2.0f32; n]).unwrap();
    let report = saxpy(&rt, 1.0, &x, &mut y, Target::Gpu);
    assert_eq!(report.target, Target::Gpu);
    assert_eq!(y.to_vec().unwrap(), vec![3.0; n]);
    let after_retry = rt.memory_report().gpu_pool;
    assert!(after_retry.evictions > before.evictions, "{after_retry:?}");

    // Two failures in a row: an explicit GPU launch fails with a typed
    // error and leaves its buffers as they were...
    rt.simulate_gpu_out_of_memory(2);
    let mut z = rt.buffer_from_slice(&vec![5.0f32; n]).unwrap();
    let err = rt
        .launch(&kernels::saxpy())
        .uniform(&SaxpyParams {
            a: 1.0,
            n: n as u32,
        })
        .read(&x)
        .write(&mut z)
        .invocations(n as u32)
        .on(Target::Gpu)
        .run()
        .unwrap_err();
    assert!(matches!(err, Error::GpuOutOfMemory { .. }), "{err}");
    assert_eq!(z.to_vec().unwrap(), vec![5.0; n]);

    // ...and an Auto launch that the dispatcher sends to the GPU re-runs on
    // the CPU from the host copies. The twin is made slow so that Auto
    // learns the GPU is faster for this kernel, even on lavapipe.
    let (_, source, entry) = kernels::builtin_sources()[0];
    let slow_twin = Kernel::wgsl("saxpy_slow_twin", source, entry)
        .unwrap()
        .cpu(|args| {
            std::thread::sleep(std::time::Duration::from_millis(30));
            let params: SaxpyParams = args.uniform(0)?;
            let x = args.input::<f32>(0)?.to_vec();
            for (y, x) in args.output::<f32>(1)?.iter_mut().zip(&x) {
                *y += params.a * x;
            }
            Ok(())
        });
    let launch = |w: &mut Buffer<f32>, target: Target| {
        rt.launch(&slow_twin)
            .uniform(&SaxpyParams {
                a: 1.0,
                n: n as u32,
            })
            .read(&x)
            .write(w)
            .invocations(n as u32)
            .on(target)
            .run()
            .unwrap()
    };
    let auto_launch = |w: &mut Buffer<f32>| launch(w, Target::Auto);
    let mut learning = rt.buffer_zeroed::<f32>(n).unwrap();
    // Explicit launches teach the model too (the first of each is cold).
    for _ in 0..3 {
        launch(&mut learning, Target::Cpu);
    }
    let learned = (0..40).any(|_| auto_launch(&mut learning).target == Target::Gpu)
        && auto_launch(&mut learning).target == Target::Gpu;
    assert!(learned, "Auto never preferred the GPU:\n{}", rt.report());
    rt.simulate_gpu_out_of_memory(2);
    let mut w = rt.buffer_from_slice(&vec![7.0f32; n]).unwrap();
    let report = auto_launch(&mut w);
    assert_eq!(w.to_vec().unwrap(), vec![8.0; n]);
    assert_eq!(report.target, Target::Cpu, "{}", report.reason);
    assert!(report.reason.contains("failed"), "{}", report.reason);
    drop(learning);

    // Nothing leaked: only the buffers still alive hold device memory.
    drop((y, z, w));
    let end = rt.memory_report().gpu_pool;
    drop(x);
    let empty = rt.memory_report().gpu_pool;
    assert_eq!(empty.live_bytes, 0, "{end:?} then {empty:?}");
}

/// Records `y += a·x` over all of `x` in `sequence`.
fn record_saxpy(sequence: &mut Sequence<'_>, a: f32, x: &Buffer<f32>, y: &mut Buffer<f32>) {
    let n = x.len() as u32;
    sequence
        .launch(&kernels::saxpy())
        .uniform(&SaxpyParams { a, n })
        .read(x)
        .write(y)
        .invocations(n)
        .run()
        .unwrap();
}

/// Heat steps ping-ponging two grids, with a saxpy folding each new grid
/// into an accumulator, all in one sequence. Steps before `lose_after` are
/// sent to the GPU; then the device is lost (when `lose_after` is given) and
/// the rest are `Auto`. Returns the sequence report, the final grid and the
/// accumulator.
fn heat_and_accumulate(
    rt: &Runtime,
    steps: usize,
    lose_after: Option<usize>,
) -> (switchyard::SequenceReport, Vec<f32>, Vec<f32>) {
    let (w, h) = (48u32, 40u32);
    let cells = (w * h) as usize;
    let field = common::random_f32(cells, 7);
    let params = kernels::Jacobi2dParams {
        width: w,
        height: h,
        alpha: 0.2,
        _pad: 0,
    };
    let mut a = rt.buffer_from_slice(&field).unwrap();
    let mut b = rt.buffer_zeroed::<f32>(cells).unwrap();
    let mut total = rt.buffer_zeroed::<f32>(cells).unwrap();
    let step = kernels::jacobi2d();
    let fold = kernels::saxpy();
    let mut sequence = rt.sequence();
    for i in 0..steps {
        if lose_after == Some(i) {
            rt.simulate_device_loss();
        }
        let target = match lose_after {
            Some(lost_at) if i < lost_at => Target::Gpu,
            Some(_) => Target::Auto,
            None => Target::Cpu,
        };
        sequence
            .launch(&step)
            .uniform(&params)
            .read(&a)
            .overwrite(&mut b)
            .grid([w, h, 1])
            .on(target)
            .run()
            .unwrap();
        std::mem::swap(&mut a, &mut b);
        sequence
            .launch(&fold)
            .uniform(&SaxpyParams {
                a: 0.5,
                n: cells as u32,
            })
            .read(&a)
            .write(&mut total)
            .invocations(cells as u32)
            .on(target)
            .run()
            .unwrap();
    }
    let report = sequence.finish().unwrap();
    (report, a.to_vec().unwrap(), total.to_vec().unwrap())
}

/// The fault case: the device is lost in the middle of a sequence.
/// The GPU launches recorded before it are re-run on the CPU from the host
/// copies, the later ones go to the CPU, and every result is bit-for-bit
/// the all-CPU run's (everything ran through the same twins, in order).
#[test]
fn device_loss_mid_sequence_replays_unfinished_work_and_matches_the_all_cpu_run() {
    let Some(rt) = gpu_runtime() else { return };
    let (steps, lose_after) = (12, 5);
    let (report, grid, total) = heat_and_accumulate(&rt, steps, Some(lose_after));
    let (_, cpu_grid, cpu_total) = heat_and_accumulate(&cpu_runtime(), steps, None);
    assert_eq!(report.replayed_on_cpu, 2 * lose_after, "{report:?}");
    assert_eq!(report.gpu_launches, 2 * lose_after);
    assert!(report.launches[2 * lose_after..]
        .iter()
        .all(|launch| launch.target == Target::Cpu));
    assert_eq!(grid, cpu_grid);
    assert_eq!(total, cpu_total);
    // The runtime goes on, on the CPU.
    assert!(!rt.gpu_available());
    let x = rt.buffer_from_slice(&[1.0f32; 64]).unwrap();
    let mut y = rt.buffer_from_slice(&[5.0f32; 64]).unwrap();
    assert_eq!(
        saxpy(&rt, 1.0, &x, &mut y, Target::Auto).target,
        Target::Cpu
    );
    assert_eq!(y.to_vec().unwrap(), [6.0; 64]);
}

/// Lost work is also re-run when the first thing to notice the loss is a
/// host read or a later launch, not `finish`.
#[test]
fn a_read_or_a_launch_after_device_loss_replays_first() {
    let Some(rt) = gpu_runtime() else { return };
    let x = rt.buffer_from_slice(&[1.0f32; 256]).unwrap();
    let mut y = rt.buffer_from_slice(&[0.0f32; 256]).unwrap();
    let mut z = rt.buffer_from_slice(&[0.0f32; 256]).unwrap();
    let sequence = {
        let mut sequence = rt.sequence().on(Target::Gpu);
        for _ in 0..3 {
            record_saxpy(&mut sequence, 2.0, &x, &mut y);
        }
        sequence
    };
    rt.simulate_device_loss();
    // A read notices first: y is 3 × 2·x, computed on the CPU.
    assert_eq!(y.to_vec().unwrap(), [6.0; 256]);
    // An Auto launch that reads y runs after the replay, on the CPU.
    let report = saxpy(&rt, 1.0, &y, &mut z, Target::Auto);
    assert_eq!(report.target, Target::Cpu);
    assert_eq!(z.to_vec().unwrap(), [6.0; 256]);
    // Re-run once, while the sequence was open; not again at `finish`.
    assert_eq!(sequence.finish().unwrap().replayed_on_cpu, 3);
    assert_eq!(y.to_vec().unwrap(), [6.0; 256]);
}

/// A launch whose input only the GPU held (a finished earlier sequence's
/// result, never read back) cannot be re-run: `finish` names it, its output
/// reports `DeviceLost` instead of stale data, and the rest is intact.
#[test]
fn lost_work_that_cannot_be_replayed_is_named_and_never_stale() {
    let Some(rt) = gpu_runtime() else { return };
    let x = rt.buffer_from_slice(&[1.0f32; 64]).unwrap();
    let mut y = rt.buffer_from_slice(&[0.0f32; 64]).unwrap();
    let mut z = rt.buffer_from_slice(&[0.0f32; 64]).unwrap();
    let mut first = rt.sequence().on(Target::Gpu);
    record_saxpy(&mut first, 1.0, &x, &mut y);
    first.finish().unwrap();
    // y's only current copy is on the device now, finished and not logged.
    let mut second = rt.sequence().on(Target::Gpu);
    record_saxpy(&mut second, 1.0, &y, &mut z);
    rt.simulate_device_loss();
    let err = second.finish().unwrap_err();
    assert!(matches!(err, Error::DeviceLost { .. }), "{err}");
    let message = err.to_string();
    assert!(
        message.contains("`saxpy`") && message.contains("`x`"),
        "{message}"
    );
    assert!(matches!(z.to_vec().unwrap_err(), Error::DeviceLost { .. }));
    assert!(matches!(y.to_vec().unwrap_err(), Error::DeviceLost { .. }));
    assert_eq!(x.to_vec().unwrap(), [1.0; 64]);
    // Overwriting a lost buffer makes it usable again, on the CPU.
    z.write_from_slice(&[5.0; 64]).unwrap();
    assert_eq!(
        saxpy(&rt, 1.0, &x, &mut z, Target::Auto).target,
        Target::Cpu
    );
    assert_eq!(z.to_vec().unwrap(), [6.0; 64]);
}

/// The host overwrote a buffer after a lost launch wrote it: the launch is
/// superseded and not re-run, so the newer host data survives.
#[test]
fn replay_never_overwrites_newer_host_data() {
    let Some(rt) = gpu_runtime() else { return };
    let x = rt.buffer_from_slice(&[1.0f32; 64]).unwrap();
    let mut y = rt.buffer_from_slice(&[0.0f32; 64]).unwrap();
    let mut sequence = rt.sequence().on(Target::Gpu);
    record_saxpy(&mut sequence, 1.0, &x, &mut y);
    y.write_from_slice(&[9.0; 64]).unwrap();
    rt.simulate_device_loss();
    let report = sequence.finish().unwrap();
    assert_eq!(report.replayed_on_cpu, 0);
    assert_eq!(y.to_vec().unwrap(), [9.0; 64]);
}

/// `host_mut` on a buffer that unfinished GPU work reads waits for that
/// work first (or, after loss, replays it), so the work sees the old data.
#[test]
fn host_mut_on_a_buffer_in_flight_keeps_the_recorded_work_correct() {
    let Some(rt) = gpu_runtime() else { return };
    for lose in [false, true] {
        let mut x = rt.buffer_from_slice(&[1.0f32; 64]).unwrap();
        let mut y = rt.buffer_from_slice(&[0.0f32; 64]).unwrap();
        let mut sequence = rt.sequence().on(Target::Gpu);
        record_saxpy(&mut sequence, 1.0, &x, &mut y);
        if lose {
            rt.simulate_device_loss();
        }
        x.host_mut().unwrap().fill(100.0);
        sequence.finish().unwrap();
        assert_eq!(y.to_vec().unwrap(), [1.0; 64], "lose = {lose}");
        assert_eq!(x.to_vec().unwrap(), [100.0; 64]);
    }
}
