//! The memory a program's loads and stores reach: the launch's storage
//! buffers and uniforms (the host copies a twin would get), and one
//! workgroup's `var<workgroup>` words.
//!
//! (Atomic operations are in `atomics`.)
//!
//! Workgroups run on different threads and may write the same storage
//! buffer (a histogram, a scatter, a data race the shader allows), so a
//! written buffer is never a plain `&mut` here: it is viewed as
//! `&[AtomicU32]` and every access is a relaxed atomic, which on x86 and
//! ARM is an ordinary load or store. Read-only buffers and uniforms are
//! plain shared bytes.
//!
//! Bounds follow what wgpu's Vulkan backend asks of a driver with
//! `robustBufferAccess2`, as lavapipe has (naga's `Unchecked` buffer
//! policy): a read outside the binding gives 0, a write outside it is
//! dropped. Nothing outside the binding is ever touched.
//!
//! Invariant: a buffer's word view covers exactly its bytes; a buffer whose
//! length is not a whole number of aligned words is run on a padded copy,
//! written back after the launch.

use std::sync::atomic::{AtomicU32, Ordering};

use super::access::{copy_le_words, is_contiguous, load_in_pieces, store_in_pieces};
use super::program::Space;

/// One storage argument as a program sees it.
pub(crate) enum StorageView<'a> {
    Read(&'a [u8]),
    Write(&'a [AtomicU32]),
}

impl StorageView<'_> {
    pub(crate) fn byte_len(&self) -> usize {
        match self {
            StorageView::Read(bytes) => bytes.len(),
            StorageView::Write(words) => words.len() * 4,
        }
    }
}

/// The little-endian word at byte `offset` of `bytes`, 0 when any of its
/// bytes lies outside.
pub(crate) fn read_word(bytes: &[u8], offset: usize) -> u32 {
    match bytes.get(offset..offset.saturating_add(4)) {
        Some(&[a, b, c, d]) => u32::from_le_bytes([a, b, c, d]),
        _ => 0,
    }
}

/// A written buffer's bytes as atomic words for as long as they are
/// exclusively borrowed; the bytes back when they are not a whole number of
/// 4-byte-aligned words (the caller then pads a copy).
#[allow(unsafe_code)]
pub(crate) fn atomic_words(bytes: &mut [u8]) -> Result<&[AtomicU32], &mut [u8]> {
    const _: () = assert!(std::mem::align_of::<AtomicU32>() == 4);
    if !bytes.len().is_multiple_of(4) || bytes.as_ptr().align_offset(4) != 0 {
        return Err(bytes);
    }
    let len = bytes.len() / 4;
    let start = bytes.as_mut_ptr().cast::<AtomicU32>();
    // SAFETY: the bytes are initialised, 4-byte aligned (checked above, and
    // `AtomicU32`'s alignment is 4) and a whole number of words, and every
    // bit pattern is a valid `AtomicU32`, so the pointer addresses `len`
    // valid atomics inside the slice. The `&mut` borrow is held for the
    // result's lifetime, so no non-atomic access to these bytes can happen
    // while the atomic view exists. (`AtomicU32::from_mut_slice` does this
    // for `&mut [u32]`, but is unstable.)
    Ok(unsafe { std::slice::from_raw_parts(start, len) })
}

/// A padded, aligned copy of a written buffer whose bytes cannot be viewed
/// as words in place; copied back by [`PaddedCopy::write_back`].
pub(crate) struct PaddedCopy {
    words: Vec<AtomicU32>,
}

impl PaddedCopy {
    pub(crate) fn new(bytes: &[u8]) -> PaddedCopy {
        let words = bytes
            .chunks(4)
            .map(|chunk| {
                let mut word = [0u8; 4];
                word[..chunk.len()].copy_from_slice(chunk);
                AtomicU32::new(u32::from_le_bytes(word))
            })
            .collect();
        PaddedCopy { words }
    }

