// refract: eta e1 - (eta dot(e2, e1) + sqrt(k)) e2, or 0 for total internal
// reflection. A dot, a sqrt (2.5 ulps) and a few products the GPU may
// fuse: 16 ulps of results that stay away from zero (e1 and e2 are unit
// vectors with a positive offset added afterwards).
// invocations: 128
// input: 128 random
// output: 512
// compare: ulps 16

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let w = input[gid.x];
    let angle = f32(w & 0xffu) / 256.0 * 1.5;
    let e1 = vec3<f32>(sin(angle), -cos(angle), 0.0);
    let e2 = vec3<f32>(0.0, 1.0, 0.0);
    let eta = 0.5 + f32((w >> 8u) & 0xffu) / 128.0;
    let r = refract(e1, e2, eta);
    let o = 4u * gid.x;
    output[o] = r.x + 4.0;
    output[o + 1u] = r.y + 4.0;
    output[o + 2u] = r.z + 4.0;
    output[o + 3u] = select(0.0, 1.0, dot(r, r) == 0.0);
}
