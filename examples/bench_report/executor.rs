//! The WGSL executor's rows: each built-in kernel's own shader run on the
//! CPU pool by `cpu::wgsl`, against the same kernel's Rust twin and against
//! lavapipe, at 2^10, 2^16 and 2^20 work, side by side in rotating blocks.
//!
//! Every contender is one launch of the kernel (a reduction is one pass,
//! not a whole sum), so all three do the same work. The ratios are
//! throughputs: the baseline's time over the executor's, so above 1 means
//! the executor is faster.

use super::timing::{Blocks, Contender};
use super::workloads::{Problem, SwitchyardCase, KERNELS};
use super::{Fallible, Line, Results};
use switchyard::{Runtime, Target};

const SIZES_LOG2: [u32; 3] = [10, 16, 20];

/// The executor against the twin and against the GPU, per kernel and size.
pub fn measure(rt: &Runtime, rounds: usize, results: &mut Results) -> Fallible<()> {
    let gpu = rt.gpu_available();
    for kernel in KERNELS {
        for log2 in SIZES_LOG2 {
            let problem = Problem::new(kernel, log2);
            let mut wgsl = SwitchyardCase::new(rt, &problem)?
                .wgsl_on_cpu()
                .single_pass();
            let mut twin = SwitchyardCase::new(rt, &problem)?.single_pass();
            let mut on_gpu = SwitchyardCase::new(rt, &problem)?.single_pass();
            for _ in 0..2 {
                wgsl.run(rt, Target::Cpu)?;
                twin.run(rt, Target::Cpu)?;
                if gpu {
                    on_gpu.run(rt, Target::Gpu)?;
                }
            }
            let blocks = Blocks {
                rounds,
                block_seconds: 20e-3,
                min_calls: 2,
                max_calls: 2000,
            };
            let mut contenders: Vec<Contender<'_>> = vec![
                Box::new(|| Ok(wgsl.run(rt, Target::Cpu)?.0)),
                Box::new(|| Ok(twin.run(rt, Target::Cpu)?.0)),
            ];
            if gpu {
                contenders.push(Box::new(|| Ok(on_gpu.run(rt, Target::Gpu)?.0)));
            }
            let compared = blocks.compare(&mut contenders)?;
            drop(contenders);
            let over_twin = compared.ratio(1, &[0]);
            results.lines.push(Line {
                what: format!("Cpu (wgsl) vs twin, {kernel} 2^{log2}"),
                ours_s: compared.medians[0],
                baseline: "twin",
                baseline_s: compared.medians[1],
                ratio: over_twin,
                goal: "≥ 0.1",
            });
            if log2 == 20 {
                results.wgsl_cpu_over_twin.push((kernel, over_twin));
            }
            if gpu {
                let over_gpu = compared.ratio(2, &[0]);
                results.lines.push(Line {
                    what: format!("Cpu (wgsl) vs Gpu, {kernel} 2^{log2}"),
                    ours_s: compared.medians[0],
                    baseline: "gpu",
                    baseline_s: compared.medians[2],
                    ratio: over_gpu,
                    goal: match log2 {
                        20 => "≥ 1.5",
                        10 => "≥ 20",
                        _ => "-",
                    },
                });
                match log2 {
                    20 => results.wgsl_cpu_over_lavapipe.push((kernel, over_gpu)),
                    10 => results
                        .wgsl_cpu_small_over_lavapipe
                        .push((kernel, over_gpu)),
                    _ => {}
                }
            }
        }
    }
    Ok(())
}
