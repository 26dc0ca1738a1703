//! Corpus and artifact files: one input per file, named by a stable hash of its bytes
//! (`seed-…` for seeds, `crash-…`, `slow-…`, `hang-…` for findings).

use std::path::{Path, PathBuf};

/// FNV-1a, 64 bits: stable across runs and platforms (file names must not change).
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| (h ^ b as u64).wrapping_mul(0x100_0000_01b3))
}

/// Writes `input` to `dir/PREFIX-HASH` (creating `dir`); returns the path.
pub fn save(dir: &Path, prefix: &str, input: &[u8]) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let path = dir.join(format!("{prefix}-{:016x}", hash(input)));
    std::fs::write(&path, input)?;
    Ok(path)
}

/// The inputs in `dir`, by file name (none when it does not exist). Hidden files and
/// the oversize file being written by a run are skipped.
pub fn load(dir: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut paths: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file())
        .filter(|p| p.file_name().and_then(|n| n.to_str()).is_some_and(|n| !n.starts_with('.')))
        .collect();
    paths.sort();
    paths.into_iter().filter_map(|p| std::fs::read(&p).ok().map(|bytes| (p, bytes))).collect()
}

/// The oversize file of a run that aborted holds a finding: give it its hash name, so
/// that the next run does not overwrite it.
pub fn keep_oversize_finding(path: &Path) {
    let Ok(bytes) = std::fs::read(path) else { return };
    if bytes.is_empty() {
        let _ = std::fs::remove_file(path);
        return;
    }
    if let Some(dir) = path.parent() {
        let to = dir.join(format!("alloc-{:016x}", hash(&bytes)));
        let _ = std::fs::rename(path, &to);
        eprintln!("fuzz: kept the input of an earlier refused allocation as {}", to.display());
    }
}
