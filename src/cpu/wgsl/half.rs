//! 16-bit floats (`f16`, behind `enable f16;` and `SHADER_F16`).
//!
//! A register holds an `f16` as the `f32` of the same value, which is
//! exact, so every `f32` lane loop serves: the operations of type `F16`
//! round their result to the nearest `f16` afterwards (`round_in_place`).
//! For `+ - * /` and `sqrt` that gives the correctly rounded `f16` result,
//! since `f32` has more than twice `f16`'s precision plus two bits, so the
//! first rounding cannot mislead the second; it is also what a CPU without
//! native `f16` arithmetic, lavapipe's included, computes.
//!
//! In memory an `f16` is two bytes, so loads and stores here reach half a
//! word: a store to a written storage buffer replaces its half with a
//! compare-exchange loop, so a neighbour writing the other half from
//! another thread is never lost.
//!
//! Invariant: out-of-bounds halves read 0 and are not written, as words.

use std::sync::atomic::Ordering;

use super::memory::{address, Memory, StorageView, WorkgroupMemory};
use super::program::Space;
use super::semantics::{f16_bits_to_f32, f32_to_f16_bits};

/// The nearest `f16` of each lane's `f32` (overflowing to infinity).
#[inline(always)]
pub(crate) fn round_in_place(lanes: &mut [u32]) {
    for lane in lanes {
        *lane = widen(f32_to_f16_bits(f32::from_bits(*lane)));
    }
}

fn widen(half: u16) -> u32 {
    f16_bits_to_f32(half).to_bits()
}

fn half_of(word: u32, at: usize) -> u16 {
    (word >> ((at & 2) * 8)) as u16
}

fn with_half(word: u32, at: usize, half: u16) -> u32 {
    let shift = (at & 2) * 8;
    (word & !(0xffff << shift)) | (u32::from(half) << shift)
}

/// Each lane's `f16` at `offsets[l] + delta` of `space`, widened; 0 out
/// of bounds.
pub(crate) fn load(
    dst: &mut [u32],
    memory: &Memory<'_>,
    workgroup: &WorkgroupMemory,
    space: Space,
    offsets: Option<&[u32]>,
    delta: u32,
) {
    let each = |dst: &mut [u32], offsets: Option<&[u32]>, read: &dyn Fn(usize) -> Option<u16>| {
        for (lane, d) in dst.iter_mut().enumerate() {
            let half = address(offsets, lane, delta).and_then(read);
            *d = half.map_or(0, widen);
        }
    };
    let from_bytes = |bytes: &[u8], at: usize| {
        let pair = bytes.get(at..at.checked_add(2)?)?;
        Some(u16::from_le_bytes([pair[0], pair[1]]))
    };
    match space {
        Space::Storage(n) => match memory.storage.get(n as usize) {
            Some(StorageView::Read(bytes)) => each(dst, offsets, &|at| from_bytes(bytes, at)),
            Some(StorageView::Write(words)) => each(dst, offsets, &|at| {
                let word = words.get(at / 4)?.load(Ordering::Relaxed);
                Some(half_of(word, at))
            }),
            None => dst.fill(0),
        },
        Space::Uniform(n) => match memory.uniforms.get(n as usize) {
            Some(bytes) => each(dst, offsets, &|at| from_bytes(bytes, at)),
            None => dst.fill(0),
        },
        Space::Workgroup => {
            let group_lanes = workgroup.group_lanes();
            for (group, lanes) in dst.chunks_mut(group_lanes).enumerate() {
                let block = workgroup.block(group);
                let offsets = offsets.map(|o| &o[group * group_lanes..][..lanes.len()]);
                each(lanes, offsets, &|at| Some(half_of(*block.get(at / 4)?, at)));
            }
        }
    }
}

/// Each active lane's value (an `f16` held as `f32`) to the two bytes at
/// `offsets[l] + delta` of `space`; dropped out of bounds.
pub(crate) fn store(
    memory: &Memory<'_>,
    workgroup: &mut WorkgroupMemory,
    space: Space,
    offsets: Option<&[u32]>,
    delta: u32,
    values: &[u32],
    mask: &[u32],
) {
    let narrow = |value: u32| f32_to_f16_bits(f32::from_bits(value));
    match space {
        Space::Storage(n) => {
            let Some(StorageView::Write(words)) = memory.storage.get(n as usize) else {
                return; // naga's validator refuses stores to read-only bindings
            };
            for (lane, (&value, &m)) in values.iter().zip(mask).enumerate() {
                let Some(at) = address(offsets, lane, delta).filter(|_| m != 0) else {
                    continue;
                };
                if let Some(word) = words.get(at / 4) {
                    let half = narrow(value);
                    // Never fails: the closure always gives a new value.
                    let _ = word.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |w| {
                        Some(with_half(w, at, half))
                    });
                }
            }
        }
        Space::Workgroup => {
            let group_lanes = workgroup.group_lanes();
            for (group, (values, mask)) in values
                .chunks(group_lanes)
                .zip(mask.chunks(group_lanes))
                .enumerate()
            {
                let block = workgroup.block_mut(group);
                let offsets = offsets.map(|o| &o[group * group_lanes..][..values.len()]);
                for (lane, (&value, &m)) in values.iter().zip(mask).enumerate() {
                    let Some(at) = address(offsets, lane, delta).filter(|_| m != 0) else {
                        continue;
                    };
                    if let Some(word) = block.get_mut(at / 4) {
                        *word = with_half(*word, at, narrow(value));
                    }
                }
            }
        }
        // naga's validator refuses stores to uniforms.
        Space::Uniform(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn halves_of_a_word_are_read_and_replaced_independently() {
        let word = 0xabcd_1234;
        assert_eq!(half_of(word, 0), 0x1234);
        assert_eq!(half_of(word, 6), 0xabcd);
        assert_eq!(with_half(word, 2, 0x5678), 0x5678_1234);
        assert_eq!(with_half(word, 4, 0x5678), 0xabcd_5678);
    }

    #[test]
    fn rounding_gives_the_nearest_half_and_overflows_to_infinity() {
        let mut lanes = [1.0f32, 65504.0, 65520.0, 1.0 + 1.0 / 4096.0, -0.1]
            .map(f32::to_bits)
            .to_vec();
        round_in_place(&mut lanes);
        let rounded: Vec<f32> = lanes.iter().map(|&b| f32::from_bits(b)).collect();
        // 1 + 2^-12 is a tie between 1 and 1 + 2^-10: to even, 1.
        assert_eq!(rounded[..4], [1.0, 65504.0, f32::INFINITY, 1.0]);
        assert_eq!(rounded[4], -0.099_975_586);
    }
}
