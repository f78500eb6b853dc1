// 16-bit floats (SHADER_F16): values built exactly from input integers,
// then the operations IEEE rounds once (+ - * /, sqrt), the exact ones
// (abs, floor, ceil, round, trunc, fract, min, max, clamp, select,
// comparisons), conversions to and from f32, i32 and u32 (floats saturate,
// f32 overflows to infinity), and f16 vectors in memory: stores of whole
// vec2<f16> words and of single halves. Subnormal results and `dot`, `fma`
// and the transcendentals are left out: lavapipe may flush the first and
// evaluate the others in f32 before one rounding. (lavapipe also folds
// f16(i32(x)) into trunc(x), -0 for a small negative x: hence the + 1.)
// invocations: 64
// input: 128 random
// output: 1024
// compare: exact

enable f16;

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<vec2<f16>>;

fn value(k: u32) -> f16 {
    return f16(i32(input[k % 128u] % 2001u) - 1000) / 64.0h;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let a = value(i);
    let b = value(i * 5u + 17u) + 0.5h;
    let c = value(i * 3u + 1u);
    let o = 16u * i;
    output[o] = vec2<f16>(a + b, a - b * 3.0h);
    output[o + 1u] = vec2<f16>(a * b, a / b);
    output[o + 2u] = vec2<f16>(sqrt(abs(a)), -c);
    output[o + 3u] = vec2<f16>(floor(a) + ceil(b), round(a * 4.0h) - trunc(b));
    output[o + 4u] = vec2<f16>(fract(a), min(a, b) - max(b, c));
    output[o + 5u] = vec2<f16>(clamp(a, -1.0h, b), select(a, b, a < b));
    output[o + 6u] = vec2<f16>(f16(u32(a < b) | (u32(a <= c) << 1u) | (u32(b != c) << 2u)), f16(a == c));
    output[o + 7u] = vec2<f16>(f16(f32(a) * 1.001), f16(bitcast<f32>(0x7f000000u)));
    output[o + 8u] = vec2<f16>(f16(i32(a * 100.0h)), f16(u32(abs(b) * 50.0h)));
    output[o + 9u] = vec2<f16>(f16(input[i] % 70000u), f16(bitcast<i32>(input[i]) % 1000));
    let v = vec3<f16>(a, b, c);
    let w = v.zxy * 0.5h - vec3<f16>(1.0h, 2.0h, 3.0h);
    output[o + 10u] = w.xy;
    output[o + 11u] = vec2<f16>(w[i % 3u], length(vec2<f16>(3.0h, 4.0h)));
    var acc = 1.0h;
    for (var k = 0u; k < (i % 7u); k++) {
        acc = acc * 1.5h + a;
    }
    output[o + 12u] = vec2<f16>(acc, f16(i32(acc) + 1));
    output[o + 13u] = vec2<f16>(1.0h, 2.0h);
    output[o + 13u].y = b * c;
    output[o + 14u].x = a * c;
    output[o + 15u] = vec2<f16>(f16(u32(b * 1000.0h)), f16(i32(-b * 1000.0h)));
}
