//! Behaviour of the embedded store that only a disk-backed store has: reopening, segment
//! roll-over, torn tails, corruption, and rebuilding the index from the log.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use journal::embedded::verify;
use journal::record::decode_record;
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, EventType, ExpectedVersion, NewEvent, Position,
    RecordedEvent, Seq, StoreError, StreamName,
};

const SMALL_SEGMENT_BYTES: u64 = 64 * 1024;

fn config(dir: &Path) -> EmbeddedConfig {
    let mut config = EmbeddedConfig::new(dir);
    config.segment_bytes = SMALL_SEGMENT_BYTES;
    config
}

fn open(dir: &Path) -> EmbeddedStore {
    EmbeddedStore::open(config(dir)).expect("open store")
}

fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

fn event(data: impl Into<Vec<u8>>) -> NewEvent {
    NewEvent::new(EventType(1), data)
}

fn segment_file(dir: &Path, number: u64) -> PathBuf {
    dir.join("journal").join(format!("{number:010}.seg"))
}

/// (offset, length, position) of every record in a segment, read with the public decoder.
fn records_in(segment: &Path) -> Vec<(u64, usize, Position)> {
    let bytes = fs::read(segment).expect("read segment");
    let mut found = Vec::new();
    let mut offset = 0;
    while let Ok((record, len)) = decode_record(&bytes[offset..]) {
        found.push((offset as u64, len, record.event.position));
        offset += len;
    }
    found
}

async fn read_everything(store: &EmbeddedStore) -> Vec<RecordedEvent> {
    store
        .read_all(Position::START, 100_000)
        .await
        .expect("read all")
}

/// Appends `count` single-event appends to streams s-0..s-4, data "e{i}".
async fn fill(store: &EmbeddedStore, count: usize) {
    for i in 0..count {
        let s = stream(&format!("s-{}", i % 5));
        store
            .append(&s, ExpectedVersion::Any, vec![event(format!("e{i}"))])
            .await
            .expect("append");
    }
}

#[tokio::test]
async fn everything_appended_reads_back_after_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = {
        let store = open(dir.path());
        fill(&store, 50).await;
        read_everything(&store).await
    };
    let store = open(dir.path());
    assert_eq!(read_everything(&store).await, before);
    let next = store
        .append(
            &stream("s-0"),
            ExpectedVersion::Exact(10),
            vec![event("after")],
        )
        .await
        .expect("append after reopen");
    assert_eq!(next.first_position, Position(51));
    assert_eq!(next.first_seq, Seq(11));
}

#[tokio::test]
async fn appends_roll_over_into_new_segments() {
    let dir = tempfile::tempdir().expect("tempdir");
    let payload = vec![b'x'; 1000];
    {
        let store = open(dir.path());
        for i in 0..300u32 {
            let mut data = payload.clone();
            data.extend_from_slice(&i.to_le_bytes());
            store
                .append(
                    &stream("big"),
                    ExpectedVersion::Exact(u64::from(i)),
                    vec![event(data)],
                )
                .await
                .expect("append");
        }
    }
    assert!(
        segment_file(dir.path(), 4).exists(),
        "300 KB spans several 64 KiB segments"
    );
    let report = verify(dir.path()).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
    assert_eq!(report.events, 300);
    let store = open(dir.path());
    let events = store
        .read_stream(&stream("big"), Seq(1), 1000)
        .await
        .expect("read");
    assert_eq!(events.len(), 300);
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.seq, Seq(i as u64 + 1));
        assert_eq!(&e.data[1000..], &(i as u32).to_le_bytes());
    }
    let from_middle = store.read_all(Position(150), 10).await.expect("read all");
    assert_eq!(from_middle.first().map(|e| e.position), Some(Position(150)));
    assert_eq!(from_middle.len(), 10);
}

#[tokio::test]
async fn a_second_opener_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let _store = open(dir.path());
    match EmbeddedStore::open(config(dir.path())) {
        Err(StoreError::Locked { .. }) => {}
        Err(other) => panic!("expected Locked, got {other}"),
        Ok(_) => panic!("a second opener must be refused"),
    }
}

