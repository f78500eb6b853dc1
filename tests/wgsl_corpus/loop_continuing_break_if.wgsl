// loop / continue / continuing / break if, with per-lane trip counts.
// invocations: 200
// input: 200 random
// output: 200
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    if gid.x >= 200u {
        return;
    }
    let n = input[gid.x] % 37u;
    var i = 0u;
    var acc = 0u;
    loop {
        if i % 3u == 1u {
            continue;
        }
        acc = acc * 31u + i;
        if acc % 11u == 5u {
            break;
        }
        continuing {
            i += 1u;
            break if i >= n;
        }
    }
    output[gid.x] = acc ^ (i << 16u);
}
