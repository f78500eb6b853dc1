// 64-bit integers (SHADER_INT64): each value built from two input words,
// then wrapping arithmetic, x / 0 = x, x % 0 = 0, MIN / -1 = MIN, shifts by
// amounts taken modulo 64, comparisons, bit built-ins and conversions to
// and from the 32-bit types. Conversions between widths keep to values on
// which naga's SPIR-V (SConvert/UConvert) and its constant evaluator
// (Rust's `as`) agree: u32 -> u64, i32 -> i64, and truncation. Left out,
// because naga 30 or lavapipe get them wrong at 64 bits (the executor's
// own tests cover them): countLeadingZeros and firstLeadingBit (naga's
// SPIR-V writer panics), countTrailingZeros and firstTrailingBit (32-bit
// results), reverseBits (lavapipe's LLVM aborts).
// invocations: 64
// input: 128 ints
// output: 2048
// element: 2
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u64>;

fn wide(i: u32) -> u64 {
    return u64(input[2u * i]) | (u64(input[2u * i + 1u]) << 32u);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let ua = wide(i);
    let ub = wide((i * 7u + 3u) % 64u);
    let a = bitcast<i64>(ua);
    let b = bitcast<i64>(ub);
    // Small divisors too, where the quotient has many bits.
    let small = i64(bitcast<i32>(input[i] % 9u)) - 4li;
    let o = 32u * i;
    output[o] = ua + ub;
    output[o + 1u] = ua - ub * 3lu;
    output[o + 2u] = ua * ub;
    output[o + 3u] = ua / ub;
    output[o + 4u] = ua % ub;
    output[o + 5u] = bitcast<u64>(a / b);
    output[o + 6u] = bitcast<u64>(a % b);
    output[o + 7u] = bitcast<u64>(a / small);
    output[o + 8u] = bitcast<u64>(a % small);
    output[o + 9u] = ua << (input[i] & 63u);
    output[o + 10u] = ua >> (input[i + 1u] & 63u);
    output[o + 11u] = bitcast<u64>(a >> (input[i + 2u] & 63u));
    output[o + 12u] = (ua & ub) ^ (ua | 0xff00lu);
    output[o + 13u] = ~ua;
    output[o + 14u] = bitcast<u64>(-a);
    output[o + 15u] = bitcast<u64>(abs(a));
    output[o + 16u] = bitcast<u64>(min(a, b)) ^ max(ua, ub);
    output[o + 17u] = bitcast<u64>(clamp(a, -100000000000li, b));
    output[o + 18u] = u64(a < b) | (u64(ua < ub) << 1u) | (u64(a == b) << 2u) | (u64(ua >= ub) << 3u);
    output[o + 19u] = countOneBits(ua);
    output[o + 20u] = countOneBits(ua ^ ub);
    output[o + 21u] = ua / (ub >> 40u);
    output[o + 22u] = bitcast<u64>(a % (b >> 50u));
    output[o + 23u] = u64(u32(ua));
    output[o + 24u] = u64(i32(a) < 0);
    output[o + 25u] = bitcast<u64>(i64(bitcast<i32>(input[i])));
    output[o + 26u] = u64(input[i]) * u64(input[i + 1u]);
    output[o + 27u] = select(ua, ub, a > b);
    output[o + 28u] = bitcast<u64>(sign(a)) + u64(bool(ua));
    var acc = vec2<u64>(ua, ub);
    for (var k = 0u; k < (i % 5u); k++) {
        acc = acc.yx * vec2<u64>(3lu, 5lu) + vec2<u64>(1lu);
    }
    output[o + 29u] = acc.x;
    output[o + 30u] = acc[i % 2u];
    output[o + 31u] = 0xfedcba9876543210lu;
}
