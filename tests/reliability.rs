//! Reliability under load: many threads on one runtime, a long run whose
//! memory must stay flat, random mixes of launches and host writes checked
//! against plain Rust, and arbitrary text fed to kernel creation.
//!
//! Data are small integers in f32, so every sum below is exact on both
//! targets (fused or not, in any order): a mismatch is a real error, not
//! rounding.

mod common;

use std::sync::OnceLock;

use common::{all_runtimes, cpu_runtime, gpu_runtime, saxpy};
use proptest::prelude::*;
use switchyard::kernels::{self, SaxpyParams};
use switchyard::{Buffer, Error, Kernel, Launch, Result, Runtime, Target};

/// `target`, or the CPU where there is no GPU to ask for.
fn available(rt: &Runtime, target: Target) -> Target {
    if target == Target::Gpu && !rt.gpu_available() {
        Target::Cpu
    } else {
        target
    }
}

#[test]
fn eight_threads_of_mixed_launches_and_readbacks_match_a_plain_loop() {
    const THREADS: usize = 8;
    const LAUNCHES: usize = 1000;
    for rt in all_runtimes() {
        // One input shared by every thread (its upload races between them),
        // one output per thread, of a size of its own.
        let x_values: Vec<f32> = (0..1000).map(|i| (i % 7) as f32).collect();
        let x = rt.buffer_from_slice(&x_values).unwrap();
        std::thread::scope(|scope| {
            for t in 0..THREADS {
                let (rt, x, x_values) = (&rt, &x, &x_values);
                scope.spawn(move || {
                    let n = 500 + 61 * t;
                    let mut y = rt.buffer_zeroed::<f32>(n).unwrap();
                    let mut expected = vec![0.0f32; n];
                    let targets = [Target::Cpu, Target::Gpu, Target::Auto];
                    for i in 0..LAUNCHES {
                        let target = available(rt, targets[(i + t) % 3]);
                        let a = (i % 3 + 1) as f32;
                        saxpy(rt, a, x, &mut y, target);
                        for (e, x) in expected.iter_mut().zip(x_values) {
                            *e += a * x;
                        }
                        // Readbacks from every thread meet submissions from
                        // the others: blocking and async, in turn.
                        if i % 100 == 99 {
                            let got = if i % 200 == 99 {
                                y.to_vec()
                            } else {
                                pollster::block_on(y.read_async())
                            };
                            assert_eq!(got.unwrap(), expected, "thread {t}, launch {i}");
                        }
                    }
                });
            }
        });
        // The runtime is still whole afterwards.
        let mut y = rt.buffer_zeroed::<f32>(1000).unwrap();
        saxpy(&rt, 1.0, &x, &mut y, available(&rt, Target::Gpu));
        assert_eq!(y.to_vec().unwrap(), x_values);
    }
}

/// This process's resident set, for the closing report (Linux only).
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

