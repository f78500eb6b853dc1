// A buffer that is a struct with a header and a runtime-sized array:
// arrayLength counts the elements after the header.
// invocations: 40
// output: 38
// compare: exact

struct Packed {
    count: u32,
    flags: u32,
    items: array<vec2<u32>>,
}

@group(0) @binding(1) var<storage, read_write> packed: Packed;

@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let n = arrayLength(&packed.items);
    if gid.x == 0u {
        packed.count = n;
        packed.flags = 0x55u;
    }
    if gid.x < n {
        packed.items[gid.x] = vec2<u32>(gid.x * gid.x, n - gid.x);
    }
}
