//! Launches split across both targets (`Launch::split`): at random points
//! and sizes, parts of 0 and 1 element, sizes that are not a multiple of
//! the workgroup, with the twin and with the WGSL executor on the CPU,
//! equal to a single-target run exactly; and launches that cannot be split
//! run on one target and say why; a split with two written buffers, a
//! split point learned from both sides, and the parts a split leaves on
//! each side: moved only as far as the next use needs, lost with the
//! device.
//!
//! saxpy is a multiply and an add per element: lavapipe, the twin and the
//! executor agree bit for bit on it (checked by the parity tests), so the
//! comparisons here are exact.

mod common;

use common::{cpu_runtime, gpu_runtime};
use proptest::prelude::*;
use switchyard::kernels::{self, SaxpyParams};
use switchyard::{Buffer, Kernel, Residency, Runtime, Target};

fn saxpy_values(len: usize, seed: u64) -> (Vec<f32>, Vec<f32>) {
    (
        common::random_f32(len, seed),
        common::random_f32(len, seed + 1),
    )
}

/// `y = a·x + y` on one target, from fresh buffers.
fn single(rt: &Runtime, kernel: &Kernel, x: &[f32], y: &[f32], target: Target) -> Vec<f32> {
    let xb = rt.buffer_from_slice(x).unwrap();
    let mut yb = rt.buffer_from_slice(y).unwrap();
    rt.launch(kernel)
        .uniform(&SaxpyParams {
            a: 1.5,
            n: x.len() as u32,
        })
        .read(&xb)
        .write(&mut yb)
        .invocations(x.len() as u32)
        .on(target)
        .run()
        .unwrap();
    yb.to_vec().unwrap()
}

/// The same, split with `at` elements on the CPU (chosen when `None`).
fn split(
    rt: &Runtime,
    kernel: &Kernel,
    x: &Buffer<f32>,
    y: &mut Buffer<f32>,
    at: Option<u64>,
) -> switchyard::LaunchReport {
    let launch = rt
        .launch(kernel)
        .uniform(&SaxpyParams {
            a: 1.5,
            n: x.len() as u32,
        })
        .read(x)
        .write(y)
        .invocations(x.len() as u32);
    match at {
        Some(k) => launch.split_at(k),
        None => launch.split(),
    }
    .run()
    .unwrap()
}

fn kernels() -> [Kernel; 2] {
    [kernels::saxpy(), kernels::saxpy().prefer_wgsl_on_cpu()]
}

#[test]
fn split_points_at_the_edges_and_inside_equal_a_single_target_run() {
    let Some(rt) = gpu_runtime() else { return };
    for kernel in kernels() {
        for len in [1usize, 2, 255, 257, 1000, 4096, 70_001] {
            let (x, y) = saxpy_values(len, len as u64);
            let expected = single(&rt, &kernel, &x, &y, Target::Gpu);
            assert_eq!(single(&rt, &kernel, &x, &y, Target::Cpu), expected);
            let n = len as u64;
            for at in [0, 1, n / 3, n.saturating_sub(1), n, n + 5] {
                let xb = rt.buffer_from_slice(&x).unwrap();
                let mut yb = rt.buffer_from_slice(&y).unwrap();
                let report = split(&rt, &kernel, &xb, &mut yb, Some(at));
                let parts = report.split.expect("split");
                assert_eq!(parts.cpu_elements, at.min(n), "{report}");
                assert_eq!(parts.cpu_elements + parts.gpu_elements, n, "{report}");
                assert_eq!(
                    yb.to_vec().unwrap(),
                    expected,
                    "len {len}, at {at}: {report}"
                );
                assert_eq!(xb.to_vec().unwrap(), x);
            }
        }
    }
}

