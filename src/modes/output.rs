//! Writing a mode's answer to stdout: a closed pipe (`hearth inspect m | head`) ends the
//! output quietly instead of panicking.

use std::io::{self, Write};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{Error, Result};

/// Writes `text` to stdout and flushes. A broken pipe counts as success.
pub fn print(text: &str) -> Result<()> {
    print_bytes(text.as_bytes())
}

/// Writes `bytes` to stdout as they are and flushes. A broken pipe counts as success
/// (and is remembered: see `stdout_closed`).
pub fn print_bytes(bytes: &[u8]) -> Result<()> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
            STDOUT_CLOSED.store(true, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => Err(Error::io(Path::new("<stdout>"), e)),
        Ok(()) => Ok(()),
    }
}

static STDOUT_CLOSED: AtomicBool = AtomicBool::new(false);

/// Whether a write found stdout's reader gone: there is no one left to write for.
pub fn stdout_closed() -> bool {
    STDOUT_CLOSED.load(Ordering::Relaxed)
}

/// Copies the rest of stdin to stdout as it comes (a filter giving back what it could
/// not take). A broken pipe counts as success.
pub fn pass_through_stdin() -> Result<()> {
    let mut out = io::stdout().lock();
    match io::copy(&mut io::stdin().lock(), &mut out).and_then(|_| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(Error::io(Path::new("<stdout>"), e)),
        _ => Ok(()),
    }
}

/// Writes a JSON value, pretty-printed, followed by a newline.
pub fn print_json(value: &serde_json::Value) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::failed(format!("cannot format JSON: {e}")))?;
    text.push('\n');
    print(&text)
}

/// Peak resident memory of this process in bytes (Linux), if known.
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// A byte count in B, KiB, MiB or GiB.
pub fn human_bytes(n: u64) -> String {
    match n {
        n if n >= 1 << 30 => format!("{:.2} GiB", n as f64 / (1u64 << 30) as f64),
        n if n >= 1 << 20 => format!("{:.2} MiB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.2} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

/// One line saying where the forward passes ran (`run -v`).
pub fn placement_line(p: &crate::backend::any::Placement) -> String {
    match &p.device {
        None => "placement: every op on the CPU".to_string(),
        Some(d) => format!(
            "placement: {} on {d}: weights {} on the device, {} on the CPU; \
             {} kernel dispatches on the device, {} ops on the CPU",
            p.backend,
            human_bytes(p.weight_bytes_device),
            human_bytes(p.weight_bytes_host),
            p.device_ops,
            p.host_ops.unwrap_or(0)
        ),
    }
}
