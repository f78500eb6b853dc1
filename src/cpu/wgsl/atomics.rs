//! Atomic read-modify-writes on the memory a program reaches: storage
//! words, shared with other threads' workgroups and so updated with real
//! atomics, and a batch's own workgroup words.
//!
//! Lanes take their turns in lane order, each seeing the word its
//! predecessors left, as a GPU serialises a workgroup's atomics in some
//! order; out-of-bounds lanes read 0 and write nothing (see `memory`).

use std::sync::atomic::Ordering;

use super::memory::{address, Memory, StorageView, WorkgroupMemory};
use super::program::{AtomicOp, Space};

/// The word an atomic operation leaves, from the word before and the
/// operand.
fn atomic_result(op: AtomicOp, signed: bool, old: u32, value: u32, compare: u32) -> u32 {
    match op {
        AtomicOp::Add => old.wrapping_add(value),
        AtomicOp::Subtract => old.wrapping_sub(value),
        AtomicOp::And => old & value,
        AtomicOp::InclusiveOr => old | value,
        AtomicOp::ExclusiveOr => old ^ value,
        AtomicOp::Min if signed => (old as i32).min(value as i32) as u32,
        AtomicOp::Max if signed => (old as i32).max(value as i32) as u32,
        AtomicOp::Min => old.min(value),
        AtomicOp::Max => old.max(value),
        AtomicOp::Exchange => value,
        AtomicOp::CompareExchange if old == compare => value,
        AtomicOp::CompareExchange => old,
    }
}

/// What an atomic operation does, and with which operands.
#[derive(Clone, Copy)]
pub(crate) struct AtomicAccess<'r> {
    pub op: AtomicOp,
    pub signed: bool,
    pub values: &'r [u32],
    pub compare: Option<&'r [u32]>,
    /// The lanes that take part.
    pub mask: &'r [u32],
}

/// Runs `access` lane after lane in the active lanes at `offsets + delta`;
/// `dst[l]` = the word before lane `l`'s operation (0 out of bounds, where
/// nothing is written).
pub(crate) fn atomic(
    dst: &mut [u32],
    memory: &Memory<'_>,
    workgroup: &mut WorkgroupMemory,
    space: Space,
    offsets: Option<&[u32]>,
    delta: u32,
    access: AtomicAccess<'_>,
) {
    let group_lanes = workgroup.group_lanes();
    for (lane, d) in dst.iter_mut().enumerate() {
        if access.mask[lane] == 0 {
            continue;
        }
        let value = access.values[lane];
        let compare = access.compare.map_or(0, |c| c[lane]);
        let apply = |old| atomic_result(access.op, access.signed, old, value, compare);
        let at = address(offsets, lane, delta);
        *d = match space {
            Space::Storage(n) => {
                let word = match memory.storage.get(n as usize) {
                    Some(StorageView::Write(words)) => at.and_then(|at| words.get(at / 4)),
                    _ => None,
                };
                // `fetch_update` retries until no other thread changed the
                // word in between: one atomic read-modify-write.
                word.map_or(0, |w| {
                    w.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |old| Some(apply(old)))
                        .unwrap_or_else(|old| old)
                })
            }
            Space::Workgroup => {
                let block = workgroup.block_mut(lane / group_lanes);
                match at.and_then(|at| block.get_mut(at / 4)) {
                    Some(word) => {
                        let old = *word;
                        *word = apply(old);
                        old
                    }
                    None => 0,
                }
            }
            Space::Uniform(_) => 0,
        };
    }
}
