// Pointers into structs and arrays of structs in function memory, passed to
// functions that write through them. (naga 30's SPIR-V writer panics,
// "Expression is not cached", when a pointer argument is an element of a
// function array, `nudge(&ps[0], ..)`, or a struct member the callee
// indexes dynamically, `scale_component(&s.pos, k)`, so each is passed
// from a variable of its own and copied back.)
// invocations: 128
// input: 128 floats
// output: 512
// compare: exact

struct Particle {
    pos: vec3<f32>,
    id: u32,
    history: array<f32, 3>,
}

@group(0) @binding(0) var<storage, read> input: array<f32>;
@group(0) @binding(1) var<storage, read_write> output: array<f32>;

fn nudge(p: ptr<function, Particle>, by: f32, slot: u32) {
    (*p).pos.x += by;
    (*p).pos = (*p).pos * 2.0;
    (*p).history[slot] = by;
}

fn scale_component(v: ptr<function, vec3<f32>>, k: u32) {
    (*v)[k] *= 0.5;
}

@compute @workgroup_size(32)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let x = input[gid.x];
    var ps: array<Particle, 2>;
    ps[0].pos = vec3<f32>(x, 1.0, -x);
    ps[0].id = gid.x;
    ps[1] = ps[0];
    var first = ps[0];
    nudge(&first, 0.25, gid.x % 3u);
    ps[0] = first;
    ps[gid.x % 2u].id += 1u;
    var position = ps[1].pos;
    scale_component(&position, gid.x % 3u);
    ps[1].pos = position;
    let p = ps[gid.x % 2u];
    output[4u * gid.x] = p.pos.x;
    output[4u * gid.x + 1u] = p.pos.y + ps[1].pos.z;
    output[4u * gid.x + 2u] = p.history[0] + p.history[1] * 2.0 + p.history[2] * 4.0;
    output[4u * gid.x + 3u] = f32(p.id);
}
