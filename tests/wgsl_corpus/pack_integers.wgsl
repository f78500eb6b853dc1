// The integer packing built-ins and packed dot products, exact.
// invocations: 128
// input: 128 ints
// output: 1024
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let a = input[gid.x];
    let b = input[(gid.x * 3u + 1u) % 128u];
    let s = vec4<i32>(bitcast<i32>(a), bitcast<i32>(b) >> 20u, i32(a & 0x1ffu) - 256, -5);
    let u = vec4<u32>(a, b >> 20u, a & 0x1ffu, 300u);
    let o = 8u * gid.x;
    output[o] = pack4xI8(s);
    output[o + 1u] = pack4xU8(u);
    output[o + 2u] = pack4xI8Clamp(s);
    output[o + 3u] = pack4xU8Clamp(u);
    let si = unpack4xI8(a);
    output[o + 4u] = bitcast<u32>(si.x * 1000000 + si.y * 10000 + si.z * 100 + si.w);
    let ui = unpack4xU8(b);
    output[o + 5u] = ui.x ^ (ui.y << 8u) ^ (ui.z << 16u) ^ (ui.w << 24u) ^ 0x5a5a5a5au;
    output[o + 6u] = bitcast<u32>(dot4I8Packed(a, b));
    output[o + 7u] = dot4U8Packed(a, b);
}
