// sin, cos (absolute error 2^-11 on [-pi, pi]) and the functions WGSL
// defines through them. An absolute bound is not an ulp bound near zero,
// so each result (all within (-pi/2, pi]) is shifted by 4 before it is
// written: the shifted values lie in (2.4, 7.2), where an ulp is at least
// 2^-22. atan and atan2 are allowed 4096 ulps of results up to pi/2 (ulp
// 2^-23): 2^-11, about 2048 shifted ulps. asin and acos inherit atan2's
// bound; tan = sin / cos inherits both absolute errors magnified by
// 1 + tan^2 <= 2.6 for |x| <= 0.9: 2.6 * 2^-11 = 1.3e-3, 5300 shifted ulps;
// tanh inherits exp's. 8192 shifted ulps (2e-3) covers them all.
// invocations: 256
// input: 256 floats
// output: 2048
// compare: ulps 8192

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

const PI: f32 = 3.14159265;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let raw = input[gid.x];
    let finite = select(0.3, raw, raw == raw && abs(raw) < 1e30);
    let angle = clamp(finite, -PI, PI);
    let unit = clamp(finite, -0.9, 0.9);
    let o = 8u * gid.x;
    output[o] = sin(angle) + 4.0;
    output[o + 1u] = cos(angle) + 4.0;
    output[o + 2u] = tan(unit) + 4.0;
    output[o + 3u] = asin(unit) + 4.0;
    output[o + 4u] = acos(unit) + 4.0;
    output[o + 5u] = atan(unit) + 4.0;
    output[o + 6u] = atan2(unit, 0.5) + 4.0;
    output[o + 7u] = tanh(unit) + 4.0;
}
