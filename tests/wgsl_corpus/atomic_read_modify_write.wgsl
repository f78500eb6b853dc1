// Every read-modify-write atomic on storage words, from 500 invocations in
// 8 workgroups; all of them commute, so the final words are deterministic.
// invocations: 500
// input: 500 random
// output: 9
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<atomic<u32>>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= arrayLength(&input) {
        return;
    }
    let v = input[gid.x];
    atomicMax(&output[0], v);
    atomicMin(&output[1], v);
    atomicAnd(&output[2], v | 0x0f0f0f0fu);
    atomicOr(&output[3], v & 0x00ff00ffu);
    atomicXor(&output[4], v);
    atomicAdd(&output[5], v);
    atomicSub(&output[6], v >> 3u);
    // The old values of an increment are the sentinel plus 0, 1, …, n - 1
    // in some order; their sum does not depend on the order.
    let old = atomicAdd(&output[7], 1u);
    atomicAdd(&output[8], old);
}
