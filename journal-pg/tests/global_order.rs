//! Decision 0009: the global log has no gaps. While writers on two stores (two "nodes") append
//! to their own streams, a reader follows the log from the last position it read; it must see
//! every appended event exactly once, at the position its append returned, in order, and never
//! find an event below a position it has already read.

mod support;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Instant;

use journal::{EventStore, EventType, ExpectedVersion, NewEvent, Position, Seq, StreamName};
use journal_pg::{PgOptions, PgStore};
use support::with_database;

const WRITERS: usize = 8;
const APPENDS_PER_WRITER: usize = 150;

/// What a writer appended: (position, stream, seq, data), one entry per event.
type Appended = Vec<(Position, StreamName, Seq, Vec<u8>)>;

async fn writer(store: Arc<PgStore>, writer: usize) -> Appended {
    let mut appended = Vec::new();
    for i in 0..APPENDS_PER_WRITER {
        // Two streams per writer, one to three events per append: batches of several events
        // must stay contiguous too.
        let s = StreamName::new(format!("race-{writer}-{}", i % 2)).expect("stream name");
        let events: Vec<NewEvent> = (0..1 + i % 3)
            .map(|k| NewEvent::new(EventType(1), format!("{writer}:{i}:{k}").into_bytes()))
            .collect();
        let datas: Vec<Vec<u8>> = events.iter().map(|e| e.data.clone()).collect();
        let result = store
            .append(&s, ExpectedVersion::Any, events)
            .await
            .expect("append");
        for ((position, data), k) in result.positions().zip(datas).zip(0u64..) {
            appended.push((position, s.clone(), Seq(result.first_seq.0 + k), data));
        }
    }
    appended
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_racing_reader_sees_a_gapless_log_in_commit_order() {
    with_database(|url| async move {
        let options = PgOptions {
            pool_size: 6,
            ..PgOptions::default()
        };
        let node_a = Arc::new(PgStore::connect(&url, options.clone()).await.expect("a"));
        let node_b = Arc::new(PgStore::connect(&url, options.clone()).await.expect("b"));
        let reader = PgStore::connect(&url, options).await.expect("reader");

        let writers_done = Arc::new(AtomicBool::new(false));
        let started = Instant::now();
        let writers: Vec<_> = (0..WRITERS)
            .map(|w| {
                let node = if w % 2 == 0 { &node_a } else { &node_b };
                tokio::spawn(writer(node.clone(), w))
            })
            .collect();
        let done = writers_done.clone();
        let all_written = tokio::spawn(async move {
            let mut appended = Vec::new();
            for task in writers {
                appended.extend(task.await.expect("writer"));
            }
            done.store(true, Ordering::SeqCst);
            appended
        });

        let mut seen: Vec<journal::RecordedEvent> = Vec::new();
        let mut next = Position::START;
        let mut reads = 0u64;
        loop {
            // Read the flag before reading the log: a read that starts after every writer
            // finished sees everything, so an empty one then means the reader is done.
            let finished = writers_done.load(Ordering::SeqCst);
            let batch = reader.read_all(next, 500).await.expect("read_all");
            reads += 1;
            for event in &batch {
                assert_eq!(
                    event.position,
                    next,
                    "after reading up to {}, the log went on at {} (a gap, or an event below \
                     a position already read)",
                    next.0.saturating_sub(1),
                    event.position.0
                );
                next = next.next();
            }
            seen.extend(batch.iter().cloned());
            if finished && batch.is_empty() {
                break;
            }
            if batch.is_empty() {
                tokio::task::yield_now().await;
            }
        }
        let elapsed = started.elapsed();
        let appended = all_written.await.expect("writers");

        // Every appended event was seen exactly once, where its append said it was.
        assert_eq!(seen.len(), appended.len(), "each event seen exactly once");
        let by_position: BTreeMap<Position, &journal::RecordedEvent> =
            seen.iter().map(|e| (e.position, e)).collect();
        assert_eq!(by_position.len(), seen.len());
        for (position, s, seq, data) in &appended {
            let event = by_position
                .get(position)
                .unwrap_or_else(|| panic!("{position} was appended but never read"));
            assert_eq!((&event.stream, event.seq, &event.data), (s, *seq, data));
        }
        assert!(
            seen.windows(2)
                .all(|w| w[0].recorded_at <= w[1].recorded_at),
            "stamps never go backwards in position order"
        );
        // Each stream's seqs are dense and in position order.
        let mut versions: BTreeMap<&StreamName, u64> = BTreeMap::new();
        for event in &seen {
            let version = versions.entry(&event.stream).or_insert(0);
            assert_eq!(event.seq.0, *version + 1, "{} seq order", event.stream);
            *version += 1;
        }
        eprintln!(
            "{} appends ({} events) by {WRITERS} writers on two stores in {:?}: {:.0} appends/s; \
             the reader read {reads} times",
            WRITERS * APPENDS_PER_WRITER,
            appended.len(),
            elapsed,
            (WRITERS * APPENDS_PER_WRITER) as f64 / elapsed.as_secs_f64()
        );
    })
    .await;
}

/// Not a test: the figures of decision 0009. `cargo test -p duro-journal-pg --release --test
/// global_order -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, not a test"]
async fn append_throughput() {
    with_database(|url| async move {
        for (stores, tasks) in [(1, 1), (1, 8), (1, 32), (1, 128), (2, 32), (2, 128)] {
            let mut nodes = Vec::new();
            for _ in 0..stores {
                let options = PgOptions {
                    pool_size: 4,
                    ..PgOptions::default()
                };
                nodes.push(Arc::new(PgStore::connect(&url, options).await.expect("connect")));
            }
            let appends_per_task = 3000 / tasks;
            let started = Instant::now();
            let handles: Vec<_> = (0..tasks)
                .map(|t| {
                    let node = nodes[t % stores].clone();
                    tokio::spawn(async move {
                        let mut latencies = Vec::new();
                        for i in 0..appends_per_task {
                            let s = StreamName::new(format!("bench-{stores}-{tasks}-{t}"))
                                .expect("stream name");
                            let one = Instant::now();
                            node.append(
                                &s,
                                ExpectedVersion::Exact(i as u64),
                                vec![NewEvent::new(EventType(1), vec![7u8; 200])],
                            )
                            .await
                            .expect("append");
                            latencies.push(one.elapsed());
                        }
                        latencies
                    })
                })
                .collect();
            let mut latencies = Vec::new();
            for handle in handles {
                latencies.extend(handle.await.expect("task"));
            }
            let elapsed = started.elapsed();
            latencies.sort();
            let p50 = latencies[latencies.len() / 2];
            let p99 = latencies[latencies.len() * 99 / 100];
            eprintln!(
                "{stores} store(s), {tasks} concurrent appenders: {:.0} appends/s, p50 {p50:?}, p99 {p99:?}",
                latencies.len() as f64 / elapsed.as_secs_f64()
            );
        }
    })
    .await;
}
