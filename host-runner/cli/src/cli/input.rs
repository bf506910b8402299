//! Reading PATH arguments: files, directories (recursively `*.yaml`, `*.yml`, `*.json`, in
//! sorted order) and `-` for stdin, with the core's size limit applied while reading so an
//! endless stream cannot exhaust memory.

use anyhow::{Context, Result, bail};
use meshlock_core::Source;
use meshlock_core::parse::Limits;
use std::io::Read;
use std::path::{Path, PathBuf};

pub fn load(paths: &[PathBuf]) -> Result<Vec<Source>> {
    if paths.is_empty() {
        bail!(
            "no input: give one or more files or directories, or `-` to read stdin (e.g. `kubectl get pa,dr,deploy,svc,ns -A -o yaml | meshlock analyze -`)"
        );
    }
    let mut out = Vec::new();
    for p in paths {
        if p.as_os_str() == "-" {
            out.push(read_limited(std::io::stdin().lock(), "<stdin>", stdin_length())?);
        } else if p.is_dir() {
            let mut files = Vec::new();
            walk(p, &mut files).with_context(|| format!("cannot read directory {}", p.display()))?;
            files.sort();
            if files.is_empty() {
                bail!("{}: no *.yaml, *.yml or *.json files in this directory", p.display());
            }
            for f in files {
                out.push(read_file(&f)?);
            }
        } else {
            out.push(read_file(p)?);
        }
    }
    Ok(out)
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            walk(&path, out)?;
        } else if path.extension().and_then(|e| e.to_str()).is_some_and(|e| matches!(e, "yaml" | "yml" | "json")) {
            out.push(path);
        }
    }
    Ok(())
}

fn read_file(path: &Path) -> Result<Source> {
    let f = std::fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let length = regular_file_length(&f);
    read_limited(f, &path.display().to_string(), length)
}

/// The length of stdin when it is a regular file (`meshlock analyze - < dump.yaml`); `None` for
/// a pipe or a terminal.
#[cfg(unix)]
fn stdin_length() -> Option<u64> {
    use std::os::fd::AsFd;
    let file = std::fs::File::from(std::io::stdin().as_fd().try_clone_to_owned().ok()?);
    regular_file_length(&file)
}

#[cfg(not(unix))]
fn stdin_length() -> Option<u64> {
    None
}

fn regular_file_length(f: &std::fs::File) -> Option<u64> {
    f.metadata().ok().filter(|m| m.is_file()).map(|m| m.len())
}

/// Reads at most one byte past the size limit into one buffer, allocated once: grown by
/// doubling, a cluster dump of hundreds of megabytes is copied again at every step and about
/// twice its size in fresh pages is touched (a 225 MB dump: 0.1 s and 222 MiB read into a buffer
/// of its length, 0.2–1.4 s and 484 MiB grown). `length`: what the input is expected to hold (a
/// length that turns out wrong, the file changed, only costs that growth). Without one (a pipe,
/// `kubectl get … | meshlock analyze -`) the buffer is reserved at the limit: the allocator maps
/// it untouched and a page costs memory only once input is written to it (the same dump
/// through a pipe: 0.3 s and 222 MiB, against 0.5–1.7 s and 484 MiB grown). Where the system
/// refuses the reservation (strict overcommit), the buffer grows instead.
fn read_limited(reader: impl Read, name: &str, length: Option<u64>) -> Result<Source> {
    let limit = Limits::DEFAULT.max_source_bytes;
    let capacity = length.map_or(limit, |n| usize::try_from(n).unwrap_or(usize::MAX)).min(limit).saturating_add(1);
    let mut bytes = Vec::new();
    // Refused: grown as it is read.
    let _ = bytes.try_reserve_exact(capacity);
    reader
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut bytes)
        .with_context(|| format!("cannot read {name}"))?;
    if bytes.len() > limit {
        bail!("{name}: input is over the limit of {limit} bytes (docs/limits.md); split it or filter it first");
    }
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Source::new(name, text)),
        Err(e) => {
            let valid = e.utf8_error().valid_up_to();
            let prefix = e.as_bytes().get(..valid).unwrap_or_default();
            let line = prefix.iter().filter(|&&b| b == b'\n').count() + 1;
            let column = valid - prefix.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1) + 1;
            bail!("{name}:{line}:{column}: not UTF-8 text (byte offset {valid}); YAML and JSON input must be UTF-8")
        }
    }
}