#[test]
fn a_soak_of_100_000_small_launches_holds_memory_flat() {
    const SEQUENCES: usize = 1000;
    const PER_SEQUENCE: usize = 100;
    let rt = gpu_runtime().unwrap_or_else(cpu_runtime);
    let n = 256;
    let x = rt.buffer_from_slice(&vec![1.0f32; n]).unwrap();
    let mut y = rt.buffer_zeroed::<f32>(n).unwrap();
    let mut expected = 0.0f32;
    let (mut warm, mut end) = (None, None);
    for round in 0..SEQUENCES {
        // Allocation churn: a short-lived buffer of a varying size each round.
        let mut scratch = rt.buffer_zeroed::<f32>(n + round % 7 * 64).unwrap();
        saxpy(&rt, 1.0, &x, &mut scratch, available(&rt, Target::Gpu));
        let mut sequence = rt.sequence();
        for i in 0..PER_SEQUENCE {
            // Mostly GPU steps recorded into one submission, a CPU step in
            // every ten (which needs the GPU's results, then gives the GPU
            // a stale copy to refresh), and an Auto one.
            let target = match i % 10 {
                0 => Target::Cpu,
                5 => Target::Auto,
                _ => available(&rt, Target::Gpu),
            };
            let a = ((round + i) % 4) as f32;
            sequence
                .launch(&kernels::saxpy())
                .uniform(&SaxpyParams { a, n: n as u32 })
                .read(&x)
                .write(&mut y)
                .invocations(n as u32)
                .on(target)
                .run()
                .unwrap();
            expected += a;
        }
        sequence.finish().unwrap();
        assert_eq!(scratch.to_vec().unwrap()[0], 1.0);
        if round % 100 == 99 {
            assert_eq!(y.to_vec().unwrap(), vec![expected; n], "round {round}");
        }
        // The same point of a round with the same scratch size, after
        // warm-up and at the end.
        if round == 49 {
            warm = Some((rt.memory_report().gpu_pool, resident_bytes()));
        }
        if round == (SEQUENCES - 1) / 7 * 7 {
            end = Some((rt.memory_report().gpu_pool, resident_bytes()));
        }
    }
    let ((warm_pool, warm_rss), (end_pool, end_rss)) = (warm.unwrap(), end.unwrap());
    eprintln!(
        "soak: {} launches; pool after 5 000: {warm_pool:?}; at the end: {end_pool:?}; \
         resident set {:?} MiB -> {:?} MiB; bind groups {:?}",
        SEQUENCES * (PER_SEQUENCE + 1),
        warm_rss.map(|b| b >> 20),
        end_rss.map(|b| b >> 20),
        rt.bind_group_stats(),
    );
    // After warm-up nothing grows: the same buffers are live, the idle ones
    // stay under the limit, and no allocation ever pushed the peak higher.
    assert_eq!(end_pool.live_bytes, warm_pool.live_bytes, "{end_pool:?}");
    assert!(
        end_pool.idle_bytes <= end_pool.idle_limit_bytes,
        "{end_pool:?}"
    );
    assert_eq!(end_pool.peak_bytes, warm_pool.peak_bytes, "{end_pool:?}");
    assert!(rt.bind_group_stats().entries <= 1024);
}

#[derive(Clone, Debug)]
enum Step {
    /// `y += a·x` on a target.
    Saxpy { target: Target, a: i8 },
    /// One element of `y` changed from the host (`host_mut`).
    Poke { index: usize, value: i8 },
    /// All of `y` replaced from the host (`write_from_slice`).
    Overwrite { value: i8 },
    /// `y` read back and compared midway.
    Check,
}

fn step() -> impl Strategy<Value = Step> {
    let target = prop_oneof![Just(Target::Cpu), Just(Target::Gpu), Just(Target::Auto)];
    prop_oneof![
        6 => (target, -3i8..=3).prop_map(|(target, a)| Step::Saxpy { target, a }),
        2 => (any::<usize>(), any::<i8>()).prop_map(|(index, value)| Step::Poke { index, value }),
        1 => any::<i8>().prop_map(|value| Step::Overwrite { value }),
        1 => Just(Step::Check),
    ]
}

/// Runs `y += a·x` through `launch` and applies it to the plain-Rust
/// `expected` too.
fn saxpy_step<'a>(
    launch: Launch<'a>,
    a: f32,
    x: &'a Buffer<f32>,
    y: &'a mut Buffer<f32>,
    expected: &mut [f32],
    x_values: &[f32],
) {
    let n = x.len() as u32;
    launch
        .uniform(&SaxpyParams { a, n })
        .read(x)
        .write(y)
        .invocations(n)
        .run()
        .unwrap();
    for (e, x) in expected.iter_mut().zip(x_values) {
        *e += a * x;
    }
}

/// How a `Check` step reads `y` back.
#[derive(Clone, Copy)]
enum CheckBy {
    /// `to_vec`: a buffer the host reads after every GPU write is copied
    /// out alone, its host copy left stale (the readback's one copy).
    CopyOut,
    /// `with_host`: the host copy is made current and read in place.
    HostCopy,
}

