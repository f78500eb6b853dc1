// Transcendental built-ins on ranges where WGSL bounds their error in
// ulps: sqrt and inverseSqrt (2.5 ulps as 1/inverseSqrt and inverseSqrt
// itself, 2 ulps for sqrt's own rounding), exp and exp2 (3 + 2|x| ulps, here
// |x| <= 8: 19), log and log2 (3 ulps outside [0.5, 2], absolute 2^-21
// inside: 256 ulps of a result near 0.01 covers it), pow (as exp2(y
// log2(x)): its exp2 bound over |y log2 x| <= 16 is 35 ulps, plus the log2
// error magnified by |y|). The comparison allows 40 ulps everywhere; the
// words near log's zero are kept away from it by the input mapping.
// invocations: 256
// input: 256 floats
// output: 2048
// compare: ulps 40

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let raw = input[gid.x];
    let finite = select(1.5, raw, raw == raw && abs(raw) < 1e30);
    // Positive, away from 1 (where log's absolute bound is coarse in ulps).
    let positive = abs(finite) * 7.0 + 2.5;
    let small = clamp(finite, -8.0, 8.0);
    let o = 8u * gid.x;
    output[o] = sqrt(positive);
    output[o + 1u] = inverseSqrt(positive);
    output[o + 2u] = exp(small);
    output[o + 3u] = exp2(small);
    output[o + 4u] = log(positive);
    output[o + 5u] = log2(positive);
    output[o + 6u] = pow(clamp(positive, 2.5, 30.0), clamp(small, -3.0, 3.0));
    output[o + 7u] = sqrt(positive) * inverseSqrt(positive + 1.0);
}
