// modf, frexp and quantizeToF16: exact by definition (a split of the bits,
// and rounding to the nearest f16), on normal inputs. Left out, as WGSL
// leaves them to the implementation: subnormal inputs (lavapipe flushes
// them), f16 subnormal results (flushed there too), values beyond f16's
// range, and the sign of a zero fract or whole (lavapipe's modf(-1.0)
// gives a fract of -0, WGSL's `e - trunc(e)` gives 0): zeros are written
// as +0.
// invocations: 256
// input: 256 floats
// output: 1536
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

fn unsigned_zero(v: f32) -> u32 {
    return select(bitcast<u32>(v), 0u, v == 0.0);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let raw = input[gid.x];
    let bits = bitcast<u32>(raw);
    let exponent = bits & 0x7f800000u;
    // Infinities and NaNs become 1.25, subnormals 0.
    let x = select(select(raw, 0.0, exponent == 0u), 1.25, exponent == 0x7f800000u);
    let m = modf(x);
    let f = frexp(x);
    let v = modf(vec2<f32>(x, -x * 0.5));
    let q = clamp(abs(x), 0.0000620, 60000.0) * sign(x);
    let o = 6u * gid.x;
    output[o] = unsigned_zero(m.fract);
    output[o + 1u] = unsigned_zero(m.whole);
    output[o + 2u] = unsigned_zero(f.fract);
    output[o + 3u] = bitcast<u32>(f.exp);
    output[o + 4u] = unsigned_zero(quantizeToF16(q));
    output[o + 5u] = unsigned_zero(v.fract.y) ^ unsigned_zero(v.whole.x);
}
