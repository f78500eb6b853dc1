// Subgroup operations on integers (exact): reductions, inclusive and
// exclusive scans, ballot, broadcasts, shuffles, and the subgroup built-in
// inputs, in subgroups of 8 (lavapipe's size and the executor's); a third
// of the lanes sit out the second half, inside a non-uniform branch.
// invocations: 128
// input: 128 random
// output: 2048
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(64)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(subgroup_size) size: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(num_subgroups) subgroups: u32,
) {
    let v = input[gid.x] >> 8u;
    let o = 16u * gid.x;
    output[o] = size * 1000000u + subgroups * 1000u + subgroup * 10u + lane;
    output[o + 1u] = subgroupAdd(v);
    output[o + 2u] = subgroupMax(v) ^ subgroupMin(v);
    output[o + 3u] = subgroupInclusiveAdd(v & 0xffu);
    output[o + 4u] = subgroupExclusiveAdd(v & 0xffu);
    output[o + 5u] = subgroupBallot((v & 1u) == 1u).x;
    output[o + 6u] = subgroupBroadcastFirst(v);
    output[o + 7u] = subgroupBroadcast(v, 3u);
    output[o + 8u] = subgroupShuffleXor(v, 1u);
    output[o + 9u] = subgroupAnd(v | 0xff00ffu) ^ subgroupOr(v & 0xffu) ^ subgroupXor(v);
    output[o + 10u] = select(0u, 1u, subgroupAll(v > 0x100u)) + select(0u, 2u, subgroupAny(v < 0x1000u));
    output[o + 11u] = bitcast<u32>(subgroupMin(bitcast<i32>(input[gid.x])));
    if gid.x % 3u != 0u {
        output[o + 12u] = subgroupAdd(v & 0xffffu);
        output[o + 13u] = subgroupBallot(true).x;
        output[o + 14u] = subgroupExclusiveMul(v | 1u);
        output[o + 15u] = subgroupBroadcastFirst(gid.x);
    }
}