#[test]
fn split_launches_mixed_with_single_target_ones_keep_both_copies_right() {
    let Some(rt) = gpu_runtime() else { return };
    let kernel = kernels::saxpy().prefer_wgsl_on_cpu();
    let len = (1 << 18) + 77;
    let (x, y) = saxpy_values(len, 9);
    let xb = rt.buffer_from_slice(&x).unwrap();
    let mut yb = rt.buffer_from_slice(&y).unwrap();
    let mut expected = y.clone();
    // A split leaves both copies current: the GPU and CPU launches after it
    // read whichever copy they find, and a later split reads both.
    let steps: [Option<Target>; 8] = [
        None,
        Some(Target::Gpu),
        None,
        Some(Target::Cpu),
        None,
        None,
        Some(Target::Gpu),
        None,
    ];
    for (round, step) in steps.into_iter().enumerate() {
        let report = match step {
            None if round % 3 == 2 => split(&rt, &kernel, &xb, &mut yb, Some(len as u64 / 5)),
            None => split(&rt, &kernel, &xb, &mut yb, None),
            Some(target) => rt
                .launch(&kernel)
                .uniform(&SaxpyParams {
                    a: 1.5,
                    n: len as u32,
                })
                .read(&xb)
                .write(&mut yb)
                .invocations(len as u32)
                .on(target)
                .run()
                .unwrap(),
        };
        if step.is_none() {
            let parts = report.split.expect("split");
            assert_eq!(parts.cpu_elements + parts.gpu_elements, len as u64);
            assert!(
                report
                    .reason
                    .starts_with(&format!("{}: split: cpu 0..", report.target)),
                "{report}"
            );
        }
        for (e, x) in expected.iter_mut().zip(&x) {
            *e += 1.5 * x;
        }
        // Only every other round reads back, so GPU launches also meet a
        // split's device copy unread.
        if round % 2 == 1 || round == steps.len() - 1 {
            assert_eq!(yb.to_vec().unwrap(), expected, "round {round}: {report}");
        }
    }
}

#[test]
fn a_launch_that_cannot_be_split_runs_on_one_target_and_says_why() {
    // No GPU.
    let rt = cpu_runtime();
    let (x, y) = saxpy_values(1000, 3);
    let xb = rt.buffer_from_slice(&x).unwrap();
    let mut yb = rt.buffer_from_slice(&y).unwrap();
    let report = split(&rt, &kernels::saxpy(), &xb, &mut yb, Some(10));
    assert_eq!(report.split, None);
    assert_eq!(report.target, Target::Cpu);
    assert!(
        report.reason.contains("not split: there is no usable GPU"),
        "{report}"
    );
    assert_eq!(
        yb.to_vec().unwrap(),
        single(&rt, &kernels::saxpy(), &x, &y, Target::Cpu)
    );

    // Not elementwise.
    let Some(rt) = gpu_runtime() else { return };
    let n = 64u32;
    let jacobi = kernels::jacobi2d();
    let field = vec![1.0f32; (n * n) as usize];
    let a = rt.buffer_from_slice(&field).unwrap();
    let mut b = rt.buffer_zeroed::<f32>((n * n) as usize).unwrap();
    let report = rt
        .launch(&jacobi)
        .uniform(&kernels::Jacobi2dParams {
            width: n,
            height: n,
            alpha: 0.1,
            _pad: 0,
        })
        .read(&a)
        .write(&mut b)
        .grid([n, n, 1])
        .split()
        .run()
        .unwrap();
    assert_eq!(report.split, None);
    assert!(
        report
            .reason
            .contains("not split: the kernel is not declared elementwise"),
        "{report}"
    );
}

/// `y += x; z = x * y` (the new y), element by element: two written
/// buffers, one read and written, one overwritten. Adds and multiplies
/// only, so every target agrees bit for bit.
const TWO_OUTPUTS: &str = r#"
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read_write> z: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= min(arrayLength(&x), min(arrayLength(&y), arrayLength(&z))) {
        return;
    }
    let updated = y[i] + x[i];
    y[i] = updated;
    z[i] = x[i] * updated;
}
"#;

fn two_outputs() -> Kernel {
    Kernel::wgsl("two_outputs", TWO_OUTPUTS, "main")
        .unwrap()
        .elementwise()
}

/// Runs [`TWO_OUTPUTS`] over `x`, `y` and `z`, split at `at` (`Some(None)`:
/// chosen by the runtime) or on one target (`None`).
fn run_two_outputs(
    rt: &Runtime,
    x: &Buffer<f32>,
    y: &mut Buffer<f32>,
    z: &mut Buffer<f32>,
    how: Result<Option<u64>, Target>,
) -> switchyard::LaunchReport {
    let kernel = two_outputs();
    let launch = rt
        .launch(&kernel)
        .read(x)
        .write(y)
        .overwrite(z)
        .invocations(x.len() as u32);
    match how {
        Ok(Some(at)) => launch.split_at(at),
        Ok(None) => launch.split(),
        Err(target) => launch.on(target),
    }
    .run()
    .unwrap()
}

