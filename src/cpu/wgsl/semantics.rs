//! WGSL's scalar rules where they differ from Rust's, one small function
//! each, shared by the lane loops and the tests.
//!
//! The GPU runs naga's output for the same module, so these follow what
//! naga makes of WGSL (its polyfills, on every native backend): integer
//! arithmetic wraps; `x / 0` is `x`, `x % 0` is 0, `MIN / -1` is `MIN` and
//! `MIN % -1` is 0; shift amounts are taken modulo the bit width; a float
//! converted to an integer saturates at the largest float the integer type
//! holds (WGSL's rule: `i32(1e10)` is 2147483520, not 2147483647). NaN,
//! which WGSL leaves to the implementation, gives 0. Nothing here panics.

/// `a / b` for `i32` as WGSL defines it.
pub(crate) fn div_i32(a: i32, b: i32) -> i32 {
    if b == 0 {
        a
    } else {
        a.wrapping_div(b)
    }
}

/// `a % b` for `i32` as WGSL defines it.
pub(crate) fn rem_i32(a: i32, b: i32) -> i32 {
    if b == 0 {
        0
    } else {
        a.wrapping_rem(b)
    }
}

/// `a / b` for `u32` as WGSL defines it.
pub(crate) fn div_u32(a: u32, b: u32) -> u32 {
    a.checked_div(b).unwrap_or(a)
}

/// `a % b` for `u32` as WGSL defines it.
pub(crate) fn rem_u32(a: u32, b: u32) -> u32 {
    a.checked_rem(b).unwrap_or(0)
}

/// The largest `f32` below 2^31, the most `i32(x)` can give.
const I32_MAX_FLOAT: f32 = 2_147_483_520.0;

/// The largest `f32` below 2^32, the most `u32(x)` can give.
const U32_MAX_FLOAT: f32 = 4_294_967_040.0;

/// `i32(x)` for `f32`: truncated, clamped to `[-2^31, 2147483520]`.
pub(crate) fn f32_to_i32(x: f32) -> i32 {
    x.clamp(-2_147_483_648.0, I32_MAX_FLOAT) as i32
}

/// `u32(x)` for `f32`: truncated, clamped to `[0, 4294967040]`.
pub(crate) fn f32_to_u32(x: f32) -> u32 {
    x.clamp(0.0, U32_MAX_FLOAT) as u32
}

/// `e * 2^exponent`, exact until the result overflows or underflows.
pub(crate) fn ldexp_f32(e: f32, exponent: i32) -> f32 {
    // Scaling in steps keeps each factor representable: a tiny `e` with a
    // large exponent (or the reverse) still lands on the right value.
    let mut value = e;
    let mut remaining = exponent.clamp(-400, 400);
    while remaining > 127 {
        value *= f32::from_bits(0x7f00_0000); // 2^127
        remaining -= 127;
    }
    while remaining < -126 {
        value *= f32::from_bits(0x0080_0000); // 2^-126
        remaining += 126;
    }
    let factor = f32::from_bits(((remaining + 127) as u32) << 23);
    value * factor
}

/// `firstLeadingBit` for `u32`: the index of the highest set bit, or
/// `0xffff_ffff` for 0.
pub(crate) fn first_leading_bit_u32(e: u32) -> u32 {
    if e == 0 {
        u32::MAX
    } else {
        31 - e.leading_zeros()
    }
}

/// `firstLeadingBit` for `i32`: the highest bit that differs from the sign
/// bit, or -1 for 0 and -1.
pub(crate) fn first_leading_bit_i32(e: i32) -> i32 {
    let magnitude = if e < 0 { !e } else { e } as u32;
    if magnitude == 0 {
        -1
    } else {
        31 - magnitude.leading_zeros() as i32
    }
}

/// `firstTrailingBit`: the index of the lowest set bit, or all ones for 0.
pub(crate) fn first_trailing_bit(e: u32) -> u32 {
    if e == 0 {
        u32::MAX
    } else {
        e.trailing_zeros()
    }
}

/// WGSL's `offset` and `count` of `extractBits` and `insertBits`, clamped
/// so the field lies inside 32 bits.
fn bit_field(offset: u32, count: u32) -> (u32, u32) {
    let offset = offset.min(32);
    (offset, count.min(32 - offset))
}

/// The mask of `count` bits starting at `offset` (already clamped).
fn field_mask(offset: u32, count: u32) -> u32 {
    if count == 0 {
        0
    } else {
        (u32::MAX >> (32 - count)) << offset
    }
}