    pub(crate) fn words(&self) -> &[AtomicU32] {
        &self.words
    }

    pub(crate) fn write_back(self, bytes: &mut [u8]) {
        for (chunk, word) in bytes.chunks_mut(4).zip(self.words) {
            let le = word.into_inner().to_le_bytes();
            chunk.copy_from_slice(&le[..chunk.len()]);
        }
    }
}

/// Everything a batch's memory operations reach.
pub(crate) struct Memory<'a> {
    pub storage: Vec<StorageView<'a>>,
    pub uniforms: Vec<&'a [u8]>,
}

/// The `var<workgroup>` memory of a batch's workgroups, one block of
/// `stride_words` per workgroup, zeroed before the batch starts (as wgpu
/// asks every backend to). Lane `l` belongs to workgroup `l / group_lanes`.
pub(crate) struct WorkgroupMemory {
    words: Vec<u32>,
    stride_words: usize,
    group_lanes: usize,
}

impl WorkgroupMemory {
    pub(crate) fn new(bytes_per_group: u32, groups: usize, group_lanes: usize) -> WorkgroupMemory {
        let stride_words = bytes_per_group.div_ceil(16) as usize * 4;
        WorkgroupMemory {
            words: vec![0; stride_words * groups],
            stride_words,
            group_lanes: group_lanes.max(1),
        }
    }

    pub(crate) fn reset(&mut self) {
        self.words.fill(0);
    }

    /// Lanes per workgroup.
    pub(crate) fn group_lanes(&self) -> usize {
        self.group_lanes
    }

    /// The words of workgroup `group` of the batch.
    pub(crate) fn block(&self, group: usize) -> &[u32] {
        let start = group * self.stride_words;
        self.words
            .get(start..start + self.stride_words)
            .unwrap_or(&[])
    }

    pub(crate) fn block_mut(&mut self, group: usize) -> &mut [u32] {
        let start = group * self.stride_words;
        self.words
            .get_mut(start..start + self.stride_words)
            .unwrap_or(&mut [])
    }
}

/// The byte address of lane `lane`'s access, `None` when out of range.
pub(crate) fn address(offsets: Option<&[u32]>, lane: usize, delta: u32) -> Option<usize> {
    let base = offsets.map_or(0, |o| o[lane]);
    if base == u32::MAX {
        return None;
    }
    Some(base as usize + delta as usize)
}

/// `dst[l]` = the word at `offsets[l] + delta` of `space`, 0 out of bounds.
pub(crate) fn load(
    dst: &mut [u32],
    memory: &Memory<'_>,
    workgroup: &WorkgroupMemory,
    space: Space,
    offsets: Option<&[u32]>,
    delta: u32,
) {
    match space {
        Space::Storage(n) => match memory.storage.get(n as usize) {
            Some(StorageView::Read(bytes)) => load_bytes(dst, bytes, offsets, delta),
            Some(StorageView::Write(words)) => load_in_pieces(
                dst,
                offsets,
                delta,
                |d, o| match contiguous_run(words, o, delta, d.len()) {
                    Some(run) => {
                        for (d, w) in d.iter_mut().zip(run) {
                            *d = w.load(Ordering::Relaxed);
                        }
                        true
                    }
                    None => false,
                },
                |at| words.get(at / 4).map_or(0, |w| w.load(Ordering::Relaxed)),
            ),
            None => dst.fill(0),
        },
        Space::Uniform(n) => match memory.uniforms.get(n as usize) {
            Some(bytes) => load_bytes(dst, bytes, offsets, delta),
            None => dst.fill(0),
        },
        Space::Workgroup => {
            let group_lanes = workgroup.group_lanes;
            for (group, lanes) in dst.chunks_mut(group_lanes).enumerate() {
                let block = workgroup.block(group);
                let offsets = offsets.map(|o| &o[group * group_lanes..][..lanes.len()]);
                // `tile[local_id.x]`: one slice of the block.
                load_in_pieces(
                    lanes,
                    offsets,
                    delta,
                    |d, o| match contiguous_words(block, o, delta, d.len()) {
                        Some(run) => {
                            d.copy_from_slice(run);
                            true
                        }
                        None => false,
                    },
                    |at| block.get(at / 4).copied().unwrap_or(0),
                );
            }
        }
    }
}

