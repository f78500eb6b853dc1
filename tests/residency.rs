//! Transfers happen only when the destination copy is stale: the counted
//! bytes equal the minimum for each mix of CPU and GPU launches.

mod common;

use common::{all_runtimes, cpu_runtime, gpu_runtime, jacobi_steps, saxpy};
use switchyard::kernels::{self, Jacobi2dParams, SaxpyParams};
use switchyard::{Buffer, Residency, Sequence, Target, TransferStats};

const N: u32 = 4096;
const BYTES: u64 = N as u64 * 4;

#[test]
fn mixed_gpu_cpu_launches_move_only_stale_data() {
    let Some(rt) = gpu_runtime() else { return };
    let x = rt.buffer_from_slice(&vec![1.0f32; N as usize]).unwrap();
    let mut y = rt.buffer_from_slice(&vec![0.0f32; N as usize]).unwrap();
    let mut run = |target| {
        let before = rt.transfer_stats();
        saxpy(&rt, 1.0, &x, &mut y, target);
        rt.transfer_stats() - before
    };

    // GPU first: both arguments are uploaded once.
    let t = run(Target::Gpu);
    assert_eq!((t.bytes_uploaded, t.bytes_downloaded), (2 * BYTES, 0));
    // GPU again: nothing moves; both device copies are current.
    let t = run(Target::Gpu);
    assert_eq!(
        (t.bytes_uploaded, t.bytes_downloaded, t.uploads_avoided),
        (0, 0, 2)
    );
    // CPU: y's only valid copy is on the device, x is valid on both sides.
    let t = run(Target::Cpu);
    assert_eq!((t.bytes_uploaded, t.bytes_downloaded), (0, BYTES));
    // GPU: y was modified on the host, x was not.
    let t = run(Target::Gpu);
    assert_eq!((t.bytes_uploaded, t.bytes_downloaded), (BYTES, 0));
    assert_eq!(y.residency(), Residency::DeviceOnly);

    // One host read downloads; the second does not.
    let before = rt.transfer_stats();
    let values = y.to_vec().unwrap();
    let again = y.to_vec().unwrap();
    let t = rt.transfer_stats() - before;
    assert_eq!((t.bytes_downloaded, t.downloads), (BYTES, 1));
    assert_eq!(values, again);
    assert!(
        values.iter().all(|&v| v == 4.0),
        "four launches each added 1"
    );
    assert_eq!(y.residency(), Residency::Both);
}

#[test]
fn overwrite_skips_the_upload_of_the_old_contents() {
    let Some(rt) = gpu_runtime() else { return };
    let (w, h) = (64u32, 64u32);
    let src = rt
        .buffer_from_slice(&vec![1.0f32; (w * h) as usize])
        .unwrap();
    let mut dst = rt.buffer_zeroed::<f32>((w * h) as usize).unwrap();
    let params = Jacobi2dParams {
        width: w,
        height: h,
        alpha: 0.1,
        _pad: 0,
    };
    let before = rt.transfer_stats();
    rt.launch(&kernels::jacobi2d())
        .uniform(&params)
        .read(&src)
        .overwrite(&mut dst)
        .grid([w, h, 1])
        .on(Target::Gpu)
        .run()
        .unwrap();
    let t = rt.transfer_stats() - before;
    assert_eq!(
        t.bytes_uploaded,
        u64::from(w * h) * 4,
        "only src is uploaded"
    );
    assert!(dst.to_vec().unwrap().iter().all(|&v| v == 1.0));
}

#[test]
fn sequence_of_100_gpu_steps_is_one_submission_without_readback() {
    let Some(rt) = gpu_runtime() else { return };
    let (w, h) = (32u32, 32u32);
    let grid = common::random_f32((w * h) as usize, 5);
    let (_, report) = jacobi_steps(&rt, &grid, (w, h), 0.2, &[Target::Gpu; 100]);
    assert_eq!(report.gpu_launches, 100);
    assert_eq!(
        report.submissions, 1,
        "100 launches recorded into one submission"
    );
    assert_eq!(
        report.transfers.downloads, 0,
        "no readback inside the sequence"
    );
    assert_eq!(
        report.transfers.bytes_uploaded,
        w as u64 * h as u64 * 4,
        "only the initial grid"
    );
}