/// `extractBits(e, offset, count)` for `u32`.
pub(crate) fn extract_bits_u32(e: u32, offset: u32, count: u32) -> u32 {
    let (offset, count) = bit_field(offset, count);
    if count == 0 {
        return 0;
    }
    (e >> offset) & (u32::MAX >> (32 - count))
}

/// `extractBits(e, offset, count)` for `i32`: the field sign-extended.
pub(crate) fn extract_bits_i32(e: i32, offset: u32, count: u32) -> i32 {
    let (offset, count) = bit_field(offset, count);
    if count == 0 {
        return 0;
    }
    let field = ((e as u32) >> offset) << (32 - count);
    (field as i32) >> (32 - count)
}

/// `insertBits(e, newbits, offset, count)`, the same for `i32` and `u32`.
pub(crate) fn insert_bits(e: u32, newbits: u32, offset: u32, count: u32) -> u32 {
    let (offset, count) = bit_field(offset, count);
    let mask = field_mask(offset, count);
    if count == 0 {
        return e;
    }
    (e & !mask) | ((newbits << offset) & mask)
}

/// `smoothstep(low, high, x)`: the Hermite step, 0 below `low`, 1 above `high`.
pub(crate) fn smooth_step(low: f32, high: f32, x: f32) -> f32 {
    let t = ((x - low) / (high - low)).clamp(0.0, 1.0);
    t * t * (3.0 - 2.0 * t)
}

/// `sign(e)` for `f32`: -1, 0 or 1 (NaN gives 0, as the GPU's `FSign`).
pub(crate) fn sign_f32(e: f32) -> f32 {
    if e > 0.0 {
        1.0
    } else if e < 0.0 {
        -1.0
    } else {
        0.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integer_division_follows_wgsl() {
        assert_eq!(div_i32(7, 0), 7);
        assert_eq!(rem_i32(7, 0), 0);
        assert_eq!(div_i32(i32::MIN, -1), i32::MIN);
        assert_eq!(rem_i32(i32::MIN, -1), 0);
        assert_eq!(div_i32(-7, 2), -3);
        assert_eq!(rem_i32(-7, 2), -1);
        assert_eq!(div_u32(9, 0), 9);
        assert_eq!(rem_u32(9, 0), 0);
    }

    #[test]
    fn float_to_integer_saturates_at_the_largest_representable_float() {
        assert_eq!(f32_to_i32(1e10), 2_147_483_520);
        assert_eq!(f32_to_i32(-1e10), i32::MIN);
        assert_eq!(f32_to_i32(-2.7), -2);
        assert_eq!(f32_to_u32(f32::INFINITY), 4_294_967_040);
        assert_eq!(f32_to_u32(-5.0), 0);
        assert_eq!(f32_to_u32(f32::NAN), 0);
    }

    #[test]
    fn bit_fields_clamp_offset_and_count() {
        assert_eq!(extract_bits_u32(0xabcd_1234, 4, 8), 0x23);
        assert_eq!(extract_bits_u32(0xffff_ffff, 0, 32), 0xffff_ffff);
        assert_eq!(extract_bits_u32(0xffff_ffff, 40, 8), 0);
        assert_eq!(extract_bits_i32(0x0000_00f0, 4, 4), -1);
        assert_eq!(extract_bits_i32(0x0000_0070, 4, 4), 7);
        assert_eq!(insert_bits(0, 0xff, 28, 8), 0xf000_0000);
        assert_eq!(insert_bits(0x1234, 0, 0, 0), 0x1234);
        assert_eq!(insert_bits(0, u32::MAX, 0, 32), u32::MAX);
    }

    #[test]
    fn leading_and_trailing_bits() {
        assert_eq!(first_leading_bit_u32(0), u32::MAX);
        assert_eq!(first_leading_bit_u32(0x10), 4);
        assert_eq!(first_leading_bit_i32(-1), -1);
        assert_eq!(first_leading_bit_i32(0), -1);
        assert_eq!(first_leading_bit_i32(-2), 0);
        assert_eq!(first_leading_bit_i32(i32::MIN), 30);
        assert_eq!(first_trailing_bit(0), u32::MAX);
        assert_eq!(first_trailing_bit(0x80), 7);
    }

    #[test]
    fn ldexp_reaches_the_extremes() {
        assert_eq!(ldexp_f32(1.0, 3), 8.0);
        assert_eq!(ldexp_f32(1.5, -1), 0.75);
        assert_eq!(ldexp_f32(f32::MIN_POSITIVE, 253), 2.0f32.powi(127));
        assert_eq!(ldexp_f32(1.0, 128), f32::INFINITY);
        assert_eq!(ldexp_f32(1.0, -149), f32::from_bits(1));
        assert_eq!(ldexp_f32(1.0, i32::MIN), 0.0);
    }
}
