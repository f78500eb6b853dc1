// A 2-D 5-point stencil over 8x8 workgroup tiles with a one-cell halo
// loaded into workgroup memory (corner lanes load the extra cells), then a
// barrier; integer weights, so exact. The grid is 20 x 12 cells.
// grid: 20 12 1
// input: 240 random
// output: 240
// compare: exact

@group(0) @binding(0) var<storage, read> input: array<u32>;
@group(0) @binding(1) var<storage, read_write> output: array<u32>;

const W: u32 = 20u;
const H: u32 = 12u;

var<workgroup> tile: array<array<u32, 10>, 10>;

fn cell(x: i32, y: i32) -> u32 {
    if x < 0 || y < 0 || x >= i32(W) || y >= i32(H) {
        return 0u;
    }
    return input[u32(y) * W + u32(x)] & 0xffffu;
}

@compute @workgroup_size(8, 8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let x = i32(gid.x);
    let y = i32(gid.y);
    tile[lid.y + 1u][lid.x + 1u] = cell(x, y);
    if lid.x == 0u { tile[lid.y + 1u][0] = cell(x - 1, y); }
    if lid.x == 7u { tile[lid.y + 1u][9] = cell(x + 1, y); }
    if lid.y == 0u { tile[0][lid.x + 1u] = cell(x, y - 1); }
    if lid.y == 7u { tile[9][lid.x + 1u] = cell(x, y + 1); }
    workgroupBarrier();
    if gid.x >= W || gid.y >= H {
        return;
    }
    let c = tile[lid.y + 1u][lid.x + 1u];
    let around = tile[lid.y][lid.x + 1u] + tile[lid.y + 2u][lid.x + 1u]
        + tile[lid.y + 1u][lid.x] + tile[lid.y + 1u][lid.x + 2u];
    output[gid.y * W + gid.x] = 4u * c - around;
}
