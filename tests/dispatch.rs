//! The learned dispatcher on real targets: crossover, explanations,
//! residency, capabilities, overrides, persistence and the report.

mod common;

use common::{cpu_runtime, gpu_runtime, random_f32, saxpy};
use switchyard::{kernels, Error, Kernel, Runtime, RuntimeConfig, Target};

/// 500 dependent multiply-adds per element. The WGSL runs them in SIMD lanes
/// on every core; the twin is deliberately scalar, single-threaded and kept
/// from vectorizing, so it costs about a microsecond per element. Launch
/// overhead then decides small launches (CPU) and per-element cost large ones
/// (GPU), on any adapter, lavapipe included. Being serial, the twin runs on
/// the calling thread (`serial_below`): handing it to the pool would add
/// thread wake-ups that, with the other tests loading both cores, cost more
/// than the 8-element launch itself and blur the small side of the crossover.
fn slow_per_item_kernel() -> Kernel {
    Kernel::wgsl(
        "slow_per_item",
        r#"
        @group(0) @binding(0) var<storage, read_write> v: array<f32>;
        @compute @workgroup_size(64)
        fn main(@builtin(global_invocation_id) id: vec3<u32>) {
            let i = id.x;
            if i >= arrayLength(&v) { return; }
            var x = v[i];
            for (var k = 0u; k < 500u; k = k + 1u) {
                x = x * 0.999 + 0.001;
            }
            v[i] = x;
        }"#,
        "main",
    )
    .expect("valid WGSL")
    .cpu(|args| {
        for value in args.output::<f32>(0)? {
            let mut x = *value;
            for _ in 0..500 {
                x = std::hint::black_box(x * 0.999 + 0.001);
            }
            *value = x;
        }
        Ok(())
    })
    .serial_below(u64::MAX)
}

#[test]
fn auto_learns_the_crossover_on_both_sides() {
    let Some(rt) = gpu_runtime() else { return };
    let kernel = slow_per_item_kernel();
    let (small, large) = (8u32, 16_384u32);
    let mut small_buf = rt
        .buffer_from_slice(&random_f32(small as usize, 1))
        .unwrap();
    let mut large_buf = rt
        .buffer_from_slice(&random_f32(large as usize, 2))
        .unwrap();
    let small_data = random_f32(small as usize, 1);
    // Small launches start from fresh host data (as when a simulation hands
    // over new input each step); large ones keep theirs wherever it is.
    let launch = |buf: &mut switchyard::Buffer<f32>, n: u32| {
        if n == small {
            buf.write_from_slice(&small_data).unwrap();
        }
        rt.launch(&kernel)
            .write(buf)
            .invocations(n)
            .run()
            .expect("auto launch")
    };
    let mut warmup = Vec::new();
    for _ in 0..10 {
        for (buf, n) in [(&mut small_buf, small), (&mut large_buf, large)] {
            let r = launch(buf, n);
            warmup.push(format!("{n}: {} {:?} {}", r.target, r.wall, r.reason));
        }
    }
    // After warm-up, launches that are not explorations pick the target that
    // is faster on this machine: the CPU for 8 elements, the GPU for 16k. A
    // scheduling hiccup on a shared 2-core machine can make one measurement
    // misleading until its bucket is re-checked, so one miss per side is
    // tolerated; two are a failure.
    let (mut small_misses, mut large_misses) = (Vec::new(), Vec::new());
    for _ in 0..8 {
        let report = launch(&mut small_buf, small);
        if !report.explored && report.target != Target::Cpu {
            small_misses.push(report.reason.clone());
        } else if !report.explored {
            assert!(
                report.reason.starts_with("cpu: predicted"),
                "{}",
                report.reason
            );
        }
        let report = launch(&mut large_buf, large);
        if !report.explored && report.target != Target::Gpu {
            large_misses.push(report.reason.clone());
        } else if !report.explored {
            assert!(report.alternative.is_some_and(|(t, _)| t == Target::Cpu));
        }
    }
    assert!(
        small_misses.len() <= 1,
        "small launches sent to the GPU: {small_misses:#?}\n{}\n{warmup:#?}",
        rt.report()
    );
    assert!(
        large_misses.len() <= 1,
        "large launches sent to the CPU: {large_misses:#?}\n{}",
        rt.report()
    );
    let summary = rt.report();
    let row = summary
        .kernels
        .iter()
        .find(|k| k.kernel == "slow_per_item")
        .expect("the kernel is in the report");
    assert!(row.cpu_launches > 0 && row.gpu_launches > 0, "{summary}");
}

#[test]
fn the_reason_counts_transfers_that_residency_requires() {
    let Some(rt) = gpu_runtime() else { return };
    let n = 1 << 16;
    let x = rt.buffer_from_slice(&random_f32(n, 3)).unwrap();
    let mut y = rt.buffer_from_slice(&random_f32(n, 4)).unwrap();
    saxpy(&rt, 2.0, &x, &mut y, Target::Gpu);
    // `y` now lives only on the device: running on the CPU means reading it
    // back first, and the explanation says so whichever target wins.
    let report = saxpy(&rt, 2.0, &x, &mut y, Target::Auto);
    assert!(
        report.reason.contains("cpu: ") && report.reason.contains("download of `y`"),
        "{}",
        report.reason
    );
    assert!(report.predicted.is_some());
}

