//! The conformance suite every [`EventStore`] backend must pass: the embedded store, the
//! in-memory twin and, later, PostgreSQL. Each check uses its own stream names, so all of them
//! can run against one store; `check_all` runs them in turn.
//!
//! Test support: the checks panic on failure, as assertions do.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::error::StoreError;
use crate::event::{EventType, ExpectedVersion, NewEvent, RecordedEvent};
use crate::ids::{Position, Seq, StreamName, Timestamp};
use crate::store::EventStore;

fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("conformance stream names are valid")
}

fn event(data: &str) -> NewEvent {
    NewEvent::new(EventType(7), data.as_bytes().to_vec())
}

pub async fn check_all(store: Arc<dyn EventStore>) {
    appended_events_read_back_in_order(store.as_ref()).await;
    expected_versions_are_enforced(store.as_ref()).await;
    invalid_appends_write_nothing(store.as_ref()).await;
    global_log_reads_in_position_order(store.as_ref()).await;
    streams_list_by_prefix(store.as_ref()).await;
    subscribers_learn_of_new_positions(store.as_ref()).await;
    acknowledged_appends_are_visible_at_once(store.as_ref(), 500).await;
    concurrent_writers_never_share_a_seq(store.clone(), 64, 5).await;
    imports_keep_streams_seqs_and_stamps(store.as_ref()).await;
}

pub async fn appended_events_read_back_in_order(store: &dyn EventStore) {
    let s = stream("conf-read-1");
    let result = store
        .append(
            &s,
            ExpectedVersion::NoStream,
            vec![event("a"), event("b"), event("c")],
        )
        .await
        .expect("append");
    assert_eq!(result.first_seq, Seq(1));
    assert_eq!(result.count, 3);
    let events = store.read_stream(&s, Seq(1), 100).await.expect("read");
    let datas: Vec<&[u8]> = events.iter().map(|e| e.data.as_slice()).collect();
    assert_eq!(datas, vec![b"a".as_slice(), b"b", b"c"]);
    let seqs: Vec<u64> = events.iter().map(|e| e.seq.0).collect();
    assert_eq!(seqs, vec![1, 2, 3]);
    let positions: Vec<Position> = events.iter().map(|e| e.position).collect();
    assert_eq!(positions, result.positions().collect::<Vec<_>>());
    assert!(events
        .iter()
        .all(|e| e.stream == s && e.event_type == EventType(7)));
    assert_eq!(store.stream_version(&s).await.expect("version"), 3);

    let later = store.read_stream(&s, Seq(2), 1).await.expect("read from 2");
    assert_eq!(later.len(), 1);
    assert_eq!(later[0].data, b"b");
    let none = stream("conf-read-never-written");
    assert!(store
        .read_stream(&none, Seq(1), 10)
        .await
        .expect("read")
        .is_empty());
    assert_eq!(store.stream_version(&none).await.expect("version"), 0);
}

pub async fn expected_versions_are_enforced(store: &dyn EventStore) {
    let s = stream("conf-versions-1");
    store
        .append(&s, ExpectedVersion::Exact(0), vec![event("1")])
        .await
        .expect("Exact(0) on a new stream");
    match store
        .append(&s, ExpectedVersion::NoStream, vec![event("x")])
        .await
    {
        Err(StoreError::Conflict { actual: 1, .. }) => {}
        other => panic!("NoStream on an existing stream must conflict, got {other:?}"),
    }
    match store
        .append(&s, ExpectedVersion::Exact(5), vec![event("x")])
        .await
    {
        Err(StoreError::Conflict {
            expected: ExpectedVersion::Exact(5),
            actual: 1,
            ..
        }) => {}
        other => panic!("a wrong Exact must conflict, got {other:?}"),
    }
    store
        .append(&s, ExpectedVersion::Exact(1), vec![event("2")])
        .await
        .expect("the right Exact");
    let any = store
        .append(&s, ExpectedVersion::Any, vec![event("3")])
        .await
        .expect("Any");
    assert_eq!(any.first_seq, Seq(3));
    let events = store.read_stream(&s, Seq(1), 10).await.expect("read");
    let datas: Vec<&[u8]> = events.iter().map(|e| e.data.as_slice()).collect();
    assert_eq!(
        datas,
        vec![b"1".as_slice(), b"2", b"3"],
        "conflicting appends wrote nothing"
    );
}

