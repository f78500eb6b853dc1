// Integer vectors: wrapping arithmetic, component-wise shifts by vector
// amounts, division and remainder with zero divisors, comparisons into
// boolean vectors, select, any/all, conversions between vector types.
// (A literal zero divisor would be a shader-creation error: the zeros
// here are read at run time.)
// invocations: 128
// input: 128 ints
// output: 1024
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let a = input[gid.x];
    let b = input[(gid.x * 5u + 3u) % 128u];
    let u = vec4<u32>(a, b, a ^ b, a >> 16u);
    let zero = a & 0u;
    let v = vec4<u32>(b, a % 7u, zero, b >> 28u);
    let s = vec3<i32>(bitcast<i32>(a), bitcast<i32>(b), -1);
    let t = vec3<i32>(bitcast<i32>(b) >> 30u, i32(zero), i32(a & 3u) - 2);
    let sum = u * 2654435761u + v;
    let q = u / v;
    let r = u % v;
    let sh = (u << (v & vec4<u32>(31u))) ^ (u >> (v.yxwz & vec4<u32>(31u)));
    let sq = s / t;
    let sr = s % t;
    let mask = u > v;
    let picked = select(u, v, mask);
    let o = 8u * gid.x;
    output[o] = sum.x ^ sum.y ^ sum.z ^ sum.w;
    output[o + 1u] = q.x + q.y * 3u + q.z * 5u + q.w * 7u;
    output[o + 2u] = r.x ^ (r.y << 3u) ^ (r.z << 6u) ^ (r.w << 9u);
    output[o + 3u] = sh.x + sh.y + sh.z + sh.w;
    output[o + 4u] = bitcast<u32>(sq.x ^ sq.y ^ sq.z);
    output[o + 5u] = bitcast<u32>(sr.x + sr.y + sr.z);
    output[o + 6u] = picked.x ^ picked.w ^ select(0u, 1u, any(mask)) ^ select(0u, 2u, all(mask.xy));
    output[o + 7u] = dot(vec4<u32>(vec4<i32>(s, 1) * vec4<i32>(t, 3)), vec4<u32>(1u, 2u, 3u, 4u));
}