#[tokio::test]
async fn a_file_cut_mid_record_loses_only_that_record() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = {
        let store = open(dir.path());
        fill(&store, 20).await;
        read_everything(&store).await
    };
    let segment = segment_file(dir.path(), 1);
    let records = records_in(&segment);
    let (offset, len, position) = *records.last().expect("records");
    assert_eq!(position, Position(20));
    let file = OpenOptions::new().write(true).open(&segment).expect("open");
    file.set_len(offset + len as u64 / 2).expect("cut");
    drop(file);
    // A torn write is never acknowledged, so the index never saw it: the crash came before.
    fs::remove_dir_all(dir.path().join("index")).expect("remove index");

    let report = verify(dir.path()).expect("verify");
    assert!(
        report.is_ok(),
        "a torn tail is not a problem: {:?}",
        report.problems
    );
    assert!(report.torn_tail.is_some());

    let store = open(dir.path());
    assert_eq!(read_everything(&store).await, before[..19].to_vec());
    assert_eq!(
        store.stream_version(&stream("s-4")).await.expect("version"),
        3
    );
    let again = store
        .append(
            &stream("s-4"),
            ExpectedVersion::Exact(3),
            vec![event("again")],
        )
        .await
        .expect("append after cut");
    assert_eq!(again.first_position, Position(20));
    drop(store);
    let store = open(dir.path());
    let all = read_everything(&store).await;
    assert_eq!(all.len(), 20);
    assert_eq!(all[19].data, b"again");
}

#[tokio::test]
async fn a_torn_multi_event_append_disappears_whole() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = ten_then_a_batch_of_three(dir.path()).await;
    // Zero the middle record of the last append, as if its sector never reached the disk
    // while the sectors around it did.
    let segment = segment_file(dir.path(), 1);
    let records = records_in(&segment);
    assert_eq!(records.len(), 13);
    let (offset, len, _) = records[11];
    let file = OpenOptions::new().write(true).open(&segment).expect("open");
    file.write_all_at(&vec![0u8; len], offset).expect("zero");
    drop(file);
    // The index recorded the append; drop it so the log alone decides.
    fs::remove_dir_all(dir.path().join("index")).expect("remove index");

    let store = open(dir.path());
    assert_eq!(read_everything(&store).await, before);
    assert_eq!(
        store
            .stream_version(&stream("batch"))
            .await
            .expect("version"),
        0
    );
    assert!(store
        .read_stream(&stream("batch"), Seq(1), 10)
        .await
        .expect("read")
        .is_empty());
}

/// Appends 10 single events and then one 3-event append; returns the events before it.
async fn ten_then_a_batch_of_three(dir: &Path) -> Vec<RecordedEvent> {
    let store = open(dir);
    fill(&store, 10).await;
    let before = read_everything(&store).await;
    store
        .append(
            &stream("batch"),
            ExpectedVersion::NoStream,
            vec![event("one"), event("two"), event("three")],
        )
        .await
        .expect("append");
    before
}

#[tokio::test]
async fn a_batch_torn_before_its_first_record_is_cut_even_with_a_next_segment() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = ten_then_a_batch_of_three(dir.path()).await;
    assert!(
        segment_file(dir.path(), 2).exists(),
        "the next segment is prepared"
    );
    // The batch's first sector never reached the disk; the rest of it did.
    let segment = segment_file(dir.path(), 1);
    let records = records_in(&segment);
    let (offset, len, position) = records[10];
    assert_eq!(position, Position(11));
    let file = OpenOptions::new().write(true).open(&segment).expect("open");
    file.write_all_at(&vec![0u8; len], offset).expect("zero");
    drop(file);
    fs::remove_dir_all(dir.path().join("index")).expect("remove index");

    let report = verify(dir.path()).expect("verify");
    assert!(report.is_ok(), "{:?}", report.problems);
    assert!(report.torn_tail.is_some());
    let store = open(dir.path());
    assert_eq!(read_everything(&store).await, before);
    assert_eq!(
        store
            .stream_version(&stream("batch"))
            .await
            .expect("version"),
        0
    );
}