#[test]
fn a_kernel_needing_a_missing_feature_runs_on_the_cpu_and_says_which() {
    // The runtime never enables TEXTURE_BINDING_ARRAY, so no GPU here has it.
    let kernel = slow_per_item_kernel().requires(switchyard::wgpu::Features::TEXTURE_BINDING_ARRAY);
    let Some(rt) = gpu_runtime() else { return };
    let mut v = rt.buffer_from_slice(&[1.0f32; 64]).unwrap();
    let report = rt
        .launch(&kernel)
        .write(&mut v)
        .invocations(64)
        .run()
        .unwrap();
    assert_eq!(report.target, Target::Cpu);
    assert_eq!(report.reason, "cpu: adapter lacks TEXTURE_BINDING_ARRAY");
    let err = rt
        .launch(&kernel)
        .write(&mut v)
        .invocations(64)
        .on(Target::Gpu)
        .run()
        .unwrap_err();
    assert!(
        matches!(&err, Error::TargetUnavailable { reason, .. } if reason.contains("TEXTURE_BINDING_ARRAY")),
        "{err}"
    );
}

#[test]
fn launch_beats_pin_beats_runtime_default() {
    let rt = Runtime::with_config(
        RuntimeConfig::from_lookup(|key| (key == "SWITCHYARD_TARGET").then(|| "cpu".to_string()))
            .unwrap()
            .cache_dir(None),
    )
    .unwrap();
    let x = rt.buffer_from_slice(&[1.0f32; 256]).unwrap();
    let mut y = rt.buffer_from_slice(&[1.0f32; 256]).unwrap();
    let saxpy_kernel = kernels::saxpy();
    let run = |y: &mut switchyard::Buffer<f32>, target: Option<Target>| {
        let launch = rt
            .launch(&saxpy_kernel)
            .uniform(&kernels::SaxpyParams { a: 1.0, n: 256 })
            .read(&x)
            .write(y)
            .invocations(256);
        match target {
            Some(t) => launch.on(t),
            None => launch,
        }
        .run()
        .unwrap()
    };
    let by_default = run(&mut y, None);
    assert_eq!(by_default.target, Target::Cpu);
    assert_eq!(by_default.reason, "cpu: the runtime's default target");

    if rt.gpu_available() {
        rt.pin("saxpy", Target::Gpu);
        let pinned = run(&mut y, None);
        assert_eq!(
            (pinned.target, pinned.reason.as_str()),
            (Target::Gpu, "gpu: pinned")
        );
        let overridden = run(&mut y, Some(Target::Cpu));
        assert_eq!(overridden.reason, "cpu: requested");
        rt.pin("saxpy", Target::Auto);
    }
    assert_eq!(
        run(&mut y, None).reason,
        "cpu: the runtime's default target"
    );
    let launches = if rt.gpu_available() { 4.0 } else { 2.0 };
    assert_eq!(
        y.to_vec().unwrap()[0],
        1.0 + launches,
        "each launch adds x = 1"
    );

    let bad =
        RuntimeConfig::from_lookup(|key| (key == "SWITCHYARD_TARGET").then(|| "tpu".to_string()));
    assert!(matches!(bad, Err(Error::Config { key, .. }) if key == "SWITCHYARD_TARGET"));
}

#[test]
fn a_second_runtime_starts_from_the_saved_model() {
    let dir =
        std::env::temp_dir().join(format!("switchyard-dispatch-model-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || {
        RuntimeConfig::from_env()
            .unwrap()
            .cache_dir(Some(dir.clone()))
    };
    let kernel = slow_per_item_kernel();
    let n = 4096u32;
    {
        let rt = Runtime::with_config(config()).unwrap();
        let mut v = rt.buffer_from_slice(&random_f32(n as usize, 5)).unwrap();
        let mut targets = vec![Target::Cpu; 3];
        if rt.gpu_available() {
            targets.extend([Target::Gpu; 3]);
        }
        for target in targets {
            rt.launch(&kernel)
                .write(&mut v)
                .invocations(n)
                .on(target)
                .run()
                .unwrap();
        }
        let path = rt
            .save_dispatch_model()
            .unwrap()
            .expect("persistence is on");
        assert_eq!(Some(path), rt.dispatch_model_path());
    }
    let rt = Runtime::with_config(config()).unwrap();
    assert!(rt.dispatch_model_path().unwrap().exists());
    let mut v = rt.buffer_from_slice(&random_f32(n as usize, 6)).unwrap();
    let first = rt
        .launch(&kernel)
        .write(&mut v)
        .invocations(n)
        .run()
        .unwrap();
    if rt.gpu_available() {
        // Both targets' times come from the file: no prior in the explanation.
        assert!(!first.reason.contains("prior"), "{}", first.reason);
    }
    // A damaged file is ignored with a warning, not an error.
    let path = rt.dispatch_model_path().unwrap();
    drop(rt);
    let mut bytes = std::fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    let rt = Runtime::with_config(config()).unwrap();
    let mut v = rt.buffer_from_slice(&random_f32(n as usize, 7)).unwrap();
    rt.launch(&kernel)
        .write(&mut v)
        .invocations(n)
        .run()
        .unwrap();
    drop(rt);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_report_counts_launches_per_target_and_prints_a_table() {
    let rt = cpu_runtime();
    let x = rt.buffer_from_slice(&[1.0f32; 1024]).unwrap();
    let mut y = rt.buffer_from_slice(&[0.0f32; 1024]).unwrap();
    for _ in 0..5 {
        saxpy(&rt, 1.0, &x, &mut y, Target::Auto);
    }
    let report = rt.report();
    assert_eq!(report.adapter, None);
    let row = &report.kernels[0];
    assert_eq!(
        (row.kernel.as_str(), row.cpu_launches, row.gpu_launches),
        ("saxpy", 5, 0)
    );
    assert_eq!(
        row.cold_launches, 1,
        "the first launch is cold and not learned"
    );
    let table = report.to_string();
    assert!(
        table.contains("| kernel | cpu runs |") && table.contains("| saxpy (cpu: twin) | 5 | 0 |"),
        "{table}"
    );
}
