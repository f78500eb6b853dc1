// WGSL's host-shareable layout read from a storage struct: a mat3x3 (its
// columns 16 bytes apart), a vec3 followed by a scalar in its padding, a
// vec2 at an 8-byte boundary, and an array of structs with a stride of 32;
// each value is written back with exact operations only (negation, abs,
// swizzles), so the words compare exactly.
// invocations: 16
// input: 64 floats
// output: 512
// compare: exact

struct Item {
    a: vec2<f32>,
    b: u32,
    c: vec4<f32>,
}

struct Input {
    m: mat3x3<f32>,
    v: vec3<f32>,
    s: f32,
    w: vec2<f32>,
    items: array<Item, 5>,
    tail: vec2<f32>,
}

@group(0) @binding(0) var<storage, read> input: Input;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let k = gid.x;
    let o = 32u * k;
    let column = input.m[k % 3u];
    output[o] = column.x;
    output[o + 1u] = -column.y;
    output[o + 2u] = abs(column.z);
    output[o + 3u] = input.m[2][k % 3u];
    output[o + 4u] = input.v[k % 3u];
    output[o + 5u] = input.s;
    output[o + 6u] = input.w.y;
    let item = input.items[k % 5u];
    output[o + 7u] = item.a.x;
    output[o + 8u] = item.a.y;
    output[o + 9u] = bitcast<f32>(item.b);
    output[o + 10u] = item.c.w;
    output[o + 11u] = item.c.z;
    output[o + 12u] = input.items[(k + 2u) % 5u].c.x;
    output[o + 13u] = input.tail.x;
    output[o + 14u] = -input.tail.y;
    let swizzled = input.items[4].c.wzyx;
    output[o + 15u] = swizzled[k % 4u];
}
