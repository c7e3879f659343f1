//! Leases of runs to nodes (`PgLeases`) and the fences appends carry: a node that lost a
//! lease cannot append, a dead node's leases are claimed by exactly one other node, a free
//! lease is claimed when its timer is due and not before, and pokes reach every node.

mod support;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use journal::{
    EventStore, EventType, ExpectedVersion, Fence, FenceOp, Leases, NewEvent, StoreError,
    StreamName, FIRST_EPOCH,
};
use journal_pg::{PgLeases, PgOptions, PgStore};
use support::with_database;

fn stream(name: &str) -> StreamName {
    StreamName::new(name).expect("valid stream name")
}

fn event(data: &str) -> Vec<NewEvent> {
    vec![NewEvent::new(EventType(3), data.as_bytes().to_vec())]
}

fn fence(leases: &PgLeases, epoch: u64, op: FenceOp) -> Fence {
    Fence {
        holder: leases.node().clone(),
        epoch,
        op,
        ttl_ms: leases.ttl_ms(),
    }
}

async fn store(url: &str) -> Arc<PgStore> {
    Arc::new(
        PgStore::connect(url, PgOptions::default())
            .await
            .expect("connect"),
    )
}

/// Lives long enough for one test step, short enough to expire within a 100 ms sleep.
const SHORT: Duration = Duration::from_millis(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_lost_its_lease_cannot_append() {
    with_database(|url| async move {
        let store = store(&url).await;
        let a = PgLeases::new(&store, "a", Duration::from_millis(300));
        let b = PgLeases::new(&store, "b", Duration::from_secs(30));
        let run = stream("run-1");

        // a creates the run and its lease in one append; b cannot claim a live lease.
        store
            .append_fenced(
                &run,
                ExpectedVersion::NoStream,
                event("started"),
                &fence(&a, FIRST_EPOCH, FenceOp::Create),
            )
            .await
            .expect("created");
        a.renew().await.expect("renew");
        assert_eq!(b.claim("run-1").await.expect("claim"), None);
        // Creating it again is a conflict (the stream exists), not a second lease.
        let again = store
            .append_fenced(
                &run,
                ExpectedVersion::NoStream,
                event("started"),
                &fence(&b, FIRST_EPOCH, FenceOp::Create),
            )
            .await;
        assert!(
            matches!(again, Err(StoreError::Conflict { .. })),
            "{again:?}"
        );

        // a stalls past its expiry: b takes the run over, with a new epoch.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let claimed = loop {
            tokio::time::sleep(Duration::from_millis(50)).await;
            if let Some(claimed) = b.claim("run-1").await.expect("claim") {
                break claimed;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "a's lease never expired"
            );
        };
        assert_eq!(claimed.epoch, FIRST_EPOCH + 1);
        assert_eq!(claimed.taken_from.as_deref(), Some("a"));

        // a's append, with the right stream version but its old epoch, is refused; b's goes in.
        let stale = store
            .append_fenced(
                &run,
                ExpectedVersion::Exact(1),
                event("from a"),
                &fence(&a, FIRST_EPOCH, FenceOp::Hold),
            )
            .await;
        assert!(
            matches!(stale, Err(StoreError::Fenced { epoch: 1, .. })),
            "{stale:?}"
        );
        store
            .append_fenced(
                &run,
                ExpectedVersion::Exact(1),
                event("from b"),
                &fence(&b, claimed.epoch, FenceOp::Hold),
            )
            .await
            .expect("the holder appends");
        // The run ends with b's last append, and its lease with it.
        store
            .append_fenced(
                &run,
                ExpectedVersion::Exact(2),
                event("ended"),
                &fence(&b, claimed.epoch, FenceOp::End),
            )
            .await
            .expect("the holder ends the run");
        assert_eq!(
            a.claim("run-1").await.expect("claim"),
            None,
            "no lease is left to claim"
        );
        let events = store
            .read_stream(&run, journal::Seq(1), 10)
            .await
            .expect("read");
        let datas: Vec<&[u8]> = events.iter().map(|e| e.data.as_slice()).collect();
        assert_eq!(datas, vec![&b"started"[..], b"from b", b"ended"]);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn free_leases_are_claimed_when_due_and_dead_nodes_leases_by_one_node() {
    with_database(|url| async move {
        let store = store(&url).await;
        let dead = PgLeases::new(&store, "dead", SHORT);
        let waiter = PgLeases::new(&store, "waiter", Duration::from_secs(30));
        for i in 0..40 {
            let run = stream(&format!("run-{i:02}"));
            store
                .append_fenced(
                    &run,
                    ExpectedVersion::NoStream,
                    event("started"),
                    &fence(&dead, FIRST_EPOCH, FenceOp::Create),
                )
                .await
                .expect("created");
        }
        // Two runs wait: one for a timer already due, one for a timer an hour away; one for a
        // resume only.
        let hour_ms = 3_600_000;
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock")
            .as_millis() as i64;
        tokio::time::sleep(Duration::from_millis(100)).await;
        for (key, wake) in [
            ("run-00", Some(now_ms - 10)),
            ("run-01", Some(now_ms + hour_ms)),
            ("run-02", None),
        ] {
            let claimed = waiter.claim(key).await.expect("claim").expect("expired");
            waiter
                .release(key, claimed.epoch, wake)
                .await
                .expect("release");
        }

        // Three nodes claim at once: every expired run exactly once, the due one, not the
        // others.
        let nodes: Vec<PgLeases> = ["x", "y", "z"]
            .into_iter()
            .map(|n| PgLeases::new(&store, n, Duration::from_secs(30)))
            .collect();
        let by_node = claims_of(&nodes).await;
        let claims: Vec<&journal::Claimed> = by_node.iter().flatten().collect();
        let keys: Vec<&str> = claims.iter().map(|c| c.key.as_str()).collect();
        let unique: HashSet<&str> = keys.iter().copied().collect();
        assert_eq!(keys.len(), unique.len(), "a lease claimed twice: {keys:?}");
        let mut expected: HashSet<String> = (3..40).map(|i| format!("run-{i:02}")).collect();
        expected.insert("run-00".to_owned());
        assert_eq!(unique, expected.iter().map(String::as_str).collect());
        for claim in &claims {
            let from = if claim.key == "run-00" {
                None
            } else {
                Some("dead")
            };
            assert_eq!(claim.taken_from.as_deref(), from, "{claim:?}");
        }

        // A node restarted under the same id takes its leases back at once, with new epochs.
        let again = PgLeases::new(&store, "x", Duration::from_secs(30));
        let mine = again.reclaim_own("run-").await.expect("reclaim");
        let mut reclaimed: Vec<&str> = mine.iter().map(|c| c.key.as_str()).collect();
        let mut held: Vec<&str> = by_node[0].iter().map(|c| c.key.as_str()).collect();
        reclaimed.sort_unstable();
        held.sort_unstable();
        assert_eq!(reclaimed, held);
        for claim in &mine {
            let before = by_node[0]
                .iter()
                .find(|c| c.key == claim.key)
                .expect("x held it");
            assert_eq!(claim.epoch, before.epoch + 1, "{claim:?}");
        }

        // Seeding gives a lease only to keys without one: the waiting runs keep theirs.
        let created = again
            .seed(&[
                "run-01".to_owned(),
                "run-02".to_owned(),
                "run-99".to_owned(),
            ])
            .await
            .expect("seed");
        assert_eq!(created, 1);
        let seeded = again.claim_due("run-", 0, 100).await.expect("claim due");
        assert_eq!(
            seeded.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
            vec!["run-99"],
            "a seeded lease is due at once; waiting ones are not"
        );
        assert_eq!(again.renew().await.expect("renew") as usize, mine.len() + 1);
    })
    .await;
}

/// What each node claimed: all three at once, then the first until nothing is left.
async fn claims_of(nodes: &[PgLeases]) -> Vec<Vec<journal::Claimed>> {
    let (a, b, c) = tokio::join!(
        nodes[0].claim_due("run-", 0, 10),
        nodes[1].claim_due("run-", 0, 10),
        nodes[2].claim_due("run-", 0, 10),
    );
    let mut by_node: Vec<Vec<journal::Claimed>> = [a, b, c]
        .into_iter()
        .map(|claims| claims.expect("claim due"))
        .collect();
    loop {
        let more = nodes[0].claim_due("run-", 0, 10).await.expect("claim due");
        if more.is_empty() {
            return by_node;
        }
        by_node[0].extend(more);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pokes_reach_every_node() {
    with_database(|url| async move {
        let store = store(&url).await;
        let a = PgLeases::new(&store, "a", Duration::from_secs(30));
        let b = PgLeases::new(&store, "b", Duration::from_secs(30));
        let mut heard = b.pokes();
        // The listener connects in the background: poke until it hears.
        let got = tokio::time::timeout(Duration::from_secs(20), async {
            loop {
                a.poke("run-7").await.expect("poke");
                if let Ok(Ok(key)) =
                    tokio::time::timeout(Duration::from_millis(100), heard.recv()).await
                {
                    return key;
                }
            }
        })
        .await
        .expect("a poke arrives");
        assert_eq!(got, "run-7");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_lists_the_leases_it_holds_and_not_those_it_lost() {
    with_database(|url| async move {
        let store = store(&url).await;
        // Long enough for the checks while it lives, whatever the machine's load.
        let a = PgLeases::new(&store, "a", Duration::from_millis(300));
        let b = PgLeases::new(&store, "b", Duration::from_secs(30));
        let keys: Vec<String> = ["trigger-1", "trigger-2", "run-1"]
            .into_iter()
            .map(str::to_owned)
            .collect();
        // Trigger leases: seeded free, then claimed (claims never create a lease).
        assert_eq!(a.seed(&keys).await.expect("seed"), 3);
        let claimed = a.claim_many(&keys).await.expect("claim");
        assert_eq!(claimed.len(), 3);
        let held = a.held("trigger-").await.expect("held");
        let listed: Vec<(&str, u64)> = held.iter().map(|c| (c.key.as_str(), c.epoch)).collect();
        assert_eq!(
            listed,
            vec![("trigger-1", 2), ("trigger-2", 2)],
            "only under the prefix"
        );
        assert!(b.held("trigger-").await.expect("held").is_empty());
        assert!(
            b.claim_many(&keys).await.expect("claim").is_empty(),
            "a's are live"
        );

        // a's leases expire: a holds none; b takes them over from a.
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !a.held("trigger-").await.expect("held").is_empty() {
            assert!(
                std::time::Instant::now() < deadline,
                "a's leases never expired"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let taken = b.claim_many(&keys[..2]).await.expect("claim");
        assert!(
            taken.iter().all(|c| c.taken_from.as_deref() == Some("a")),
            "{taken:?}"
        );
        let held = b.held("trigger-").await.expect("held");
        assert_eq!(held.len(), 2);
        // Finishing a lease deletes it: no one holds it.
        b.finish("trigger-1", held[0].epoch).await.expect("finish");
        let held = b.held("trigger-").await.expect("held");
        assert_eq!(
            held.iter().map(|c| c.key.as_str()).collect::<Vec<_>>(),
            vec!["trigger-2"]
        );
    })
    .await;
}
