// A 16-bin histogram: each workgroup counts its elements in workgroup
// atomics between two barriers, then adds its bins to the global ones
// (which start at the sentinel: only the sums are compared).
// invocations: 1024
// input: 1024 random
// output: 16
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<atomic<u32>>;

var<workgroup> bins: array<atomic<u32>, 16>;

@compute @workgroup_size(256)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    if lid < 16u {
        atomicStore(&bins[lid], 0u);
    }
    workgroupBarrier();
    atomicAdd(&bins[input[gid.x] % 16u], 1u);
    workgroupBarrier();
    if lid < 16u {
        atomicAdd(&output[lid], atomicLoad(&bins[lid]));
    }
}
