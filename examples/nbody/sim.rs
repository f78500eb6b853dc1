//! The N-body simulation behind `examples/nbody`: initial conditions,
//! kick-drift-kick leapfrog on switchyard's kernels, and the conserved
//! quantities that check it. `tests/nbody.rs` includes this file, so the
//! demo and its tests run the same code.
//!
//! Units: G = 1, total mass 1 (the binary: two bodies of ½). Bodies live in
//! three runtime buffers in structure-of-arrays order, `bodies = [x.., y..,
//! z.., m..]`, `vel = [vx.., vy.., vz..]` and `accel = [ax.., ay.., az..]`,
//! and stay wherever the launches leave them: a batch of steps on the GPU is
//! one submission with no readback until [`Simulation::state`].

#![allow(dead_code)] // each includer uses its own part

use rayon::prelude::*;
use switchyard::kernels::{self, KickDriftParams, NbodyParams};
use switchyard::{Buffer, Kernel, Runtime, SequenceReport, Target};

/// Positions, masses and velocities on the host, structure of arrays.
#[derive(Clone, Debug, PartialEq)]
pub struct State {
    /// `[x.., y.., z.., m..]`.
    pub bodies: Vec<f32>,
    /// `[vx.., vy.., vz..]`.
    pub vel: Vec<f32>,
}

impl State {
    /// Bodies.
    pub fn len(&self) -> usize {
        self.bodies.len() / 4
    }

    fn from_bodies(bodies: &[([f64; 3], [f64; 3], f64)]) -> State {
        let n = bodies.len();
        let mut state = State {
            bodies: vec![0.0; 4 * n],
            vel: vec![0.0; 3 * n],
        };
        for (i, (position, velocity, mass)) in bodies.iter().enumerate() {
            for c in 0..3 {
                state.bodies[c * n + i] = position[c] as f32;
                state.vel[c * n + i] = velocity[c] as f32;
            }
            state.bodies[3 * n + i] = *mass as f32;
        }
        state
    }

    fn position(&self, i: usize) -> [f64; 3] {
        let n = self.len();
        [0, 1, 2].map(|c| f64::from(self.bodies[c * n + i]))
    }

    fn velocity(&self, i: usize) -> [f64; 3] {
        let n = self.len();
        [0, 1, 2].map(|c| f64::from(self.vel[c * n + i]))
    }

    fn mass(&self, i: usize) -> f64 {
        f64::from(self.bodies[3 * self.len() + i])
    }

    /// Kinetic plus softened potential energy, in f64 (the potential
    /// `-m_i m_j / sqrt(r² + ε²)` is the one whose gradient the kernel's
    /// softened force is).
    pub fn energy(&self, softening: f64) -> f64 {
        let n = self.len();
        let eps2 = softening * softening;
        let kinetic: f64 = (0..n)
            .map(|i| 0.5 * self.mass(i) * self.velocity(i).iter().map(|v| v * v).sum::<f64>())
            .sum();
        let potential: f64 = (0..n)
            .into_par_iter()
            .map(|i| {
                let p = self.position(i);
                let mut sum = 0.0;
                for j in i + 1..n {
                    let q = self.position(j);
                    let r2: f64 = (0..3).map(|c| (q[c] - p[c]).powi(2)).sum();
                    sum -= self.mass(i) * self.mass(j) / (r2 + eps2).sqrt();
                }
                sum
            })
            .sum();
        kinetic + potential
    }

    /// Total momentum.
    pub fn momentum(&self) -> [f64; 3] {
        let mut total = [0.0; 3];
        for i in 0..self.len() {
            let v = self.velocity(i);
            for c in 0..3 {
                total[c] += self.mass(i) * v[c];
            }
        }
        total
    }

    /// `Σ m |v|`: the scale momentum errors are measured against.
    pub fn momentum_scale(&self) -> f64 {
        (0..self.len())
            .map(|i| self.mass(i) * self.velocity(i).iter().map(|v| v * v).sum::<f64>().sqrt())
            .sum()
    }

    /// The distance between bodies 0 and 1 (the binary's separation).
    pub fn separation(&self) -> f64 {
        let (p, q) = (self.position(0), self.position(1));
        (0..3).map(|c| (q[c] - p[c]).powi(2)).sum::<f64>().sqrt()
    }
}

/// Initial conditions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialConditions {
    /// A Plummer sphere in Hénon units (virial equilibrium, E = -1/4).
    Plummer,
    /// Bodies at rest, uniform in the cube [-1, 1]³: a cold collapse.
    Cube,
    /// Two bodies of mass ½ on a circular orbit of separation 1.
    Binary,
}

