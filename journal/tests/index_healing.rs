//! The index is derived data: whatever happened to it (deleted, damaged, truncated, an earlier
//! format, another journal's), opening the store rebuilds it from the log, says why, and
//! loses nothing; `verify` says whether it is sound.

use std::fs::{self, OpenOptions};
use std::os::unix::fs::FileExt;
use std::path::Path;

use journal::embedded::verify;
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, EventType, ExpectedVersion, NewEvent, Position,
    RebuildReason, RecordedEvent, Seq, Soundness, StreamInfo, StreamName,
};

fn open(dir: &Path) -> EmbeddedStore {
    let mut config = EmbeddedConfig::new(dir);
    config.segment_bytes = 64 * 1024;
    EmbeddedStore::open(config).expect("open store")
}

fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

/// What a reader can see of the store: every event, every stream, each stream read alone.
async fn everything(
    store: &EmbeddedStore,
) -> (Vec<RecordedEvent>, Vec<StreamInfo>, Vec<Vec<RecordedEvent>>) {
    let all = store
        .read_all(Position::START, 100_000)
        .await
        .expect("read all");
    let streams = store.list_streams("", None, 1000).await.expect("list");
    let mut each = Vec::new();
    for info in &streams {
        each.push(
            store
                .read_stream(&info.stream, Seq(1), 1000)
                .await
                .expect("read stream"),
        );
    }
    (all, streams, each)
}

/// A data directory with 300 events over 7 streams, several segments, closed cleanly.
async fn filled() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    for i in 0..300 {
        let s = stream(&format!("run-{}", i % 7));
        let data = format!("event {i} {}", "x".repeat(400));
        store
            .append(
                &s,
                ExpectedVersion::Any,
                vec![NewEvent::new(EventType(1), data)],
            )
            .await
            .expect("append");
    }
    dir
}

fn index_file(dir: &Path) -> std::path::PathBuf {
    dir.join("index").join("index.redb")
}

/// Damage to the index, and the reason opening the store must give for rebuilding it.
fn check(damage: impl FnOnce(&Path), reason: RebuildReason) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let dir = filled().await;
        let before = everything(&open(dir.path())).await;
        assert_eq!(
            verify(dir.path()).expect("verify").index,
            Soundness::Sound { through: 300 }
        );
        damage(dir.path());
        if reason != RebuildReason::Missing {
            assert!(
                matches!(
                    verify(dir.path()).expect("verify").index,
                    Soundness::Unsound { .. }
                ),
                "verify must call the damaged index unsound"
            );
        }
        let store = open(dir.path());
        let rebuild = store.index_rebuild().expect("the index was rebuilt");
        assert_eq!(rebuild.reason, reason, "{rebuild}");
        assert_eq!(everything(&store).await, before, "nothing lost: {rebuild}");
        // Appending goes on from where the log ends: no position or seq handed out twice.
        let next = store
            .append(
                &stream("run-0"),
                ExpectedVersion::Exact(43),
                vec![NewEvent::new(EventType(1), "next")],
            )
            .await
            .expect("append after the rebuild");
        assert_eq!(next.first_position, Position(301));
        drop(store);
        assert_eq!(
            verify(dir.path()).expect("verify").index,
            Soundness::Sound { through: 301 }
        );
        // The rebuilt index is sound: the next open keeps it.
        assert!(open(dir.path()).index_rebuild().is_none());
    });
}

#[test]
fn a_deleted_index_is_rebuilt() {
    check(
        |dir| fs::remove_dir_all(dir.join("index")).expect("delete"),
        RebuildReason::Missing,
    );
}

#[test]
fn a_deleted_index_file_is_rebuilt() {
    check(
        |dir| fs::remove_file(index_file(dir)).expect("delete"),
        RebuildReason::Missing,
    );
}

#[test]
fn a_truncated_index_is_rebuilt() {
    check(
        |dir| {
            let file = OpenOptions::new()
                .write(true)
                .open(index_file(dir))
                .expect("open");
            let len = file.metadata().expect("metadata").len();
            file.set_len(len / 2).expect("truncate");
        },
        RebuildReason::Unreadable,
    );
}

#[test]
fn an_index_truncated_to_nothing_is_rebuilt() {
    check(
        |dir| {
            let file = OpenOptions::new()
                .write(true)
                .open(index_file(dir))
                .expect("open");
            file.set_len(0).expect("truncate");
        },
        RebuildReason::Missing,
    );
}

#[test]
fn a_corrupted_index_is_rebuilt() {
    // One flipped byte in every page but the header: whichever pages hold the trees, their
    // checksums no longer match.
    check(
        |dir| {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .open(index_file(dir))
                .expect("open");
            let len = file.metadata().expect("metadata").len();
            let mut offset = 4096 + 1000;
            while offset < len {
                let mut byte = [0u8; 1];
                file.read_exact_at(&mut byte, offset).expect("read");
                file.write_all_at(&[byte[0] ^ 0x5a], offset).expect("write");
                offset += 4096;
            }
        },
        RebuildReason::Unreadable,
    );
}

#[test]
fn an_index_overwritten_with_garbage_is_rebuilt() {
    check(
        |dir| fs::write(index_file(dir), vec![0xa5u8; 64 * 1024]).expect("overwrite"),
        RebuildReason::Unreadable,
    );
}

#[test]
fn an_index_of_an_earlier_format_is_rebuilt() {
    // What sled 0.34 left in the directory before the index moved to redb.
    check(
        |dir| {
            let index = dir.join("index");
            fs::remove_dir_all(&index).expect("delete");
            fs::create_dir_all(index.join("blobs")).expect("mkdir");
            fs::write(index.join("conf"), b"segment_size: 524288\n").expect("conf");
            fs::write(index.join("db"), vec![7u8; 8192]).expect("db");
        },
        RebuildReason::Format,
    );
}

#[test]
fn an_index_of_another_journal_is_rebuilt() {
    // A restore that replaced the journal with a shorter one but kept the index.
    check(
        |dir| {
            let other = tempfile::tempdir().expect("tempdir");
            std::thread::scope(|scope| {
                scope
                    .spawn(|| {
                        let runtime = tokio::runtime::Runtime::new().expect("runtime");
                        runtime.block_on(async {
                            let store = open(other.path());
                            for i in 0..400 {
                                store
                                    .append(
                                        &stream(&format!("other-{}", i % 3)),
                                        ExpectedVersion::Any,
                                        vec![NewEvent::new(EventType(1), "x")],
                                    )
                                    .await
                                    .expect("append");
                            }
                        });
                    })
                    .join()
                    .expect("thread");
            });
            fs::copy(index_file(other.path()), index_file(dir)).expect("copy");
        },
        RebuildReason::Ahead,
    );
}

#[tokio::test]
async fn a_new_data_directory_is_not_a_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path());
    assert!(store.index_rebuild().is_none());
    drop(store);
    assert_eq!(
        verify(dir.path()).expect("verify").index,
        Soundness::Sound { through: 0 }
    );
}
