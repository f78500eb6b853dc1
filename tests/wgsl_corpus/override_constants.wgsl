// Override constants: one set by the launch, one left at its default, one
// derived from another.
// invocations: 64
// input: 64 floats
// output: 64
// constant: scale 2.5
// compare: exact

override scale: f32 = 1.0;
override bias: f32 = 0.125;
override twice = scale * 2.0;

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = input[gid.x];
    output[gid.x] = select(0.0, x, abs(x) < 1e30) * scale + bias + twice;
}
