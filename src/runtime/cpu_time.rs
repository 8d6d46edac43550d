//! CPU time used by this process (all its threads), for `clr bench`: on a machine shared with
//! other work, wall-clock throughput swings with the neighbours' load, while the CPU seconds a
//! step costs (at `--threads 1`, where no thread spins waiting for another) barely move, so they
//! compare two variants of the step fairly.

/// User plus system CPU seconds of this process so far (None where getrusage fails).
pub fn process_seconds() -> Option<f64> {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::uninit();
    // SAFETY: getrusage writes a whole rusage into the pointer it is given, or fails.
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, usage.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: initialised by the successful call above.
    let u = unsafe { usage.assume_init() };
    let secs = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 * 1e-6;
    Some(secs(u.ru_utime) + secs(u.ru_stime))
}

#[cfg(test)]
mod tests {
    #[test]
    fn counts_the_work_done() {
        let before = super::process_seconds().unwrap();
        let mut x = 0u64;
        let start = std::time::Instant::now();
        while start.elapsed().as_millis() < 100 {
            x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
        }
        let used = super::process_seconds().unwrap() - before;
        assert!(used > 0.02, "{used} CPU seconds for 0.1 s of busy work");
    }
}
