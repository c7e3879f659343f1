use proptest::prelude::*;

use super::*;
use crate::event::{EventType, RecordedEvent};
use crate::ids::{Position, Seq, StreamName, Timestamp};

fn event(position: u64, stream: &str, seq: u64, data: &[u8]) -> RecordedEvent {
    RecordedEvent {
        position: Position(position),
        stream: StreamName::new(stream).expect("stream"),
        seq: Seq(seq),
        event_type: EventType(100 + position as u16),
        recorded_at: Timestamp(1_700_000_000_000_000 + position as i64),
        data: data.to_vec(),
    }
}

fn sample() -> (Vec<RecordedEvent>, Vec<u8>) {
    let events = vec![
        event(1, "run-a", 1, b"first"),
        event(2, "workflow-w", 1, b""),
        event(3, "run-a", 2, &[0u8, 1, 2, 255]),
        event(4, "run-b", 1, b"{\"x\":1}"),
    ];
    let mut writer = ArchiveWriter::new(Vec::new(), ArchiveHeader::new("test", ArchiveScope::All))
        .expect("writer");
    for e in &events {
        writer.write(e).expect("write");
    }
    let (summary, bytes) = writer.finish_into_inner().expect("finish");
    assert_eq!(summary.records, 4);
    assert_eq!(summary.streams, 3);
    assert_eq!(summary.bytes, bytes.len() as u64);
    (events, bytes)
}

fn read_all(bytes: &[u8]) -> Result<(Vec<RecordedEvent>, Summary), ArchiveError> {
    let mut reader = ArchiveReader::new(bytes)?;
    let mut events = Vec::new();
    while let Some(event) = reader.next_record()? {
        events.push(event);
    }
    Ok((events, reader.finish()?))
}

#[test]
fn a_round_trip_gives_the_same_events_and_summary() {
    let (events, bytes) = sample();
    let (read, summary) = read_all(&bytes).expect("read");
    assert_eq!(read, events);
    assert_eq!(summary.records, 4);
    assert_eq!(summary.streams, 3);
    assert_eq!(summary.first_position, Some(Position(1)));
    assert_eq!(summary.last_position, Some(Position(4)));
    assert_eq!(summary.header.scope, ArchiveScope::All);
    assert_eq!(&bytes[..8], b"DUROARCH");
}

#[test]
fn an_empty_archive_is_valid() {
    let writer =
        ArchiveWriter::new(Vec::new(), ArchiveHeader::new("t", ArchiveScope::All)).expect("writer");
    let (summary, bytes) = writer.finish_into_inner().expect("finish");
    let (events, read) = read_all(&bytes).expect("read");
    assert!(events.is_empty());
    assert_eq!(read, summary);
}

#[test]
fn errors_name_the_offset_and_the_record() {
    let (_, bytes) = sample();
    // The third record's frame: walk the frames.
    let mut offsets = Vec::new();
    let mut at = 10usize;
    while at < bytes.len() {
        offsets.push(at);
        let len = u32::from_le_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]]);
        at += 9 + len as usize;
    }
    // header, 4 records, trailer
    assert_eq!(offsets.len(), 6);
    let third = offsets[3];
    let mut damaged = bytes.clone();
    damaged[third + 7] ^= 0x40;
    match read_all(&damaged) {
        Err(ArchiveError::CrcMismatch { offset, record: 3 }) => {
            assert_eq!(offset, third as u64)
        }
        other => panic!("{other:?}"),
    }
    match read_all(&bytes[..third + 3]) {
        Err(ArchiveError::Truncated { offset, record: 3 }) => assert_eq!(offset, third as u64),
        other => panic!("{other:?}"),
    }
    let mut trailing = bytes.clone();
    trailing.extend_from_slice(b"x");
    match read_all(&trailing) {
        Err(ArchiveError::TrailingBytes { offset, count: 1 }) => {
            assert_eq!(offset, bytes.len() as u64)
        }
        other => panic!("{other:?}"),
    }
    let mut magic = bytes.clone();
    magic[0] = b'X';
    assert!(matches!(read_all(&magic), Err(ArchiveError::BadMagic)));
    let mut version = bytes.clone();
    version[8] = 2;
    assert!(matches!(
        read_all(&version),
        Err(ArchiveError::UnsupportedVersion { version: 2 })
    ));
}

#[test]
fn a_dropped_record_is_caught_by_the_counts() {
    let (_, bytes) = sample();
    let mut offsets = Vec::new();
    let mut at = 10usize;
    while at < bytes.len() {
        offsets.push(at);
        let len = u32::from_le_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]]);
        at += 9 + len as usize;
    }
    // Cut the last record out whole: every frame is sound, the trailer is not.
    let mut cut = bytes[..offsets[4]].to_vec();
    cut.extend_from_slice(&bytes[offsets[5]..]);
    assert!(matches!(
        read_all(&cut),
        Err(ArchiveError::CountMismatch {
            what: "records",
            ..
        })
    ));
}

#[test]
fn the_writer_refuses_positions_out_of_order() {
    let mut writer =
        ArchiveWriter::new(Vec::new(), ArchiveHeader::new("t", ArchiveScope::All)).expect("writer");
    writer.write(&event(5, "s", 1, b"")).expect("write");
    assert!(writer.write(&event(5, "s", 2, b"")).is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_and_are_rejected(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        prop_assert!(read_all(&bytes).is_err());
        let mut prefixed = b"DUROARCH\x01\x00".to_vec();
        prefixed.extend_from_slice(&bytes);
        prop_assert!(read_all(&prefixed).is_err());
    }

    #[test]
    fn a_flipped_byte_is_always_rejected_at_or_before_it(at in any::<prop::sample::Index>(), bit in 0u8..8) {
        let (_, bytes) = sample();
        let at = at.index(bytes.len());
        let mut damaged = bytes.clone();
        damaged[at] ^= 1 << bit;
        match read_all(&damaged) {
            Ok(_) => prop_assert!(false, "a flip at {} was accepted", at),
            Err(error) => {
                let offset = error.offset().unwrap_or(u64::MAX);
                prop_assert!(offset <= at as u64, "{} reported for a flip at {}", error, at);
            }
        }
    }

    #[test]
    fn a_truncation_is_always_rejected(len in any::<prop::sample::Index>()) {
        let (_, bytes) = sample();
        let len = len.index(bytes.len());
        prop_assert!(read_all(&bytes[..len]).is_err());
    }

    #[test]
    fn random_changes_are_rejected_unless_nothing_changed(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4)
    ) {
        let (events, bytes) = sample();
        let mut changed = bytes.clone();
        for (at, value) in &edits {
            let at = at.index(changed.len());
            changed[at] = *value;
        }
        match read_all(&changed) {
            Ok((read, _)) => {
                prop_assert_eq!(&changed, &bytes);
                prop_assert_eq!(read, events);
            }
            Err(_) => prop_assert!(changed != bytes),
        }
    }
}
