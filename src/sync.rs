//! Locking that carries on through poisoning.
//!
//! A panic while a lock is held poisons it. Every critical section in this
//! crate leaves its data consistent before anything that can panic (a twin's
//! panic is caught outside any lock of ours), so a poisoned lock still guards
//! valid data, and the runtime keeps serving the threads that did not panic.

use std::sync::{Mutex, MutexGuard};

/// Locks `mutex`, carrying on through poisoning (see the module docs).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
