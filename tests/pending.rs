//! Submitted launches (`Launch::submit`): waited in every order, chained
//! over one buffer without waiting, dropped and leaked, awaited as futures,
//! failing, caught by device loss, from eight threads, and in random
//! interleavings with host reads and writes, all against plain Rust.
//!
//! Data are small integers in f32, so every sum is exact on both targets in
//! any order: a mismatch is a real ordering error, not rounding.

mod common;

use std::time::Duration;

use common::{all_runtimes, cpu_runtime, gpu_runtime};
use proptest::prelude::*;
use switchyard::kernels::{self, SaxpyParams};
use switchyard::{Buffer, Error, Kernel, PendingLaunch, Runtime, Target};

/// `target`, or the CPU where there is no GPU to ask for.
fn available(rt: &Runtime, target: Target) -> Target {
    if target == Target::Gpu && !rt.gpu_available() {
        Target::Cpu
    } else {
        target
    }
}

/// Small integers, so that sums are exact.
fn integers(len: usize, seed: u64) -> Vec<f32> {
    common::random_f32(len, seed)
        .iter()
        .map(|v| (v * 8.0).round())
        .collect()
}

/// Submits `y += a·x` on `target`.
fn submit_saxpy(
    rt: &Runtime,
    a: f32,
    x: &Buffer<f32>,
    y: &mut Buffer<f32>,
    target: Target,
) -> PendingLaunch {
    rt.launch(&kernels::saxpy())
        .uniform(&SaxpyParams {
            a,
            n: x.len() as u32,
        })
        .read(x)
        .write(y)
        .invocations(x.len() as u32)
        .on(target)
        .submit()
        .expect("saxpy submits")
}

fn add_saxpy(expected: &mut [f32], a: f32, x: &[f32]) {
    for (e, x) in expected.iter_mut().zip(x) {
        *e += a * x;
    }
}

#[test]
fn pending_launches_waited_in_every_order_equal_plain_rust() {
    let orders = [
        [0, 1, 2],
        [0, 2, 1],
        [1, 0, 2],
        [1, 2, 0],
        [2, 0, 1],
        [2, 1, 0],
    ];
    for rt in all_runtimes() {
        let targets = [Target::Cpu, available(&rt, Target::Gpu), Target::Auto];
        for order in orders {
            let x_values = integers(3000, 1);
            let x = rt.buffer_from_slice(&x_values).unwrap();
            let mut ys: Vec<Buffer<f32>> = (0..3)
                .map(|i| rt.buffer_from_slice(&integers(3000, 10 + i)).unwrap())
                .collect();
            let mut pending: Vec<Option<PendingLaunch>> = ys
                .iter_mut()
                .zip(targets)
                .map(|(y, target)| Some(submit_saxpy(&rt, 2.0, &x, y, target)))
                .collect();
            for &index in &order {
                let report = pending[index].take().unwrap().wait().unwrap();
                assert_ne!(report.target, Target::Auto);
                if targets[index] != Target::Auto {
                    assert_eq!(report.target, targets[index], "{}", report.reason);
                }
            }
            for (i, y) in ys.iter().enumerate() {
                let mut expected = integers(3000, 10 + i as u64);
                add_saxpy(&mut expected, 2.0, &x_values);
                assert_eq!(y.to_vec().unwrap(), expected, "order {order:?}, buffer {i}");
            }
        }
    }
}

#[test]
fn launches_submitted_back_to_back_over_one_buffer_run_in_program_order() {
    for rt in all_runtimes() {
        let targets = [
            Target::Cpu,
            Target::Cpu,
            available(&rt, Target::Gpu),
            Target::Cpu,
            available(&rt, Target::Gpu),
            available(&rt, Target::Gpu),
            Target::Auto,
            Target::Cpu,
        ];
        let len = 50_000;
        let x_values = integers(len, 2);
        let x = rt.buffer_from_slice(&x_values).unwrap();
        let mut y = rt.buffer_zeroed::<f32>(len).unwrap();
        let mut z = rt.buffer_zeroed::<f32>(len).unwrap();
        let mut expected_y = vec![0.0f32; len];
        let mut expected_z = vec![0.0f32; len];
        let mut pending = Vec::new();
        for (i, &target) in targets.iter().enumerate() {
            let a = (i % 3 + 1) as f32;
            // y accumulates; z reads y's latest value, so each launch depends
            // on the one before it across targets.
            pending.push(submit_saxpy(&rt, a, &x, &mut y, target));
            add_saxpy(&mut expected_y, a, &x_values);
            pending.push(submit_saxpy(&rt, 1.0, &y, &mut z, targets[(i + 3) % 8]));
            add_saxpy(&mut expected_z, 1.0, &expected_y);
        }
        // Read before waiting for anything: the reads wait for the writers.
        assert_eq!(y.to_vec().unwrap(), expected_y);
        assert_eq!(z.to_vec().unwrap(), expected_z);
        for pending in pending {
            pending.wait().unwrap();
        }
    }
}

