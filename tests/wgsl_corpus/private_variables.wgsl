// var<private>: per invocation, initialised once per invocation, shared by
// the functions one invocation calls.
// invocations: 100
// input: 100 random
// output: 100
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

var<private> calls: u32 = 5u;
var<private> trail: array<u32, 4>;

fn record(x: u32) -> u32 {
    trail[calls % 4u] = x;
    calls += 1u;
    return calls;
}

@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= 100u {
        return;
    }
    let v = input[gid.x];
    for (var i = 0u; i < v % 6u; i++) {
        _ = record(v + i);
    }
    output[gid.x] = calls * 1000u + trail[0] % 7u + trail[1] % 5u * 10u + trail[2] % 3u * 100u;
}