pub async fn invalid_appends_write_nothing(store: &dyn EventStore) {
    let s = stream("conf-invalid-1");
    let before = *store.subscribe().borrow();
    match store.append(&s, ExpectedVersion::Any, Vec::new()).await {
        Err(StoreError::InvalidAppend { .. }) => {}
        other => panic!("an empty append must be invalid, got {other:?}"),
    }
    let huge = NewEvent::new(
        EventType(1),
        vec![0u8; crate::limits::EVENT_DATA_BYTES_MAX + 1],
    );
    match store.append(&s, ExpectedVersion::Any, vec![huge]).await {
        Err(StoreError::InvalidAppend { .. }) => {}
        other => panic!("an oversized event must be invalid, got {other:?}"),
    }
    assert_eq!(store.stream_version(&s).await.expect("version"), 0);
    assert_eq!(*store.subscribe().borrow(), before);
}

pub async fn global_log_reads_in_position_order(store: &dyn EventStore) {
    let a = stream("conf-all-a");
    let b = stream("conf-all-b");
    let first = store
        .append(&a, ExpectedVersion::Any, vec![event("a1")])
        .await
        .expect("append");
    store
        .append(&b, ExpectedVersion::Any, vec![event("b1"), event("b2")])
        .await
        .expect("append");
    store
        .append(&a, ExpectedVersion::Any, vec![event("a2")])
        .await
        .expect("append");
    let all = store
        .read_all(first.first_position, 100)
        .await
        .expect("read all");
    let datas: Vec<&[u8]> = all.iter().map(|e| e.data.as_slice()).collect();
    assert_eq!(datas, vec![b"a1".as_slice(), b"b1", b"b2", b"a2"]);
    assert!(all.windows(2).all(|w| w[0].position < w[1].position));
    assert!(all.windows(2).all(|w| w[0].recorded_at <= w[1].recorded_at));

    let middle = store.read_all(all[1].position, 2).await.expect("read all");
    assert_eq!(middle.len(), 2);
    assert_eq!(middle[0].data, b"b1");
    assert_eq!(middle[1].data, b"b2");
    let past_end = store
        .read_all(all[3].position.next(), 10)
        .await
        .expect("read past end");
    assert!(past_end.is_empty());
}

pub async fn streams_list_by_prefix(store: &dyn EventStore) {
    for name in [
        "conf-list-c",
        "conf-list-a",
        "conf-list-b",
        "conf-listing-x",
    ] {
        store
            .append(&stream(name), ExpectedVersion::Any, vec![event(name)])
            .await
            .expect("append");
    }
    let listed = store
        .list_streams("conf-list-", None, 100)
        .await
        .expect("list");
    let names: Vec<&str> = listed.iter().map(|s| s.stream.as_str()).collect();
    assert_eq!(names, vec!["conf-list-a", "conf-list-b", "conf-list-c"]);
    assert!(listed.iter().all(|s| s.version == 1));
    let after = stream("conf-list-a");
    let page = store
        .list_streams("conf-list-", Some(&after), 1)
        .await
        .expect("list");
    assert_eq!(page.len(), 1);
    assert_eq!(page[0].stream.as_str(), "conf-list-b");
}

pub async fn subscribers_learn_of_new_positions(store: &dyn EventStore) {
    let mut receiver = store.subscribe();
    receiver.borrow_and_update();
    let result = store
        .append(
            &stream("conf-subscribe-1"),
            ExpectedVersion::Any,
            vec![event("x")],
        )
        .await
        .expect("append");
    tokio::time::timeout(std::time::Duration::from_secs(10), receiver.changed())
        .await
        .expect("notified")
        .expect("sender alive");
    assert!(*receiver.borrow() >= result.last_position());
}