#[test]
fn dropped_and_leaked_pending_launches_still_complete() {
    for rt in all_runtimes() {
        for target in [Target::Cpu, available(&rt, Target::Gpu)] {
            let len = 100_000;
            let x_values = integers(len, 3);
            let x = rt.buffer_from_slice(&x_values).unwrap();
            let mut y = rt.buffer_zeroed::<f32>(len).unwrap();
            drop(submit_saxpy(&rt, 1.0, &x, &mut y, target));
            std::mem::forget(submit_saxpy(&rt, 2.0, &x, &mut y, target));
            let mut expected = vec![0.0f32; len];
            add_saxpy(&mut expected, 3.0, &x_values);
            assert_eq!(y.to_vec().unwrap(), expected, "{target}");

            // The leaked launch's hold on `y` does not block exclusive use.
            std::mem::forget(submit_saxpy(&rt, 1.0, &x, &mut y, target));
            add_saxpy(&mut expected, 1.0, &x_values);
            let host = y.host_mut().unwrap_or_else(|e| panic!("{target}: {e}"));
            assert_eq!(host, &expected[..], "{target}");
            host[0] = 7.0;
            expected[0] = 7.0;
            assert_eq!(y.to_vec().unwrap(), expected);
            // Writing from the host waits for a launch still reading `x`.
            let mut x = x;
            std::mem::forget(submit_saxpy(&rt, 1.0, &x, &mut y, target));
            add_saxpy(&mut expected, 1.0, &x_values);
            x.write_from_slice(&vec![0.0; len]).unwrap();
            assert_eq!(y.to_vec().unwrap(), expected, "{target}");
        }
    }
}

#[test]
fn a_pending_launch_is_a_future() {
    for rt in all_runtimes() {
        for target in [Target::Cpu, available(&rt, Target::Gpu)] {
            let x_values = integers(20_000, 4);
            let x = rt.buffer_from_slice(&x_values).unwrap();
            let mut y = rt.buffer_zeroed::<f32>(20_000).unwrap();
            let pending = submit_saxpy(&rt, 3.0, &x, &mut y, target);
            let report = pollster::block_on(pending).unwrap();
            assert_eq!(report.target, target);
            let mut expected = vec![0.0f32; 20_000];
            add_saxpy(&mut expected, 3.0, &x_values);
            assert_eq!(y.to_vec().unwrap(), expected);
            // Awaited after it finished, too.
            let pending = submit_saxpy(&rt, 1.0, &x, &mut y, target);
            while !pending.is_finished() {
                std::thread::sleep(Duration::from_millis(1));
            }
            pollster::block_on(pending).unwrap();
        }
    }
}

#[test]
fn an_error_surfaces_at_wait_and_every_buffer_keeps_its_contents() {
    let rt = cpu_runtime();
    let panics = Kernel::cpu_only("panics", |args| {
        let out = args.output::<f32>(0)?;
        out[0] = 99.0;
        let _ = out[usize::MAX / 8];
        Ok(())
    });
    let mut data = rt.buffer_from_slice(&[1.0f32; 4]).unwrap();
    let pending = rt
        .launch(&panics)
        .write(&mut data)
        .invocations(1)
        .submit()
        .unwrap();
    let err = pending.wait().unwrap_err();
    assert!(
        matches!(&err, Error::CpuKernelPanicked { kernel, .. } if kernel == "panics"),
        "{err}"
    );
    // A twin writes the host copy in place, so its buffer shows what it did
    // before the panic; the executor's launch below keeps every buffer.
    let never_ends = Kernel::wgsl("never_ends", common::NEVER_ENDS, "main").unwrap();
    let values: Vec<u32> = (0..10_000)
        .map(|i| if i == 777 { 3 } else { 2 * i })
        .collect();
    let mut v = rt.buffer_from_slice(&values).unwrap();
    let pending = rt
        .launch(&never_ends)
        .write(&mut v)
        .invocations(values.len() as u32)
        .on(Target::Cpu)
        .deadline(Duration::from_millis(50))
        .submit()
        .unwrap();
    // The read waits for the launch to stop, and sees the old contents.
    assert_eq!(v.to_vec().unwrap(), values);
    let err = pending.wait().unwrap_err();
    assert!(
        matches!(&err, Error::CpuDeadlineExceeded { kernel, .. } if kernel == "never_ends"),
        "{err}"
    );
    // Argument errors come back from `submit`, before anything runs.
    let x = rt.buffer_from_slice(&[1.0f32; 4]).unwrap();
    let err = rt
        .launch(&kernels::saxpy())
        .read(&x)
        .invocations(4)
        .submit()
        .unwrap_err();
    assert!(matches!(err, Error::ArgumentCount { .. }), "{err}");
}