#[tokio::test]
async fn stray_bytes_after_the_last_record_are_cut_not_left_behind() {
    let dir = tempfile::tempdir().expect("tempdir");
    let before = {
        let store = open(dir.path());
        fill(&store, 10).await;
        read_everything(&store).await
    };
    let segment = segment_file(dir.path(), 1);
    let (offset, len, _) = *records_in(&segment).last().expect("records");
    let stray_at = offset + len as u64 + 100;
    let file = OpenOptions::new().write(true).open(&segment).expect("open");
    file.write_all_at(&[0xAB; 50], stray_at)
        .expect("stray bytes");
    drop(file);

    let store = open(dir.path());
    assert_eq!(read_everything(&store).await, before);
    drop(store);
    let bytes = fs::read(&segment).expect("read");
    assert!(
        bytes[stray_at as usize..stray_at as usize + 50]
            .iter()
            .all(|b| *b == 0),
        "the stray bytes were zeroed"
    );
    let report = verify(dir.path()).expect("verify");
    assert!(report.is_ok() && report.torn_tail.is_none(), "{report:?}");
}

#[tokio::test]
async fn a_record_from_a_newer_format_is_never_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        fill(&store, 5).await;
    }
    // Rewrite the last record as format version 2 with a valid checksum.
    let segment = segment_file(dir.path(), 1);
    let (offset, len, _) = *records_in(&segment).last().expect("records");
    let mut bytes = fs::read(&segment).expect("read");
    let record = &mut bytes[offset as usize..offset as usize + len];
    record[4] = 2;
    let crc = crc32c::crc32c_append(crc32c::crc32c(&record[0..12]), &record[16..]);
    record[12..16].copy_from_slice(&crc.to_le_bytes());
    let record = record.to_vec();
    let file = OpenOptions::new().write(true).open(&segment).expect("open");
    file.write_all_at(&record, offset).expect("rewrite");
    drop(file);

    // With the index that covers the record (a downgrade), and with the index rebuilt from
    // the log, the refusal names the newer format and the position.
    for index in ["kept", "removed"] {
        if index == "removed" {
            fs::remove_dir_all(dir.path().join("index")).expect("remove index");
        }
        match EmbeddedStore::open(config(dir.path())) {
            Err(StoreError::Corrupt { place, reason }) => {
                assert_eq!(place.position, Some(Position(5)), "index {index}");
                assert!(reason.contains("newer Duro"), "index {index}: {reason}");
            }
            Err(other) => panic!("index {index}: expected a refusal, got {other}"),
            Ok(_) => panic!("index {index}: a record of a newer format must not be cut"),
        }
    }
    let after = fs::read(&segment).expect("read");
    assert_eq!(
        &after[offset as usize..offset as usize + len],
        record.as_slice()
    );
}

#[tokio::test]
async fn a_flipped_byte_is_reported_with_its_position_and_never_truncated() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        fill(&store, 30).await;
    }
    let segment = segment_file(dir.path(), 1);
    let records = records_in(&segment);
    let (offset, len, position) = records[11];
    assert_eq!(position, Position(12));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(&segment)
        .expect("open");
    let mut byte = [0u8; 1];
    let at = offset + len as u64 - 3;
    file.read_exact_at(&mut byte, at).expect("read");
    file.write_all_at(&[byte[0] ^ 0x40], at).expect("flip");
    drop(file);

    let report = verify(dir.path()).expect("verify");
    assert!(!report.is_ok());
    assert_eq!(report.problems[0].place.position, Some(Position(12)));
    assert!(
        report.problems[0].message.contains("checksum"),
        "{}",
        report.problems[0].message
    );

    {
        // The index lets the store open; reading the damaged record reports it.
        let store = open(dir.path());
        // Position 12 is the third event of stream s-1 (events 2, 7, 12, ...).
        match store.read_stream(&stream("s-1"), Seq(1), 100).await {
            Err(StoreError::Corrupt { place, .. }) => {
                assert_eq!(place.position, Some(Position(12)))
            }
            other => panic!("expected Corrupt at 12, got {other:?}"),
        }
        match store.read_all(Position(5), 100).await {
            Err(StoreError::Corrupt { place, .. }) => {
                assert_eq!(place.position, Some(Position(12)))
            }
            other => panic!("expected Corrupt at 12, got {other:?}"),
        }
        let undamaged = store
            .read_stream(&stream("s-0"), Seq(1), 100)
            .await
            .expect("s-0");
        assert_eq!(undamaged.len(), 6);
    }

    // Rebuilding the index must read through the damage: refused, never truncated.
    fs::remove_dir_all(dir.path().join("index")).expect("remove index");
    match EmbeddedStore::open(config(dir.path())) {
        Err(StoreError::Corrupt { place, .. }) => assert_eq!(place.position, Some(Position(12))),
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("a damaged journal must not open silently"),
    }
    assert_eq!(
        records_in(&segment).len(),
        11,
        "records up to the damage are intact"
    );
    let report = verify(dir.path()).expect("verify");
    assert_eq!(
        report.events, 29,
        "every record after the damage is still there"
    );
}

