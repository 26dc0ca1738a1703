//! What the harness watches during an execution: panics (on the fuzzing thread and on
//! threads the target starts), the time it takes (a watchdog saves an input that never
//! returns), and the largest single allocation, with a counting allocator that refuses
//! anything over 1 GiB after saving the input that asked for it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// No single allocation may be larger.
pub const ALLOC_LIMIT: usize = 1 << 30;
/// An execution slower than this is a finding.
pub const SLOW: Duration = Duration::from_secs(1);
/// An execution still running after this is saved and the process stopped.
pub const HANG: Duration = Duration::from_secs(10);

/// The input being executed (valid while `STARTED` is not 0).
static INPUT_PTR: AtomicPtr<u8> = AtomicPtr::new(std::ptr::null_mut());
static INPUT_LEN: AtomicUsize = AtomicUsize::new(0);
/// Microseconds since `epoch()` when the execution began; 0 between executions.
static STARTED: AtomicU64 = AtomicU64::new(0);
/// The largest allocation of this execution, and of the whole run.
static EXEC_LARGEST: AtomicUsize = AtomicUsize::new(0);
static RUN_LARGEST: AtomicUsize = AtomicUsize::new(0);
static COUNTING: AtomicBool = AtomicBool::new(false);
/// Where the watchdog saves a hanging input.
static HANG_DIR: Mutex<Option<PathBuf>> = Mutex::new(None);
/// Opened before the run, so that the allocator can save an input without allocating:
/// the file and the message to print (leaked, swapped in by [`arm`]).
static OVERSIZE: AtomicPtr<(File, String)> = AtomicPtr::new(std::ptr::null_mut());
/// The first panic of the execution, as `message at file:line`.
static PANIC: Mutex<Option<String>> = Mutex::new(None);
/// Names of threads a target starts whose panics count as the execution's.
static ADOPTED: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

thread_local! {
    static FUZZING: Cell<bool> = const { Cell::new(false) };
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Counts every allocation; refuses (after saving the input) any over [`ALLOC_LIMIT`].
pub struct CountingAlloc;

impl CountingAlloc {
    #[inline]
    fn check(size: usize) -> bool {
        EXEC_LARGEST.fetch_max(size, Ordering::Relaxed);
        if size <= ALLOC_LIMIT {
            return true;
        }
        oversize();
        false
    }
}

// SAFETY: every call is passed on to `System` unchanged, or refused with null.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        match Self::check(layout.size()) {
            true => System.alloc(layout),
            false => std::ptr::null_mut(),
        }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        match Self::check(layout.size()) {
            true => System.alloc_zeroed(layout),
            false => std::ptr::null_mut(),
        }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        match Self::check(new_size) {
            true => System.realloc(ptr, layout, new_size),
            false => std::ptr::null_mut(),
        }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
}

/// Called inside the allocator: writes the current input to the file opened for it,
/// without allocating. The process then aborts (the allocation fails).
fn oversize() {
    // SAFETY: set only by `arm`, to a leaked box that is never freed.
    let Some((mut file, message)) =
        (unsafe { OVERSIZE.load(Ordering::SeqCst).as_ref() }).map(|(f, m)| (f, m))
    else {
        return;
    };
    if STARTED.load(Ordering::SeqCst) != 0 {
        let ptr = INPUT_PTR.load(Ordering::SeqCst);
        let len = INPUT_LEN.load(Ordering::SeqCst);
        if !ptr.is_null() {
            // SAFETY: the input outlives the execution that is allocating now.
            let input = unsafe { std::slice::from_raw_parts(ptr, len) };
            let _ = file.write_all(input);
        }
    }
    let _ = std::io::stderr().write_all(message.as_bytes());
}

/// Tells the harness that [`CountingAlloc`] is the global allocator, and opens the file
/// an oversized allocation's input is saved to (`path`; removed by [`disarm`] when
/// unused).
pub fn arm(path: PathBuf) -> std::io::Result<()> {
    COUNTING.store(true, Ordering::SeqCst);
    let file = File::create(&path)?;
    let message = format!(
        "\nfuzz: an allocation over {} MiB was refused; its input is {}\n",
        ALLOC_LIMIT >> 20,
        path.display()
    );
    OVERSIZE.store(Box::into_raw(Box::new((file, message))), Ordering::SeqCst);
    Ok(())
}

/// Removes the oversize file when nothing was written to it.
pub fn disarm(path: &std::path::Path) {
    if std::fs::metadata(path).is_ok_and(|m| m.len() == 0) {
        let _ = std::fs::remove_file(path);
    }
}

