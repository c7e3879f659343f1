//! Archives through real stores: a journal exported and imported is the same journal, and
//! a damaged archive is rejected with the place of the damage before anything is imported.

use std::sync::Arc;

use journal::archive::{ArchiveError, ArchiveHeader, ArchiveReader, ArchiveScope, ArchiveWriter};
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, EventType, ExpectedVersion, MemoryStore, NewEvent,
    Position, RecordedEvent, StoreError, StreamName,
};

fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("stream")
}

/// Appends `count` events over 7 streams, in appends of 1 to 3 events.
async fn fill(store: &dyn EventStore, count: usize) {
    let mut written = 0;
    let mut i = 0;
    while written < count {
        let n = (i % 3 + 1).min(count - written);
        let events = (0..n)
            .map(|k| {
                NewEvent::new(
                    EventType((i % 5) as u16),
                    format!("event {i}.{k}").repeat(i % 4 + 1),
                )
            })
            .collect();
        store
            .append(
                &stream(&format!("run-{}", i % 7)),
                ExpectedVersion::Any,
                events,
            )
            .await
            .expect("append");
        written += n;
        i += 1;
    }
}

async fn everything(store: &dyn EventStore) -> Vec<RecordedEvent> {
    let mut all = Vec::new();
    let mut next = Position::START;
    loop {
        let page = store.read_all(next, 100).await.expect("read_all");
        let Some(last) = page.last() else {
            return all;
        };
        next = last.position.next();
        all.extend(page);
    }
}

async fn export(store: &dyn EventStore) -> Vec<u8> {
    let mut writer = ArchiveWriter::new(Vec::new(), ArchiveHeader::new("test", ArchiveScope::All))
        .expect("writer");
    for event in everything(store).await {
        writer.write(&event).expect("write");
    }
    writer.finish_into_inner().expect("finish").1
}

