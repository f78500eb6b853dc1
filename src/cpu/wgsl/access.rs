//! The shape of one memory access over a batch's lanes, and the loops
//! that follow it: the whole batch as one run of consecutive words (a
//! slice copy), every lane at one address (one read), runs of
//! [`PIECE_LANES`] (the rows of a 2-D workgroup), or lane by lane. The
//! memory each access reaches, and its bounds, are the caller's (`memory`,
//! `half`): it hands in a closure for a run and one for a single word.
//!
//! Invariant: a run is used only when every lane of it reaches the word
//! after its predecessor's and the whole run lies inside the memory;
//! anything else goes lane by lane, each lane bounds-checked by the caller.

use super::memory::address;

/// `dst[k]` = the little-endian word at `4 k` of `bytes` (as long as
/// `dst`). A piece's fixed size is copied as one: the general loop becomes a
/// `memmove` call, which for 32 bytes costs more than the copy.
pub(super) fn copy_le_words(dst: &mut [u32], bytes: &[u8]) {
    if let (Ok(piece), Ok(run)) = (
        <&mut [u32; PIECE_LANES]>::try_from(&mut *dst),
        <&[u8; 4 * PIECE_LANES]>::try_from(bytes),
    ) {
        for (k, d) in piece.iter_mut().enumerate() {
            *d = u32::from_le_bytes([run[4 * k], run[4 * k + 1], run[4 * k + 2], run[4 * k + 3]]);
        }
        return;
    }
    for (d, word) in dst.iter_mut().zip(bytes.chunks_exact(4)) {
        *d = u32::from_le_bytes([word[0], word[1], word[2], word[3]]);
    }
}

/// Lanes per piece of an access that is contiguous only piecewise: the
/// rows of a 2-D workgroup (16 lanes of a 16 × 16 one) each read one run.
pub(super) const PIECE_LANES: usize = 8;

/// `dst[l]` = the word at `offsets[l] + delta`: `copy_run` copies a run of
/// lanes reading consecutive words (false when they do not, or the run is
/// not all inside), `read` reads one word (0 outside). Tried in order: the
/// whole batch as one run, one word for every lane, runs of
/// [`PIECE_LANES`], lane by lane.
pub(super) fn load_in_pieces(
    dst: &mut [u32],
    offsets: Option<&[u32]>,
    delta: u32,
    copy_run: impl Fn(&mut [u32], Option<&[u32]>) -> bool,
    read: impl Fn(usize) -> u32,
) {
    let Some(o) = offsets else {
        dst.fill(read(delta as usize));
        return;
    };
    let step = first_step(o);
    if step == 4 && copy_run(dst, offsets) {
        return;
    }
    // Every lane at one address (a loop index shared by the workgroup):
    // one read.
    if step == 0 && is_uniform(o) {
        dst.fill(read(o[0] as usize + delta as usize));
        return;
    }
    for (d, o) in dst.chunks_mut(PIECE_LANES).zip(o.chunks(PIECE_LANES)) {
        if !copy_run(d, Some(o)) {
            load_each(d, Some(o), delta, &read);
        }
    }
}

/// The offset from the first lane's address to the second's (4 for a
/// single lane): whether the whole access may be one run (4) or one
/// address (0), so that only that shape is checked over every lane.
fn first_step(offsets: &[u32]) -> u32 {
    match offsets {
        [first, second, ..] => second.wrapping_sub(*first),
        _ => 4,
    }
}

/// Whether every lane has the same (in-bounds) offset. Folded without
/// stopping early, so that it vectorises: a loop that stops at the first
/// difference checks one lane per cycle.
fn is_uniform(offsets: &[u32]) -> bool {
    let Some(&first) = offsets.first() else {
        return false;
    };
    first != u32::MAX && offsets.iter().fold(0, |diff, &v| diff | (v ^ first)) == 0
}

/// Whether lane `l` has offset `offsets[0] + 4 l`.
pub(super) fn is_contiguous(offsets: &[u32]) -> bool {
    let Some(&first) = offsets.first() else {
        return false;
    };
    let mut expected = first;
    let mut diff = 0;
    for &v in offsets {
        diff |= v ^ expected;
        expected = expected.wrapping_add(4);
    }
    diff == 0
}

fn load_each(dst: &mut [u32], offsets: Option<&[u32]>, delta: u32, read: impl Fn(usize) -> u32) {
    match offsets {
        None => dst.fill(read(delta as usize)),
        // Every lane at one address (a loop index shared by the workgroup):
        // one read.
        Some(o) if is_uniform(o) => dst.fill(read(o[0] as usize + delta as usize)),
        Some(o) => {
            for (d, &base) in dst.iter_mut().zip(o) {
                *d = if base == u32::MAX {
                    0
                } else {
                    read(base as usize + delta as usize)
                };
            }
        }
    }
}

/// The lanes' values and active mask of a store.
pub(super) type StoredLanes<'v> = (&'v [u32], &'v [u32]);

/// The word at `offsets[l] + delta` of `target` = `values[l]` in the
/// active lanes, as [`load_in_pieces`] reads: `store_run` stores a run of
/// lanes writing consecutive words (false when they do not), `write` one
/// word (dropped outside).
pub(super) fn store_in_pieces<T: ?Sized>(
    target: &mut T,
    offsets: Option<&[u32]>,
    delta: u32,
    lanes: StoredLanes<'_>,
    store_run: impl Fn(&mut T, Option<&[u32]>, StoredLanes<'_>) -> bool,
    write: impl Fn(&mut T, usize, u32),
) {
    if offsets.is_none_or(|o| first_step(o) == 4) && store_run(target, offsets, lanes) {
        return;
    }
    let (values, mask) = lanes;
    let piece = if offsets.is_some() {
        PIECE_LANES
    } else {
        values.len().max(1)
    };
    for (k, (values, mask)) in values.chunks(piece).zip(mask.chunks(piece)).enumerate() {
        let first = k * piece;
        let o = offsets.map(|o| &o[first..first + values.len()]);
        if o.is_some() && store_run(target, o, (values, mask)) {
            continue;
        }
        for (lane, (&value, &m)) in values.iter().zip(mask).enumerate() {
            if m != 0 {
                if let Some(at) = address(o, lane, delta) {
                    write(target, at, value);
                }
            }
        }
    }
}
