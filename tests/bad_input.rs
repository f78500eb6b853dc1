//! Bad input gets a typed error naming the kernel, the argument and the sizes,
//! and the caller's buffers keep their data.

mod common;

use common::{all_runtimes, cpu_runtime, gpu_runtime, saxpy};
use switchyard::kernels::{self, SaxpyParams};
use switchyard::{Access, Error, Kernel, Target};

#[test]
fn invalid_wgsl_reports_line_and_column() {
    let err = Kernel::wgsl(
        "typo",
        "@compute @workgroup_size(1)\nfn main() {\n  let x = 1 +;\n}",
        "main",
    )
    .unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, Error::InvalidShader { .. }));
    assert!(text.contains("typo") && text.contains(":3:"), "{text}");
    let err = Kernel::wgsl(
        "vertex",
        "@vertex fn main() -> @builtin(position) vec4<f32> { return vec4<f32>(); }",
        "main",
    )
    .unwrap_err();
    assert!(matches!(err, Error::UnsupportedKernel { .. }), "{err}");
    // A type error: caught by naga's validator, not its parser.
    let err = Kernel::wgsl(
        "mistyped",
        "@compute @workgroup_size(1)\nfn main() {\n  let x: f32 = 1u;\n}",
        "main",
    )
    .unwrap_err();
    assert!(
        matches!(&err, Error::InvalidShader { kernel, .. } if kernel == "mistyped"),
        "{err}"
    );
    // An entry point that is not there names the one asked for.
    let err =
        Kernel::wgsl("absent", "@compute @workgroup_size(1)\nfn run() {}", "main").unwrap_err();
    assert!(
        matches!(
            &err,
            Error::InvalidShader { .. } | Error::UnsupportedKernel { .. }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("main"), "{err}");
}

#[test]
fn nan_and_infinity_are_computed_not_rejected_alike_on_both_targets() {
    let special = [
        f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        -0.0,
        f32::MAX,
        1.0,
    ];
    let x: Vec<f32> = special.iter().cycle().take(600).copied().collect();
    let y0: Vec<f32> = special.iter().rev().cycle().take(600).copied().collect();
    let expected: Vec<f32> = x.iter().zip(&y0).map(|(x, y)| 2.0 * x + y).collect();
    for rt in common::all_runtimes() {
        for target in [Target::Cpu, Target::Gpu] {
            if target == Target::Gpu && !rt.gpu_available() {
                continue;
            }
            let xb = rt.buffer_from_slice(&x).unwrap();
            let mut yb = rt.buffer_from_slice(&y0).unwrap();
            common::saxpy(&rt, 2.0, &xb, &mut yb, target);
            let got = yb.to_vec().unwrap();
            for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
                // NaN where Rust gives NaN (any payload); otherwise the same
                // value, infinities and signed zero included (2·MAX + 1
                // overflows to +inf on both).
                assert!(
                    (g.is_nan() && e.is_nan()) || g.to_bits() == e.to_bits(),
                    "{target:?} element {i}: {g} vs {e}"
                );
            }
        }
    }
}