impl InitialConditions {
    /// Parses `plummer`, `cube` or `binary`.
    pub fn parse(name: &str) -> Option<InitialConditions> {
        match name {
            "plummer" => Some(InitialConditions::Plummer),
            "cube" => Some(InitialConditions::Cube),
            "binary" => Some(InitialConditions::Binary),
            _ => None,
        }
    }

    /// The name `parse` accepts.
    pub fn name(self) -> &'static str {
        match self {
            InitialConditions::Plummer => "plummer",
            InitialConditions::Cube => "cube",
            InitialConditions::Binary => "binary",
        }
    }

    /// `bodies` bodies (the binary always has 2), reproducible from `seed`.
    pub fn generate(self, bodies: usize, seed: u64, softening: f64) -> State {
        match self {
            InitialConditions::Plummer => plummer(bodies, seed),
            InitialConditions::Cube => cube(bodies, seed),
            InitialConditions::Binary => binary(softening),
        }
    }
}

/// SplitMix64: a small, well-mixed generator, so runs are reproducible
/// without a dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// A uniformly random direction scaled to `length`.
    fn direction(&mut self, length: f64) -> [f64; 3] {
        let cos_theta = 2.0 * self.uniform() - 1.0;
        let sin_theta = (1.0 - cos_theta * cos_theta).sqrt();
        let phi = std::f64::consts::TAU * self.uniform();
        [
            length * sin_theta * phi.cos(),
            length * sin_theta * phi.sin(),
            length * cos_theta,
        ]
    }
}

/// Moves the centre of mass to the origin, at rest.
fn centre(bodies: &mut [([f64; 3], [f64; 3], f64)]) {
    let total: f64 = bodies.iter().map(|b| b.2).sum();
    for c in 0..3 {
        let position = bodies.iter().map(|b| b.2 * b.0[c]).sum::<f64>() / total;
        let velocity = bodies.iter().map(|b| b.2 * b.1[c]).sum::<f64>() / total;
        for body in bodies.iter_mut() {
            body.0[c] -= position;
            body.1[c] -= velocity;
        }
    }
}

/// Aarseth, Hénon & Wielen (1974): radii from the cumulative mass profile,
/// speeds by rejection from `q² (1 - q²)^(7/2)` times the local escape
/// speed, in units G = M = 1 with scale radius `3π/16` (E = -1/4). Radii
/// beyond 10 scale radii are redrawn, which drops the last 0.1% of mass.
fn plummer(n: usize, seed: u64) -> State {
    let mut rng = Rng(seed);
    let scale = 3.0 * std::f64::consts::PI / 16.0;
    let mass = 1.0 / n as f64;
    let mut bodies: Vec<_> = (0..n)
        .map(|_| {
            let radius = loop {
                let fraction = rng.uniform().max(1e-12);
                let r = 1.0 / (fraction.powf(-2.0 / 3.0) - 1.0).sqrt();
                if r < 10.0 {
                    break r;
                }
            };
            let q = loop {
                let q = rng.uniform();
                let g = 0.1 * rng.uniform();
                if g < q * q * (1.0 - q * q).powf(3.5) {
                    break q;
                }
            };
            let escape = std::f64::consts::SQRT_2 * (1.0 + radius * radius).powf(-0.25);
            // In Plummer units (scale radius 1), then rescaled to Hénon units.
            let position = rng.direction(radius * scale);
            let velocity = rng.direction(q * escape / scale.sqrt());
            (position, velocity, mass)
        })
        .collect();
    centre(&mut bodies);
    State::from_bodies(&bodies)
}

fn cube(n: usize, seed: u64) -> State {
    let mut rng = Rng(seed);
    let mass = 1.0 / n as f64;
    let mut bodies: Vec<_> = (0..n)
        .map(|_| {
            let position = [0, 1, 2].map(|_| 2.0 * rng.uniform() - 1.0);
            (position, [0.0; 3], mass)
        })
        .collect();
    centre(&mut bodies);
    State::from_bodies(&bodies)
}

/// Separation 1, each body ½ from the centre; the speed balances the
/// softened force `m d / (d² + ε²)^(3/2)` exactly, so the orbit is circular.
fn binary(softening: f64) -> State {
    let (m, d) = (0.5, 1.0);
    let r = d / 2.0;
    let speed = (m * r * d / (d * d + softening * softening).powf(1.5)).sqrt();
    State::from_bodies(&[
        ([-r, 0.0, 0.0], [0.0, -speed, 0.0], m),
        ([r, 0.0, 0.0], [0.0, speed, 0.0], m),
    ])
}

