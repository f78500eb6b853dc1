// Booleans: && and || (which may not evaluate their right side), !,
// comparisons of vectors, bool vectors through select.
// invocations: 256
// input: 256 random
// output: 256
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

fn odd(x: u32) -> bool {
    return (x & 1u) == 1u;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let v = input[gid.x];
    let a = odd(v) && v > 0x80000000u;
    let b = odd(v >> 1u) || !odd(v >> 2u);
    let c = a != b;
    let flags = vec3<bool>(a, b, c);
    let as_words = select(vec3<u32>(0u), vec3<u32>(1u, 2u, 4u), flags);
    let picked = select(vec2<u32>(v, ~v), vec2<u32>(v >> 4u, v << 4u), vec2<bool>(a, !a));
    output[gid.x] = as_words.x + as_words.y + as_words.z + (picked.x ^ picked.y) * 8u;
}
