//! A bounded cache of the folded state of runs whose driver stopped because they wait (a
//! resume, a timer): their next driver starts from it and reads only the events appended since,
//! instead of reading and folding the run's journal again.
//!
//! The journal stays the only record: an entry is a copy of what the driver had folded, with
//! the stream version it reflects, and is always taken (removed) by whoever starts the next
//! driver, which refreshes it from the journal before deciding anything. A stream never loses
//! events, so a cached state is at worst behind the journal (another writer appended: a
//! resume, a cancel, another process), never ahead of it; the next driver checks even that
//! (`Runs::hot_seed`). An entry is dropped when a driver for its run starts or the run ends,
//! and the least recently parked go first when the cache is over its entries or bytes.
//!
//! The state held is the driver's: it has what deciding needs (the state, the version, the
//! input) but not every reader's detail (the journal times of the steps it recorded itself),
//! so readers (`Runs::get`) never see it.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use duro_core::run::StepState;

use super::{lock, Loaded};

/// Runs kept by default.
pub const HOT_RUNS_MAX: usize = 4_096;
/// Estimated bytes of folded state kept by default.
pub const HOT_RUNS_BYTES_MAX: usize = 32 * 1024 * 1024;

pub(crate) struct HotRuns {
    cache: Mutex<Lru>,
    entries_max: AtomicUsize,
    bytes_max: AtomicUsize,
}

/// Entries by run, and their order of use (oldest first).
#[derive(Default)]
struct Lru {
    entries: HashMap<String, Entry>,
    order: BTreeMap<u64, String>,
    tick: u64,
    bytes: usize,
}

struct Entry {
    loaded: Loaded,
    bytes: usize,
    tick: u64,
}

impl Default for HotRuns {
    fn default() -> HotRuns {
        HotRuns {
            cache: Mutex::new(Lru::default()),
            entries_max: AtomicUsize::new(HOT_RUNS_MAX),
            bytes_max: AtomicUsize::new(HOT_RUNS_BYTES_MAX),
        }
    }
}

impl HotRuns {
    /// Sets the bounds (0 entries turns the cache off) and evicts what no longer fits.
    pub(crate) fn limit(&self, entries_max: usize, bytes_max: usize) {
        self.entries_max.store(entries_max, Ordering::Relaxed);
        self.bytes_max.store(bytes_max, Ordering::Relaxed);
        let mut cache = lock(&self.cache);
        cache.evict(entries_max, bytes_max);
        gauge(&cache);
    }

    /// Keeps the state a driver had folded when it stopped, in place of an older one.
    pub(crate) fn put(&self, run_id: &str, loaded: Loaded) {
        let entries_max = self.entries_max.load(Ordering::Relaxed);
        let bytes_max = self.bytes_max.load(Ordering::Relaxed);
        let bytes = estimated_bytes(run_id, &loaded);
        let mut cache = lock(&self.cache);
        cache.remove(run_id);
        if entries_max == 0 || bytes > bytes_max || loaded.corrupt.is_some() {
            gauge(&cache);
            return;
        }
        cache.tick += 1;
        let tick = cache.tick;
        cache.order.insert(tick, run_id.to_owned());
        cache.bytes += bytes;
        cache.entries.insert(
            run_id.to_owned(),
            Entry {
                loaded,
                bytes,
                tick,
            },
        );
        cache.evict(entries_max, bytes_max);
        gauge(&cache);
    }

    /// Takes the run's entry out, if there is one (a hit), for a driver about to start.
    pub(crate) fn take(&self, run_id: &str) -> Option<Loaded> {
        let mut cache = lock(&self.cache);
        let taken = cache.remove(run_id);
        gauge(&cache);
        let name = if taken.is_some() {
            "duro_hot_runs_hits_total"
        } else {
            "duro_hot_runs_misses_total"
        };
        metrics::counter!(name).increment(1);
        taken
    }

    /// Drops the run's entry (its run ended, or a driver started from another state).
    pub(crate) fn forget(&self, run_id: &str) {
        let mut cache = lock(&self.cache);
        if cache.remove(run_id).is_some() {
            gauge(&cache);
        }
    }

    pub(crate) fn len(&self) -> usize {
        lock(&self.cache).entries.len()
    }
}

impl Lru {
    fn remove(&mut self, run_id: &str) -> Option<Loaded> {
        let entry = self.entries.remove(run_id)?;
        self.order.remove(&entry.tick);
        self.bytes -= entry.bytes;
        Some(entry.loaded)
    }

    fn evict(&mut self, entries_max: usize, bytes_max: usize) {
        while self.entries.len() > entries_max || self.bytes > bytes_max {
            let Some((_, run_id)) = self.order.pop_first() else {
                break;
            };
            if let Some(entry) = self.entries.remove(&run_id) {
                self.bytes -= entry.bytes;
            }
        }
    }
}

fn gauge(cache: &Lru) {
    metrics::gauge!("duro_hot_runs_cached").set(cache.entries.len() as f64);
    metrics::gauge!("duro_hot_runs_bytes").set(cache.bytes as f64);
}

/// A rough count of the heap a folded run holds: its texts (input, outputs, recorded
/// responses, payloads) twice over for the parsed copies and map overheads, and a fixed
/// share per step. Good enough to bound the cache, not an exact measure.
fn estimated_bytes(run_id: &str, loaded: &Loaded) -> usize {
    const STEP: usize = 160;
    let state = &loaded.state;
    let steps: usize = state
        .steps
        .iter()
        .map(|(id, step)| {
            id.len()
                + STEP
                + match step {
                    StepState::Completed { output_json, .. } => output_json.len() * 2,
                    StepState::Resumed { payload_json } => payload_json.len(),
                    StepState::AttemptFailed { error, .. } => error.message.len(),
                    _ => 0,
                }
        })
        .sum();
    let requests: usize = state
        .requests
        .values()
        .flat_map(|bodies| bodies.iter().map(|body| body.len() + 24))
        .sum();
    let resumed: usize = state.resumed.iter().map(|(k, v)| k.len() + v.len()).sum();
    512 + run_id.len() * 2
        + state.input_json.len() * 3
        + state.output_json.as_ref().map_or(0, String::len)
        + steps
        + requests
        + resumed
        + loaded.step_times.len() * 96
        + state.children.len() * 96
}
