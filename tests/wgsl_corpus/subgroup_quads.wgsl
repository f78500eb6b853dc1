// Quad operations: quadBroadcast and the three quad swaps, over quads of
// 4 consecutive subgroup lanes, for scalars and vectors, in uniform
// control flow (a quad operation reading an inactive lane is undefined in
// SPIR-V, so divergent flow is left out).
// invocations: 128
// input: 256 random
// output: 1024
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let v = input[i];
    let f = vec2<f32>(f32(v >> 8u), -f32(v & 0xffu));
    let o = 8u * i;
    output[o] = quadBroadcast(v, 0u);
    output[o + 1u] = quadBroadcast(v, 3u);
    output[o + 2u] = quadSwapX(v);
    output[o + 3u] = quadSwapY(v);
    output[o + 4u] = quadSwapDiagonal(v);
    let g = quadSwapY(f);
    output[o + 5u] = bitcast<u32>(g.x);
    output[o + 6u] = bitcast<u32>(quadBroadcast(f, 2u).y);
    output[o + 7u] = quadSwapX(quadSwapDiagonal(v)) ^ quadBroadcast(i, 1u);
}