#[tokio::test]
async fn damage_to_records_the_index_has_seen_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        fill(&store, 20).await;
    }
    let segment = segment_file(dir.path(), 1);
    let (offset, len, _) = *records_in(&segment).last().expect("records");
    let file = OpenOptions::new().write(true).open(&segment).expect("open");
    file.set_len(offset + len as u64 / 2).expect("cut");
    drop(file);
    // Position 20 was acknowledged (the index holds it), so cutting it would lose data. The
    // index is rebuilt from the log, but the rebuild refuses to cut what the old one had seen.
    match EmbeddedStore::open(config(dir.path())) {
        Err(StoreError::Corrupt { place, reason }) => {
            assert_eq!(place.position, Some(Position(20)), "{reason}");
            assert!(reason.contains("acknowledged"), "{reason}");
        }
        Err(other) => panic!("expected Corrupt, got {other}"),
        Ok(_) => panic!("acknowledged records must not be cut silently"),
    }
    assert_eq!(records_in(&segment).len(), 19);
}

#[tokio::test]
async fn a_deleted_index_is_rebuilt_identically() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (all, streams) = {
        let store = open(dir.path());
        fill(&store, 120).await;
        store
            .append(
                &stream("multi"),
                ExpectedVersion::Any,
                vec![event("m1"), event("m2")],
            )
            .await
            .expect("append");
        (
            read_everything(&store).await,
            store.list_streams("", None, 100).await.expect("list"),
        )
    };
    fs::remove_dir_all(dir.path().join("index")).expect("remove index");
    let store = open(dir.path());
    assert_eq!(read_everything(&store).await, all);
    assert_eq!(
        store.list_streams("", None, 100).await.expect("list"),
        streams
    );
    for info in &streams {
        let events = store
            .read_stream(&info.stream, Seq(1), 1000)
            .await
            .expect("read");
        let expected: Vec<_> = all
            .iter()
            .filter(|e| e.stream == info.stream)
            .cloned()
            .collect();
        assert_eq!(events, expected);
    }
}

#[tokio::test]
async fn an_index_that_lost_its_last_writes_catches_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let saved = tempfile::tempdir().expect("tempdir");
    {
        let store = open(dir.path());
        fill(&store, 40).await;
    }
    copy_dir(&dir.path().join("index"), saved.path());
    let all = {
        let store = open(dir.path());
        fill(&store, 25).await;
        read_everything(&store).await
    };
    // Put back the index as it was 25 appends ago, as if it lost its last writes.
    fs::remove_dir_all(dir.path().join("index")).expect("remove index");
    copy_dir(saved.path(), &dir.path().join("index"));
    let store = open(dir.path());
    assert_eq!(read_everything(&store).await, all);
    assert_eq!(
        store.stream_version(&stream("s-0")).await.expect("version"),
        13
    );
    let next = store
        .append(
            &stream("s-0"),
            ExpectedVersion::Exact(13),
            vec![event("next")],
        )
        .await
        .expect("append");
    assert_eq!(next.first_position, Position(66));
}

fn copy_dir(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), target).expect("copy");
        }
    }
}
