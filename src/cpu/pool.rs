//! The runtime's own CPU thread pool, where Rust twins run.
//!
//! Each [`Runtime`](crate::Runtime) builds its own rayon pool instead of using
//! rayon's global one, so the thread count is the runtime's configuration and
//! a host program's own rayon work is left alone. Twins run inside
//! [`rayon::ThreadPool::install`], so their parallel iterators use this pool;
//! launches below a kernel's [`Kernel::serial_below`](crate::Kernel::serial_below)
//! run on the calling thread instead, since handing them over would cost
//! more than they compute.
//!
//! Invariant: a panic in a twin is caught here and becomes
//! [`Error::CpuKernelPanicked`](crate::Error::CpuKernelPanicked); it never unwinds into the caller or poisons
//! the pool.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use super::jobs::JobThreads;
use crate::error::{panic_message, Error, Result};

/// A rayon pool owned by one runtime.
#[derive(Clone, Debug)]
pub(crate) struct CpuPool {
    /// Shared with the GPU context, which copies large readbacks on it.
    pool: Arc<rayon::ThreadPool>,
    /// How long a kernel's WGSL may run on the executor before it is
    /// stopped, unless its launch says otherwise.
    executor_deadline: Option<std::time::Duration>,
    /// Where submitted launches that must wait for a lock run, beside the
    /// pool (see `jobs`).
    jobs: Arc<JobThreads>,
}

impl CpuPool {
    /// A pool of `threads` workers (0 = one per available core).
    ///
    /// # Errors
    /// [`Error::ThreadPool`](crate::Error::ThreadPool) when the OS refuses to start the threads.
    pub fn new(threads: usize) -> Result<Self> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("switchyard-cpu-{i}"))
            .build()
            .map_err(Error::ThreadPool)?;
        let jobs = JobThreads::new(pool.current_num_threads(), "switchyard-job");
        Ok(CpuPool {
            pool: Arc::new(pool),
            executor_deadline: None,
            jobs: Arc::new(jobs),
        })
    }

    /// This pool, its executor launches stopped after `deadline` unless
    /// they set their own.
    pub fn with_executor_deadline(mut self, deadline: Option<std::time::Duration>) -> Self {
        self.executor_deadline = deadline;
        self
    }

    pub fn executor_deadline(&self) -> Option<std::time::Duration> {
        self.executor_deadline
    }

    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    pub fn pool(&self) -> &rayon::ThreadPool {
        &self.pool
    }

    /// Runs a submitted launch's `job` on a thread beside the pool, never
    /// on a pool worker: for a job that must wait for a buffer's lock,
    /// which a pool worker must never do (see `jobs`).
    pub fn spawn_job(&self, job: impl FnOnce() + Send + 'static) {
        self.jobs.spawn(job);
    }

    /// The pool itself, for other parts of the runtime that copy on it.
    pub fn shared(&self) -> Arc<rayon::ThreadPool> {
        Arc::clone(&self.pool)
    }

    /// Runs `twin` inside the pool, or on the calling thread when `inline`
    /// (a launch the kernel declared serial), turning a panic into a typed
    /// error.
    pub fn run_twin<R: Send>(
        &self,
        kernel: &str,
        inline: bool,
        twin: impl FnOnce() -> Result<R> + Send,
    ) -> Result<R> {
        let outcome = if inline {
            catch_unwind(AssertUnwindSafe(twin))
        } else {
            self.pool.install(|| catch_unwind(AssertUnwindSafe(twin)))
        };
        outcome.unwrap_or_else(|payload| {
            Err(Error::CpuKernelPanicked {
                kernel: kernel.into(),
                message: panic_message(payload.as_ref()),
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_has_the_configured_threads_and_runs_inside_them() {
        let pool = CpuPool::new(2).unwrap();
        assert_eq!(pool.threads(), 2);
        let inside = pool
            .run_twin("probe", false, || Ok(rayon::current_num_threads()))
            .unwrap();
        assert_eq!(inside, 2);
        let caller = std::thread::current().id();
        let ran_on = pool
            .run_twin("probe", true, || Ok(std::thread::current().id()))
            .unwrap();
        assert_eq!(ran_on, caller, "an inline twin runs on the calling thread");
    }

    #[test]
    fn panic_becomes_a_typed_error_and_the_pool_survives() {
        let pool = CpuPool::new(1).unwrap();
        let err = pool
            .run_twin::<()>("boom", false, || panic!("index out of range"))
            .unwrap_err();
        assert!(
            matches!(&err, Error::CpuKernelPanicked { kernel, message } if kernel == "boom" && message.contains("index out of range")),
            "{err}"
        );
        assert_eq!(pool.run_twin("after", false, || Ok(7)).unwrap(), 7);
        let err = pool
            .run_twin::<()>("boom", true, || panic!("inline too"))
            .unwrap_err();
        assert!(matches!(err, Error::CpuKernelPanicked { .. }), "{err}");
    }
}
