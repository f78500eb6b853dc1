// One leapfrog sub-step for n = params.n bodies, structure of arrays:
//   v += a * kick;  x += v * drift
// accel = [ax.., ay.., az..] (3n), vel = [vx.., vy.., vz..] (3n),
// bodies = [x.., y.., z.., m..] (4n; masses are left alone).
// Kick-drift-kick leapfrog is kick = dt/2, drift = dt, then new
// accelerations, then kick = dt/2, drift = 0.
// Buffers shorter than that: nothing is written (the twin reports the error).

struct KickDriftParams {
    n: u32,
    kick: f32,
    drift: f32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> params: KickDriftParams;
@group(0) @binding(1) var<storage, read> accel: array<f32>;
@group(0) @binding(2) var<storage, read_write> vel: array<f32>;
@group(0) @binding(3) var<storage, read_write> bodies: array<f32>;

const GROUP: u32 = 64u;

@compute @workgroup_size(64)
fn main(
    @builtin(global_invocation_id) gid: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
) {
    let n = params.n;
    let i = gid.x + gid.y * groups.x * GROUP;
    if i >= n || n > arrayLength(&accel) / 3u || n > arrayLength(&vel) / 3u
        || n > arrayLength(&bodies) / 4u {
        return;
    }
    for (var c = 0u; c < 3u; c++) {
        let k = c * n + i;
        let v = vel[k] + accel[k] * params.kick;
        vel[k] = v;
        bodies[k] = bodies[k] + v * params.drift;
    }
}
