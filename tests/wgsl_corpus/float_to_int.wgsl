// Conversions: float to integer saturates at the largest float the
// integer type holds (i32: 2147483520, u32: 4294967040; WGSL's rule, which
// naga's clamp implements); integers and bools to float; bitcasts keep the
// bits. NaN is left to the implementation by WGSL (and lavapipe assumes
// there is none: `x != x` is false there), so NaNs are replaced by their
// bit pattern's test, and the round trip f32(i32(x)) is not written for
// -0 (a fast-math compiler may fold it to trunc(x), keeping the sign).
// invocations: 128
// input: 128 floats
// output: 640
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let raw = input[gid.x];
    let is_nan = (bitcast<u32>(raw) & 0x7fffffffu) > 0x7f800000u;
    let x = select(raw, 0.0, is_nan);
    let o = 5u * gid.x;
    output[o] = bitcast<u32>(i32(x));
    output[o + 1u] = u32(x);
    output[o + 2u] = bitcast<u32>(f32(i32(x)) + 0.5);
    output[o + 3u] = bitcast<u32>(f32(bitcast<u32>(raw) >> 9u));
    output[o + 4u] = u32(x > 0.5) + u32(bool(bitcast<u32>(raw) & 1u)) * 2u;
}
