// Matrix products of 64-bit floats (matrix × vector, vector × matrix,
// matrix × matrix, a scalar factor, a sum), transpose and indexing, with
// integer entries so every product and sum is exact whatever order the
// GPU adds in.
// invocations: 64
// input: 256 random
// output: 1536
// element: 2
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<f64>;

fn entry(k: u32) -> f64 {
    return f64(i32(input[k % 256u] % 201u) - 100);
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let b = 3u * i;
    let m = mat3x2<f64>(
        vec2<f64>(entry(b), entry(b + 1u)),
        vec2<f64>(entry(b + 2u), entry(b + 5u)),
        vec2<f64>(entry(b + 7u), entry(b + 11u)),
    );
    let n = mat2x3<f64>(
        vec3<f64>(entry(b + 13u), entry(b + 17u), entry(b + 19u)),
        vec3<f64>(entry(b + 23u), entry(b + 29u), entry(b + 31u)),
    );
    let v = vec3<f64>(entry(b + 37u), entry(b + 41u), entry(b + 43u));
    let mv = m * v;
    let vn = v * n;
    let mn = m * n;
    let scaled = m * 3.0lf + transpose(n);
    let o = 24u * i;
    output[o] = mv.x;
    output[o + 1u] = mv.y;
    output[o + 2u] = vn.x;
    output[o + 3u] = vn.y;
    output[o + 4u] = mn[0].x;
    output[o + 5u] = mn[0].y;
    output[o + 6u] = mn[1].x;
    output[o + 7u] = mn[1].y;
    output[o + 8u] = scaled[0].x;
    output[o + 9u] = scaled[2].y;
    output[o + 10u] = scaled[i % 3u][i % 2u];
    output[o + 11u] = (vec2<f64>(1.0lf, -2.0lf) * m).z;
    let t = transpose(m);
    output[o + 12u] = t[1].x;
    output[o + 13u] = t[0][i % 3u];
    output[o + 14u] = (n * mv).z;
    output[o + 15u] = (2.0lf * n)[1].y;
}