#[test]
fn argument_errors_name_the_binding_and_leave_buffers_intact() {
    for rt in all_runtimes() {
        let saxpy = kernels::saxpy();
        let xs = [1.0f32, 2.0, 3.0, 4.0];
        let ys = [5.0f32, 6.0, 7.0, 8.0];
        let mut x = rt.buffer_from_slice(&xs).unwrap();
        let mut y = rt.buffer_from_slice(&ys).unwrap();
        let params = SaxpyParams { a: 2.0, n: 4 };

        let err = rt
            .launch(&saxpy)
            .uniform(&params)
            .read(&x)
            .invocations(4)
            .run()
            .unwrap_err();
        assert!(
            matches!(&err, Error::ArgumentCount { kernel, kind: "buffer", expected: 2, given: 1 } if kernel == "saxpy"),
            "{err}"
        );
        let err = rt
            .launch(&saxpy)
            .read(&x)
            .write(&mut y)
            .invocations(4)
            .run()
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::ArgumentCount {
                    kind: "uniform",
                    ..
                }
            ),
            "{err}"
        );

        let err = rt
            .launch(&saxpy)
            .uniform(&params)
            .read(&x)
            .read(&y)
            .invocations(4)
            .run()
            .unwrap_err();
        assert!(
            matches!(&err, Error::AccessMismatch { index: 1, binding: 2, name, declared: Access::ReadWrite, passed: Access::Read, .. } if name == "y"),
            "{err}"
        );
        let err = rt
            .launch(&saxpy)
            .uniform(&params)
            .write(&mut x)
            .write(&mut y)
            .invocations(4)
            .run()
            .unwrap_err();
        assert!(
            matches!(
                &err,
                Error::AccessMismatch {
                    index: 0,
                    declared: Access::Read,
                    ..
                }
            ),
            "{err}"
        );

        let wide = rt.buffer_from_slice(&[1.0f64; 4]).unwrap();
        let err = rt
            .launch(&saxpy)
            .uniform(&params)
            .read(&wide)
            .write(&mut y)
            .invocations(4)
            .run()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            matches!(err, Error::ArgumentSize { .. })
                && text.contains("8-byte")
                && text.contains("stride is 4"),
            "{text}"
        );

        let err = rt
            .launch(&saxpy)
            .uniform(&[1.0f32; 3])
            .read(&x)
            .write(&mut y)
            .invocations(4)
            .run()
            .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("12 bytes") && text.contains("has 8"),
            "{text}"
        );

        let err = rt
            .launch(&saxpy)
            .uniform(&params)
            .read(&x)
            .write(&mut y)
            .invocations(0)
            .run()
            .unwrap_err();
        assert!(matches!(err, Error::LaunchSize { .. }), "{err}");
        let err = rt
            .launch(&saxpy)
            .uniform(&params)
            .read(&x)
            .write(&mut y)
            .run()
            .unwrap_err();
        assert!(err.to_string().contains(".invocations(n)"), "{err}");

        let empty = rt.buffer_zeroed::<f32>(0).unwrap();
        let err = rt
            .launch(&saxpy)
            .uniform(&params)
            .read(&empty)
            .write(&mut y)
            .invocations(4)
            .run()
            .unwrap_err();
        assert!(err.to_string().contains("empty"), "{err}");

        let other = cpu_runtime();
        let foreign = other.buffer_from_slice(&xs).unwrap();
        let err = rt
            .launch(&saxpy)
            .uniform(&params)
            .read(&foreign)
            .write(&mut y)
            .invocations(4)
            .run()
            .unwrap_err();
        assert!(
            matches!(err, Error::ForeignBuffer { index: 0, .. }),
            "{err}"
        );

        assert_eq!(x.to_vec().unwrap(), xs, "x survives every failed launch");
        assert_eq!(y.to_vec().unwrap(), ys, "y survives every failed launch");
    }
}

#[test]
fn unavailable_targets_are_errors_not_silent_redirects() {
    let rt = cpu_runtime();
    let x = rt.buffer_from_slice(&[1.0f32]).unwrap();
    let mut y = rt.buffer_from_slice(&[1.0f32]).unwrap();
    let err = rt
        .launch(&kernels::saxpy())
        .uniform(&SaxpyParams { a: 1.0, n: 1 })
        .read(&x)
        .write(&mut y)
        .invocations(1)
        .on(Target::Gpu)
        .run()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::TargetUnavailable {
                target: Target::Gpu,
                ..
            }
        ),
        "{err}"
    );

    // A WGSL-only kernel is no longer GPU-only: without a GPU it runs on
    // the CPU executor (tests/wgsl_cpu.rs has what the executor refuses).
    let wgsl_only = Kernel::wgsl(
        "wgsl_only",
        "@group(0) @binding(0) var<storage, read_write> v: array<f32>;\n@compute @workgroup_size(1) fn main() { v[0] = 2.0; }",
        "main",
    )
    .unwrap();
    let report = rt
        .launch(&wgsl_only)
        .write(&mut y)
        .invocations(1)
        .run()
        .unwrap();
    assert_eq!(report.target, Target::Cpu);
    assert_eq!(y.to_vec().unwrap(), [2.0]);
}

/// Buffers over the storage binding limit (128 MiB on lavapipe): an
/// elementwise kernel runs over aligned slices of them on the GPU; any other
/// kernel is refused there with the reason, and runs on the CPU under Auto.
#[test]
fn buffers_over_the_binding_limit_run_sliced_when_the_kernel_is_elementwise() {
    let Some(rt) = gpu_runtime() else { return };
    let binding_limit = rt.gpu_limits().unwrap().max_storage_buffer_binding_size;
    if binding_limit > 512 << 20 {
        eprintln!(
            "skipped: the binding limit ({binding_limit} bytes) is too large to exceed cheaply"
        );
        return;
    }
    let len = (binding_limit / 4) as usize + 1000;
    let x_values: Vec<f32> = (0..len).map(|i| (i % 1021) as f32).collect();
    let x = rt.buffer_from_slice(&x_values).unwrap();
    let mut y = rt.buffer_from_slice(&vec![1.0f32; len]).unwrap();
    let report = saxpy(&rt, 2.0, &x, &mut y, Target::Gpu);
    assert_eq!(report.target, Target::Gpu);
    let mismatches = y
        .to_vec()
        .unwrap()
        .iter()
        .zip(&x_values)
        .filter(|(y, x)| **y != 2.0 * **x + 1.0)
        .count();
    assert_eq!(mismatches, 0, "of {len} elements");

    let increment = Kernel::wgsl(
        "increment",
        "@group(0) @binding(0) var<storage, read_write> v: array<f32>;\n\
         @compute @workgroup_size(256) fn main(@builtin(global_invocation_id) g: vec3<u32>,\n\
           @builtin(num_workgroups) n: vec3<u32>) {\n\
           let i = g.x + g.y * n.x * 256u;\n\
           if i < arrayLength(&v) { v[i] = v[i] + 1.0; }\n}",
        "main",
    )
    .unwrap()
    .cpu(|args| {
        for v in args.output::<f32>(0)? {
            *v += 1.0;
        }
        Ok(())
    });
    let err = rt
        .launch(&increment)
        .write(&mut y)
        .invocations(len as u32)
        .on(Target::Gpu)
        .run()
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("`v`") && message.contains("Kernel::elementwise"),
        "{message}"
    );
    let report = rt
        .launch(&increment)
        .write(&mut y)
        .invocations(len as u32)
        .on(Target::Auto)
        .run()
        .unwrap();
    assert_eq!(report.target, Target::Cpu);
    let values = y.to_vec().unwrap();
    assert_eq!(values[len - 1], 2.0 * x_values[len - 1] + 2.0);
}

