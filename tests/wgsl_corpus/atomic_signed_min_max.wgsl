// Signed atomicMin / atomicMax compare as i32, not as bit patterns.
// invocations: 300
// input: 300 ints
// output: 4
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<i32>;
@group(0) @binding(1) var<storage, read_write> output: array<atomic<i32>>;

@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= 300u {
        return;
    }
    let v = input[gid.x];
    atomicMax(&output[0], v);
    atomicMin(&output[1], v);
    atomicMax(&output[2], v / 7);
    atomicMin(&output[3], -v);
}
