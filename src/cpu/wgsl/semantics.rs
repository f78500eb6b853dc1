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

use super::program::Packing;

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

/// `f32` to the nearest `f16` bit pattern (ties to even; overflow to
/// infinity, NaN kept a NaN).
pub(crate) fn f32_to_f16_bits(x: f32) -> u16 {
    let bits = x.to_bits();
    let sign = ((bits >> 16) & 0x8000) as u16;
    let exponent = ((bits >> 23) & 0xff) as i32;
    let mantissa = bits & 0x007f_ffff;
    if exponent == 0xff {
        let nan = if mantissa != 0 { 0x0200 } else { 0 };
        return sign | 0x7c00 | nan;
    }
    let unbiased = exponent - 127;
    if unbiased > 15 {
        return sign | 0x7c00;
    }
    if unbiased >= -14 {
        // Normal: 10 of the 23 mantissa bits, rounded to nearest even.
        let half = ((unbiased + 15) as u32) << 10 | (mantissa >> 13);
        let rest = mantissa & 0x1fff;
        let round_up = rest > 0x1000 || (rest == 0x1000 && half & 1 == 1);
        // A carry out of the mantissa moves into the exponent, as it should.
        return sign | (half + u32::from(round_up)) as u16;
    }
    if unbiased < -25 {
        return sign;
    }
    // Subnormal: the implicit bit made explicit, shifted into place.
    let full = mantissa | 0x0080_0000;
    let shift = (-14 - unbiased + 13) as u32;
    let half = full >> shift;
    let rest = full & ((1 << shift) - 1);
    let halfway = 1 << (shift - 1);
    let round_up = rest > halfway || (rest == halfway && half & 1 == 1);
    sign | (half + u32::from(round_up)) as u16
}

/// The `f32` an `f16` bit pattern holds (exactly).
pub(crate) fn f16_bits_to_f32(h: u16) -> f32 {
    let sign = u32::from(h & 0x8000) << 16;
    let exponent = u32::from((h >> 10) & 0x1f);
    let mantissa = u32::from(h & 0x03ff);
    let bits = match (exponent, mantissa) {
        (0, 0) => sign,
        (0, _) => {
            // Subnormal: value = mantissa × 2^-24, exact in f32.
            let value = mantissa as f32 * f32::from_bits(0x3380_0000);
            return if sign != 0 { -value } else { value };
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, _) => sign | 0x7fc0_0000 | (mantissa << 13),
        _ => sign | ((exponent + 112) << 23) | (mantissa << 13),
    };
    f32::from_bits(bits)
}

/// `x` rounded to the nearest `f32` that an `f16` can hold.
pub(crate) fn quantize_to_f16(x: f32) -> f32 {
    f16_bits_to_f32(f32_to_f16_bits(x))
}

/// `frexp(x)`'s fraction: in `[0.5, 1)` with `x`'s sign (`x` for 0, inf, NaN).
pub(crate) fn frexp_fraction(x: f32) -> f32 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let (fraction, _) = frexp(x);
    fraction
}

/// `frexp(x)`'s exponent: `x = fraction × 2^exponent` (0 for 0, inf, NaN).
pub(crate) fn frexp_exponent(x: f32) -> i32 {
    if x == 0.0 || !x.is_finite() {
        return 0;
    }
    frexp(x).1
}

fn frexp(x: f32) -> (f32, i32) {
    // Subnormals: scale into the normal range first.
    let (scaled, bias) = if x.abs() < f32::MIN_POSITIVE {
        (x * f32::from_bits(0x4b80_0000), -24) // × 2^24
    } else {
        (x, 0)
    };
    let bits = scaled.to_bits();
    let exponent = ((bits >> 23) & 0xff) as i32 - 126;
    let fraction = f32::from_bits((bits & 0x807f_ffff) | (126 << 23));
    (fraction, exponent + bias)
}

/// `dot4I8Packed(a, b)`: the dot product of the four signed bytes of each.
pub(crate) fn dot4_i8(a: u32, b: u32) -> i32 {
    (0..4)
        .map(|k| i32::from((a >> (8 * k)) as u8 as i8) * i32::from((b >> (8 * k)) as u8 as i8))
        .sum()
}

/// `dot4U8Packed(a, b)`: the dot product of the four unsigned bytes of each.
pub(crate) fn dot4_u8(a: u32, b: u32) -> u32 {
    (0..4)
        .map(|k| ((a >> (8 * k)) & 0xff) * ((b >> (8 * k)) & 0xff))
        .sum()
}

