// while loops, a return from inside nested loops of the entry point (the
// lanes that return keep their store; the others go on), and a loop whose
// only exit is a `break if` in `continuing`.
// invocations: 200
// input: 200 random
// output: 400
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= 200u {
        return;
    }
    let v = input[gid.x];
    var n = v % 1000u;
    var steps = 0u;
    while n != 0u {
        n = n / 3u;
        steps += 1u;
    }
    output[2u * gid.x] = steps;
    var a = v & 0xffu;
    for (var i = 0u; i < 10u; i++) {
        var j = 0u;
        while j < i {
            a = a * 3u + j;
            if a % 17u == 0u {
                output[2u * gid.x + 1u] = a + 1000000u * i;
                return;
            }
            j++;
        }
    }
    var k = 0u;
    loop {
        a ^= k;
        continuing {
            k += 1u;
            break if k > (v >> 28u);
        }
    }
    output[2u * gid.x + 1u] = a;
}
