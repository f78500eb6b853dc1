//! Full f32 sum as repeated passes of one workgroup-tree kernel.

use std::sync::OnceLock;

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use super::{builtin, runs_serially};
use crate::cpu::CpuArgs;
use crate::kernel::Kernel;
use crate::{Buffer, Result, Runtime, Target};

pub(crate) const SOURCE: &str = include_str!("../../shaders/reduce_sum.wgsl");

const WORKGROUP: usize = 256;
const ITEMS: usize = 4;
/// Input elements each workgroup (and each partial sum) covers.
pub const REDUCE_ITEMS_PER_GROUP: usize = WORKGROUP * ITEMS;

/// The uniform of [`reduce_sum`]; matches `shaders/reduce_sum.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Pod, Zeroable)]
pub struct ReduceParams {
    /// Input elements to sum; capped at the input's length.
    pub n: u32,
}

/// One reduction pass: `partial[g]` = sum of input elements
/// `[g * 1024, (g + 1) * 1024)`. Arguments: uniform [`ReduceParams`],
/// `.read(input)`, `.overwrite(partial)`, `.invocations(groups * 256)`.
/// [`sum`] drives the passes.
pub fn reduce_sum() -> Kernel {
    static KERNEL: OnceLock<Kernel> = OnceLock::new();
    builtin(&KERNEL, || {
        Ok(Kernel::wgsl("reduce_sum", SOURCE, "main")?
            .cpu(reduce_twin)
            .serial_below(SERIAL_GROUPS as u64 * WORKGROUP as u64))
    })
}

/// The sum of every element of `input`, by passes of [`reduce_sum`] recorded in
/// one sequence (one GPU submission when they all run there).
///
/// # Errors
/// As [`Launch::run`](crate::Launch::run).
pub fn sum(rt: &Runtime, input: &Buffer<f32>, target: Target) -> Result<f32> {
    if input.is_empty() {
        return Ok(0.0);
    }
    let kernel = reduce_sum();
    let mut seq = rt.sequence().on(target);
    let mut n = input.len();
    let mut groups = n.div_ceil(REDUCE_ITEMS_PER_GROUP);
    let mut current = rt.buffer_zeroed::<f32>(groups)?;
    seq.launch(&kernel)
        .uniform(&ReduceParams { n: n as u32 })
        .read(input)
        .overwrite(&mut current)
        .invocations((groups * WORKGROUP) as u32)
        .run()?;
    while groups > 1 {
        n = groups;
        groups = n.div_ceil(REDUCE_ITEMS_PER_GROUP);
        let mut next = rt.buffer_zeroed::<f32>(groups)?;
        seq.launch(&kernel)
            .uniform(&ReduceParams { n: n as u32 })
            .read(&current)
            .overwrite(&mut next)
            .invocations((groups * WORKGROUP) as u32)
            .run()?;
        current = next;
    }
    seq.finish()?;
    current.with_host(|v| v[0])
}

/// Fewer groups than this (32 768 elements) are summed serially.
const SERIAL_GROUPS: usize = 32;

fn reduce_twin(args: &mut CpuArgs<'_>) -> Result<()> {
    let params: ReduceParams = args.uniform(0)?;
    let input = args.input::<f32>(0)?;
    let [x, y, z] = args.invocations();
    let launched_groups = (x as usize * y as usize * z as usize).div_ceil(WORKGROUP);
    let partial = args.output::<f32>(1)?;
    let n = (params.n as usize).min(input.len());
    let groups = launched_groups.min(partial.len());
    let sum_into = |(group, out): (usize, &mut f32)| *out = group_sum(input, n, group);
    if runs_serially([x, y, z], groups * WORKGROUP, SERIAL_GROUPS * WORKGROUP) {
        partial[..groups].iter_mut().enumerate().for_each(sum_into);
    } else {
        partial[..groups]
            .par_iter_mut()
            .with_min_len(16)
            .enumerate()
            .for_each(sum_into);
    }
    Ok(())
}

/// The sum of one workgroup's elements in exactly the shader's order: each
/// lane adds its `ITEMS` strided elements, then a pairwise tree.
fn group_sum(input: &[f32], n: usize, group: usize) -> f32 {
    let mut lanes = [0.0f32; WORKGROUP];
    let base = group * REDUCE_ITEMS_PER_GROUP;
    for k in 0..ITEMS {
        let start = base + k * WORKGROUP;
        if start >= n {
            break;
        }
        let chunk = &input[start..n.min(start + WORKGROUP)];
        for (lane, &value) in lanes.iter_mut().zip(chunk) {
            *lane += value;
        }
    }
    let mut stride = WORKGROUP / 2;
    while stride > 0 {
        let (low, high) = lanes.split_at_mut(stride);
        for (a, &b) in low.iter_mut().zip(&high[..stride]) {
            *a += b;
        }
        stride /= 2;
    }
    lanes[0]
}