#[test]
fn a_split_with_two_written_buffers_merges_both_on_both_copies() {
    let Some(rt) = gpu_runtime() else { return };
    let len = 50_000 + 3;
    let (x, y) = saxpy_values(len, 21);
    let xb = rt.buffer_from_slice(&x).unwrap();
    let mut yb = rt.buffer_from_slice(&y).unwrap();
    let mut zb = rt.buffer_zeroed::<f32>(len).unwrap();
    let mut expected_y = y.clone();
    let mut expected_z = vec![0.0f32; len];
    // Split, then each single target, then split again: the single-target
    // launches read whichever copy the split left current.
    let steps = [
        Ok(Some(len as u64 / 3)),
        Err(Target::Gpu),
        Ok(Some(1)),
        Err(Target::Cpu),
        Ok(None),
    ];
    for (round, how) in steps.into_iter().enumerate() {
        let report = run_two_outputs(&rt, &xb, &mut yb, &mut zb, how);
        assert_eq!(report.split.is_some(), how.is_ok(), "{report}");
        for ((y, z), x) in expected_y.iter_mut().zip(&mut expected_z).zip(&x) {
            *y += x;
            *z = x * *y;
        }
        assert_eq!(yb.to_vec().unwrap(), expected_y, "round {round}: {report}");
        assert_eq!(zb.to_vec().unwrap(), expected_z, "round {round}: {report}");
    }
}

#[test]
fn repeated_splits_choose_their_point_from_what_both_sides_measured() {
    let Some(rt) = gpu_runtime() else { return };
    let kernel = kernels::saxpy().prefer_wgsl_on_cpu();
    let len = 1 << 17;
    let (x, y) = saxpy_values(len, 5);
    let xb = rt.buffer_from_slice(&x).unwrap();
    let mut yb = rt.buffer_from_slice(&y).unwrap();
    let first = split(&rt, &kernel, &xb, &mut yb, None);
    assert!(first.reason.contains("predicted cpu"), "{first}");
    let second = split(&rt, &kernel, &xb, &mut yb, None);
    assert!(
        second.reason.contains("balanced by 1 measured split)"),
        "{second}"
    );
    let third = split(&rt, &kernel, &xb, &mut yb, None);
    assert!(
        third.reason.contains("balanced by 2 measured splits)"),
        "{third}"
    );
    let parts = third.split.expect("split");
    assert_eq!(parts.cpu_elements + parts.gpu_elements, len as u64);
}

/// `y += 1.5·x` in plain Rust.
fn add_saxpy(expected: &mut [f32], x: &[f32]) {
    for (e, x) in expected.iter_mut().zip(x) {
        *e += 1.5 * x;
    }
}

#[test]
fn a_split_leaves_each_part_where_it_ran_and_the_next_split_moves_only_the_difference() {
    let Some(rt) = gpu_runtime() else { return };
    let kernel = kernels::saxpy().prefer_wgsl_on_cpu();
    let len = (1 << 16) + 13;
    let n = len as u64;
    let (x, y) = saxpy_values(len, 31);
    let xb = rt.buffer_from_slice(&x).unwrap();
    let mut yb = rt.buffer_from_slice(&y).unwrap();
    let mut expected = y.clone();
    let third = n / 3;

    split(&rt, &kernel, &xb, &mut yb, Some(third));
    add_saxpy(&mut expected, &x);
    let Residency::Split {
        host_below,
        device_from,
    } = yb.residency()
    else {
        panic!("{:?}", yb.residency())
    };
    assert_eq!(host_below, third as usize * 4);
    assert!(device_from <= host_below);

    // The same point again: `x` is on both sides, `y`'s parts are where
    // each side needs them.
    let again = split(&rt, &kernel, &xb, &mut yb, Some(third));
    add_saxpy(&mut expected, &x);
    assert_eq!(
        (again.bytes_uploaded, again.bytes_downloaded),
        (0, 0),
        "{again}"
    );

    // Further up: the CPU needs the GPU's elements third..half.
    let half = n / 2;
    let up = split(&rt, &kernel, &xb, &mut yb, Some(half));
    add_saxpy(&mut expected, &x);
    assert_eq!(up.bytes_downloaded, (half - third) * 4, "{up}");
    assert_eq!(up.bytes_uploaded, 0, "{up}");

    // Further down: the GPU needs the CPU's elements from its aligned
    // start up to half, a small part of the buffer.
    let fifth = n / 5;
    let down = split(&rt, &kernel, &xb, &mut yb, Some(fifth));
    add_saxpy(&mut expected, &x);
    assert_eq!(down.bytes_downloaded, 0, "{down}");
    assert!(
        down.bytes_uploaded >= (half - fifth) * 4 && down.bytes_uploaded < n * 2,
        "{down}"
    );

    // Spans across the cut read from both copies and leave it split.
    let across = (fifth as usize - 100)..(fifth as usize + 100);
    assert_eq!(yb.read_range(across.clone()).unwrap(), expected[across]);
    assert!(matches!(yb.residency(), Residency::Split { .. }));

    // A host write makes it whole on the host first.
    yb.write_range(7, &[3.0, 4.0]).unwrap();
    expected[7..9].copy_from_slice(&[3.0, 4.0]);
    assert_eq!(yb.to_vec().unwrap(), expected);

    // And a GPU launch after a split uploads only the CPU's part.
    split(&rt, &kernel, &xb, &mut yb, Some(third));
    add_saxpy(&mut expected, &x);
    let gpu = rt
        .launch(&kernel)
        .uniform(&SaxpyParams {
            a: 1.5,
            n: n as u32,
        })
        .read(&xb)
        .write(&mut yb)
        .invocations(n as u32)
        .on(Target::Gpu)
        .run()
        .unwrap();
    add_saxpy(&mut expected, &x);
    // Up to the GPU part's aligned start: at most the CPU's elements.
    assert!((1..=third * 4).contains(&gpu.bytes_uploaded), "{gpu}");
    assert_eq!(yb.to_vec().unwrap(), expected);
    assert_eq!(xb.to_vec().unwrap(), x);
}