#[test]
fn device_loss_while_launches_are_pending_resolves_every_one() {
    let Some(rt) = gpu_runtime() else { return };
    let len = 30_000;
    let x_values = integers(len, 5);
    let x = rt.buffer_from_slice(&x_values).unwrap();
    let mut y = rt.buffer_zeroed::<f32>(len).unwrap();
    let mut z = rt.buffer_zeroed::<f32>(len).unwrap();
    let mut expected_y = vec![0.0f32; len];
    let mut pending = Vec::new();
    for i in 0..6 {
        let a = (i + 1) as f32;
        pending.push(submit_saxpy(&rt, a, &x, &mut y, Target::Gpu));
        add_saxpy(&mut expected_y, a, &x_values);
    }
    pending.push(submit_saxpy(&rt, 1.0, &x, &mut z, Target::Cpu));
    rt.simulate_device_loss();
    for pending in pending {
        // Each resolves: re-run on the CPU, or a typed error.
        match pending.wait() {
            Ok(_) | Err(Error::DeviceLost { .. }) => {}
            Err(other) => panic!("unexpected error: {other}"),
        }
    }
    assert_eq!(y.to_vec().unwrap(), expected_y);
    assert_eq!(z.to_vec().unwrap(), x_values);
    // Auto goes on, on the CPU.
    let report = submit_saxpy(&rt, 1.0, &x, &mut z, Target::Auto)
        .wait()
        .unwrap();
    assert_eq!(report.target, Target::Cpu);
}

#[test]
fn eight_threads_submitting_to_one_runtime_match_a_plain_loop() {
    const THREADS: usize = 8;
    const LAUNCHES: usize = 200;
    for rt in all_runtimes() {
        let x_values: Vec<f32> = (0..1000).map(|i| (i % 7) as f32).collect();
        let x = rt.buffer_from_slice(&x_values).unwrap();
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (rt, x, x_values) = (&rt, &x, &x_values);
                scope.spawn(move || {
                    let n = 1000;
                    let mut y = rt.buffer_zeroed::<f32>(n).unwrap();
                    let mut expected = vec![0.0f32; n];
                    let targets = [Target::Cpu, Target::Gpu, Target::Auto];
                    let mut pending = Vec::new();
                    for i in 0..LAUNCHES {
                        let target = available(rt, targets[(i + t) % 3]);
                        let a = (i % 3 + 1) as f32;
                        pending.push(submit_saxpy(rt, a, x, &mut y, target));
                        add_saxpy(&mut expected, a, x_values);
                        if i % 50 == 49 {
                            for pending in pending.drain(..) {
                                pending.wait().unwrap();
                            }
                            assert_eq!(y.to_vec().unwrap(), expected, "thread {t}, launch {i}");
                        }
                        if i % 7 == 3 {
                            // Some are simply dropped.
                            pending.pop();
                        }
                    }
                    for pending in pending {
                        pending.wait().unwrap();
                    }
                    assert_eq!(y.to_vec().unwrap(), expected, "thread {t}");
                });
            }
        });
    }
}