/// The binary's orbital period at this softening.
pub fn binary_period(softening: f64) -> f64 {
    let state = binary(softening);
    std::f64::consts::TAU * 0.5 / state.velocity(1)[1]
}

/// A running simulation: the three buffers and the two kernels.
pub struct Simulation<'rt> {
    rt: &'rt Runtime,
    n: u32,
    softening: f32,
    bodies: Buffer<f32>,
    vel: Buffer<f32>,
    accel: Buffer<f32>,
    accel_kernel: Kernel,
    kick_drift: Kernel,
}

impl<'rt> Simulation<'rt> {
    /// Uploads `state` and computes the first accelerations on `target`.
    ///
    /// # Errors
    /// Buffer creation or the first launch failing.
    pub fn new(
        rt: &'rt Runtime,
        state: &State,
        softening: f32,
        target: Target,
    ) -> switchyard::Result<Self> {
        Self::with_cpu(rt, state, softening, target, false)
    }

    /// As [`new`](Self::new); with `wgsl_on_cpu`, CPU launches run the
    /// kernels' WGSL on switchyard's executor instead of their Rust twins.
    ///
    /// # Errors
    /// As [`new`](Self::new).
    pub fn with_cpu(
        rt: &'rt Runtime,
        state: &State,
        softening: f32,
        target: Target,
        wgsl_on_cpu: bool,
    ) -> switchyard::Result<Self> {
        let choose = |kernel: Kernel| {
            if wgsl_on_cpu {
                kernel.prefer_wgsl_on_cpu()
            } else {
                kernel
            }
        };
        let n = state.len();
        let mut simulation = Simulation {
            rt,
            n: u32::try_from(n).map_err(|_| switchyard::Error::LaunchSize {
                kernel: "nbody_accel".into(),
                message: format!("{n} bodies exceed u32"),
            })?,
            softening,
            bodies: rt.buffer_from_slice(&state.bodies)?,
            vel: rt.buffer_from_slice(&state.vel)?,
            accel: rt.buffer_zeroed(3 * n)?,
            accel_kernel: choose(kernels::nbody_accel()),
            kick_drift: choose(kernels::nbody_kick_drift()),
        };
        let mut sequence = rt.sequence().on(target);
        simulation.record_accel(&mut sequence)?;
        sequence.finish()?;
        Ok(simulation)
    }

    /// Bodies.
    pub fn len(&self) -> usize {
        self.n as usize
    }

    fn record_accel(&mut self, sequence: &mut switchyard::Sequence<'_>) -> switchyard::Result<()> {
        sequence
            .launch(&self.accel_kernel)
            .uniform(&NbodyParams {
                n: self.n,
                softening2: self.softening * self.softening,
                _pad0: 0,
                _pad1: 0,
            })
            .read(&self.bodies)
            .overwrite(&mut self.accel)
            .invocations(self.n)
            .run()?;
        Ok(())
    }

    fn record_kick_drift(
        &mut self,
        sequence: &mut switchyard::Sequence<'_>,
        kick: f32,
        drift: f32,
    ) -> switchyard::Result<()> {
        sequence
            .launch(&self.kick_drift)
            .uniform(&KickDriftParams {
                n: self.n,
                kick,
                drift,
                _pad: 0,
            })
            .read(&self.accel)
            .write(&mut self.vel)
            .write(&mut self.bodies)
            .invocations(self.n)
            .run()?;
        Ok(())
    }

    /// `steps` kick-drift-kick steps of `dt` in one sequence (one GPU
    /// submission when they run there).
    ///
    /// # Errors
    /// A launch or the submission failing.
    pub fn advance(
        &mut self,
        steps: usize,
        dt: f32,
        target: Target,
    ) -> switchyard::Result<SequenceReport> {
        let mut sequence = self.rt.sequence().on(target);
        for _ in 0..steps {
            self.record_kick_drift(&mut sequence, 0.5 * dt, dt)?;
            self.record_accel(&mut sequence)?;
            self.record_kick_drift(&mut sequence, 0.5 * dt, 0.0)?;
        }
        sequence.finish()
    }

    /// The current state, read back from wherever it is.
    ///
    /// # Errors
    /// A readback failing.
    pub fn state(&self) -> switchyard::Result<State> {
        Ok(State {
            bodies: self.bodies.to_vec()?,
            vel: self.vel.to_vec()?,
        })
    }
}