/// Loads from plain bytes: slice copies where lanes read consecutive words.
fn load_bytes(dst: &mut [u32], bytes: &[u8], offsets: Option<&[u32]>, delta: u32) {
    load_in_pieces(
        dst,
        offsets,
        delta,
        |d, o| {
            let Some(o) = o.filter(|o| is_contiguous(o)) else {
                return false;
            };
            let first = o.first().copied().unwrap_or(u32::MAX);
            let start = first as usize + delta as usize;
            match bytes.get(start..start + 4 * d.len()) {
                Some(run) if first != u32::MAX => {
                    copy_le_words(d, run);
                    true
                }
                _ => false,
            }
        },
        |at| read_word(bytes, at),
    );
}

/// The word range lane `l` reaches at `offsets[l] + delta` when the lanes
/// reach one run of consecutive words, lane `l` at word `l` of it.
fn contiguous_range(
    offsets: Option<&[u32]>,
    delta: u32,
    lanes: usize,
) -> Option<std::ops::Range<usize>> {
    let o = offsets?;
    let first = *o.first()?;
    let start = first as usize + delta as usize;
    if first == u32::MAX || !start.is_multiple_of(4) || !is_contiguous(o) {
        return None;
    }
    Some(start / 4..start / 4 + lanes)
}

fn contiguous_run<'w>(
    words: &'w [AtomicU32],
    offsets: Option<&[u32]>,
    delta: u32,
    lanes: usize,
) -> Option<&'w [AtomicU32]> {
    words.get(contiguous_range(offsets, delta, lanes)?)
}

fn contiguous_words<'w>(
    words: &'w [u32],
    offsets: Option<&[u32]>,
    delta: u32,
    lanes: usize,
) -> Option<&'w [u32]> {
    words.get(contiguous_range(offsets, delta, lanes)?)
}

fn contiguous_words_mut<'w>(
    words: &'w mut [u32],
    offsets: Option<&[u32]>,
    delta: u32,
    lanes: usize,
) -> Option<&'w mut [u32]> {
    words.get_mut(contiguous_range(offsets, delta, lanes)?)
}