/// Concurrent CPU launches that read one buffer, on a pool of several
/// threads: a pool worker that waits inside one launch's parallel loop
/// steals other pool work, and must never be handed a launch that needs a
/// buffer the waiting one holds (that deadlocked, now and then).
#[test]
fn concurrent_cpu_launches_reading_one_buffer_never_deadlock() {
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = Runtime::with_config(
            switchyard::RuntimeConfig::default()
                .backend(switchyard::BackendChoice::None)
                .cache_dir(None)
                .cpu_threads(4),
        )
        .expect("CPU-only runtime builds");
        let n = 1 << 17;
        let x_values = integers(n, 3);
        let x = rt.buffer_from_slice(&x_values).unwrap();
        let mut ys: Vec<Buffer<f32>> = (0..6).map(|_| rt.buffer_zeroed(n).unwrap()).collect();
        for round in 0..40 {
            let pending: Vec<PendingLaunch> = ys
                .iter_mut()
                .map(|y| submit_saxpy(&rt, 1.0, &x, y, Target::Cpu))
                .collect();
            for pending in pending {
                pending.wait().unwrap();
            }
            let mut expected = vec![0.0f32; n];
            for _ in 0..=round {
                add_saxpy(&mut expected, 1.0, &x_values);
            }
            assert_eq!(ys[round % 6].to_vec().unwrap(), expected, "round {round}");
        }
        done.send(()).unwrap();
    });
    finished
        .recv_timeout(Duration::from_secs(120))
        .expect("every launch finished within two minutes (a deadlock otherwise)");
}

#[derive(Clone, Debug)]
enum Step {
    /// Submit `ys[into] += a·source` on a target, where source is `x` or
    /// another of the `ys`.
    Submit {
        target: Target,
        into: usize,
        from_y: Option<usize>,
        a: i8,
    },
    /// Wait for the oldest pending launch.
    WaitOldest,
    /// Drop the newest pending launch unwaited.
    DropNewest,
    /// Read `ys[which]` back and compare.
    Read { which: usize },
    /// Overwrite `ys[which]` from the host.
    Overwrite { which: usize, value: i8 },
}

fn step() -> impl Strategy<Value = Step> {
    let target = prop_oneof![Just(Target::Cpu), Just(Target::Gpu), Just(Target::Auto)];
    prop_oneof![
        6 => (target, 0usize..3, prop::option::of(0usize..3), -2i8..=2).prop_map(
            |(target, into, from_y, a)| Step::Submit { target, into, from_y, a }
        ),
        2 => Just(Step::WaitOldest),
        1 => Just(Step::DropNewest),
        2 => (0usize..3).prop_map(|which| Step::Read { which }),
        1 => (0usize..3, any::<i8>()).prop_map(|(which, value)| Step::Overwrite { which, value }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random submit / wait / drop / read / write interleavings over three
    /// buffers that launches read from and write to, against plain Rust.
    #[test]
    fn random_interleavings_of_submits_waits_drops_and_host_access_match_plain_rust(
        len in 1usize..4000,
        steps in prop::collection::vec(step(), 1..20),
    ) {
        for rt in common::shared_runtimes() {
            let x_values = integers(len, 7);
            let x = rt.buffer_from_slice(&x_values).unwrap();
            let mut ys: Vec<Buffer<f32>> =
                (0..3).map(|_| rt.buffer_zeroed::<f32>(len).unwrap()).collect();
            let mut expected = vec![vec![0.0f32; len]; 3];
            let mut pending: std::collections::VecDeque<PendingLaunch> = Default::default();
            for step in &steps {
                match *step {
                    Step::Submit { target, into, from_y, a } => {
                        let a = f32::from(a);
                        let target = available(rt, target);
                        let from_y = from_y.filter(|&from| from != into);
                        let source = from_y.map_or(x_values.clone(), |from| expected[from].clone());
                        add_saxpy(&mut expected[into], a, &source);
                        // Split borrows: `into` mutably, `from` shared.
                        let launched = match from_y {
                            None => submit_saxpy(rt, a, &x, &mut ys[into], target),
                            Some(from) => {
                                let (low, high) = ys.split_at_mut(into.max(from));
                                let (source, dest) = if from < into {
                                    (&low[from], &mut high[0])
                                } else {
                                    (&high[0], &mut low[into])
                                };
                                submit_saxpy(rt, a, source, dest, target)
                            }
                        };
                        pending.push_back(launched);
                    }
                    Step::WaitOldest => {
                        if let Some(oldest) = pending.pop_front() {
                            oldest.wait().unwrap();
                        }
                    }
                    Step::DropNewest => {
                        pending.pop_back();
                    }
                    Step::Read { which } => {
                        prop_assert_eq!(ys[which].to_vec().unwrap(), expected[which].clone());
                    }
                    Step::Overwrite { which, value } => {
                        let values = vec![f32::from(value); len];
                        ys[which].write_from_slice(&values).unwrap();
                        expected[which] = values;
                    }
                }
            }
            for (y, expected) in ys.iter().zip(&expected) {
                prop_assert_eq!(y.to_vec().unwrap(), expected.clone());
            }
            for pending in pending {
                pending.wait().unwrap();
            }
        }
    }
}
