//! Pipeline cache: hits, misses on changed source or constants, and the
//! driver's cache data written to disk and loaded by the next runtime.

mod common;

use std::time::Instant;

use common::gpu_runtime;
use switchyard::{CacheOutcome, Kernel, Runtime, RuntimeConfig, Target};

const DOUBLE: &str = r#"
override factor: f32 = 2.0;
@group(0) @binding(0) var<storage, read_write> v: array<f32>;
@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) id: vec3<u32>) {
    if id.x < arrayLength(&v) { v[id.x] = factor * v[id.x]; }
}"#;

fn run(rt: &Runtime, kernel: &Kernel) -> (CacheOutcome, f64) {
    let mut v = rt.buffer_from_slice(&[1.0f32; 100]).unwrap();
    let report = rt
        .launch(kernel)
        .write(&mut v)
        .invocations(100)
        .on(Target::Gpu)
        .run()
        .unwrap();
    (report.pipeline.unwrap(), report.wall.as_secs_f64())
}

#[test]
fn second_launch_hits_and_changes_miss() {
    let Some(rt) = gpu_runtime() else { return };
    let kernel = Kernel::wgsl("double", DOUBLE, "main").unwrap();
    let (first, cold) = run(&rt, &kernel);
    let (second, hot) = run(&rt, &kernel);
    assert_eq!((first, second), (CacheOutcome::Miss, CacheOutcome::Hit));
    eprintln!(
        "launch with cold pipeline {:.2} ms, with cached pipeline {:.2} ms",
        cold * 1e3,
        hot * 1e3
    );

    let same_text = Kernel::wgsl("another name, same code", DOUBLE, "main").unwrap();
    assert_eq!(
        run(&rt, &same_text).0,
        CacheOutcome::Hit,
        "the key is the content, not the name"
    );
    let changed = Kernel::wgsl("double", DOUBLE.replace("64)", "32)"), "main").unwrap();
    assert_eq!(run(&rt, &changed).0, CacheOutcome::Miss);
    let tripled = kernel.clone().constant("factor", 3.0);
    assert_eq!(
        run(&rt, &tripled).0,
        CacheOutcome::Miss,
        "override constants are part of the key"
    );
    let mut v = rt.buffer_from_slice(&[1.0f32; 4]).unwrap();
    rt.launch(&tripled)
        .write(&mut v)
        .invocations(4)
        .on(Target::Gpu)
        .run()
        .unwrap();
    assert_eq!(v.to_vec().unwrap(), [3.0; 4]);

    let stats = rt.pipeline_stats();
    assert_eq!((stats.hits, stats.misses, stats.entries), (3, 3, 3));
}

#[test]
fn driver_cache_is_written_to_disk_and_reloaded() {
    let Some(probe) = gpu_runtime() else { return };
    if !probe
        .gpu_features()
        .unwrap()
        .contains(switchyard::wgpu::Features::PIPELINE_CACHE)
    {
        eprintln!("adapter has no PIPELINE_CACHE; nothing to persist");
        return;
    }
    drop(probe);
    let dir = std::env::temp_dir().join(format!("switchyard-pcache-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let config = || {
        RuntimeConfig::from_env()
            .unwrap()
            .cache_dir(Some(dir.clone()))
    };

    let first = Runtime::with_config(config()).unwrap();
    assert_eq!(first.pipeline_cache_loaded_bytes(), 0, "fresh directory");
    let kernel = Kernel::wgsl("double", DOUBLE, "main").unwrap();
    run(&first, &kernel);
    let written = first.save_pipeline_cache().unwrap();
    assert!(written > 0, "the driver produced cache data");
    let path = first.pipeline_cache_path().unwrap();
    assert!(path.exists());
    drop(first);

    let second = Runtime::with_config(config()).unwrap();
    assert!(
        second.pipeline_cache_loaded_bytes() > 0,
        "reloaded from {}",
        path.display()
    );
    let start = Instant::now();
    run(&second, &kernel);
    eprintln!(
        "first launch in a new process-like runtime with the disk cache: {:.2} ms",
        start.elapsed().as_secs_f64() * 1e3
    );
    drop(second);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn prepare_builds_ahead_of_the_first_launch() {
    let cpu = common::cpu_runtime();
    let kernel = Kernel::wgsl("double", DOUBLE, "main").unwrap();
    let no_gpu = cpu.prepare_gpu(&kernel).unwrap_err();
    assert!(
        matches!(&no_gpu, switchyard::Error::TargetUnavailable { kernel, .. } if kernel == "double"),
        "{no_gpu}"
    );

    let Some(rt) = gpu_runtime() else { return };
    let twin_only = Kernel::cpu_only("twin only", |_| Ok(()));
    let no_wgsl = rt.prepare_gpu(&twin_only).unwrap_err();
    assert!(no_wgsl.to_string().contains("no WGSL"), "{no_wgsl}");

    assert_eq!(rt.prepare_gpu(&kernel).unwrap(), CacheOutcome::Miss);
    assert_eq!(rt.prepare_gpu(&kernel).unwrap(), CacheOutcome::Hit);
    let (first_launch, _) = run(&rt, &kernel);
    assert_eq!(first_launch, CacheOutcome::Hit, "prepared, so not cold");
}
