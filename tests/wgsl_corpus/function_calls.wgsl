// Functions calling functions, early returns from inside loops, arguments
// by value and by pointer, a struct returned by value.
// invocations: 128
// input: 128 random
// output: 256
// compare: exact

struct Pair {
    lo: u32,
    hi: u32,
}

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

fn first_multiple(start: u32, step: u32, limit: u32) -> u32 {
    for (var x = start; x < limit; x++) {
        if x % step == 0u {
            return x;
        }
    }
    return 0xffffffffu;
}

fn split(v: u32) -> Pair {
    var p: Pair;
    p.lo = v & 0xffffu;
    p.hi = v >> 16u;
    if p.lo > p.hi {
        return Pair(p.hi, p.lo);
    }
    return p;
}

fn accumulate(total: ptr<function, u32>, p: Pair) {
    *total += first_multiple(p.lo, 7u, p.lo + 5u) ^ p.hi;
}

@compute @workgroup_size(64)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let v = input[gid.x];
    var total = 0u;
    let p = split(v);
    accumulate(&total, p);
    accumulate(&total, split(v * 2654435761u));
    output[2u * gid.x] = total;
    output[2u * gid.x + 1u] = p.lo * 3u + p.hi;
}
