// WGSL's integer rules: wrapping arithmetic, x / 0 = x, x % 0 = 0,
// MIN / -1 = MIN, shift amounts taken modulo 32, abs(MIN) = MIN.
// invocations: 64
// input: 64 ints
// output: 768
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<i32>;
@group(0) @binding(1) var<storage, read_write> output: array<i32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let a = input[i];
    let b = input[(i * 7u + 3u) % 64u];
    let ua = bitcast<u32>(a);
    let ub = bitcast<u32>(b);
    let o = 12u * i;
    output[o] = a / b;
    output[o + 1u] = a % b;
    output[o + 2u] = bitcast<i32>(ua / ub);
    output[o + 3u] = bitcast<i32>(ua % ub);
    output[o + 4u] = a * b + a;
    output[o + 5u] = a << (ub & 31u);
    output[o + 6u] = a >> (ub & 31u);
    output[o + 7u] = bitcast<i32>(ua >> (ub & 31u));
    output[o + 8u] = abs(a) - b;
    output[o + 9u] = -a;
    output[o + 10u] = min(a, b) ^ max(a, b);
    output[o + 11u] = clamp(a, -100, b);
}
