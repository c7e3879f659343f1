//! Segment files: naming, preallocation, and positioned reads.
//!
//! A segment is a fixed-size file, zero-filled and fsynced before the first record is written
//! into it, so that appending a batch changes only data blocks and one fdatasync makes it
//! durable without a metadata journal commit. Zeroes past the last record mark where the
//! segment's data ends.

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use crate::limits::READ_HANDLES_MAX;

const SEGMENT_SUFFIX: &str = ".seg";
const TEMP_SUFFIX: &str = ".seg.tmp";
const ZERO_CHUNK_BYTES: usize = 1024 * 1024;

/// A place in the log: a segment number and a byte offset within it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Location {
    pub segment: u64,
    pub offset: u64,
}

pub fn segment_path(dir: &Path, number: u64) -> PathBuf {
    dir.join(format!("{number:010}{SEGMENT_SUFFIX}"))
}

/// The numbers of the complete segments in `dir`, ascending.
pub fn list_segments(dir: &Path) -> io::Result<Vec<u64>> {
    let mut numbers = Vec::new();
    for entry in fs::read_dir(dir)? {
        let name = entry?.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(stem) = name.strip_suffix(SEGMENT_SUFFIX) else {
            continue;
        };
        // Exactly the names `segment_path` makes, so that listing and opening agree.
        if stem.len() != 10 || !stem.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        if let Ok(number) = stem.parse::<u64>() {
            numbers.push(number);
        }
    }
    numbers.sort_unstable();
    Ok(numbers)
}

/// Removes half-made segments left by a crash during preallocation. They never held data:
/// a segment is renamed into place only once it is fully zero-filled and synced.
pub fn remove_temp_segments(dir: &Path) -> io::Result<()> {
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(TEMP_SUFFIX))
        {
            fs::remove_file(entry.path())?;
        }
    }
    Ok(())
}

/// Creates segment `number` of `size` bytes, zero-filled and durable (file and directory
/// entry), and returns it opened for writing. Crash-safe: the file appears under its final
/// name only when complete.
pub fn create_segment(dir: &Path, number: u64, size: u64) -> io::Result<File> {
    let final_path = segment_path(dir, number);
    let temp_path = dir.join(format!("{number:010}{TEMP_SUFFIX}"));
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&temp_path)?;
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut left = size;
    while left > 0 {
        let n = left.min(ZERO_CHUNK_BYTES as u64) as usize;
        file.write_all(&zeros[..n])?;
        left -= n as u64;
    }
    file.sync_all()?;
    fs::rename(&temp_path, &final_path)?;
    sync_dir(dir)?;
    open_for_write(dir, number)
}

pub fn open_for_write(dir: &Path, number: u64) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(segment_path(dir, number))
}

/// fsync a directory so that entries created or renamed in it survive power loss.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Writes zeros over `[from, to)` of a segment. Used to cut a torn tail off the log.
pub fn zero_range(file: &File, from: u64, to: u64) -> io::Result<()> {
    let zeros = vec![0u8; ZERO_CHUNK_BYTES];
    let mut at = from;
    while at < to {
        let n = (to - at).min(ZERO_CHUNK_BYTES as u64) as usize;
        file.write_all_at(&zeros[..n], at)?;
        at += n as u64;
    }
    Ok(())
}

/// Reads up to `len` bytes at `offset`; fewer only at the end of the file.
pub fn read_up_to(file: &File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match file.read_at(&mut buf[filled..], offset + filled as u64) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

/// A bounded cache of segment files opened for positioned reads, shared by all readers.
pub struct ReadHandles {
    dir: PathBuf,
    open: Mutex<HashMap<u64, Arc<File>>>,
}

impl ReadHandles {
    pub fn new(dir: PathBuf) -> ReadHandles {
        ReadHandles {
            dir,
            open: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, number: u64) -> io::Result<Arc<File>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(file) = open.get(&number) {
            return Ok(file.clone());
        }
        let file = Arc::new(File::open(segment_path(&self.dir, number))?);
        if open.len() >= READ_HANDLES_MAX {
            // Close the oldest segment's handle: reads of old segments are rare (replays,
            // exports) and reopen cheaply, while the newest segments are read constantly.
            if let Some(oldest) = open.keys().min().copied() {
                open.remove(&oldest);
            }
        }
        open.insert(number, file.clone());
        Ok(file)
    }
}