/// The word at `offsets[l] + delta` of `space` = `values[l]`, in the lanes
/// `mask` has; dropped out of bounds.
pub(crate) fn store(
    memory: &Memory<'_>,
    workgroup: &mut WorkgroupMemory,
    space: Space,
    offsets: Option<&[u32]>,
    delta: u32,
    values: &[u32],
    mask: &[u32],
) {
    match space {
        Space::Storage(n) => {
            let Some(StorageView::Write(words)) = memory.storage.get(n as usize) else {
                return; // naga's validator refuses stores to read-only bindings
            };
            let mut words: &[AtomicU32] = words;
            store_in_pieces(
                &mut words,
                offsets,
                delta,
                (values, mask),
                |words, o, (values, mask)| match contiguous_run(words, o, delta, values.len()) {
                    Some(run) => {
                        for ((w, &value), &m) in run.iter().zip(values).zip(mask) {
                            if m != 0 {
                                w.store(value, Ordering::Relaxed);
                            }
                        }
                        true
                    }
                    None => false,
                },
                |words, at, value| {
                    if let Some(w) = words.get(at / 4) {
                        w.store(value, Ordering::Relaxed);
                    }
                },
            );
        }
        Space::Workgroup => {
            let group_lanes = workgroup.group_lanes;
            for (group, (values, mask)) in values
                .chunks(group_lanes)
                .zip(mask.chunks(group_lanes))
                .enumerate()
            {
                let mut block = workgroup.block_mut(group);
                let offsets = offsets.map(|o| &o[group * group_lanes..][..values.len()]);
                store_in_pieces(
                    &mut block,
                    offsets,
                    delta,
                    (values, mask),
                    |block, o, (values, mask)| match contiguous_words_mut(
                        block,
                        o,
                        delta,
                        values.len(),
                    ) {
                        Some(run) => {
                            for ((w, &value), &m) in run.iter_mut().zip(values).zip(mask) {
                                let take = m.wrapping_neg();
                                *w = (value & take) | (*w & !take);
                            }
                            true
                        }
                        None => false,
                    },
                    |block, at, value| {
                        if let Some(w) = block.get_mut(at / 4) {
                            *w = value;
                        }
                    },
                );
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
    fn out_of_bounds_reads_are_zero_and_writes_are_dropped() {
        let bytes = [1u8, 0, 0, 0, 2, 0, 0];
        assert_eq!(read_word(&bytes, 0), 1);
        assert_eq!(read_word(&bytes, 4), 0, "a word that crosses the end");
        assert_eq!(read_word(&bytes, usize::MAX), 0);
        let mut aligned = vec![0u32; 2];
        let words = atomic_words(bytemuck::cast_slice_mut(&mut aligned)).unwrap();
        let memory = Memory {
            storage: vec![StorageView::Write(words)],
            uniforms: vec![&bytes],
        };
        let mut workgroup = WorkgroupMemory::new(8, 2, 2);
        let offsets = [4, 8, u32::MAX, 0];
        store(
            &memory,
            &mut workgroup,
            Space::Storage(0),
            Some(&offsets),
            0,
            &[9, 7, 5, 3],
            &[1, 1, 1, 0],
        );
        let mut loaded = [0u32; 4];
        load(
            &mut loaded,
            &memory,
            &workgroup,
            Space::Storage(0),
            Some(&offsets),
            0,
        );
        assert_eq!(loaded, [9, 0, 0, 0], "lane 3 was inactive");
        load(
            &mut loaded,
            &memory,
            &workgroup,
            Space::Uniform(0),
            Some(&[0, 4, 0, 0]),
            0,
        );
        assert_eq!(loaded, [1, 0, 1, 1]);
        drop(memory);
        assert_eq!(aligned, [0, 9]);
        let mut ragged = [0u8; 6];
        assert!(atomic_words(&mut ragged).is_err());
    }

    #[test]
    fn each_workgroup_of_a_batch_has_its_own_memory() {
        let memory = Memory {
            storage: vec![],
            uniforms: vec![],
        };
        // Two workgroups of two lanes, 8 bytes each.
        let mut workgroup = WorkgroupMemory::new(8, 2, 2);
        store(
            &memory,
            &mut workgroup,
            Space::Workgroup,
            Some(&[0, 4, 0, 4]),
            0,
            &[1, 2, 3, 4],
            &[1; 4],
        );
        let mut loaded = [0u32; 4];
        load(
            &mut loaded,
            &memory,
            &workgroup,
            Space::Workgroup,
            Some(&[4, 0, 4, 0]),
            0,
        );
        assert_eq!(loaded, [2, 1, 4, 3]);
        load(&mut loaded, &memory, &workgroup, Space::Workgroup, None, 16);
        assert_eq!(
            loaded, [0; 4],
            "past a workgroup's block reads 0, not the next block"
        );
    }

    #[test]
    fn a_ragged_buffer_runs_on_a_padded_copy() {
        let mut bytes = vec![1u8, 2, 3, 4, 5, 6];
        let copy = PaddedCopy::new(&bytes);
        assert_eq!(copy.words().len(), 2);
        copy.words()[1].store(0x0807_0605 + 0x0101, Ordering::Relaxed);
        copy.write_back(&mut bytes);
        assert_eq!(bytes, [1, 2, 3, 4, 6, 7]);
    }
}
