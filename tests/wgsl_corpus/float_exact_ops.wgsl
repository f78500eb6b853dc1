// Float operations WGSL requires to be correctly rounded (or exact): +, -,
// *, comparisons, min/max, abs, floor/ceil/round/trunc, sign, select,
// step, saturate, clamp. Division is allowed 2.5 ulps, fract and the
// mix/smoothstep formulas inherit their parts' errors; 2 ulps covers a
// division and a fused multiply-add the GPU may form.
// invocations: 256
// input: 256 floats
// output: 4096
// compare: ulps 2

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let a = input[gid.x];
    let b = input[(gid.x * 13u + 7u) % 256u];
    // Finite, moderate values for the formulas (inputs include inf/NaN).
    let fa = select(0.75, clamp(a, -1e6, 1e6), a == a);
    let fb = select(-0.25, clamp(b, -1e6, 1e6), b == b);
    let o = 16u * gid.x;
    output[o] = a + b;
    output[o + 1u] = a - b;
    output[o + 2u] = a * b;
    output[o + 3u] = fa / select(fb, 3.0, fb == 0.0);
    output[o + 4u] = select(0.0, 1.0, a < b) + select(0.0, 2.0, a == b) + select(0.0, 4.0, a >= b);
    output[o + 5u] = min(fa, fb) + max(fa, fb) * 0.5;
    output[o + 6u] = abs(a);
    output[o + 7u] = floor(fa) + ceil(fb);
    output[o + 8u] = round(fa * 3.5);
    output[o + 9u] = trunc(fb * 2.5);
    output[o + 10u] = sign(fa) + sign(fb) * 4.0;
    output[o + 11u] = fract(fa);
    output[o + 12u] = step(fa, fb) + saturate(fa * 0.01);
    output[o + 13u] = clamp(fa, -2.0, 3.0);
    output[o + 14u] = mix(fa, fb, 0.25);
    output[o + 15u] = smoothstep(-1.0, 2.0, fa);
}
