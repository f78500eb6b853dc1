// Vector arithmetic, swizzles, splats, vector-scalar operations, dot,
// cross, any/all and select on vectors. Products and sums of products may
// be fused by the GPU: a dot of three terms is allowed 2 ulps of each
// partial sum; small integers as floats keep every value exact here, so
// the comparison is exact.
// invocations: 64
// input: 64 random
// output: 1024
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let w = input[gid.x];
    let a = vec4<f32>(f32(w & 15u), f32((w >> 4u) & 15u), f32((w >> 8u) & 15u), f32((w >> 12u) & 15u)) - 7.0;
    let b = a.wzyx * 2.0 + vec4<f32>(1.0, -1.0, 0.5, 0.0);
    let c = a.xyz * b.yzx - vec3<f32>(a.w);
    let d = cross(a.xyz, b.xyz);
    let m = select(a, b, a < b);
    let o = 16u * gid.x;
    output[o] = dot(a, b);
    output[o + 1u] = c.x + c.y * 2.0 + c.z * 4.0;
    output[o + 2u] = d.x;
    output[o + 3u] = d.y;
    output[o + 4u] = d.z;
    output[o + 5u] = m.x + m.y + m.z + m.w;
    output[o + 6u] = select(0.0, 1.0, any(a > b)) + select(0.0, 2.0, all(a.xy <= b.xy));
    var v = vec3<f32>(1.0, 2.0, 3.0);
    v.y = a.x;
    v += b.xxx;
    v = v.zyx;
    output[o + 7u] = v.x;
    output[o + 8u] = v.y;
    output[o + 9u] = v.z;
    let i = vec2<i32>(i32(w & 0xffu), -i32((w >> 8u) & 0xffu));
    let j = i * 3 - i.yx + vec2<i32>(1);
    output[o + 10u] = f32(j.x);
    output[o + 11u] = f32(j.y);
    let u = vec3<u32>(w, w >> 3u, w >> 7u) % vec3<u32>(5u, 7u, 11u);
    output[o + 12u] = f32(u.x + u.y * 10u + u.z * 100u);
    output[o + 13u] = f32(dot(vec3<i32>(u), vec3<i32>(1, -2, 3)));
    output[o + 14u] = length(vec2<f32>(3.0, 4.0) * a.x);
    output[o + 15u] = a[w % 4u] + b[(w >> 2u) % 4u];
}
