// The bit built-ins on u32, i32 and vectors of them.
// invocations: 64
// input: 64 ints
// output: 1024
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let u = input[gid.x];
    let s = bitcast<i32>(input[(gid.x + 5u) % 64u]);
    let off = u & 31u;
    let cnt = (u >> 8u) % 40u;
    let o = 16u * gid.x;
    output[o] = countOneBits(u);
    output[o + 1u] = countLeadingZeros(u);
    output[o + 2u] = countTrailingZeros(u);
    output[o + 3u] = reverseBits(u);
    output[o + 4u] = firstLeadingBit(u);
    output[o + 5u] = bitcast<u32>(firstLeadingBit(s));
    output[o + 6u] = firstTrailingBit(u);
    output[o + 7u] = extractBits(u, off, cnt % 33u);
    output[o + 8u] = bitcast<u32>(extractBits(s, off % 16u, cnt % 17u));
    output[o + 9u] = insertBits(u, 0xabcdefu, off, cnt % 33u);
    output[o + 10u] = bitcast<u32>(insertBits(s, -5, off % 20u, 12u));
    let v = vec2<u32>(u, u ^ 0xffffu);
    let c = countOneBits(v) + reverseBits(v);
    output[o + 11u] = c.x ^ c.y;
    output[o + 12u] = bitcast<u32>(countLeadingZeros(s));
    output[o + 13u] = ~u;
    output[o + 14u] = u & (u - 1u) | (u ^ 0x1234u);
    output[o + 15u] = bitcast<u32>(~s);
}
