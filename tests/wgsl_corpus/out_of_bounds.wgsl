// Indices past the end: storage reads give 0 and writes are dropped (the
// bounds policy wgpu's native backends use with robust buffer access);
// fixed-size arrays outside buffers clamp the index to the last element.
// invocations: 64
// input: 64 random
// output: 64
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    var local = array<u32, 4>(10u, 20u, 30u, 40u);
    let k = input[i] % 9u;
    local[k] += 1u;
    let far = input[i + 1000000u];
    let signed_index = i32(k) - 6;
    let from_local = local[signed_index];
    output[i + 64u] = 7u;
    output[i + 0x1000000u] = 9u;
    output[i] = far + from_local * 1000u + local[k] + local[3];
}
