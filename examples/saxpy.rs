//! The smallest complete switchyard program: y = a·x + y on whatever runs it best.
//!
//! Run: `cargo run --release --example saxpy [-- N]` (N elements, default 2^20)

use switchyard::{kernels, Runtime, Target};

/// The element count: the one positional argument, if any.
fn parse_count() -> Result<u32, String> {
    let mut parser = lexopt::Parser::from_env();
    let mut n = 1 << 20;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            lexopt::Arg::Value(value) => {
                let text = value.to_string_lossy();
                n = text
                    .parse()
                    .map_err(|_| format!("`{text}` is not a whole number of elements"))?;
            }
            other => return Err(format!("{}; usage: saxpy [N]", other.unexpected())),
        }
    }
    Ok(n)
}

fn main() -> switchyard::Result<()> {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    let n = match parse_count() {
        Ok(n) => n,
        Err(message) => {
            eprintln!("saxpy: {message}");
            std::process::exit(2);
        }
    };

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