/// Read-your-writes: as soon as an append returns, every read sees it (backends that index
/// in the background must not open a window where it is invisible).
pub async fn acknowledged_appends_are_visible_at_once(store: &dyn EventStore, appends: u64) {
    for i in 0..appends {
        let s = stream(&format!("conf-visible-{i}"));
        let result = store
            .append(&s, ExpectedVersion::NoStream, vec![event("x"), event("y")])
            .await
            .expect("append");
        assert_eq!(
            store.stream_version(&s).await.expect("version"),
            2,
            "append {i}"
        );
        let events = store.read_stream(&s, Seq(1), 10).await.expect("read");
        assert_eq!(events.len(), 2, "append {i}: read_stream");
        let all = store
            .read_all(result.first_position, 10)
            .await
            .expect("read all");
        assert!(
            all.len() >= 2 && all[1].data == b"y",
            "append {i}: read_all"
        );
        let listed = store
            .list_streams(s.as_str(), None, 10)
            .await
            .expect("list");
        assert_eq!(
            listed.first().map(|l| l.version),
            Some(2),
            "append {i}: list"
        );
    }
}

/// `writers` tasks each append `per_writer` events to one stream, each append guarded by the
/// version the task last read, retrying on conflict. Afterwards the stream holds exactly
/// `writers * per_writer` events with seqs 1..=N, each task's events all present and in order.
pub async fn concurrent_writers_never_share_a_seq(
    store: Arc<dyn EventStore>,
    writers: usize,
    per_writer: usize,
) {
    let s = stream("conf-concurrent-1");
    // Every writer reads the stream's version before any of them appends, so their first
    // appends really race (one wins, the rest conflict) however the tasks are scheduled; a
    // loaded machine could otherwise run each task to its end before the next one starts.
    let all_read = Arc::new(tokio::sync::Barrier::new(writers));
    let mut tasks = Vec::new();
    for writer in 0..writers {
        let store = store.clone();
        let s = s.clone();
        let all_read = all_read.clone();
        tasks.push(tokio::spawn(async move {
            let mut conflicts = 0u64;
            let mut done = 0;
            let mut first = true;
            while done < per_writer {
                let version = store.stream_version(&s).await.expect("version");
                if std::mem::take(&mut first) {
                    all_read.wait().await;
                }
                // Let the other writers run between the read and the append, as network
                // round trips would, so that the race is real on any runtime.
                tokio::task::yield_now().await;
                let data = format!("{writer}:{done}");
                match store
                    .append(&s, ExpectedVersion::Exact(version), vec![event(&data)])
                    .await
                {
                    Ok(result) => {
                        assert_eq!(result.first_seq, Seq(version + 1));
                        done += 1;
                    }
                    Err(StoreError::Conflict { actual, .. }) => {
                        assert!(actual > version, "a conflict reports a newer version");
                        conflicts += 1;
                    }
                    Err(other) => panic!("unexpected error {other}"),
                }
            }
            conflicts
        }));
    }
    let mut conflicts = 0;
    for task in tasks {
        conflicts += task.await.expect("writer task");
    }
    let total = (writers * per_writer) as u64;
    let events = store
        .read_stream(&s, Seq(1), total as usize + 10)
        .await
        .expect("read");
    let seqs: Vec<u64> = events.iter().map(|e| e.seq.0).collect();
    assert_eq!(
        seqs,
        (1..=total).collect::<Vec<_>>(),
        "no seq skipped or repeated"
    );
    let datas: BTreeSet<String> = events
        .iter()
        .map(|e| String::from_utf8_lossy(&e.data).into_owned())
        .collect();
    assert_eq!(
        datas.len() as u64,
        total,
        "every append landed exactly once"
    );
    for writer in 0..writers {
        let mine: Vec<usize> = events
            .iter()
            .filter_map(|e| {
                let text = String::from_utf8_lossy(&e.data).into_owned();
                let (w, i) = text.split_once(':')?;
                (w.parse::<usize>().ok()? == writer).then(|| i.parse().ok())?
            })
            .collect();
        assert_eq!(mine, (0..per_writer).collect::<Vec<_>>());
    }
    if writers > 1 {
        assert!(
            conflicts > 0,
            "concurrent writers on one stream must meet conflicts"
        );
    }
}

fn imported(name: &str, seq: u64, at: i64, data: &str) -> RecordedEvent {
    RecordedEvent {
        // Ignored by `import`: the store assigns positions.
        position: Position(999_999),
        stream: stream(name),
        seq: Seq(seq),
        event_type: EventType(9),
        recorded_at: Timestamp(at),
        data: data.as_bytes().to_vec(),
    }
}