/// Applies a host step (not a launch) to `y` and to the plain-Rust
/// `expected`, or checks them against each other.
fn host_step(
    step: &Step,
    y: &mut Buffer<f32>,
    expected: &mut Vec<f32>,
    check_by: CheckBy,
) -> std::result::Result<(), TestCaseError> {
    match *step {
        Step::Poke { index, value } => {
            let index = index % expected.len();
            y.host_mut().unwrap()[index] = f32::from(value);
            expected[index] = f32::from(value);
        }
        Step::Overwrite { value } => {
            let values = vec![f32::from(value); expected.len()];
            y.write_from_slice(&values).unwrap();
            *expected = values;
        }
        Step::Check => {
            let got = match check_by {
                CheckBy::CopyOut => y.to_vec().unwrap(),
                CheckBy::HostCopy => y.with_host(<[f32]>::to_vec).unwrap(),
            };
            prop_assert_eq!(got, expected.clone());
        }
        Step::Saxpy { .. } => {}
    }
    Ok(())
}

/// `Ok` for a kernel or a kernel-creation error that names `name`; what
/// else came back, otherwise.
fn kind_of(created: Result<Kernel>, name: &str) -> std::result::Result<(), String> {
    match created {
        Ok(_) => Ok(()),
        Err(Error::InvalidShader { kernel, .. } | Error::UnsupportedKernel { kernel, .. })
            if kernel == name =>
        {
            Ok(())
        }
        Err(other) => Err(format!("unexpected error: {other:?}")),
    }
}

/// A CPU-only runtime shared by the fuzz cases, whose executor launches
/// stop after 20 ms: a mutated loop bound can make a kernel run forever.
fn fuzz_runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        Runtime::with_config(
            switchyard::RuntimeConfig::default()
                .backend(switchyard::BackendChoice::None)
                .cache_dir(None)
                .cpu_threads(1)
                .cpu_deadline(Some(std::time::Duration::from_millis(20))),
        )
        .expect("CPU-only runtime")
    })
}

/// Launches a kernel that was created on the CPU executor over zeroed
/// buffers of the sizes its layout asks for: it must produce a result or a
/// typed error naming it, never a panic (caught or not).
fn launch_on_the_executor(kernel: &Kernel) -> std::result::Result<(), String> {
    let rt = fuzz_runtime();
    let Some(layout) = kernel.layout() else {
        return Ok(());
    };
    let bytes_of = |shape: switchyard::BindingShape| match shape {
        switchyard::BindingShape::Sized { bytes } => bytes,
        switchyard::BindingShape::Runtime {
            header_bytes,
            stride,
        } => header_bytes + 8 * stride,
    };
    let mut buffers = Vec::new();
    for binding in &layout.buffers {
        let bytes = bytes_of(binding.shape);
        if bytes % 4 != 0 || bytes > 1 << 20 {
            return Ok(());
        }
        buffers.push(
            rt.buffer_zeroed::<u32>((bytes / 4) as usize)
                .map_err(|e| e.to_string())?,
        );
    }
    let mut uniforms = Vec::new();
    for binding in &layout.uniforms {
        match bytes_of(binding.shape) {
            4 => uniforms.push(vec![7u32]),
            8 => uniforms.push(vec![7, 3]),
            16 => uniforms.push(vec![64, 3, 0, 0]),
            // Other sizes take a `Pod` this test does not have.
            _ => return Ok(()),
        }
    }
    let mut launch = rt.launch(kernel);
    for (binding, buffer) in layout.buffers.iter().zip(buffers.iter_mut()) {
        launch = match binding.kind {
            switchyard::BindingKind::Storage(switchyard::Access::Read) => launch.read(buffer),
            _ => launch.write(buffer),
        };
    }
    for words in &uniforms {
        launch = match words.len() {
            1 => launch.uniform(&[words[0]]),
            2 => launch.uniform(&[words[0], words[1]]),
            _ => launch.uniform(&[words[0], words[1], words[2], words[3]]),
        };
    }
    match launch.invocations(130).on(Target::Cpu).run() {
        Ok(_) => Ok(()),
        Err(Error::CpuKernelPanicked { message, .. }) => {
            Err(format!("the executor panicked: {message}"))
        }
        Err(error) if error.to_string().contains(kernel.name()) => Ok(()),
        Err(other) => Err(format!("an error that does not name the kernel: {other}")),
    }
}

