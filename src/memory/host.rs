//! Host copies of buffers: cache-line aligned, and staggered within the page
//! when large.
//!
//! A CPU loop that reads one array and writes another at the same index (a
//! stencil, saxpy) runs slower when the two arrays start at nearly the same
//! offset within a 4 KiB page: the core checks loads against earlier stores
//! by their low 12 address bits only, so loads from one array wait for stores
//! to the other that merely look alike ("4K aliasing"). Which case a program
//! gets is otherwise up to the allocator. Measured on this project's 2-core
//! Xeon, one jacobi2d step on a 2048² grid took 690–720 µs with source and
//! destination half a page apart and 760–870 µs with them 0–16 bytes apart.
//!
//! So every host copy starts on a cache line, and one of at least
//! [`STAGGER_MIN_BYTES`] starts at a page offset chosen from its buffer id:
//! buffers made one after the other (a source and its destination, the two
//! halves of a ping-pong pair) sit [`STAGGER_STEP_LINES`] cache lines, about
//! half a page, apart. That costs up to one page of padding per large buffer.
//!
//! Large copies between host memory ([`copy_bytes`]) run on the runtime's
//! pool: most of the time of copying into fresh memory is the kernel's
//! first-touch page faults, and those run in parallel. On this project's VM a
//! 1 GiB copy into a new vector took 0.7–2.2 s on one thread and 0.3 s on two.
//! New host copies are zeroed by the allocator (`calloc`), so their pages are
//! first touched by whoever fills them: that parallel copy, or a twin's
//! parallel loop.
//!
//! Invariants: [`HostBytes::bytes`] starts on a 64-byte boundary and has
//! exactly the requested length; the padding before and after it is never
//! exposed. Allocation failure is an [`Error::HostOutOfMemory`](crate::Error::HostOutOfMemory), never an
//! abort.

use bytemuck::{Pod, Zeroable};
use rayon::prelude::*;

use crate::error::{Error, Result};

/// Bytes per cache line, the alignment of every host copy.
const LINE_BYTES: usize = 64;

/// The page whose offsets the stagger spreads buffers over.
const PAGE_BYTES: usize = 4096;

const LINES_PER_PAGE: usize = PAGE_BYTES / LINE_BYTES;

/// Host copies at least this large are staggered; below it the padding
/// (up to a page) would cost more than aliasing can.
pub(crate) const STAGGER_MIN_BYTES: usize = 64 * 1024;

/// How far apart, in cache lines, consecutive buffers start within a page:
/// 33 lines = 2112 bytes, about half a page, the distance that measured
/// fastest for a read array and a write array.
pub(crate) const STAGGER_STEP_LINES: usize = 33;

/// Copies at least this large run in parallel on the runtime's pool.
pub(crate) const PARALLEL_COPY_MIN_BYTES: usize = 4 << 20;

/// The piece of a parallel copy one task takes.
pub(crate) const COPY_CHUNK_BYTES: usize = 1 << 20;

/// A zeroed vector of `len` elements, or [`Error::HostOutOfMemory`](crate::Error::HostOutOfMemory) naming
/// `purpose`.
pub(crate) fn try_zeroed_vec<T: Zeroable>(
    len: usize,
    purpose: impl FnOnce() -> String,
) -> Result<Vec<T>> {
    bytemuck::allocation::try_zeroed_vec(len).map_err(|()| Error::HostOutOfMemory {
        purpose: purpose(),
        bytes: (len as u64).saturating_mul(std::mem::size_of::<T>() as u64),
    })
}

/// `dst.copy_from_slice(src)`, split over `pool` when large.
///
/// # Panics
/// When the lengths differ; callers check them first.
pub(crate) fn copy_bytes(pool: &rayon::ThreadPool, dst: &mut [u8], src: &[u8]) {
    assert_eq!(dst.len(), src.len(), "copy_bytes between unequal lengths");
    if src.len() < PARALLEL_COPY_MIN_BYTES {
        dst.copy_from_slice(src);
        return;
    }
    pool.install(|| {
        dst.par_chunks_mut(COPY_CHUNK_BYTES)
            .zip(src.par_chunks(COPY_CHUNK_BYTES))
            .for_each(|(to, from)| to.copy_from_slice(from));
    });
}

