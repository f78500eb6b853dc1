//! Subgroup operations, which lockstep makes plain lane loops.
//!
//! A subgroup is [`SUBGROUP_SIZE`] consecutive invocations of a workgroup
//! (by `local_invocation_index`), the last one shorter when the workgroup
//! size is not a multiple. Only its active lanes take part: a reduction
//! folds them in lane order, a scan runs over them in lane order, a
//! broadcast reads from the lane named. 8 is lavapipe's subgroup size, so
//! the results of the two can be compared; WGSL lets an implementation
//! choose any power of two from 4 to 128.

use super::program::{Reduction, Scalar, SubgroupOp};

/// Invocations per subgroup.
pub(crate) const SUBGROUP_SIZE: usize = 8;

fn f(bits: u32) -> f32 {
    f32::from_bits(bits)
}

/// The combining rule and its identity, for `ty`.
fn combine(op: Reduction, ty: Scalar) -> (fn(u32, u32) -> u32, u32) {
    use {Reduction as O, Scalar as S};
    match (op, ty) {
        (O::Add, S::F32) => (|a, b| (f(a) + f(b)).to_bits(), 0.0f32.to_bits()),
        (O::Mul, S::F32) => (|a, b| (f(a) * f(b)).to_bits(), 1.0f32.to_bits()),
        (O::Min, S::F32) => (|a, b| f(a).min(f(b)).to_bits(), f32::INFINITY.to_bits()),
        (O::Max, S::F32) => (|a, b| f(a).max(f(b)).to_bits(), f32::NEG_INFINITY.to_bits()),
        (O::Add, _) => (u32::wrapping_add, 0),
        (O::Mul, _) => (u32::wrapping_mul, 1),
        (O::Min, S::I32) => (|a, b| (a as i32).min(b as i32) as u32, i32::MAX as u32),
        (O::Max, S::I32) => (|a, b| (a as i32).max(b as i32) as u32, i32::MIN as u32),
        (O::Min, _) => (u32::min, u32::MAX),
        (O::Max, _) => (u32::max, 0),
        (O::And | O::All, _) => (|a, b| a & b, u32::MAX),
        (O::Or | O::Any, _) => (|a, b| a | b, 0),
        (O::Xor, _) => (|a, b| a ^ b, 0),
    }
}

/// Runs `op` over every subgroup of a batch whose workgroups have
/// `group_lanes` lanes; `arg` is the lane index or delta of a gather.
pub(crate) fn run(
    op: SubgroupOp,
    ty: Scalar,
    dst: &mut [u32],
    src: &[u32],
    arg: Option<&[u32]>,
    mask: &[u32],
    group_lanes: usize,
) {
    for (group, lanes) in dst.chunks_mut(group_lanes.max(1)).enumerate() {
        let base = group * group_lanes;
        for (s, out) in lanes.chunks_mut(SUBGROUP_SIZE).enumerate() {
            let first = base + s * SUBGROUP_SIZE;
            let len = out.len();
            let src = &src[first..first + len];
            let mask = &mask[first..first + len];
            let arg = arg.map(|a| &a[first..first + len]);
            subgroup(op, ty, out, src, arg, mask);
        }
    }
}

fn subgroup(
    op: SubgroupOp,
    ty: Scalar,
    out: &mut [u32],
    src: &[u32],
    arg: Option<&[u32]>,
    mask: &[u32],
) {
    let active = |lane: usize| mask[lane] != 0;
    let len = out.len();
    // A lane outside the subgroup, or not given, reads its own value.
    let read = |lane: usize, from: Option<usize>| match from {
        Some(other) if other < len => src[other],
        _ => src[lane],
    };
    match op {
        SubgroupOp::Ballot => {
            let bits = (0..len)
                .filter(|&lane| active(lane) && src[lane] != 0)
                .fold(0u32, |bits, lane| bits | 1 << lane);
            out.fill(bits);
        }
        SubgroupOp::BroadcastFirst => {
            let value = (0..len)
                .find(|&lane| active(lane))
                .map_or(0, |lane| src[lane]);
            out.fill(value);
        }
        SubgroupOp::Gather => {
            for lane in 0..len {
                out[lane] = read(lane, arg.map(|a| a[lane] as usize));
            }
        }
        SubgroupOp::ShuffleDown => {
            for lane in 0..len {
                out[lane] = read(lane, arg.map(|a| lane.wrapping_add(a[lane] as usize)));
            }
        }
        SubgroupOp::ShuffleUp => {
            for lane in 0..len {
                out[lane] = read(lane, arg.and_then(|a| lane.checked_sub(a[lane] as usize)));
            }
        }
        SubgroupOp::ShuffleXor => {
            for lane in 0..len {
                out[lane] = read(lane, arg.map(|a| lane ^ a[lane] as usize));
            }
        }
        SubgroupOp::Scan {
            operation,
            inclusive,
        } => {
            let (rule, identity) = combine(operation, ty);
            let mut running = identity;
            for lane in 0..len {
                if !active(lane) {
                    continue;
                }
                let next = rule(running, src[lane]);
                out[lane] = if inclusive { next } else { running };
                running = next;
            }
        }
        SubgroupOp::Reduce(operation) => {
            let (rule, identity) = combine(operation, ty);
            let value = (0..len)
                .filter(|&lane| active(lane))
                .fold(identity, |acc, lane| rule(acc, src[lane]));
            let value = if matches!(operation, Reduction::All | Reduction::Any) {
                u32::from(value != 0)
            } else {
                value
            };
            out.fill(value);
        }
    }
}