proptest! {
    // Failures are reported with their input; no regression files.
    #![proptest_config(ProptestConfig {
        cases: 48,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_launches_and_host_writes_match_plain_rust(
        len in 1usize..5000,
        seed in any::<u64>(),
        steps in prop::collection::vec(step(), 1..30),
        in_one_sequence in any::<bool>(),
    ) {
        let x_values: Vec<f32> = common::random_f32(len, seed)
            .iter()
            .map(|v| (v * 8.0).round())
            .collect();
        let saxpy_kernel = kernels::saxpy();
        for rt in common::shared_runtimes() {
            let x = rt.buffer_from_slice(&x_values).unwrap();
            let mut y = rt.buffer_zeroed::<f32>(len).unwrap();
            let mut expected = vec![0.0f32; len];
            // Inside a sequence GPU steps are only recorded; host accesses
            // must still see them.
            let mut sequence = in_one_sequence.then(|| rt.sequence());
            for step in &steps {
                match *step {
                    Step::Saxpy { target, a } => {
                        let a = f32::from(a);
                        let target = available(rt, target);
                        let launch = match sequence.as_mut() {
                            Some(sequence) => sequence.launch(&saxpy_kernel),
                            None => rt.launch(&saxpy_kernel),
                        };
                        saxpy_step(launch.on(target), a, &x, &mut y, &mut expected, &x_values);
                    }
                    Step::Poke { .. } | Step::Overwrite { .. } | Step::Check => {
                        host_step(step, &mut y, &mut expected, CheckBy::CopyOut)?;
                    }
                }
            }
            if let Some(sequence) = sequence {
                sequence.finish().unwrap();
            }
            prop_assert_eq!(y.to_vec().unwrap(), expected);
        }
    }

    /// The device is lost at a random point of a random sequence: the GPU
    /// work not yet finished is re-run on the CPU, the rest of the steps run
    /// on the CPU, and the result is still exactly plain Rust's. Each case
    /// needs a runtime of its own, as a lost device stays lost.
    #[test]
    fn device_loss_at_any_step_of_a_random_sequence_loses_nothing(
        len in 1usize..3000,
        seed in any::<u64>(),
        steps in prop::collection::vec(step(), 1..24),
        lose_at in any::<prop::sample::Index>(),
    ) {
        let Some(rt) = gpu_runtime() else { return Ok(()) };
        let x_values: Vec<f32> = common::random_f32(len, seed)
            .iter()
            .map(|v| (v * 8.0).round())
            .collect();
        let saxpy_kernel = kernels::saxpy();
        let x = rt.buffer_from_slice(&x_values).unwrap();
        let mut y = rt.buffer_zeroed::<f32>(len).unwrap();
        let mut expected = vec![0.0f32; len];
        let lose_at = lose_at.index(steps.len() + 1);
        let mut sequence = rt.sequence();
        for (i, step) in steps.iter().enumerate() {
            if i == lose_at {
                rt.simulate_device_loss();
            }
            match *step {
                Step::Saxpy { target, a } => {
                    let a = f32::from(a);
                    // An explicit GPU launch after the loss is an error by
                    // design (tested elsewhere); here it is Auto.
                    let target = if i >= lose_at && target == Target::Gpu {
                        Target::Auto
                    } else {
                        target
                    };
                    let launch = sequence.launch(&saxpy_kernel).on(target);
                    saxpy_step(launch, a, &x, &mut y, &mut expected, &x_values);
                }
                Step::Poke { .. } | Step::Overwrite { .. } | Step::Check => {
                    // A readback that leaves the host copy stale leaves the
                    // GPU the only copy of finished work, which a device
                    // loss then takes by design (it reports DeviceLost:
                    // `a_copy_out_readback_then_device_loss_is_a_typed_error`).
                    // Here the checks keep the host copy, so everything
                    // lost is unfinished work, which must be re-run.
                    host_step(step, &mut y, &mut expected, CheckBy::HostCopy)?;
                }
            }
        }
        if lose_at == steps.len() {
            rt.simulate_device_loss();
        }
        sequence.finish().unwrap();
        prop_assert_eq!(y.to_vec().unwrap(), expected);
        prop_assert_eq!(x.to_vec().unwrap(), x_values);
    }

}

