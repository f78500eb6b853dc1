// The float unpacking built-ins. unpack…norm divides by 127, 255, 32767 or
// 65535, which a GPU may do as a multiplication by the reciprocal: one
// extra rounding, 1 ulp, and 2 ulps for the division's own 2.5-ulp
// allowance rounded down (the results are in [-1, 1], never NaN).
// unpack2x16float is exact.
// invocations: 128
// input: 128 random
// output: 1792
// compare: ulps 2

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    // Half-float patterns with the exponent kept finite (no inf or NaN).
    let w = input[gid.x];
    let halves = w & 0x7bff7bffu;
    let a = unpack4x8snorm(w);
    let b = unpack4x8unorm(w);
    let c = unpack2x16snorm(w);
    let d = unpack2x16unorm(w);
    let e = unpack2x16float(halves);
    let o = 14u * gid.x;
    output[o] = a.x;
    output[o + 1u] = a.y;
    output[o + 2u] = a.z;
    output[o + 3u] = a.w;
    output[o + 4u] = b.x;
    output[o + 5u] = b.y;
    output[o + 6u] = b.z;
    output[o + 7u] = b.w;
    output[o + 8u] = c.x;
    output[o + 9u] = c.y;
    output[o + 10u] = d.x;
    output[o + 11u] = d.y;
    output[o + 12u] = e.x;
    output[o + 13u] = e.y;
}