/// The piece of [`copy_bytes_twice`] copied to both destinations before
/// the next: small enough that the second copy reads it from cache.
const TWICE_PIECE_BYTES: usize = 128 << 10;

/// `first.copy_from_slice(src); second.copy_from_slice(src)` in one pass
/// over `src`: each cache-sized piece is copied to `first`, then from there
/// (still in cache) to `second`, so the source is read from memory once.
/// Split over `pool` when large. A readback that fills a buffer's host copy
/// and the caller's vector costs about one copy this way, not two.
///
/// # Panics
/// When the lengths differ; callers check them first.
pub(crate) fn copy_bytes_twice(
    pool: &rayon::ThreadPool,
    first: &mut [u8],
    second: &mut [u8],
    src: &[u8],
) {
    assert!(
        first.len() == src.len() && second.len() == src.len(),
        "copy_bytes_twice between unequal lengths"
    );
    let copy = |first: &mut [u8], second: &mut [u8], src: &[u8]| {
        for ((a, b), s) in first
            .chunks_mut(TWICE_PIECE_BYTES)
            .zip(second.chunks_mut(TWICE_PIECE_BYTES))
            .zip(src.chunks(TWICE_PIECE_BYTES))
        {
            a.copy_from_slice(s);
            b.copy_from_slice(a);
        }
    };
    if src.len() < PARALLEL_COPY_MIN_BYTES {
        copy(first, second, src);
        return;
    }
    pool.install(|| {
        first
            .par_chunks_mut(COPY_CHUNK_BYTES)
            .zip(second.par_chunks_mut(COPY_CHUNK_BYTES))
            .zip(src.par_chunks(COPY_CHUNK_BYTES))
            .for_each(|((a, b), s)| copy(a, b, s));
    });
}

/// The allocation unit. Its alignment stays at the allocator's guaranteed
/// 16 bytes because Rust's system allocator zeroes larger-aligned memory with
/// a `memset` on the calling thread instead of `calloc`'s untouched pages.
#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C, align(16))]
struct Chunk([u8; CHUNK_BYTES]);

const CHUNK_BYTES: usize = 16;

/// The host copy of one buffer; see the module docs for its placement.
#[derive(Debug)]
pub(crate) struct HostBytes {
    chunks: Vec<Chunk>,
    /// The first byte of the data inside `chunks`: a multiple of
    /// [`LINE_BYTES`] past a cache-line boundary.
    start: usize,
    len: usize,
}

impl HostBytes {
    /// `len` zero bytes, placed for the buffer numbered `buffer_id`;
    /// `type_name` names the element type in the error.
    ///
    /// # Errors
    /// [`Error::HostOutOfMemory`](crate::Error::HostOutOfMemory) when the allocator refuses.
    pub fn zeroed(len: usize, buffer_id: u64, type_name: &str) -> Result<Self> {
        let staggered = len >= STAGGER_MIN_BYTES;
        // Room to move the start to any line of a page, or to the next line.
        let padding = if staggered { PAGE_BYTES } else { LINE_BYTES } - CHUNK_BYTES;
        let chunks: Vec<Chunk> =
            try_zeroed_vec(len.saturating_add(padding).div_ceil(CHUNK_BYTES), || {
                format!("the host copy of a buffer of `{type_name}`")
            })?;
        let base = chunks.as_ptr() as usize;
        let start = if staggered {
            let line = (buffer_id % LINES_PER_PAGE as u64) as usize * STAGGER_STEP_LINES;
            let wanted = line % LINES_PER_PAGE * LINE_BYTES;
            (wanted + PAGE_BYTES - base % PAGE_BYTES) % PAGE_BYTES
        } else {
            (LINE_BYTES - base % LINE_BYTES) % LINE_BYTES
        };
        Ok(HostBytes { chunks, start, len })
    }

