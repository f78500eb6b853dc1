// Every compute built-in input over a 3-D grid of 3-D workgroups that do
// not divide the grid.
// grid: 10 6 3
// output: 5400
// compare: exact

@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(4, 3, 2)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(local_invocation_id) lid: vec3<u32>,
    @builtin(local_invocation_index) lindex: u32,
    @builtin(workgroup_id) wid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    // The grid is 12 x 6 x 4 invocations (3 x 2 x 2 workgroups).
    let linear = gid.x + 12u * (gid.y + 6u * gid.z);
    let o = 19u * linear;
    if o + 18u >= arrayLength(&output) {
        return;
    }
    output[o] = gid.x;
    output[o + 1u] = gid.y;
    output[o + 2u] = gid.z;
    output[o + 3u] = lid.x;
    output[o + 4u] = lid.y;
    output[o + 5u] = lid.z;
    output[o + 6u] = lindex;
    output[o + 7u] = wid.x;
    output[o + 8u] = wid.y;
    output[o + 9u] = wid.z;
    output[o + 10u] = groups.x;
    output[o + 11u] = groups.y;
    output[o + 12u] = groups.z;
    output[o + 13u] = lindex - (lid.x + 4u * (lid.y + 3u * lid.z));
    output[o + 14u] = gid.x - (wid.x * 4u + lid.x);
    output[o + 15u] = linear;
    output[o + 16u] = 1u;
    output[o + 17u] = 2u;
    output[o + 18u] = 3u;
}