/// Records `y += 2 x` over 8 elements into `seq`.
fn record_saxpy(seq: &mut Sequence<'_>, x: &Buffer<f32>, y: &mut Buffer<f32>) {
    seq.launch(&kernels::saxpy())
        .uniform(&SaxpyParams { a: 2.0, n: 8 })
        .read(x)
        .write(y)
        .invocations(8)
        .run()
        .unwrap();
}

#[test]
fn host_read_inside_a_sequence_sees_the_recorded_work() {
    let Some(rt) = gpu_runtime() else { return };
    let x = rt.buffer_from_slice(&[1.0f32; 8]).unwrap();
    let mut y = rt.buffer_from_slice(&[0.0f32; 8]).unwrap();
    let mut seq = rt.sequence().on(Target::Gpu);
    record_saxpy(&mut seq, &x, &mut y);
    // Not finished yet: the read must submit and wait for the recorded launch.
    assert_eq!(y.to_vec().unwrap(), [2.0; 8]);
    record_saxpy(&mut seq, &x, &mut y);
    // A host write after a recorded (unsubmitted) launch: its upload must not
    // overtake that launch, or the launch would overwrite it.
    y.write_from_slice(&[10.0; 8]).unwrap();
    record_saxpy(&mut seq, &x, &mut y);
    seq.finish().unwrap();
    assert_eq!(y.to_vec().unwrap(), [12.0; 8]);
}

#[test]
fn sequences_give_the_same_result_on_every_runtime() {
    let expected = {
        let rt = cpu_runtime();
        run_mixed_sequence(&rt, &[Target::Cpu; 6])
    };
    // As in tests/parity.rs: FMA contraction on a GPU costs at most
    // 4 u max|u| per step, and 6 steps were taken from data in [-1, 1).
    let tol = 6.0 * 4.0 * f32::EPSILON;
    for rt in all_runtimes() {
        let targets: Vec<Target> = if rt.gpu_available() {
            vec![
                Target::Gpu,
                Target::Cpu,
                Target::Gpu,
                Target::Gpu,
                Target::Cpu,
                Target::Auto,
            ]
        } else {
            vec![
                Target::Cpu,
                Target::Auto,
                Target::Cpu,
                Target::Auto,
                Target::Cpu,
                Target::Auto,
            ]
        };
        let got = run_mixed_sequence(&rt, &targets);
        assert_eq!(got.len(), expected.len());
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert!(
                (g - e).abs() <= tol,
                "cell {i}: {g} vs {e} with {targets:?}"
            );
        }
    }
}

fn run_mixed_sequence(rt: &switchyard::Runtime, targets: &[Target]) -> Vec<f32> {
    let (w, h) = (40u32, 30u32);
    let grid = common::random_f32((w * h) as usize, 11);
    jacobi_steps(rt, &grid, (w, h), 0.25, targets).0
}

#[test]
fn cpu_only_runtime_never_transfers() {
    let rt = cpu_runtime();
    assert!(!rt.gpu_available());
    assert!(rt
        .gpu_unavailable_reason()
        .unwrap()
        .contains("SWITCHYARD_BACKEND=none"));
    let x = rt.buffer_from_slice(&[1.0f32, 2.0, 3.0]).unwrap();
    let mut y = rt.buffer_from_slice(&[1.0f32; 3]).unwrap();
    let report = saxpy(&rt, 2.0, &x, &mut y, Target::Auto);
    assert_eq!(report.target, Target::Cpu);
    assert!(report.reason.contains("no GPU"), "{}", report.reason);
    assert_eq!(y.to_vec().unwrap(), [3.0, 5.0, 7.0]);
    assert_eq!(rt.transfer_stats(), TransferStats::default());
    assert_eq!(rt.submissions(), 0);
}

#[test]
fn host_mut_and_write_from_slice_invalidate_the_device_copy() {
    let Some(rt) = gpu_runtime() else { return };
    let x = rt.buffer_from_slice(&[1.0f32; 16]).unwrap();
    let mut y = rt.buffer_zeroed::<f32>(16).unwrap();
    saxpy(&rt, 1.0, &x, &mut y, Target::Gpu);
    y.host_mut().unwrap()[0] = 100.0; // downloads, then the device copy is stale
    assert_eq!(y.residency(), Residency::HostOnly);
    saxpy(&rt, 1.0, &x, &mut y, Target::Gpu);
    let out = y.to_vec().unwrap();
    assert_eq!(out[0], 101.0);
    assert_eq!(out[1], 2.0);
    y.write_from_slice(&[7.0; 16]).unwrap();
    assert_eq!(y.residency(), Residency::HostOnly);
    assert_eq!(y.to_vec().unwrap(), [7.0; 16]);
}

