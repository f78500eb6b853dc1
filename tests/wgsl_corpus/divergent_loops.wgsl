// Nested loops with per-lane trip counts, break out of the inner loop,
// continue in the outer one, and a while loop.
// invocations: 256
// input: 256 random
// output: 256
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let v = input[gid.x];
    var acc = v & 0xffu;
    for (var i = 0u; i < (v >> 8u) % 9u; i++) {
        if (acc + i) % 4u == 3u {
            continue;
        }
        var j = 0u;
        loop {
            if j >= i + 2u {
                break;
            }
            acc = acc * 5u + j;
            if acc % 13u == 0u {
                break;
            }
            j++;
        }
    }
    var k = v % 50u;
    while k > 3u {
        k = select(k / 2u, 3u * k + 1u, k % 2u == 1u) % 50u;
        acc += 1u;
        if acc > 0x7fffffffu { break; }
    }
    output[gid.x] = acc;
}
