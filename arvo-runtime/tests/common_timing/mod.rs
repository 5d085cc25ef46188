//! Timing for the tests that check an algorithm is linear: the ratio of the CPU times of a
//! small and a big input. Shared with `arvo-docs`'s tests (`#[path]`-included there).
#![allow(dead_code)]

use std::time::{Duration, Instant};

/// CPU time this thread has used (Linux `schedstat`), else `None`: unlike wall time it does
/// not grow when other processes take the cores, so ratios of it are stable on a busy host.
fn thread_cpu() -> Option<Duration> {
    let text = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    Some(Duration::from_nanos(
        text.split_whitespace().next()?.parse().ok()?,
    ))
}

/// The least CPU time one sample of [`best_time`] lasts: the kernel adds to a thread's
/// `schedstat` time at scheduler ticks and switches, so a run of a few milliseconds can read
/// as 0 (a 2,000-extension parse did) or a fraction of its time.
const MIN_SAMPLE: Duration = Duration::from_millis(50);

/// The CPU time (wall time where that is not available) this thread has used since `start`.
fn since(start: (Option<Duration>, Instant)) -> Duration {
    match (start.0, thread_cpu()) {
        (Some(a), Some(b)) => b.saturating_sub(a),
        _ => start.1.elapsed(),
    }
}

/// The cheapest of `runs` samples of one run of `work`, in this thread's CPU time (wall time
/// where that is not available). Each sample repeats `work` until [`MIN_SAMPLE`] has passed
/// and divides by the repetitions, so the clock's granularity does not decide the result.
pub fn best_time(runs: usize, mut work: impl FnMut()) -> Duration {
    (0..runs)
        .map(|_| {
            let start = (thread_cpu(), Instant::now());
            let mut reps = 0u32;
            loop {
                work();
                reps += 1;
                let spent = since(start);
                if spent >= MIN_SAMPLE || start.1.elapsed() >= MIN_SAMPLE * 4 {
                    return spent / reps;
                }
            }
        })
        .min()
        .unwrap_or_default()
}

/// How many times longer `big` takes than `small` (the cheapest of `runs` runs of each, after
/// one warm-up run of `small`), printed with `what`: the ratio of a linear algorithm follows
/// the ratio of the sizes, a quadratic one its square.
pub fn time_ratio(what: &str, runs: usize, mut small: impl FnMut(), big: impl FnMut()) -> f64 {
    small();
    let t_small = best_time(runs, &mut small);
    let t_big = best_time(runs, big);
    let ratio = t_big.as_secs_f64() / t_small.as_secs_f64().max(1e-9);
    eprintln!("{what}: {t_small:?} and {t_big:?}, ratio {ratio:.1}");
    ratio
}