/// The largest single allocation seen, when the counting allocator is installed.
pub fn largest_allocation() -> Option<usize> {
    COUNTING.load(Ordering::SeqCst).then(|| RUN_LARGEST.load(Ordering::Relaxed))
}

/// Panics on threads named `name` (started by a target) count as the execution's.
pub fn adopt_threads_named(name: &'static str) {
    let mut adopted = ADOPTED.lock().unwrap_or_else(|p| p.into_inner());
    if !adopted.contains(&name) {
        adopted.push(name);
    }
}

/// Installs the panic hook (once): panics of an execution are recorded, not printed;
/// any other panic goes to the hook that was there before.
pub fn install(hang_dir: PathBuf) {
    static HOOK: OnceLock<()> = OnceLock::new();
    *HANG_DIR.lock().unwrap_or_else(|p| p.into_inner()) = Some(hang_dir);
    HOOK.get_or_init(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if !ours() {
                return previous(info);
            }
            let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line()));
            let message = payload_text(info.payload());
            let mut slot = PANIC.lock().unwrap_or_else(|p| p.into_inner());
            slot.get_or_insert(format!("{message}{}", at.unwrap_or_default()));
        }));
        std::thread::Builder::new().name("fuzz-watchdog".into()).spawn(watchdog).ok();
    });
}

/// Whether a panic on this thread belongs to the execution.
fn ours() -> bool {
    if FUZZING.with(Cell::get) {
        return true;
    }
    let running = STARTED.load(Ordering::SeqCst) != 0;
    let name = std::thread::current().name().map(str::to_string);
    let adopted = ADOPTED.lock().unwrap_or_else(|p| p.into_inner());
    running && name.is_some_and(|n| adopted.contains(&n.as_str()))
}

pub fn payload_text(payload: &(dyn std::any::Any + Send)) -> String {
    match (payload.downcast_ref::<&str>(), payload.downcast_ref::<String>()) {
        (Some(s), _) => s.to_string(),
        (_, Some(s)) => s.clone(),
        _ => "a panic without a message".to_string(),
    }
}

/// Marks the start of an execution of `input`.
pub fn begin(input: &[u8]) {
    FUZZING.with(|f| f.set(true));
    *PANIC.lock().unwrap_or_else(|p| p.into_inner()) = None;
    EXEC_LARGEST.store(0, Ordering::Relaxed);
    INPUT_PTR.store(input.as_ptr() as *mut u8, Ordering::SeqCst);
    INPUT_LEN.store(input.len(), Ordering::SeqCst);
    let now = epoch().elapsed().as_micros() as u64;
    STARTED.store(now.max(1), Ordering::SeqCst);
}

/// Marks the end of the execution; returns the first panic it had, if any.
pub fn end() -> Option<String> {
    STARTED.store(0, Ordering::SeqCst);
    INPUT_PTR.store(std::ptr::null_mut(), Ordering::SeqCst);
    FUZZING.with(|f| f.set(false));
    RUN_LARGEST.fetch_max(EXEC_LARGEST.load(Ordering::Relaxed), Ordering::Relaxed);
    PANIC.lock().unwrap_or_else(|p| p.into_inner()).take()
}

/// Saves an execution running longer than [`HANG`] and stops the process: the stuck
/// thread cannot be interrupted.
fn watchdog() {
    loop {
        std::thread::sleep(Duration::from_millis(250));
        let started = STARTED.load(Ordering::SeqCst);
        let now = epoch().elapsed().as_micros() as u64;
        if started == 0 || now.saturating_sub(started) < HANG.as_micros() as u64 {
            continue;
        }
        let ptr = INPUT_PTR.load(Ordering::SeqCst);
        let len = INPUT_LEN.load(Ordering::SeqCst);
        if ptr.is_null() || STARTED.load(Ordering::SeqCst) != started {
            continue;
        }
        // SAFETY: the execution that owns the input is still running (checked above).
        let input = unsafe { std::slice::from_raw_parts(ptr, len) }.to_vec();
        let dir = HANG_DIR.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let saved = dir.map(|d| super::corpus::save(&d, "hang", &input));
        eprintln!(
            "\nfuzz: an execution ran for over {} s; its input is {:?}",
            HANG.as_secs(),
            saved.map(|s| s.map(|p| p.display().to_string()))
        );
        std::process::exit(1);
    }
}
