// Function-local arrays and matrices indexed by per-lane values, read and
// written; a 2-D local array indexed twice.
// invocations: 128
// input: 128 random
// output: 128
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let v = input[gid.x];
    var table: array<u32, 8>;
    for (var i = 0u; i < 8u; i++) {
        table[(i * 3u + v) % 8u] = i * i + (v >> i);
    }
    var grid: array<array<u32, 3>, 3>;
    let r = v % 3u;
    let c = (v >> 2u) % 3u;
    grid[r][c] = 100u;
    grid[c][r] += 7u;
    var vec_index = vec4<u32>(1u, 2u, 3u, 4u);
    vec_index[v % 4u] = 50u;
    output[gid.x] = table[v % 8u] + table[(v >> 3u) % 8u] * 3u + grid[r][c] + grid[c][r] * 2u
        + vec_index.x + vec_index.w * 10u;
}
