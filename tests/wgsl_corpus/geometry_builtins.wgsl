// Geometric built-ins: length, distance, normalize, faceForward, reflect,
// fma, ldexp, degrees, radians. length/distance/normalize are inherited
// from sqrt and division (2.5 ulps each, plus the sum of squares, which a
// GPU may fuse): 8 ulps. fma may be done unfused by a GPU without fused
// multiply-add (WGSL allows it), so its operands are chosen so that the
// product is exact; ldexp is exact; degrees/radians are one product.
// invocations: 128
// input: 128 random
// output: 1792
// compare: ulps 8

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

fn small(w: u32, shift: u32) -> f32 {
    return f32(i32((w >> shift) & 31u) - 15) * 0.25;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let w = input[gid.x];
    let a = vec3<f32>(small(w, 0u), small(w, 5u), small(w, 10u)) + vec3<f32>(0.125);
    let b = vec3<f32>(small(w, 15u), small(w, 20u), small(w, 25u)) - vec3<f32>(0.5);
    let o = 14u * gid.x;
    output[o] = length(a);
    output[o + 1u] = distance(a, b);
    let n = normalize(a);
    output[o + 2u] = n.x;
    output[o + 12u] = n.y;
    output[o + 13u] = n.z;
    let f = faceForward(a, b, vec3<f32>(1.0, -1.0, 0.5));
    output[o + 3u] = f.x - f.y + f.z;
    let r = reflect(a, vec3<f32>(0.0, 1.0, 0.0));
    output[o + 4u] = r.x + r.y * 3.0 + r.z * 9.0;
    output[o + 5u] = fma(a.x, 4.0, b.y);
    output[o + 6u] = ldexp(a.y, i32(w % 17u) - 8);
    output[o + 7u] = degrees(a.z);
    output[o + 8u] = radians(b.x * 90.0);
    output[o + 9u] = length(b.xy);
    output[o + 10u] = dot(n, n);
    output[o + 11u] = length(vec4<f32>(a, 2.0));
}