/// The first `Auto` launch measures transfers, which submits and waits. A
/// case the proptest above drew (Cpu, Gpu, Cpu, Gpu, Auto, loss, Cpu): that
/// probe, run inside the sequence, finished the recorded GPU launch before
/// it and dropped it from the replay log, so the loss took its result. The
/// probe now waits for an idle queue.
#[test]
fn the_transfer_probe_does_not_finish_a_sequences_recorded_work() {
    let Some(rt) = gpu_runtime() else { return };
    let saxpy_kernel = kernels::saxpy();
    let x_values = [1.0f32, 2.0, 3.0];
    let x = rt.buffer_from_slice(&x_values).unwrap();
    let mut y = rt.buffer_zeroed::<f32>(3).unwrap();
    let mut expected = vec![0.0f32; 3];
    let mut sequence = rt.sequence();
    use Target::{Auto, Cpu, Gpu};
    let targets = [Cpu, Gpu, Cpu, Gpu, Auto];
    for (round, target) in targets.into_iter().enumerate() {
        let launch = sequence.launch(&saxpy_kernel).on(target);
        saxpy_step(launch, round as f32, &x, &mut y, &mut expected, &x_values);
    }
    rt.simulate_device_loss();
    let launch = sequence.launch(&saxpy_kernel).on(Target::Cpu);
    saxpy_step(launch, 5.0, &x, &mut y, &mut expected, &x_values);
    sequence.finish().unwrap();
    assert_eq!(y.to_vec().unwrap(), expected);
}

/// The documented exception to "nothing is lost": a buffer whose GPU results
/// the host reads after every write is copied out alone (its host copy left
/// stale), so once that work has finished the device holds the only copy; a
/// device loss then loses it, and every use says so with a typed error.
#[test]
fn a_copy_out_readback_then_device_loss_is_a_typed_error() {
    let Some(rt) = gpu_runtime() else { return };
    let saxpy_kernel = kernels::saxpy();
    let x = rt.buffer_from_slice(&[1.0f32; 8]).unwrap();
    let mut y = rt.buffer_zeroed::<f32>(8).unwrap();
    let params = SaxpyParams { a: 2.0, n: 8 };
    for round in 1..=2 {
        rt.launch(&saxpy_kernel)
            .uniform(&params)
            .read(&x)
            .write(&mut y)
            .invocations(8)
            .on(Target::Gpu)
            .run()
            .unwrap();
        assert_eq!(y.to_vec().unwrap(), [2.0 * round as f32; 8]);
    }
    rt.simulate_device_loss();
    let err = y.to_vec().unwrap_err();
    assert!(matches!(err, Error::DeviceLost { .. }), "{err}");
    let err = rt
        .launch(&saxpy_kernel)
        .uniform(&params)
        .read(&x)
        .write(&mut y)
        .invocations(8)
        .run()
        .unwrap_err();
    assert!(matches!(err, Error::DeviceLost { .. }), "{err}");
    // Overwriting it from the host makes it whole again.
    y.write_from_slice(&[1.0; 8]).unwrap();
    assert_eq!(y.to_vec().unwrap(), [1.0; 8]);
    assert_eq!(x.to_vec().unwrap(), [1.0; 8]);
}

