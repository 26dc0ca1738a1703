//! The CPU backend's thread pool: persistent workers that spin briefly between ops and
//! then sleep, with the calling thread taking part in every job. A decode step runs a
//! few hundred small ops, so handing out a job must cost well under a microsecond:
//! tasks are claimed from one atomic counter and completion is one atomic count.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicUsize, Ordering::*};
use std::sync::{Arc, Condvar, Mutex, OnceLock, TryLockError};
use std::thread;

/// How long an idle worker keeps looking for the next job before it sleeps.
const SPIN_TIME: std::time::Duration = std::time::Duration::from_millis(2);

/// Busy spins before a waiting thread starts yielding its core on every check: on a
/// busy machine the thread being waited for may need that core to finish.
const SPINS_BEFORE_YIELD: u32 = 256;

/// A job: a task function called with task indices `0..n_tasks`. It lives on the stack
/// of the caller of `run`, which waits until every worker is done with it.
struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    n_tasks: usize,
}

struct Shared {
    /// Bumped once per job; workers run a job when they see a new epoch.
    epoch: AtomicUsize,
    job: AtomicPtr<Job<'static>>,
    /// The next task index to claim.
    next: AtomicUsize,
    /// Workers that have finished the current job.
    done: AtomicUsize,
    panicked: AtomicBool,
    sleepers: AtomicUsize,
    wake: Condvar,
    wake_lock: Mutex<()>,
}

pub struct Pool {
    shared: Arc<Shared>,
    n_workers: usize,
    /// One job at a time; a second caller meanwhile runs its tasks itself.
    submit: Mutex<()>,
}

thread_local! {
    static IN_JOB: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

static POOL: OnceLock<Pool> = OnceLock::new();

/// Sizes the pool to `n` threads (the caller plus `n - 1` workers). Only the first call
/// counts; without one the pool takes the machine's available parallelism.
pub fn init(n: usize) {
    let _ = POOL.get_or_init(|| Pool::new(n.max(1) - 1));
}

/// The process-wide pool.
pub fn pool() -> &'static Pool {
    POOL.get_or_init(|| {
        Pool::new(thread::available_parallelism().map_or(1, |n| n.get()).saturating_sub(1))
    })
}

/// Runs `f(0..n_tasks)` on the process-wide pool and returns when every task is done.
pub fn run(n_tasks: usize, f: impl Fn(usize) + Sync) {
    pool().run(n_tasks, &f)
}

/// `f(index, chunk)` for every `chunk_len`-long chunk of `data`, in parallel.
pub fn for_chunks<T: Send>(data: &mut [T], chunk_len: usize, f: impl Fn(usize, &mut [T]) + Sync) {
    let (len, base) = (data.len(), SendPtr(data.as_mut_ptr()));
    let n = len.div_ceil(chunk_len.max(1));
    run(n, |i| {
        let start = i * chunk_len;
        let end = (start + chunk_len).min(len);
        // SAFETY: chunks are disjoint and within `data`, which outlives `run`.
        let chunk = unsafe { std::slice::from_raw_parts_mut(base.get().add(start), end - start) };
        f(i, chunk)
    });
}

/// A raw pointer the tasks of one job may share (they touch disjoint parts).
pub struct SendPtr<T>(*mut T);

impl<T> SendPtr<T> {
    pub fn new(data: &mut [T]) -> SendPtr<T> {
        SendPtr(data.as_mut_ptr())
    }

    fn get(&self) -> *mut T {
        self.0
    }

    /// Writes `v` at index `i`.
    ///
    /// # Safety
    /// `i` is within the slice given to `new`, which is still borrowed by the job, and
    /// no other task touches index `i`.
    pub unsafe fn write(&self, i: usize, v: T) {
        unsafe { self.0.add(i).write(v) }
    }
}

// SAFETY: used only to hand disjoint sub-slices to the tasks of one job.
unsafe impl<T: Send> Sync for SendPtr<T> {}

impl Pool {
    fn new(n_workers: usize) -> Pool {
        let shared = Arc::new(Shared {
            epoch: AtomicUsize::new(0),
            job: AtomicPtr::new(std::ptr::null_mut()),
            next: AtomicUsize::new(0),
            done: AtomicUsize::new(0),
            panicked: AtomicBool::new(false),
            sleepers: AtomicUsize::new(0),
            wake: Condvar::new(),
            wake_lock: Mutex::new(()),
        });
        // A worker that cannot be spawned leaves fewer hands: only spawned ones are
        // counted (and waited for), and the caller claims every task not taken.
        let spawned = (0..n_workers)
            .filter(|i| {
                let s = Arc::clone(&shared);
                let b = thread::Builder::new().name(format!("hearth-cpu-{i}"));
                b.spawn(move || worker(&s)).is_ok()
            })
            .count();
        Pool { shared, n_workers: spawned, submit: Mutex::new(()) }
    }

    /// Threads that take part in a job (workers plus the caller).
    pub fn n_threads(&self) -> usize {
        self.n_workers + 1
    }