#[test]
fn prefetch_uploads_once_and_then_launches_upload_nothing() {
    let cpu = common::cpu_runtime();
    let on_cpu = cpu.buffer_from_slice(&[1.0f32; 64]).unwrap();
    assert_eq!(
        on_cpu.prefetch_to_gpu().unwrap(),
        0,
        "no GPU: nothing moves"
    );
    assert_eq!(on_cpu.residency(), Residency::HostOnly);

    let Some(rt) = gpu_runtime() else { return };
    let x = rt.buffer_from_slice(&[2.0f32; 1000]).unwrap();
    let mut y = rt.buffer_from_slice(&[1.0f32; 1000]).unwrap();
    assert_eq!(x.prefetch_to_gpu().unwrap(), 4000);
    assert_eq!(x.residency(), Residency::Both);
    assert_eq!(x.prefetch_to_gpu().unwrap(), 0, "already current");
    y.prefetch_to_gpu().unwrap();
    let report = common::saxpy(&rt, 0.5, &x, &mut y, Target::Gpu);
    assert_eq!(report.bytes_uploaded, 0, "{report}");
    assert_eq!(y.to_vec().unwrap(), vec![2.0; 1000]);
    let empty = rt.buffer_zeroed::<f32>(0).unwrap();
    assert_eq!(empty.prefetch_to_gpu().unwrap(), 0);
}

#[test]
fn ranged_reads_and_writes_move_only_the_range() {
    let Some(rt) = gpu_runtime() else { return };
    let n = N as usize;
    let x = rt.buffer_from_slice(&vec![1.0f32; n]).unwrap();
    let initial: Vec<f32> = (0..n).map(|i| i as f32).collect();
    let mut y = rt.buffer_from_slice(&initial).unwrap();
    let mut model: Vec<f32> = initial.iter().map(|v| v + 1.0).collect();
    saxpy(&rt, 1.0, &x, &mut y, Target::Gpu);
    assert_eq!(y.residency(), Residency::DeviceOnly);

    let before = rt.transfer_stats();
    assert_eq!(y.read_range(100..164).unwrap(), model[100..164]);
    let t = rt.transfer_stats() - before;
    assert_eq!((t.bytes_downloaded, t.bytes_uploaded), (64 * 4, 0));
    assert_eq!(
        y.residency(),
        Residency::DeviceOnly,
        "the host copy stays stale"
    );

    let patch = [-5.0f32; 32];
    let before = rt.transfer_stats();
    y.write_range(n - 32, &patch).unwrap();
    let t = rt.transfer_stats() - before;
    assert_eq!((t.bytes_downloaded, t.bytes_uploaded), (0, 32 * 4));
    assert_eq!(y.residency(), Residency::DeviceOnly);
    model[n - 32..].copy_from_slice(&patch);

    // The next launch sees the written range; the full read agrees.
    saxpy(&rt, 1.0, &x, &mut y, Target::Gpu);
    model.iter_mut().for_each(|v| *v += 1.0);
    assert_eq!(y.to_vec().unwrap(), model);

    // Both copies current: a write goes to both, a read moves nothing.
    assert_eq!(y.residency(), Residency::Both);
    let before = rt.transfer_stats();
    y.write_range(7, &[42.0; 3]).unwrap();
    let mut out = [0.0f32; 5];
    y.read_range_into(6, &mut out).unwrap();
    let t = rt.transfer_stats() - before;
    assert_eq!((t.bytes_downloaded, t.bytes_uploaded), (0, 3 * 4));
    assert_eq!(out, [model[6], 42.0, 42.0, 42.0, model[10]]);
    assert_eq!(y.residency(), Residency::Both);
    model[7..10].fill(42.0);
    saxpy(&rt, 1.0, &x, &mut y, Target::Gpu);
    model.iter_mut().for_each(|v| *v += 1.0);
    assert_eq!(y.to_vec().unwrap(), model);
}

/// Adds 1 to each of 16 `u16` halves of the eight words of its argument:
/// a buffer of 2-byte elements the GPU can write, so ranges that start or
/// end inside a 4-byte word reach the device copy.
fn add_one_to_halves() -> switchyard::Kernel {
    const SOURCE: &str = "
        @group(0) @binding(0) var<storage, read_write> words: array<u32, 8>;
        @compute @workgroup_size(8)
        fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
            if gid.x < 8u { words[gid.x] = words[gid.x] + 0x00010001u; }
        }";
    switchyard::Kernel::wgsl("add_one_to_halves", SOURCE, "main")
        .unwrap()
        .cpu(|args| {
            args.output::<u16>(0)?.iter_mut().for_each(|v| *v += 1);
            Ok(())
        })
}