#[test]
fn a_device_lost_after_a_split_loses_only_the_gpus_part() {
    let Some(rt) = gpu_runtime() else { return };
    let kernel = kernels::saxpy().prefer_wgsl_on_cpu();
    let len = 40_000;
    let (x, y) = saxpy_values(len, 41);
    let xb = rt.buffer_from_slice(&x).unwrap();
    let mut yb = rt.buffer_from_slice(&y).unwrap();
    let mut expected = y.clone();
    split(&rt, &kernel, &xb, &mut yb, Some(len as u64 / 2));
    add_saxpy(&mut expected, &x);
    rt.simulate_device_loss();
    // The CPU's half lives on the host; the GPU's half was never read back,
    // like any GPU result, and is reported lost, never stale.
    assert_eq!(
        yb.read_range(0..len / 2).unwrap(),
        expected[..len / 2].to_vec()
    );
    let lost = yb.to_vec().unwrap_err();
    assert!(
        matches!(lost, switchyard::Error::DeviceLost { .. }),
        "{lost}"
    );
    assert_eq!(xb.to_vec().unwrap(), x);
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 40,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Random sizes and split points, on both CPU implementations, equal
    /// the GPU's single-target result.
    #[test]
    fn random_split_points_equal_a_single_target_run(
        len in 1usize..20_000,
        at in any::<prop::sample::Index>(),
        wgsl in any::<bool>(),
        seed in any::<u64>(),
    ) {
        let Some(rt) = shared_gpu() else { return Ok(()) };
        let kernel = &kernels()[usize::from(wgsl)];
        let (x, y) = saxpy_values(len, seed);
        let expected = single(rt, kernel, &x, &y, Target::Gpu);
        let at = at.index(len + 1) as u64;
        let xb = rt.buffer_from_slice(&x).unwrap();
        let mut yb = rt.buffer_from_slice(&y).unwrap();
        let report = split(rt, kernel, &xb, &mut yb, Some(at));
        prop_assert_eq!(report.split.map(|p| p.cpu_elements), Some(at));
        prop_assert_eq!(yb.to_vec().unwrap(), expected);
    }
}

#[test]
fn a_split_whose_gpu_part_cannot_be_recorded_runs_on_the_cpu_from_both_sides_parts() {
    let Some(rt) = gpu_runtime() else { return };
    let len = 30_000;
    let k = len as u64 / 3;
    let (x, y) = saxpy_values(len, 51);
    let xb = rt.buffer_from_slice(&x).unwrap();
    let mut yb = rt.buffer_from_slice(&y).unwrap();
    let mut zb = rt.buffer_zeroed::<f32>(len).unwrap();
    let mut expected_y = y.clone();
    split(&rt, &kernels::saxpy(), &xb, &mut yb, Some(k));
    add_saxpy(&mut expected_y, &x);
    assert!(matches!(yb.residency(), Residency::Split { .. }));

    // `z` has no device copy yet, and the GPU cannot give it one: the GPU
    // part fails while being recorded, and the CPU runs every element,
    // from `y`'s host part and its device part read back.
    rt.simulate_gpu_out_of_memory(2);
    let report = run_two_outputs(&rt, &xb, &mut yb, &mut zb, Ok(Some(k)));
    let parts = report.split.expect("split");
    assert_eq!(
        (parts.cpu_elements, parts.gpu_elements),
        (len as u64, 0),
        "{report}"
    );
    assert!(
        report.reason.contains("GPU part of the split failed"),
        "{report}"
    );
    let mut expected_z = vec![0.0f32; len];
    for ((y, z), x) in expected_y.iter_mut().zip(&mut expected_z).zip(&x) {
        *y += x;
        *z = x * *y;
    }
    assert_eq!(yb.residency(), Residency::HostOnly);
    assert_eq!(yb.to_vec().unwrap(), expected_y);
    assert_eq!(zb.to_vec().unwrap(), expected_z);
}

