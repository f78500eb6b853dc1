//! The memory a program's loads and stores reach: the launch's storage
//! buffers and uniforms (the host copies a twin would get), and one
//! workgroup's `var<workgroup>` words.
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

    /// The word at byte `offset` (a multiple of 4), 0 outside the binding.
    pub(crate) fn load(&self, offset: usize) -> u32 {
        match self {
            StorageView::Read(bytes) => read_word(bytes, offset),
            StorageView::Write(words) => words
                .get(offset / 4)
                .map_or(0, |w| w.load(Ordering::Relaxed)),
        }
    }

    /// Writes the word at byte `offset`; dropped outside the binding or on
    /// a read-only binding (naga's validator refuses such stores).
    pub(crate) fn store(&self, offset: usize, value: u32) {
        if let StorageView::Write(words) = self {
            if let Some(w) = words.get(offset / 4) {
                w.store(value, Ordering::Relaxed);
            }
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

/// One workgroup's `var<workgroup>` memory, zeroed before the workgroup
/// starts (as wgpu asks every backend to).
pub(crate) struct WorkgroupMemory {
    pub words: Vec<u32>,
}

impl WorkgroupMemory {
    pub(crate) fn new(bytes: u32) -> WorkgroupMemory {
        WorkgroupMemory {
            words: vec![0; bytes.div_ceil(4) as usize],
        }
    }

    pub(crate) fn reset(&mut self) {
        self.words.fill(0);
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
        let bytes: &mut [u8] = bytemuck::cast_slice_mut(&mut aligned);
        let view = StorageView::Write(atomic_words(bytes).unwrap());
        view.store(4, 9);
        view.store(8, 7);
        assert_eq!(view.load(4), 9);
        assert_eq!(view.load(8), 0);
        let _ = view;
        assert_eq!(aligned, [0, 9]);
        let mut ragged = [0u8; 6];
        assert!(atomic_words(&mut ragged).is_err());
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
