// The float packing built-ins: norm packings (WGSL: floor(0.5 + scale ×
// clamp(e))) and pack2x16float (round to nearest even). Inputs are random
// fractions that never land exactly halfway between two packed values,
// where GPU packers may round either way, so the words compare exactly.
// invocations: 128
// input: 128 random
// output: 640
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

fn fraction(w: u32, shift: u32) -> f32 {
    // In (-1.2, 1.2), with an odd multiple of 2^-19 added: never a tie.
    return (f32((w >> shift) & 0xfffu) / 4096.0) * 2.4 - 1.2 + 0.00000190734863;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let w = input[gid.x];
    let v = vec4<f32>(fraction(w, 0u), fraction(w, 5u), fraction(w, 11u), fraction(w, 17u));
    let o = 5u * gid.x;
    output[o] = pack4x8snorm(v);
    output[o + 1u] = pack4x8unorm(v);
    output[o + 2u] = pack2x16snorm(v.xy);
    output[o + 3u] = pack2x16unorm(v.zw);
    output[o + 4u] = pack2x16float(v.xy * 300.0);
}
