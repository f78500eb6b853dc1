// One explicit step of the 2-D heat equation on a width x height grid
// (row-major), Dirichlet boundaries held fixed:
//   dst = c + alpha * ((left + right) + (up + down) - 4 c)   in the interior,
//   dst = src                                                on the boundary.
// Stable for alpha <= 0.25. Launch with .grid([width, height, 1]).

struct Jacobi2dParams {
    width: u32,
    height: u32,
    alpha: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: Jacobi2dParams;
@group(0) @binding(1) var<storage, read> src: array<f32>;
@group(0) @binding(2) var<storage, read_write> dst: array<f32>;

@compute @workgroup_size(16, 16)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let w = params.width;
    let h = params.height;
    let x = gid.x;
    let y = gid.y;
    if x >= w || y >= h || w * h > arrayLength(&src) || w * h > arrayLength(&dst) {
        return;
    }
    let i = y * w + x;
    if x == 0u || y == 0u || x == w - 1u || y == h - 1u {
        dst[i] = src[i];
        return;
    }
    let c = src[i];
    dst[i] = c + params.alpha * ((src[i - 1u] + src[i + 1u]) + (src[i - w] + src[i + w]) - 4.0 * c);
}
