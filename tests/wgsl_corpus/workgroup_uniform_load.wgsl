// workgroupUniformLoad: one lane writes, every lane reads the same value
// (the built-in includes the barrier).
// invocations: 256
// input: 256 random
// output: 256
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

var<workgroup> leader: u32;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if lid == 7u {
        leader = input[gid.x];
    }
    let shared_value = workgroupUniformLoad(&leader);
    output[gid.x] = shared_value ^ input[gid.x];
}
