// A bitonic sort of 128 keys per workgroup in workgroup memory: nested
// loops with barriers, compare-and-swap through a partner index.
// invocations: 256
// input: 256 random
// output: 256
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

var<workgroup> keys: array<u32, 128>;

@compute @workgroup_size(128)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_index) lid: u32) {
    keys[lid] = input[gid.x];
    workgroupBarrier();
    for (var size = 2u; size <= 128u; size *= 2u) {
        for (var stride = size / 2u; stride > 0u; stride /= 2u) {
            let partner = lid ^ stride;
            if partner > lid {
                let ascending = (lid & size) == 0u;
                let a = keys[lid];
                let b = keys[partner];
                if (a > b) == ascending {
                    keys[lid] = b;
                    keys[partner] = a;
                }
            }
            workgroupBarrier();
        }
    }
    output[gid.x] = keys[lid];
}