#[test]
fn grids_over_the_dispatch_limit_are_split_and_compute_what_one_dispatch_would() {
    let Some(rt) = gpu_runtime() else { return };
    // A 1-D launch needing more than 65 535 workgroups, on a kernel that does
    // not linearize over num_workgroups: run as two dispatches.
    let plain = Kernel::wgsl(
        "plain_index",
        "@group(0) @binding(0) var<storage, read_write> v: array<u32>;\n\
         @compute @workgroup_size(1) fn main(@builtin(global_invocation_id) g: vec3<u32>) {\n\
           if g.x < arrayLength(&v) { v[g.x] = g.x; }\n}",
        "main",
    )
    .unwrap();
    let n = 70_000u32;
    let mut v = rt.buffer_zeroed::<u32>(n as usize).unwrap();
    let report = rt
        .launch(&plain)
        .write(&mut v)
        .invocations(n)
        .on(Target::Gpu)
        .run()
        .unwrap();
    assert_eq!(report.workgroups, Some([n, 1, 1]));
    let values = v.to_vec().unwrap();
    assert!(values.iter().enumerate().all(|(i, &x)| x == i as u32));

    // A 3-D grid over the limit in x, read through a struct of built-ins:
    // every invocation must see the ids and counts of one whole dispatch.
    let (x, y, z) = (270_000u32, 3u32, 2u32);
    let ids = Kernel::wgsl(
        "grid_ids",
        "struct Ids {\n\
           @builtin(workgroup_id) group: vec3<u32>,\n\
           @builtin(num_workgroups) groups: vec3<u32>,\n\
           @builtin(local_invocation_index) local: u32,\n\
         }\n\
         struct Size { x: u32, y: u32, z: u32, _pad: u32 }\n\
         @group(0) @binding(0) var<uniform> size: Size;\n\
         @group(0) @binding(1) var<storage, read_write> out: array<u32>;\n\
         @compute @workgroup_size(4, 1, 1)\n\
         fn main(ids: Ids, @builtin(global_invocation_id) g: vec3<u32>) {\n\
           if g.x >= size.x || g.y >= size.y || g.z >= size.z { return; }\n\
           let at = g.x + size.x * (g.y + size.y * g.z);\n\
           out[at] = ids.group.x * 7u + ids.group.y * 13u + ids.group.z * 17u\n\
             + ids.groups.x * 3u + ids.groups.y * 5u + ids.groups.z * 11u + ids.local;\n\
         }",
        "main",
    )
    .unwrap();
    let expected: Vec<u32> = (0..z)
        .flat_map(|gz| (0..y).flat_map(move |gy| (0..x).map(move |gx| (gx, gy, gz))))
        .map(|(gx, gy, gz)| {
            let groups = [x.div_ceil(4), y, z];
            (gx / 4) * 7
                + gy * 13
                + gz * 17
                + groups[0] * 3
                + groups[1] * 5
                + groups[2] * 11
                + gx % 4
        })
        .collect();
    let mut out = rt.buffer_zeroed::<u32>(expected.len()).unwrap();
    let report = rt
        .launch(&ids)
        .uniform(&[x, y, z, 0u32])
        .write(&mut out)
        .grid([x, y, z])
        .on(Target::Gpu)
        .run()
        .unwrap();
    assert_eq!(report.workgroups, Some([x.div_ceil(4), y, z]));
    assert!(
        out.to_vec().unwrap() == expected,
        "split dispatch ids differ"
    );
}

