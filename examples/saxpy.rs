//! The smallest complete switchyard program: y = a·x + y on whatever runs it best.
//!
//! Run: `cargo run --release --example saxpy [-- n]`

use switchyard::{kernels, Runtime, Target};

fn main() -> switchyard::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1 << 20);

    let rt = Runtime::new()?;
    let x = rt.buffer_from_slice(&vec![1.0f32; n as usize])?;
    let mut y = rt.buffer_from_slice(&vec![2.0f32; n as usize])?;
    let saxpy = kernels::saxpy();

    for target in [Target::Gpu, Target::Cpu, Target::Auto] {
        match rt
            .launch(&saxpy)
            .uniform(&kernels::SaxpyParams { a: 0.5, n })
            .read(&x)
            .write(&mut y)
            .invocations(n)
            .on(target)
            .run()
        {
            Ok(report) => println!("{target:>4}: {report}"),
            Err(e) => println!("{target:>4}: skipped: {e}"),
        }
    }
    let out = y.to_vec()?;
    println!("y[0] = {} (each successful launch added 0.5)", out[0]);
    Ok(())
}
