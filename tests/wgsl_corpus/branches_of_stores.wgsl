// Branches that only store values to variables, which the executor turns
// into selects: a store that changes the branch's own condition variable,
// a side that reads a variable the other side's stores wrote, short-circuit
// `||` and `&&` chains, and a branch nested in a loop.
// invocations: 300
// input: 300 random
// output: 900
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if i >= 300u {
        return;
    }
    let v = input[i];
    var flag = (v & 1u) != 0u;
    var a = v >> 3u;
    var b = v % 1000u;
    if flag {
        flag = false;
        a = a + b;
        b = a * 3u;
    } else {
        b = b ^ a;
        a = b + 7u;
    }
    if flag {
        a = 0u;
    }
    let hit = (v % 3u == 0u) || (v % 5u == 1u) || (a > b && b > 100u);
    var steps = 0u;
    for (var k = 0u; k < (v & 7u); k++) {
        if (a & (1u << k)) != 0u {
            steps = steps + k;
            a = a ^ steps;
        } else {
            steps = steps * 2u + 1u;
        }
    }
    output[i * 3u] = a;
    output[i * 3u + 1u] = b ^ (u32(hit) << 31u) ^ (u32(flag) << 30u);
    output[i * 3u + 2u] = steps;
}