/// `import` keeps streams, seqs, types, data and stamps (an earlier stamp is raised to the
/// last one), gives new positions in order, checks each seq against its stream's version,
/// and writes nothing of an import that fails.
pub async fn imports_keep_streams_seqs_and_stamps(store: &dyn EventStore) {
    let b = stream("conf-import-b");
    store
        .append(&b, ExpectedVersion::NoStream, vec![event("b1")])
        .await
        .expect("append");
    let committed = *store.subscribe().borrow();
    let last = store.read_all(committed, 1).await.expect("read last");
    let base = last.first().expect("the last event").recorded_at.0;

    let empty = store.import(Vec::new()).await.expect("empty import");
    assert_eq!(empty.count, 0);
    assert_eq!(*store.subscribe().borrow(), committed);

    let events = vec![
        imported("conf-import-a", 1, base + 10, "a1"),
        imported("conf-import-b", 2, base + 20, "b2"),
        imported("conf-import-a", 2, base + 30, "a2"),
        imported("conf-import-b", 3, 5, "b3"),
    ];
    let result = store.import(events.clone()).await.expect("import");
    assert_eq!(result.count, 4);
    assert_eq!(result.first_position, committed.next());
    assert_eq!(result.last_position(), Position(committed.0 + 4));
    assert_eq!(*store.subscribe().borrow(), result.last_position());
    let read = store
        .read_all(result.first_position, 10)
        .await
        .expect("read imported");
    assert_eq!(read.len(), 4);
    for (i, (got, sent)) in read.iter().zip(&events).enumerate() {
        assert_eq!(got.position, Position(committed.0 + 1 + i as u64));
        assert_eq!(
            (&got.stream, got.seq, got.event_type, &got.data),
            (&sent.stream, sent.seq, sent.event_type, &sent.data)
        );
    }
    let stamps: Vec<i64> = read.iter().map(|e| e.recorded_at.0).collect();
    assert_eq!(
        stamps,
        vec![base + 10, base + 20, base + 30, base + 30],
        "stamps kept; an earlier one raised to the last"
    );
    assert_eq!(
        store
            .stream_version(&stream("conf-import-a"))
            .await
            .expect("v"),
        2
    );
    assert_eq!(store.stream_version(&b).await.expect("v"), 3);

    // A gap in one stream fails the whole import: nothing of it is written.
    let before = *store.subscribe().borrow();
    let gap = vec![
        imported("conf-import-a", 3, base + 40, "a3"),
        imported("conf-import-b", 5, base + 40, "b5"),
    ];
    match store.import(gap).await {
        Err(StoreError::Conflict {
            stream: s,
            expected: ExpectedVersion::Exact(4),
            actual: 3,
        }) => assert_eq!(s, b),
        other => panic!("a seq gap must conflict, got {other:?}"),
    }
    match store
        .import(vec![imported("conf-import-new", 2, base, "x")])
        .await
    {
        Err(StoreError::Conflict { actual: 0, .. }) => {}
        other => panic!("a stream must start at seq 1, got {other:?}"),
    }
    // A repeated seq within one import conflicts too.
    match store
        .import(vec![
            imported("conf-import-c", 1, base, "c1"),
            imported("conf-import-c", 1, base, "c1"),
        ])
        .await
    {
        Err(StoreError::Conflict { actual: 1, .. }) => {}
        other => panic!("a repeated seq must conflict, got {other:?}"),
    }
    assert_eq!(*store.subscribe().borrow(), before);
    assert_eq!(
        store
            .stream_version(&stream("conf-import-a"))
            .await
            .expect("v"),
        2
    );
    assert_eq!(
        store
            .stream_version(&stream("conf-import-c"))
            .await
            .expect("v"),
        0
    );

    // Appends after an import are stamped after it.
    let after = store
        .append(&b, ExpectedVersion::Exact(3), vec![event("b4")])
        .await
        .expect("append after import");
    let appended = store.read_all(after.first_position, 1).await.expect("read");
    assert!(appended[0].recorded_at.0 >= base + 30);
}
