//! [`DispatchReport`]: what the dispatcher did and learned, per kernel, as
//! returned by [`Runtime::report`](crate::Runtime::report) and printed as a
//! table.

use std::fmt;
use std::time::Duration;

use super::cost_model::LinearFit;
use super::policy::Dispatcher;
use super::reason::millis;
use crate::target::CpuImplementation;

/// A fitted cost line, `latency + per_item × work`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct CostLine {
    /// Fixed cost per launch (or per transfer).
    pub latency: Duration,
    /// Cost per unit of work (or per byte), in nanoseconds.
    pub per_item_ns: f64,
}

impl From<LinearFit> for CostLine {
    fn from(fit: LinearFit) -> Self {
        CostLine {
            latency: Duration::from_secs_f64(fit.latency),
            per_item_ns: fit.per_item * 1e9,
        }
    }
}

impl fmt::Display for CostLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} + {:.3} ns/item",
            millis(self.latency.as_secs_f64()),
            self.per_item_ns
        )
    }
}

/// One kernel's launches, time, prediction quality and transfers.
#[derive(Clone, Debug, PartialEq)]
pub struct KernelReport {
    /// The kernel's name.
    pub kernel: String,
    /// Launches that ran on the CPU pool.
    pub cpu_launches: u64,
    /// Launches that ran on the GPU.
    pub gpu_launches: u64,
    /// Wall time of the CPU launches.
    pub cpu_time: Duration,
    /// Wall time of the GPU launches (launches inside a sequence count only
    /// their recording).
    pub gpu_time: Duration,
    /// `Auto` launches sent to the target predicted slower, to measure it.
    pub explorations: u64,
    /// First launches per target, not learned (shader JIT, pool wake-up).
    pub cold_launches: u64,
    /// Measurements set aside as outliers (far from their size's median).
    pub outliers: u64,
    /// Mean of `|predicted − actual| / actual` over the launches that had a
    /// prediction and a measurement.
    pub mean_prediction_error: Option<f64>,
    /// Bytes uploaded for this kernel's launches.
    pub bytes_uploaded: u64,
    /// Bytes downloaded for this kernel's launches.
    pub bytes_downloaded: u64,
    /// The CPU cost line learned, once two sizes were measured.
    pub cpu_model: Option<CostLine>,
    /// The GPU cost line learned, once two sizes were measured.
    pub gpu_model: Option<CostLine>,
    /// What the latest CPU launch ran: the Rust twin, or the kernel's WGSL
    /// on switchyard's executor (`None` before any CPU launch).
    pub cpu_implementation: Option<CpuImplementation>,
}

/// The dispatcher's account of a runtime; `Display` prints a table.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchReport {
    /// The GPU adapter's name, or `None` without one.
    pub adapter: Option<String>,
    /// Per kernel, in name order.
    pub kernels: Vec<KernelReport>,
    /// Host → device cost per byte, once measured at two sizes.
    pub upload: Option<CostLine>,
    /// Device → host cost per byte, once measured at two sizes.
    pub download: Option<CostLine>,
}

impl DispatchReport {
    pub(crate) fn new(adapter: Option<String>, dispatcher: &Dispatcher) -> Self {
        let mut kernels: Vec<KernelReport> = dispatcher
            .kernels
            .values()
            .filter(|r| r.totals.launches.iter().sum::<u64>() > 0)
            .map(|record| {
                let t = &record.totals;
                KernelReport {
                    kernel: record.name.clone(),
                    cpu_launches: t.launches[0],
                    gpu_launches: t.launches[1],
                    cpu_time: Duration::from_secs_f64(t.seconds[0]),
                    gpu_time: Duration::from_secs_f64(t.seconds[1]),
                    explorations: t.explorations,
                    cold_launches: t.cold,
                    outliers: record.models.iter().map(|m| m.outliers()).sum(),
                    mean_prediction_error: (t.predicted_launches > 0)
                        .then(|| t.relative_error_sum / t.predicted_launches as f64),
                    bytes_uploaded: t.bytes_uploaded,
                    bytes_downloaded: t.bytes_downloaded,
                    cpu_model: record.models[0].fit().map(CostLine::from),
                    gpu_model: record.models[1].fit().map(CostLine::from),
                    cpu_implementation: t.cpu_implementation,
                }
            })
            .collect();
        kernels.sort_by(|a, b| a.kernel.cmp(&b.kernel));
        DispatchReport {
            adapter,
            kernels,
            upload: dispatcher.links[0].fit().map(CostLine::from),
            download: dispatcher.links[1].fit().map(CostLine::from),
        }
    }
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
}

impl fmt::Display for DispatchReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "switchyard dispatch report (GPU: {})",
            self.adapter.as_deref().unwrap_or("none")
        )?;
        writeln!(
            f,
            "| kernel | cpu runs | gpu runs | cpu time | gpu time | explored | cold | outliers | pred. error | up | down | cpu model | gpu model |"
        )?;
        writeln!(
            f,
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"
        )?;
        for k in &self.kernels {
            let line = |m: &Option<CostLine>| m.map_or("-".to_string(), |m| m.to_string());
            writeln!(
                f,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                match k.cpu_implementation {
                    Some(how) if k.cpu_launches > 0 => format!("{} (cpu: {how})", k.kernel),
                    _ => k.kernel.clone(),
                },
                k.cpu_launches,
                k.gpu_launches,
                millis(k.cpu_time.as_secs_f64()),
                millis(k.gpu_time.as_secs_f64()),
                k.explorations,
                k.cold_launches,
                k.outliers,
                k.mean_prediction_error
                    .map_or("-".to_string(), |e| format!("{:.0}%", e * 100.0)),
                mib(k.bytes_uploaded),
                mib(k.bytes_downloaded),
                line(&k.cpu_model),
                line(&k.gpu_model),
            )?;
        }
        for (label, link) in [("upload", &self.upload), ("download", &self.download)] {
            if let Some(line) = link {
                let gbps = if line.per_item_ns > 0.0 {
                    format!("{:.2} GB/s", 1.0 / line.per_item_ns)
                } else {
                    "-".into()
                };
                writeln!(
                    f,
                    "{label}: {} latency, {gbps}",
                    millis(line.latency.as_secs_f64())
                )?;
            }
        }
        Ok(())
    }
}
