// 64-bit floats (SHADER_F64): values built exactly from input integers,
// then the operations IEEE binary64 rounds correctly (+ - * /, sqrt) and
// the exact ones (abs, floor, ceil, round, trunc, fract, min, max,
// clamp, select, comparisons), conversions to and from every 32-bit type
// and the 64-bit integers (floats saturate at the largest float the type
// holds), vectors with dot and length; all bit-exact. NaN and subnormal
// values are left out: lavapipe assumes no NaNs and flushes subnormals.
// So is `fma`, which WGSL lets be fused or not: the executor fuses, and
// lavapipe's f64 `fma` does not (2 ulps apart on one input here).
// invocations: 64
// input: 128 random
// output: 2048
// element: 2
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<f64>;

fn value(i: u32) -> f64 {
    let word = bitcast<i32>(input[i % 128u]);
    // A 31-bit integer scaled by a power of two: exact, spread over
    // magnitudes 2^-30 .. 2^40.
    return ldexp(f64(word), i32(i % 71u) - 60);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let a = value(i);
    let b = value(i * 5u + 17u);
    let c = value(i * 3u + 1u);
    let o = 32u * i;
    output[o] = a + b;
    output[o + 1u] = a - b * 3.0lf;
    output[o + 2u] = a * b;
    output[o + 3u] = a / b;
    output[o + 4u] = sqrt(abs(a));
    output[o + 5u] = max(a / c, b);
    output[o + 6u] = floor(a / 7.0lf) + ceil(b / 3.0lf);
    output[o + 7u] = round(a / 1024.0lf) - trunc(b / 1024.0lf);
    output[o + 8u] = fract(a / 1000.0lf);
    output[o + 9u] = min(a, b) - max(b, c);
    output[o + 10u] = clamp(a, -1.0lf, b);
    output[o + 11u] = select(a, b, a < b);
    output[o + 12u] = f64(u32(a < b) | (u32(a <= c) << 1u) | (u32(a == a) << 2u) | (u32(b != c) << 3u));
    output[o + 13u] = f64(f32(a));
    output[o + 14u] = f64(i32(a)) + f64(u32(b));
    output[o + 15u] = f64(i64(a * 1e9lf)) + f64(u64(b * 1e12lf));
    output[o + 16u] = f64(i64(a * 1e30lf));
    output[o + 17u] = f64(u64(-a * 1e30lf));
    output[o + 18u] = f64(i32(b * 1e12lf));
    output[o + 19u] = f64(bitcast<f32>(input[i]) == 0.0) + f64(input[i]) + f64(bitcast<i32>(input[i]));
    output[o + 20u] = -a;
    output[o + 21u] = f64(i64(bitcast<i32>(input[i + 1u])) * 3000000000li);
    let v = vec3<f64>(a, b, c);
    let w = v.zxy * 0.5lf - vec3<f64>(1.0lf, 2.0lf, 3.0lf);
    output[o + 22u] = dot(v, w);
    output[o + 23u] = length(v);
    output[o + 24u] = w.x;
    output[o + 25u] = w[i % 3u];
    var acc = 1.0lf;
    for (var k = 0u; k < (i % 9u); k++) {
        acc = acc * 1.5lf + a;
    }
    output[o + 26u] = acc;
    output[o + 27u] = bitcast<f64>(0x3ff0000000000001lu);
    output[o + 28u] = f64(f32(a) * 3.0);
    output[o + 29u] = sign(a) * sign(-b);
    output[o + 30u] = f64(a > 0.0lf);
    output[o + 31u] = f64(bool(a)) + f64(u64(a));
}
