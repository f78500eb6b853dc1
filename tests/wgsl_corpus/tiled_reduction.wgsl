// A tree reduction of 128 words per workgroup through workgroup memory,
// with a barrier at every level; integer sums, so exact.
// invocations: 1000
// input: 1000 random
// output: 8
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

var<workgroup> partial: array<u32, 128>;

@compute @workgroup_size(128)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    var v = 0u;
    if gid.x < arrayLength(&input) {
        v = input[gid.x] >> 8u;
    }
    partial[lid.x] = v;
    workgroupBarrier();
    var stride = 64u;
    while stride > 0u {
        if lid.x < stride {
            partial[lid.x] = partial[lid.x] + partial[lid.x + stride];
        }
        workgroupBarrier();
        stride = stride / 2u;
    }
    if lid.x == 0u {
        output[wid.x] = partial[0];
    }
}