proptest! {
    // Kernel creation is cheap (a naga parse and validation, under a
    // millisecond; 20 000 cases take about a second), so the fuzz tests can
    // afford many more cases.
    #![proptest_config(ProptestConfig {
        cases: 10_000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_text_as_a_kernel_is_a_typed_error_or_a_kernel(source in any::<String>()) {
        prop_assert_eq!(kind_of(Kernel::wgsl("fuzzed", source.as_str(), "main"), "fuzzed"), Ok(()));
    }

    #[test]
    fn mutated_wgsl_is_a_typed_error_or_a_kernel(
        kernel in 0usize..5,
        at in any::<usize>(),
        removed in 0usize..40,
        insert in any::<String>(),
    ) {
        // Arbitrary strings rarely get past the tokenizer; edits of a real
        // kernel reach the parser, the validator and our reflection.
        let (_, base, _) = kernels::builtin_sources()[kernel];
        let boundaries: Vec<usize> = base.char_indices().map(|(i, _)| i).chain([base.len()]).collect();
        let start = boundaries[at % boundaries.len()];
        let end = boundaries[(at % boundaries.len() + removed).min(boundaries.len() - 1)];
        let source = format!("{}{}{}", &base[..start], insert, &base[end..]);
        let created = Kernel::wgsl("mutated", source.as_str(), "main");
        if let Ok(kernel) = &created {
            // Every kernel that creates also runs on the executor (its twin
            // is not the mutated shader's, so only the WGSL runs).
            prop_assert_eq!(launch_on_the_executor(&kernel.clone().prefer_wgsl_on_cpu()), Ok(()));
        }
        prop_assert_eq!(kind_of(created, "mutated"), Ok(()));
    }
}

#[test]
fn threads_reading_the_same_buffers_in_opposite_orders_do_not_deadlock() {
    const LAUNCHES: usize = 2000;
    let sum = Kernel::wgsl(
        "sum_of_two",
        r#"
        @group(0) @binding(0) var<storage, read> a: array<f32>;
        @group(0) @binding(1) var<storage, read> b: array<f32>;
        @group(0) @binding(2) var<storage, read_write> out: array<f32>;
        @compute @workgroup_size(64)
        fn main(@builtin(global_invocation_id) id: vec3<u32>) {
            if id.x < arrayLength(&out) { out[id.x] = a[id.x] + b[id.x]; }
        }"#,
        "main",
    )
    .unwrap()
    .cpu(|args| {
        let a = args.input::<f32>(0)?.to_vec();
        let b = args.input::<f32>(1)?.to_vec();
        for (i, out) in args.output::<f32>(2)?.iter_mut().enumerate() {
            *out = a[i] + b[i];
        }
        Ok(())
    });
    let rt = std::sync::Arc::new(cpu_runtime());
    let n = 4096;
    let first = std::sync::Arc::new(rt.buffer_from_slice(&vec![1.0f32; n]).unwrap());
    let second = std::sync::Arc::new(rt.buffer_from_slice(&vec![2.0f32; n]).unwrap());
    let (done, finished) = std::sync::mpsc::channel();
    for reversed in [false, true] {
        let (rt, sum, done) = (rt.clone(), sum.clone(), done.clone());
        let (a, b) = if reversed {
            (second.clone(), first.clone())
        } else {
            (first.clone(), second.clone())
        };
        // Detached, so that a deadlock fails the test instead of hanging it.
        std::thread::spawn(move || {
            let mut out = rt.buffer_zeroed::<f32>(n).unwrap();
            for _ in 0..LAUNCHES {
                rt.launch(&sum)
                    .read(&a)
                    .read(&b)
                    .write(&mut out)
                    .invocations(n as u32)
                    .on(Target::Cpu)
                    .run()
                    .unwrap();
            }
            let _ = done.send(out.to_vec().unwrap());
        });
    }
    for _ in 0..2 {
        let out = finished
            .recv_timeout(std::time::Duration::from_secs(120))
            .expect("the two threads deadlocked");
        assert_eq!(out, vec![3.0; n]);
    }
}
