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
//! Invariants: [`HostBytes::bytes`] starts on a 64-byte boundary and has
//! exactly the requested length; the padding before and after it is never
//! exposed.

use bytemuck::{Pod, Zeroable};

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

#[derive(Clone, Copy, Debug, Pod, Zeroable)]
#[repr(C, align(64))]
struct CacheLine([u8; LINE_BYTES]);

/// The host copy of one buffer; see the module docs for its placement.
#[derive(Debug)]
pub(crate) struct HostBytes {
    lines: Vec<CacheLine>,
    /// The first line of the data inside `lines`.
    start: usize,
    len: usize,
}

impl HostBytes {
    /// `len` zero bytes, placed for the buffer numbered `buffer_id`.
    pub fn zeroed(len: usize, buffer_id: u64) -> Self {
        let data_lines = len.div_ceil(LINE_BYTES);
        if len < STAGGER_MIN_BYTES {
            return HostBytes {
                lines: vec![CacheLine::zeroed(); data_lines],
                start: 0,
                len,
            };
        }
        let lines = vec![CacheLine::zeroed(); data_lines + LINES_PER_PAGE - 1];
        let base_line = lines.as_ptr() as usize % PAGE_BYTES / LINE_BYTES;
        let wanted_line = (buffer_id % LINES_PER_PAGE as u64) as usize * STAGGER_STEP_LINES;
        let start = (wanted_line + LINES_PER_PAGE - base_line) % LINES_PER_PAGE;
        HostBytes { lines, start, len }
    }

    /// A copy of `bytes`, placed for the buffer numbered `buffer_id`.
    pub fn from_bytes(bytes: &[u8], buffer_id: u64) -> Self {
        let mut host = HostBytes::zeroed(bytes.len(), buffer_id);
        host.bytes_mut().copy_from_slice(bytes);
        host
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn bytes(&self) -> &[u8] {
        &bytemuck::cast_slice(&self.lines[self.start..])[..self.len]
    }

    pub fn bytes_mut(&mut self) -> &mut [u8] {
        &mut bytemuck::cast_slice_mut(&mut self.lines[self.start..])[..self.len]
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
            let host = HostBytes::zeroed(len, id);
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
        let copies: Vec<HostBytes> = (10..14).map(|id| HostBytes::zeroed(len, id)).collect();
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
        let data: Vec<u8> = (0..STAGGER_MIN_BYTES + 3)
            .map(|i| (i % 251) as u8)
            .collect();
        for id in [0, 7, 63, 64] {
            let host = HostBytes::from_bytes(&data, id);
            assert_eq!(host.bytes(), &data[..]);
            let small = HostBytes::from_bytes(&data[..100], id);
            assert_eq!(small.bytes(), &data[..100]);
            assert_eq!(small.lines.len(), 2);
        }
    }
}