#[test]
fn twin_errors_and_panics_are_typed_and_the_runtime_survives() {
    let rt = cpu_runtime();
    let wrong_type = Kernel::cpu_only("wrong_type", |args| {
        let _: &[[f32; 3]] = args.input(0)?;
        Ok(())
    });
    let data = rt.buffer_from_slice(&[1.0f32; 4]).unwrap();
    let err = rt
        .launch(&wrong_type)
        .read(&data)
        .invocations(1)
        .run()
        .unwrap_err();
    assert!(
        matches!(err, Error::CpuArgument { .. }) && err.to_string().contains("16 bytes"),
        "{err}"
    );

    let panics = Kernel::cpu_only("panics", |args| {
        let v = args.input::<f32>(0)?;
        let _ = v[99];
        Ok(())
    });
    let err = rt
        .launch(&panics)
        .read(&data)
        .invocations(1)
        .run()
        .unwrap_err();
    assert!(
        matches!(&err, Error::CpuKernelPanicked { kernel, .. } if kernel == "panics"),
        "{err}"
    );
    assert_eq!(data.to_vec().unwrap(), [1.0; 4]);

    let mut out = rt.buffer_zeroed::<f32>(4).unwrap();
    rt.launch(&kernels::saxpy())
        .uniform(&SaxpyParams { a: 1.0, n: 4 })
        .read(&data)
        .write(&mut out)
        .invocations(4)
        .run()
        .unwrap();
    assert_eq!(
        out.to_vec().unwrap(),
        [1.0; 4],
        "the pool still works after a panic"
    );
}

#[test]
fn ranges_past_the_end_are_typed_and_change_nothing() {
    for rt in all_runtimes() {
        let mut b = rt.buffer_from_slice(&[1u32, 2, 3]).unwrap();
        if rt.gpu_available() {
            b.prefetch_to_gpu().unwrap();
        }
        let out_of_range = |result: switchyard::Result<_>, (s, e): (usize, usize)| {
            let error = result.expect_err("the range is out of bounds");
            assert!(
                matches!(
                    error,
                    Error::RangeOutOfBounds { buffer_len: 3, start, end, type_name }
                        if (start, end) == (s, e) && type_name == "u32"
                ),
                "{error}"
            );
            assert!(error.to_string().contains(&format!("{s}..{e}")), "{error}");
        };
        out_of_range(b.write_range(2, &[9, 9]).map(|_| ()), (2, 4));
        out_of_range(
            b.write_range(usize::MAX, &[9]).map(|_| ()),
            (usize::MAX, usize::MAX),
        );
        out_of_range(b.read_range(1..5).map(|_| ()), (1, 5));
        #[allow(clippy::reversed_empty_ranges)]
        out_of_range(b.read_range(3..1).map(|_| ()), (3, 1));
        out_of_range(b.read_range_into(4, &mut []).map(|_| ()), (4, 4));
        assert_eq!(b.read_range(3..3).unwrap(), Vec::<u32>::new());
        assert_eq!(b.to_vec().unwrap(), [1, 2, 3], "nothing was written");
    }
}

#[test]
fn host_side_length_mismatches_are_typed() {
    let rt = cpu_runtime();
    let mut b = rt.buffer_from_slice(&[1u32, 2, 3]).unwrap();
    assert!(matches!(
        b.write_from_slice(&[1, 2]),
        Err(Error::LengthMismatch {
            buffer_len: 3,
            slice_len: 2
        })
    ));
    let mut out = [0u32; 4];
    assert!(matches!(
        b.read_into(&mut out),
        Err(Error::LengthMismatch { .. })
    ));
    assert_eq!(b.to_vec().unwrap(), [1, 2, 3]);
    #[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
    #[repr(C, align(32))]
    struct Wide([u8; 32]);
    assert!(matches!(
        rt.buffer_zeroed::<Wide>(1),
        Err(Error::UnsupportedElement { .. })
    ));
}

#[test]
fn a_buffer_larger_than_memory_is_a_typed_error_not_an_abort() {
    let rt = common::cpu_runtime();
    // Past what the address space can hold: the byte count overflows.
    let err = rt.buffer_zeroed::<f32>(usize::MAX / 2).unwrap_err();
    assert!(
        matches!(&err, Error::HostOutOfMemory { purpose, .. } if purpose.contains("f32")),
        "{err}"
    );
    // A byte count that fits but no allocator can grant.
    let err = rt.buffer_zeroed::<u8>(usize::MAX / 4).unwrap_err();
    assert!(
        matches!(&err, Error::HostOutOfMemory { bytes, .. } if *bytes >= (usize::MAX / 4) as u64),
        "{err}"
    );
    let b = rt.buffer_from_slice(&[1.0f32, 2.0]).unwrap();
    assert_eq!(
        b.to_vec().unwrap(),
        [1.0, 2.0],
        "the runtime is still usable"
    );
}
