// Workgroup atomics that return values lanes then use: atomicExchange of a
// ticket, atomicMax of a lane's key, then every lane reads the winner
// after a barrier (the winner is order-independent, the tickets are not,
// so only sums of tickets are written, and minima where several lanes may
// win).
// invocations: 384
// input: 384 random
// output: 12
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<atomic<u32>>;

var<workgroup> best: atomic<u32>;
var<workgroup> tickets: atomic<u32>;

@compute @workgroup_size(128)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(workgroup_id) wid: vec3<u32>) {
    let key = input[gid.x];
    atomicMax(&best, key >> 4u);
    let ticket = atomicAdd(&tickets, 1u);
    workgroupBarrier();
    let winner = atomicLoad(&best);
    let last = atomicExchange(&tickets, 0u);
    atomicAdd(&output[wid.x * 4u], select(0u, 1u, (key >> 4u) == winner));
    atomicAdd(&output[wid.x * 4u + 1u], ticket);
    atomicMin(&output[wid.x * 4u + 2u], last + 1u);
    if (key >> 4u) == winner {
        atomicMin(&output[wid.x * 4u + 3u], gid.x);
    }
}