    /// Runs `f(0..n_tasks)` and returns when all are done. Serial when there is one
    /// task, no workers, when called from inside a task, or while another thread's job
    /// holds the pool. A panicking task panics here once the job has finished.
    pub fn run(&self, n_tasks: usize, f: &(dyn Fn(usize) + Sync)) {
        if n_tasks <= 1 || self.n_workers == 0 || IN_JOB.with(|c| c.get()) {
            return (0..n_tasks).for_each(f);
        }
        // A lock poisoned by an earlier panicking job is still ours to take.
        let _guard = match self.submit.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => return (0..n_tasks).for_each(f),
        };
        let s = &*self.shared;
        let job = Job { f, n_tasks };
        // Workers read the job only between seeing the new epoch and counting themselves
        // done, and `run` returns only after all have; the pointer is cleared before.
        s.job.store(&job as *const Job as *mut Job<'static>, SeqCst);
        s.next.store(0, SeqCst);
        s.done.store(0, SeqCst);
        s.epoch.fetch_add(1, SeqCst);
        if s.sleepers.load(SeqCst) > 0 {
            let _l = s.wake_lock.lock().unwrap_or_else(|e| e.into_inner());
            s.wake.notify_all();
        }
        let ok = claim_tasks(s, f, n_tasks);
        let mut spins = 0u32;
        while s.done.load(Acquire) < self.n_workers {
            pause(&mut spins);
        }
        s.job.store(std::ptr::null_mut(), SeqCst);
        if !ok || s.panicked.swap(false, SeqCst) {
            panic!("a CPU task panicked");
        }
    }
}

/// Claims and runs tasks until none are left; false when one panicked.
fn claim_tasks(s: &Shared, f: &(dyn Fn(usize) + Sync), n_tasks: usize) -> bool {
    IN_JOB.with(|c| c.set(true));
    let r = catch_unwind(AssertUnwindSafe(|| loop {
        let i = s.next.fetch_add(1, Relaxed);
        if i >= n_tasks {
            break;
        }
        f(i);
    }));
    IN_JOB.with(|c| c.set(false));
    r.is_ok()
}

/// A worker's loop. It starts from epoch 0, the pool's first, so a job submitted before
/// the thread got going is still seen as new.
fn worker(s: &Shared) {
    let mut seen = 0;
    loop {
        seen = wait_for_job(s, seen);
        let job = s.job.load(SeqCst);
        // SAFETY: the caller of `run` keeps the job alive until `done` counts us.
        if let Some(job) = unsafe { job.as_ref() } {
            if !claim_tasks(s, job.f, job.n_tasks) {
                s.panicked.store(true, SeqCst);
            }
        }
        s.done.fetch_add(1, Release);
    }
}

/// One step of a wait: a CPU spin hint at first, then a yield of the core.
fn pause(spins: &mut u32) {
    if *spins < SPINS_BEFORE_YIELD {
        *spins += 1;
        std::hint::spin_loop();
    } else {
        thread::yield_now();
    }
}

/// Spins (yielding), then sleeps, until the epoch moves past `seen`; returns the new
/// epoch.
fn wait_for_job(s: &Shared, seen: usize) -> usize {
    let start = std::time::Instant::now();
    let mut spins = 0u32;
    loop {
        let e = s.epoch.load(Acquire);
        if e != seen {
            return e;
        }
        pause(&mut spins);
        if spins >= SPINS_BEFORE_YIELD && start.elapsed() > SPIN_TIME {
            break;
        }
    }
    let mut lock = s.wake_lock.lock().unwrap_or_else(|e| e.into_inner());
    s.sleepers.fetch_add(1, SeqCst);
    loop {
        let e = s.epoch.load(SeqCst);
        if e != seen {
            s.sleepers.fetch_sub(1, SeqCst);
            return e;
        }
        lock = s.wake.wait(lock).unwrap_or_else(|e| e.into_inner());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_task_runs_once() {
        let pool = Pool::new(3);
        for n in [0, 1, 2, 7, 1000] {
            let hits: Vec<AtomicUsize> = (0..n).map(|_| AtomicUsize::new(0)).collect();
            pool.run(n, &|i| {
                hits[i].fetch_add(1, SeqCst);
            });
            assert!(hits.iter().all(|h| h.load(SeqCst) == 1), "n={n}");
        }
    }

    #[test]
    fn jobs_after_workers_slept_still_complete() {
        let pool = Pool::new(1);
        let sum = AtomicUsize::new(0);
        for round in 0..3 {
            pool.run(64, &|i| {
                sum.fetch_add(i, SeqCst);
            });
            if round == 1 {
                thread::sleep(std::time::Duration::from_millis(50));
            }
        }
        assert_eq!(sum.load(SeqCst), 3 * (0..64).sum::<usize>());
    }

    #[test]
    fn chunks_cover_the_slice() {
        let mut v = vec![0usize; 103];
        for_chunks(&mut v, 10, |i, c| c.iter_mut().for_each(|x| *x = i));
        assert!(v.iter().enumerate().all(|(j, &x)| x == j / 10));
    }

    #[test]
    fn a_panicking_task_panics_the_caller_and_the_pool_lives_on() {
        let pool = Pool::new(2);
        let r = catch_unwind(AssertUnwindSafe(|| pool.run(8, &|i| assert!(i != 5))));
        assert!(r.is_err());
        // Still parallel after the panic: both threads take tasks.
        let threads = Mutex::new(std::collections::HashSet::new());
        pool.run(64, &|_| {
            threads.lock().unwrap().insert(thread::current().id());
            thread::sleep(std::time::Duration::from_millis(1));
        });
        assert!(threads.lock().unwrap().len() > 1, "the pool went serial after a panic");
    }
}