/// Verifies the whole archive, then imports it in batches of `batch` events: nothing is
/// imported from a damaged archive.
async fn restore(store: &dyn EventStore, bytes: &[u8], batch: usize) -> Result<u64, ArchiveError> {
    ArchiveReader::new(bytes)?.finish()?;
    let mut reader = ArchiveReader::new(bytes)?;
    let mut pending = Vec::new();
    let mut imported = 0;
    while let Some(event) = reader.next_record()? {
        pending.push(event);
        if pending.len() == batch {
            imported += store
                .import(std::mem::take(&mut pending))
                .await
                .expect("import")
                .count;
        }
    }
    imported += store.import(pending).await.expect("import").count;
    Ok(imported)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_memory_journal_round_trips_through_an_archive() {
    let original = MemoryStore::new();
    fill(&original, 300).await;
    let bytes = export(&original).await;
    let copy = MemoryStore::new();
    assert_eq!(restore(&copy, &bytes, 64).await.expect("restore"), 300);
    assert_eq!(everything(&copy).await, everything(&original).await);
    assert_eq!(export(&copy).await.len(), bytes.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_embedded_journal_round_trips_and_survives_a_reopen() {
    let from = tempfile::tempdir().expect("tempdir");
    let to = tempfile::tempdir().expect("tempdir");
    let config = |dir: &std::path::Path| {
        let mut config = EmbeddedConfig::new(dir);
        config.segment_bytes = 256 * 1024;
        config
    };
    let original = EmbeddedStore::open(config(from.path())).expect("open");
    fill(&original, 2000).await;
    let expected = everything(&original).await;
    let bytes = export(&original).await;
    drop(original);

    let copy = EmbeddedStore::open(config(to.path())).expect("open");
    assert_eq!(restore(&copy, &bytes, 700).await.expect("restore"), 2000);
    assert_eq!(
        everything(&copy).await,
        expected,
        "same positions, streams, seqs, stamps, data"
    );
    let last_stamp = expected.last().expect("events").recorded_at;
    drop(copy);

    let reopened = EmbeddedStore::open(config(to.path())).expect("reopen");
    assert_eq!(everything(&reopened).await, expected);
    for i in 0..7 {
        let s = stream(&format!("run-{i}"));
        let original_version = expected.iter().filter(|e| e.stream == s).count() as u64;
        assert_eq!(
            reopened.stream_version(&s).await.expect("version"),
            original_version
        );
    }
    // Appending goes on after the imported events, stamped no earlier.
    let appended = reopened
        .append(
            &stream("run-0"),
            ExpectedVersion::Any,
            vec![NewEvent::new(EventType(1), "after")],
        )
        .await
        .expect("append");
    assert_eq!(appended.first_position, Position(2001));
    let after = reopened.read_all(Position(2001), 1).await.expect("read");
    assert!(after[0].recorded_at >= last_stamp);
    drop(reopened);
    let report = journal::embedded::verify(to.path()).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
}

/// The start of the frame holding each byte of `bytes` (the preamble counts as one).
fn frame_starts(bytes: &[u8]) -> Vec<usize> {
    let mut starts = vec![0; bytes.len()];
    let mut at = 10;
    while at < bytes.len() {
        let len = u32::from_le_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]])
            as usize;
        let end = (at + 9 + len).min(bytes.len());
        for start in &mut starts[at..end] {
            *start = at;
        }
        at += 9 + len;
    }
    starts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_anywhere_is_rejected_with_its_frame_and_nothing_is_imported() {
    let original = MemoryStore::new();
    fill(&original, 40).await;
    let bytes = export(&original).await;
    let starts = frame_starts(&bytes);
    for at in 0..bytes.len() {
        let mut damaged = bytes.clone();
        damaged[at] ^= 0x10;
        let target = MemoryStore::new();
        let error = restore(&target, &damaged, 8)
            .await
            .expect_err("a flipped byte must be rejected");
        let offset = error.offset().expect("an offset") as usize;
        if at < 10 {
            assert!(offset <= at, "byte {at}: {error}");
        } else {
            assert_eq!(offset, starts[at], "byte {at}: {error}");
        }
        assert!(
            error.to_string().contains(&format!("offset {offset}")),
            "{error}"
        );
        assert_eq!(
            *target.subscribe().borrow(),
            Position::NONE,
            "nothing imported"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_truncated_archive_is_rejected_with_the_offset_and_nothing_is_imported() {
    let original = MemoryStore::new();
    fill(&original, 40).await;
    let bytes = export(&original).await;
    let starts = frame_starts(&bytes);
    for len in 0..bytes.len() {
        let target = MemoryStore::new();
        let error = restore(&target, &bytes[..len], 8)
            .await
            .expect_err("a truncated archive must be rejected");
        if len >= 10 {
            match &error {
                ArchiveError::Truncated { offset, record } => {
                    let frame = if len < bytes.len() { starts[len] } else { len };
                    assert!(
                        *offset as usize == frame || *offset as usize == len,
                        "{len}: {error}"
                    );
                    assert!(*record >= 1);
                    assert!(error.to_string().contains("truncated at offset"), "{error}");
                }
                other => panic!("cut at {len}: {other}"),
            }
        }
        assert_eq!(*target.subscribe().borrow(), Position::NONE);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trailing_bytes_are_rejected() {
    let original = MemoryStore::new();
    fill(&original, 10).await;
    let mut bytes = export(&original).await;
    let end = bytes.len() as u64;
    bytes.extend_from_slice(&[0, 0, 0]);
    match restore(&MemoryStore::new(), &bytes, 8).await {
        Err(ArchiveError::TrailingBytes { offset, count: 3 }) => assert_eq!(offset, end),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_into_a_store_holding_the_same_streams_is_refused() {
    let original = MemoryStore::new();
    fill(&original, 10).await;
    let events = everything(&original).await;
    let target: Arc<dyn EventStore> = Arc::new(MemoryStore::new());
    target
        .append(
            &stream("run-3"),
            ExpectedVersion::Any,
            vec![NewEvent::new(EventType(1), "x")],
        )
        .await
        .expect("append");
    match target.import(events).await {
        Err(StoreError::Conflict {
            stream: s,
            actual: 1,
            ..
        }) => assert_eq!(s.as_str(), "run-3"),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        *target.subscribe().borrow(),
        Position(1),
        "nothing of it imported"
    );
}