/// One use of the buffer in [`random_uses_of_split_buffers_equal_plain_rust`].
#[derive(Clone, Debug)]
enum Use {
    /// `y += 1.5·x` split at this share of the elements (0..=1000 ‰).
    Split(u64),
    OnGpu,
    OnCpu,
    /// Read elements `start..start + len` (clamped).
    ReadRange(usize, usize),
    /// Write `len` elements of `value` from `start` (clamped).
    WriteRange(usize, usize, i8),
    ReadAll,
}

fn a_use() -> impl Strategy<Value = Use> {
    prop_oneof![
        3 => (0u64..=1000).prop_map(Use::Split),
        1 => Just(Use::OnGpu),
        1 => Just(Use::OnCpu),
        1 => (0usize..5000, 1usize..3000).prop_map(|(start, len)| Use::ReadRange(start, len)),
        1 => (0usize..5000, 1usize..300, any::<i8>())
            .prop_map(|(start, len, value)| Use::WriteRange(start, len, value)),
        1 => Just(Use::ReadAll),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 24,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Splits at random points mixed with single-target launches and host
    /// reads and writes of ranges: whatever each split left on each side,
    /// every use sees the same data as plain Rust. Values are small
    /// integers, so every sum is exact.
    #[test]
    fn random_uses_of_split_buffers_equal_plain_rust(
        len in 1usize..6000,
        uses in prop::collection::vec(a_use(), 1..12),
    ) {
        let Some(rt) = shared_gpu() else { return Ok(()) };
        let kernel = kernels::saxpy().prefer_wgsl_on_cpu();
        let x: Vec<f32> = (0..len).map(|i| (i % 7) as f32 - 3.0).collect();
        let mut expected: Vec<f32> = (0..len).map(|i| (i % 5) as f32).collect();
        let xb = rt.buffer_from_slice(&x).unwrap();
        let mut yb = rt.buffer_from_slice(&expected).unwrap();
        for (step, used) in uses.iter().enumerate() {
            match *used {
                Use::Split(per_mille) => {
                    let at = len as u64 * per_mille / 1000;
                    split(rt, &kernel, &xb, &mut yb, Some(at));
                    add_saxpy(&mut expected, &x);
                }
                Use::OnGpu | Use::OnCpu => {
                    let target = if matches!(used, Use::OnGpu) { Target::Gpu } else { Target::Cpu };
                    rt.launch(&kernel)
                        .uniform(&SaxpyParams { a: 1.5, n: len as u32 })
                        .read(&xb)
                        .write(&mut yb)
                        .invocations(len as u32)
                        .on(target)
                        .run()
                        .unwrap();
                    add_saxpy(&mut expected, &x);
                }
                Use::ReadRange(start, count) => {
                    let start = start.min(len - 1);
                    let end = (start + count).min(len);
                    prop_assert_eq!(
                        yb.read_range(start..end).unwrap(),
                        expected[start..end].to_vec(),
                        "step {}: {:?}", step, used
                    );
                }
                Use::WriteRange(start, count, value) => {
                    let start = start.min(len - 1);
                    let end = (start + count).min(len);
                    let data = vec![f32::from(value); end - start];
                    yb.write_range(start, &data).unwrap();
                    expected[start..end].copy_from_slice(&data);
                }
                Use::ReadAll => {
                    prop_assert_eq!(yb.to_vec().unwrap(), expected.clone(), "step {}", step);
                }
            }
        }
        prop_assert_eq!(yb.to_vec().unwrap(), expected);
        prop_assert_eq!(xb.to_vec().unwrap(), x);
    }
}

fn shared_gpu() -> Option<&'static Runtime> {
    static RT: std::sync::OnceLock<Option<Runtime>> = std::sync::OnceLock::new();
    RT.get_or_init(gpu_runtime).as_ref()
}