    /// A copy of `bytes` (made on `pool` when large), placed as in
    /// [`zeroed`](Self::zeroed).
    ///
    /// # Errors
    /// [`Error::HostOutOfMemory`](crate::Error::HostOutOfMemory) when the allocator refuses.
    pub fn from_bytes(
        bytes: &[u8],
        buffer_id: u64,
        type_name: &str,
        pool: &rayon::ThreadPool,
    ) -> Result<Self> {
        let mut host = HostBytes::zeroed(bytes.len(), buffer_id, type_name)?;
        copy_bytes(pool, host.bytes_mut(), bytes);
        Ok(host)
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.chunks)[self.start..self.start + self.len]
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.chunks)[self.start..self.start + self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page_offset(host: &HostBytes) -> usize {
        host.bytes().as_ptr() as usize % PAGE_BYTES
    }

    #[test]
    fn every_copy_starts_on_a_cache_line_and_keeps_its_exact_length() {
        for (id, len) in [
            (0, 0),
            (1, 1),
            (2, 63),
            (3, 4096),
            (4, STAGGER_MIN_BYTES + 5),
        ] {
            let host = HostBytes::zeroed(len, id, "u8").unwrap();
            assert_eq!(host.len(), len);
            assert_eq!(host.bytes().len(), len);
            assert!(host.bytes().iter().all(|&b| b == 0));
            if len > 0 {
                assert_eq!(host.bytes().as_ptr() as usize % LINE_BYTES, 0, "len {len}");
            }
        }
    }

    #[test]
    fn large_copies_made_one_after_another_sit_about_half_a_page_apart() {
        let len = STAGGER_MIN_BYTES;
        let copies: Vec<HostBytes> = (10..14)
            .map(|id| HostBytes::zeroed(len, id, "u8").unwrap())
            .collect();
        for pair in copies.windows(2) {
            let distance =
                (page_offset(&pair[1]) + PAGE_BYTES - page_offset(&pair[0])) % PAGE_BYTES;
            assert_eq!(distance, STAGGER_STEP_LINES * LINE_BYTES);
        }
        for (id, copy) in (10u64..).zip(&copies) {
            let expected = (id as usize % LINES_PER_PAGE) * STAGGER_STEP_LINES % LINES_PER_PAGE;
            assert_eq!(page_offset(copy), expected * LINE_BYTES);
        }
    }

    #[test]
    fn copies_round_trip_their_bytes_and_small_ones_carry_no_page_of_padding() {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(2)
            .build()
            .unwrap();
        // Past the parallel-copy threshold and not a whole number of chunks.
        let data: Vec<u8> = (0..PARALLEL_COPY_MIN_BYTES + COPY_CHUNK_BYTES / 3)
            .map(|i| (i % 251) as u8)
            .collect();
        for id in [0, 7, 63, 64] {
            let host = HostBytes::from_bytes(&data, id, "u8", &pool).unwrap();
            assert_eq!(host.bytes(), &data[..]);
            assert_eq!(host.bytes().as_ptr() as usize % LINE_BYTES, 0);
            let small = HostBytes::from_bytes(&data[..100], id, "u8", &pool).unwrap();
            assert_eq!(small.bytes(), &data[..100]);
            assert!(small.chunks.len() * CHUNK_BYTES < 100 + LINE_BYTES);
        }
    }

    #[test]
    fn an_allocation_the_allocator_refuses_is_a_typed_error() {
        let err = HostBytes::zeroed(usize::MAX / 2, 0, "f32").unwrap_err();
        assert!(
            matches!(&err, Error::HostOutOfMemory { purpose, bytes } if purpose.contains("`f32`") && *bytes >= (usize::MAX / 2) as u64),
            "{err}"
        );
    }
}
