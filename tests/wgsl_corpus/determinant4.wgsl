// `determinant` of 4x4 (and 2x2, 3x3) matrices with small integer entries:
// every product and partial sum is an integer below 2^24, exact in f32
// whatever order the GPU expands in, so the words compare exactly.
// invocations: 64
// input: 256 random
// output: 256
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

fn entry(k: u32) -> f32 {
    return f32(i32(input[k % 256u] % 17u) - 8);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let b = 4u * i;
    let m = mat4x4<f32>(
        vec4<f32>(entry(b), entry(b + 1u), entry(b + 2u), entry(b + 3u)),
        vec4<f32>(entry(b + 5u), entry(b + 7u), entry(b + 11u), entry(b + 13u)),
        vec4<f32>(entry(b + 17u), entry(b + 19u), entry(b + 23u), entry(b + 29u)),
        vec4<f32>(entry(b + 31u), entry(b + 37u), entry(b + 41u), entry(b + 43u)),
    );
    let o = 4u * i;
    output[o] = determinant(m);
    output[o + 1u] = determinant(transpose(m));
    output[o + 2u] = determinant(mat3x3<f32>(m[0].xyz, m[1].yzw, m[3].xzw));
    output[o + 3u] = determinant(mat2x2<f32>(m[2].xy, m[1].zw));
}