#[test]
fn ranges_inside_four_byte_words_match_a_host_model_in_every_residency() {
    for rt in all_runtimes() {
        let target = if rt.gpu_available() {
            Target::Gpu
        } else {
            Target::Cpu
        };
        let kernel = add_one_to_halves();
        let mut model: Vec<u16> = (0..16).map(|i| 100 * i).collect();
        let mut buffer = rt.buffer_from_slice(&model).unwrap();
        let check = |buffer: &Buffer<u16>, model: &[u16]| {
            for (start, end) in [(0, 16), (1, 2), (3, 8), (5, 16), (15, 16), (4, 4)] {
                assert_eq!(buffer.read_range(start..end).unwrap(), model[start..end]);
            }
        };
        let step = |buffer: &mut Buffer<u16>, model: &mut Vec<u16>| {
            rt.launch(&kernel)
                .write(buffer)
                .invocations(8)
                .on(target)
                .run()
                .unwrap();
            model.iter_mut().for_each(|v| *v += 1);
        };
        // (start, values): odd and even starts, odd lengths, the last element.
        let writes: [(usize, &[u16]); 4] =
            [(3, &[7, 8, 9, 10, 11]), (0, &[1]), (15, &[2]), (6, &[3, 4])];
        for (start, values) in writes {
            step(&mut buffer, &mut model);
            check(&buffer, &model); // GPU: only the device copy is current
            buffer.write_range(start, values).unwrap();
            model[start..start + values.len()].copy_from_slice(values);
            check(&buffer, &model);
            step(&mut buffer, &mut model);
            assert_eq!(buffer.to_vec().unwrap(), model); // both copies current
            let before = start.saturating_sub(1);
            buffer.write_range(before, &values[..1]).unwrap();
            model[before] = values[0];
            step(&mut buffer, &mut model);
            check(&buffer, &model);
        }
        assert_eq!(buffer.to_vec().unwrap(), model, "{:?}", rt.gpu_info());
    }
}

#[test]
fn reading_every_gpu_result_copies_each_once_and_stays_correct() {
    let Some(rt) = gpu_runtime() else { return };
    let n = N as usize;
    let x = rt.buffer_from_slice(&vec![1.0f32; n]).unwrap();
    let mut y = rt.buffer_from_slice(&vec![0.0f32; n]).unwrap();
    let mut out = vec![0.0f32; n];

    // The first read after a GPU write fills the host copy too.
    saxpy(&rt, 1.0, &x, &mut y, Target::Gpu);
    let before = rt.transfer_stats();
    y.read_into(&mut out).unwrap();
    assert!(out.iter().all(|&v| v == 1.0));
    assert_eq!(y.residency(), Residency::Both);
    assert_eq!((rt.transfer_stats() - before).bytes_downloaded, BYTES);

    // A simulation's output loop: the host reads every GPU result, so each
    // read copies into the caller's memory alone and the host copy stays
    // stale; each result is downloaded exactly once and is right.
    for step in 2..6 {
        saxpy(&rt, 1.0, &x, &mut y, Target::Gpu);
        let before = rt.transfer_stats();
        let values = if step % 2 == 0 {
            y.to_vec().unwrap()
        } else {
            y.read_into(&mut out).unwrap();
            out.clone()
        };
        let t = rt.transfer_stats() - before;
        assert_eq!((t.bytes_downloaded, t.downloads), (BYTES, 1), "step {step}");
        assert!(values.iter().all(|&v| v == step as f32), "step {step}");
        assert_eq!(y.residency(), Residency::DeviceOnly, "step {step}");
    }

    // Reading again before the next GPU write downloads again, and a CPU
    // launch finds the device copy as the valid one.
    assert!(y.to_vec().unwrap().iter().all(|&v| v == 5.0));
    let before = rt.transfer_stats();
    saxpy(&rt, 1.0, &x, &mut y, Target::Cpu);
    assert_eq!((rt.transfer_stats() - before).bytes_downloaded, BYTES);
    assert_eq!(y.residency(), Residency::HostOnly);
    assert!(y.to_vec().unwrap().iter().all(|&v| v == 6.0));
}