/// `pack…(e)` of the components `e` (bit patterns: floats for the norm and
/// float packings, integers for the others).
pub(crate) fn pack(packing: Packing, e: [u32; 4]) -> u32 {
    let float = |k: usize| f32::from_bits(e[k]);
    // WGSL: floor(0.5 + scale × clamp(e, low, 1)), kept in the low bits.
    let norm = |k: usize, low: f32, scale: f32, mask: u32| {
        ((0.5 + scale * float(k).clamp(low, 1.0)).floor() as i32 as u32) & mask
    };
    match packing {
        Packing::Snorm4x8 => (0..4).map(|k| norm(k, -1.0, 127.0, 0xff) << (8 * k)).sum(),
        Packing::Unorm4x8 => (0..4).map(|k| norm(k, 0.0, 255.0, 0xff) << (8 * k)).sum(),
        Packing::Snorm2x16 => norm(0, -1.0, 32767.0, 0xffff) | norm(1, -1.0, 32767.0, 0xffff) << 16,
        Packing::Unorm2x16 => norm(0, 0.0, 65535.0, 0xffff) | norm(1, 0.0, 65535.0, 0xffff) << 16,
        Packing::Float2x16 => {
            u32::from(f32_to_f16_bits(float(0))) | u32::from(f32_to_f16_bits(float(1))) << 16
        }
        Packing::I8x4 | Packing::U8x4 => (0..4).map(|k| (e[k] & 0xff) << (8 * k)).sum(),
        Packing::I8x4Clamp => (0..4)
            .map(|k| ((e[k] as i32).clamp(-128, 127) as u32 & 0xff) << (8 * k))
            .sum(),
        Packing::U8x4Clamp => (0..4).map(|k| e[k].min(255) << (8 * k)).sum(),
    }
}

/// Component `k` of `unpack…(word)`, as a bit pattern.
pub(crate) fn unpack(packing: Packing, word: u32, k: u32) -> u32 {
    let byte = (word >> (8 * (k % 4))) & 0xff;
    let half = (word >> (16 * (k % 2))) & 0xffff;
    match packing {
        Packing::Snorm4x8 => (f32::from(byte as u8 as i8) / 127.0).max(-1.0).to_bits(),
        Packing::Unorm4x8 => (byte as f32 / 255.0).to_bits(),
        Packing::Snorm2x16 => (f32::from(half as u16 as i16) / 32767.0)
            .max(-1.0)
            .to_bits(),
        Packing::Unorm2x16 => (half as f32 / 65535.0).to_bits(),
        Packing::Float2x16 => f16_bits_to_f32(half as u16).to_bits(),
        Packing::I8x4 | Packing::I8x4Clamp => byte as u8 as i8 as i32 as u32,
        Packing::U8x4 | Packing::U8x4Clamp => byte,
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
    fn f16_conversion_rounds_to_nearest_even() {
        assert_eq!(f32_to_f16_bits(1.0), 0x3c00);
        assert_eq!(f32_to_f16_bits(-2.0), 0xc000);
        assert_eq!(f32_to_f16_bits(65504.0), 0x7bff);
        assert_eq!(f32_to_f16_bits(65520.0), 0x7c00, "rounds up to infinity");
        assert_eq!(
            f32_to_f16_bits(1.0 + 1.0 / 2048.0),
            0x3c00,
            "a tie goes to even"
        );
        assert_eq!(f32_to_f16_bits(1.0 + 3.0 / 2048.0), 0x3c02);
        assert_eq!(
            f32_to_f16_bits(5.960_464_5e-8),
            0x0001,
            "the smallest subnormal"
        );
        assert_eq!(f32_to_f16_bits(2.0e-8), 0x0000);
        assert!(f16_bits_to_f32(f32_to_f16_bits(f32::NAN)).is_nan());
        for h in [0x0001u16, 0x03ff, 0x0400, 0x3555, 0x7bff, 0x8001, 0xfbff] {
            assert_eq!(f32_to_f16_bits(f16_bits_to_f32(h)), h, "{h:#06x}");
        }
    }

    #[test]
    fn frexp_splits_into_fraction_and_exponent() {
        assert_eq!((frexp_fraction(8.0), frexp_exponent(8.0)), (0.5, 4));
        assert_eq!((frexp_fraction(-3.0), frexp_exponent(-3.0)), (-0.75, 2));
        assert_eq!((frexp_fraction(0.0), frexp_exponent(0.0)), (0.0, 0));
        let tiny = f32::from_bits(1);
        assert_eq!((frexp_fraction(tiny), frexp_exponent(tiny)), (0.5, -148));
    }

    #[test]
    fn packed_dot_products() {
        assert_eq!(dot4_i8(0xff02_0304, 0x0101_0101), -1 + 2 + 3 + 4);
        assert_eq!(dot4_u8(0xff02_0304, 0x0101_0101), 255 + 2 + 3 + 4);
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
