// Matrix-vector and matrix-matrix products, transpose, determinant,
// matrix arithmetic, column access. Entries are small integers, so every
// product and sum is exact whether or not the GPU fuses them.
// invocations: 64
// input: 64 random
// output: 1024
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

fn small(w: u32, shift: u32) -> f32 {
    return f32((w >> shift) & 7u) - 3.0;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let w = input[gid.x];
    let m = mat3x3<f32>(
        vec3<f32>(small(w, 0u), small(w, 3u), small(w, 6u)),
        vec3<f32>(small(w, 9u), small(w, 12u), small(w, 15u)),
        vec3<f32>(small(w, 18u), small(w, 21u), small(w, 24u)),
    );
    let n = mat2x3<f32>(vec3<f32>(1.0, 2.0, small(w, 27u)), vec3<f32>(-1.0, small(w, 29u), 0.5));
    let v = vec3<f32>(small(w, 2u), 1.0, -2.0);
    let mv = m * v;
    let vm = v * m;
    let mn = m * n;
    let t = transpose(n);
    let s = (m + m) * 0.5 - m * 2.0;
    let o = 16u * gid.x;
    output[o] = mv.x;
    output[o + 1u] = mv.y;
    output[o + 2u] = mv.z;
    output[o + 3u] = vm.x + vm.y * 10.0 + vm.z * 100.0;
    output[o + 4u] = mn[0].x + mn[0].y + mn[0].z;
    output[o + 5u] = mn[1].x - mn[1].y + mn[1].z;
    output[o + 6u] = t[2].x + t[1].y * 3.0;
    output[o + 7u] = determinant(m);
    output[o + 8u] = determinant(mat2x2<f32>(vec2<f32>(small(w, 1u), 2.0), vec2<f32>(3.0, small(w, 5u))));
    output[o + 9u] = s[1][2];
    output[o + 10u] = m[w % 3u][(w >> 3u) % 3u];
    let mm = m * transpose(m);
    output[o + 11u] = mm[0][0] + mm[1][1] + mm[2][2];
    output[o + 12u] = (t * v).x;
    output[o + 13u] = (t * v).y;
    output[o + 14u] = f32(gid.x);
    output[o + 15u] = 0.0;
}
