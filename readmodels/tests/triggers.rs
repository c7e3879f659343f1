//! The triggers read model: trigger streams projected into `triggers`, listed in creation
//! order with filters and cursors.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use common::{append_raw, append_run, append_trigger, started, trigger_spec_json, upserted};
use journal::{EventStore, MemoryStore};
use readmodels::{ReadModelError, ReadModels, RunQuery, TriggerQuery, TriggerSummary};
use triggers::instances::TriggerEvent;

fn memory() -> Arc<dyn EventStore> {
    Arc::new(MemoryStore::new())
}

/// Every trigger the query matches, following cursors (pages of `limit`).
fn all_triggers(models: &ReadModels, query: TriggerQuery) -> Vec<TriggerSummary> {
    let mut query = query;
    let mut all = Vec::new();
    loop {
        let page = models.list_triggers(&query).expect("list triggers");
        assert!(page.items.len() <= query.limit);
        all.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return all,
        }
    }
}

fn ids(triggers: &[TriggerSummary]) -> Vec<&str> {
    triggers.iter().map(|t| t.trigger_id.as_str()).collect()
}

fn query(limit: usize) -> TriggerQuery {
    TriggerQuery {
        show_disabled: true,
        limit,
        ..TriggerQuery::default()
    }
}

/// Six triggers: `t{n}` (slug `s{n}`), created in order; ids sort against creation order so
/// the listing cannot be in id order by accident.
async fn six_triggers(store: &dyn EventStore) -> Vec<String> {
    let shapes = [
        ("schedule", "wf_a", Some("conn_1"), None, true),
        ("webhook", "wf_b", Some("conn_2"), Some("on_push"), true),
        ("schedule", "wf_a", None, Some("on_push"), false),
        ("manual", "wf_a", Some("conn_1"), None, true),
        ("polling", "wf_b", Some("conn_1"), Some("on_item"), false),
        ("schedule", "wf_b", None, None, true),
    ];
    let mut made = Vec::new();
    for (n, (kind, workflow, connection, name, enabled)) in shapes.into_iter().enumerate() {
        let id = format!("trg_{}", 9 - n);
        append_trigger(
            store,
            &id,
            &[upserted(
                &id,
                &format!("s{n}"),
                trigger_spec_json(kind, workflow, connection, name),
                enabled,
            )],
        )
        .await;
        made.push(id);
    }
    made
}

#[tokio::test]
async fn triggers_are_listed_in_creation_order_with_every_filter() {
    let store = memory();
    let models = ReadModels::temporary(store.clone()).expect("open");
    let made = six_triggers(&*store).await;
    models.catch_up().await.expect("catch up");
    let m = |picks: &[usize]| picks.iter().map(|&i| made[i].as_str()).collect::<Vec<_>>();

    for limit in [1, 2, 5, 100] {
        assert_eq!(
            ids(&all_triggers(&models, query(limit))),
            m(&[0, 1, 2, 3, 4, 5])
        );
    }
    let enabled_only = TriggerQuery {
        show_disabled: false,
        ..query(2)
    };
    assert_eq!(ids(&all_triggers(&models, enabled_only)), m(&[0, 1, 3, 5]));
    let cases: Vec<(TriggerQuery, Vec<&str>)> = vec![
        (
            TriggerQuery {
                workflow_id: Some("wf_a".into()),
                ..query(1)
            },
            m(&[0, 2, 3]),
        ),
        (
            TriggerQuery {
                kind: Some("schedule".into()),
                ..query(2)
            },
            m(&[0, 2, 5]),
        ),
        (
            TriggerQuery {
                workflow_id: Some("wf_b".into()),
                kind: Some("schedule".into()),
                ..query(2)
            },
            m(&[5]),
        ),
        (
            TriggerQuery {
                connection_ids: vec!["conn_1".into()],
                ..query(1)
            },
            m(&[0, 3, 4]),
        ),
        (
            TriggerQuery {
                connection_ids: vec!["conn_1".into(), "conn_2".into()],
                show_disabled: false,
                ..query(3)
            },
            m(&[0, 1, 3]),
        ),
        // A name is a slug or a trigger name.
        (
            TriggerQuery {
                names: vec!["on_push".into(), "s5".into()],
                ..query(1)
            },
            m(&[1, 2, 5]),
        ),
        (
            TriggerQuery {
                ids: vec![made[4].clone(), made[0].clone(), "trg_nope".into()],
                ..query(1)
            },
            m(&[0, 4]),
        ),
        (
            TriggerQuery {
                workflow_id: Some("wf_nope".into()),
                ..query(5)
            },
            vec![],
        ),
    ];
    for (query, expected) in cases {
        assert_eq!(
            ids(&all_triggers(&models, query.clone())),
            expected,
            "{query:?}"
        );
    }

    let first = &models.list_triggers(&query(1)).expect("list").items[0];
    assert_eq!(first.slug, "s0");
    assert_eq!(first.kind, "schedule");
    assert_eq!(first.workflow_id, "wf_a");
    assert_eq!(first.connection_id.as_deref(), Some("conn_1"));
    assert!(first.enabled);
    assert_eq!(first.fired, 0);
    assert_eq!(first.created_at_us, first.updated_at_us);

    // Cursors of other listings, and garbage, are refused; so are limits out of range.
    let run_cursor = {
        append_run(&*store, "r1", &[started("r1", "wf_a")]).await;
        append_run(&*store, "r2", &[started("r2", "wf_a")]).await;
        models.catch_up().await.expect("catch up");
        models
            .list_runs(&RunQuery {
                limit: 1,
                ..RunQuery::default()
            })
            .expect("runs")
            .next_cursor
            .expect("cursor")
    };
    for cursor in [run_cursor.as_str(), "zz", "", made[0].as_str()] {
        let result = models.list_triggers(&TriggerQuery {
            cursor: Some(cursor.to_owned()),
            ..query(5)
        });
        assert!(
            matches!(result, Err(ReadModelError::InvalidCursor)),
            "{cursor:?}: {result:?}"
        );
    }
    for limit in [0, 101] {
        assert!(matches!(
            models.list_triggers(&query(limit)),
            Err(ReadModelError::InvalidQuery(_))
        ));
    }
}

#[tokio::test]
async fn status_changes_updates_firings_and_deletions_are_folded() {
    let store = memory();
    let models = ReadModels::temporary(store.clone()).expect("open");
    let made = six_triggers(&*store).await;
    models.catch_up().await.expect("catch up");
    let before = models.trigger(&made[0]).expect("get").expect("trigger");

    // t0: disabled, fired twice, skipped, rejected, its cursor advanced. t1: upserted again
    // as a schedule of wf_a without a connection (its slug stays).
    append_trigger(
        &*store,
        &made[0],
        &[
            TriggerEvent::TriggerStatusChanged {
                enabled: false,
                by: None,
            },
            TriggerEvent::TriggerFired {
                run_id: "r1".into(),
                reason: "schedule".into(),
                scheduled_at_ms: Some(1),
                idempotency_key: None,
            },
            TriggerEvent::TriggerFired {
                run_id: "r2".into(),
                reason: "manual".into(),
                scheduled_at_ms: None,
                idempotency_key: Some("k".into()),
            },
            TriggerEvent::TriggerSkipped {
                reason: "overlap".into(),
                scheduled_at_ms: None,
            },
            TriggerEvent::TriggerRejected {
                reason: "bad signature".into(),
            },
            TriggerEvent::TriggerCursorAdvanced {
                cursor_json: "{\"at\":1}".into(),
            },
        ],
    )
    .await;
    append_trigger(
        &*store,
        &made[1],
        &[upserted(
            &made[1],
            "other-slug",
            trigger_spec_json("schedule", "wf_a", None, None),
            true,
        )],
    )
    .await;
    // t3 and t4 deleted (t4 fires once more after: the fold counts it, nobody lists it).
    append_trigger(
        &*store,
        &made[3],
        &[TriggerEvent::TriggerDeleted { by: None }],
    )
    .await;
    append_trigger(
        &*store,
        &made[4],
        &[
            TriggerEvent::TriggerDeleted { by: None },
            TriggerEvent::TriggerFired {
                run_id: "r3".into(),
                reason: "polling".into(),
                scheduled_at_ms: None,
                idempotency_key: None,
            },
        ],
    )
    .await;
    models.catch_up().await.expect("catch up");

    let t0 = models.trigger(&made[0]).expect("get").expect("trigger");
    assert!(!t0.enabled);
    assert_eq!(t0.fired, 2);
    assert_eq!(t0.created_at_us, before.created_at_us);
    assert!(t0.updated_at_us >= before.updated_at_us, "{t0:?}");
    let t1 = models.trigger(&made[1]).expect("get").expect("trigger");
    assert_eq!(
        (t1.slug.as_str(), t1.kind.as_str(), t1.workflow_id.as_str()),
        ("s1", "schedule", "wf_a")
    );
    assert_eq!(t1.connection_id, None);
    assert_eq!(models.trigger(&made[3]).expect("get"), None);
    assert_eq!(models.trigger(&made[4]).expect("get"), None);
    assert_eq!(models.trigger("trg_nope").expect("get"), None);

    let m = |picks: &[usize]| picks.iter().map(|&i| made[i].as_str()).collect::<Vec<_>>();
    assert_eq!(ids(&all_triggers(&models, query(2))), m(&[0, 1, 2, 5]));
    let enabled_only = TriggerQuery {
        show_disabled: false,
        ..query(1)
    };
    assert_eq!(ids(&all_triggers(&models, enabled_only)), m(&[1, 5]));
    // t1 moved from wf_b to wf_a (and from webhook to schedule) in the indexes.
    let of = |workflow: &str| TriggerQuery {
        workflow_id: Some(workflow.into()),
        ..query(1)
    };
    assert_eq!(ids(&all_triggers(&models, of("wf_a"))), m(&[0, 1, 2]));
    assert_eq!(ids(&all_triggers(&models, of("wf_b"))), m(&[5]));
    let webhooks = TriggerQuery {
        kind: Some("webhook".into()),
        ..query(3)
    };
    assert_eq!(ids(&all_triggers(&models, webhooks)), Vec::<&str>::new());
    let stats = models.stats().expect("stats");
    assert_eq!(stats.triggers, 4);
    assert_eq!(stats.skipped_events, 0);

    // A rebuild gives the same rows and index entries.
    let incremental = models.dump().expect("dump");
    models.rebuild().await.expect("rebuild");
    assert_eq!(models.dump().expect("dump"), incremental);
}

#[tokio::test]
async fn misfitting_trigger_events_are_skipped_and_claims_pass() {
    let store = memory();
    let models = ReadModels::temporary(store.clone()).expect("open");
    // Before its TriggerUpserted; garbage; another trigger's upsert in this stream; an
    // unreadable spec; a tag of a newer kind.
    append_trigger(&*store, "a", &[TriggerEvent::TriggerDeleted { by: None }]).await;
    append_raw(&*store, "trigger-b", 500, &[0xC0, 0xFF, 0xEE]).await;
    append_trigger(
        &*store,
        "c",
        &[upserted(
            "d",
            "s",
            trigger_spec_json("manual", "wf", None, None),
            true,
        )],
    )
    .await;
    append_trigger(&*store, "e", &[upserted("e", "s", "not json".into(), true)]).await;
    append_raw(&*store, "trigger-f", 509, b"?").await;
    // Slug, webhook and sample claims are not projected.
    append_raw(&*store, "trgslug-s", 510, b"?").await;
    append_raw(&*store, "trghook-x", 511, b"?").await;
    append_raw(&*store, "trgsample-x", 512, b"?").await;
    models.catch_up().await.expect("catch up");
    let skipped = models.skipped().expect("skipped");
    assert_eq!(
        skipped
            .iter()
            .map(|s| s.stream.as_str())
            .collect::<Vec<_>>(),
        [
            "trigger-a",
            "trigger-b",
            "trigger-c",
            "trigger-e",
            "trigger-f"
        ]
    );
    assert!(models
        .list_triggers(&query(10))
        .expect("list")
        .items
        .is_empty());
    assert_eq!(models.checkpoint(), *store.subscribe().borrow());
}

/// Creates a trigger of `workflow`; ids run in reverse of creation order, so the listing
/// must follow creation, not ids.
async fn create(
    store: &dyn EventStore,
    created: &mut Vec<(String, &'static str)>,
    workflow: &'static str,
) {
    let id = format!("trg_{:05}", 100_000 - created.len());
    created.push((id.clone(), workflow));
    append_trigger(
        store,
        &id,
        &[upserted(
            &id,
            &format!("slug-{id}"),
            trigger_spec_json("schedule", workflow, None, None),
            true,
        )],
    )
    .await;
}

#[tokio::test]
async fn pages_neither_skip_nor_repeat_while_triggers_are_created_and_deleted() {
    let store = memory();
    let models = ReadModels::temporary(store.clone()).expect("open");
    let mut created: Vec<(String, &'static str)> = Vec::new();
    for n in 0..25 {
        create(
            &*store,
            &mut created,
            if n % 3 == 0 { "wf_x" } else { "wf_y" },
        )
        .await;
    }
    models.catch_up().await.expect("catch up");

    for workflow in [None, Some("wf_y")] {
        let mut seen = Vec::new();
        let mut cursor = None;
        let mut deleted = HashSet::new();
        let mut round = 0;
        loop {
            let page = models
                .list_triggers(&TriggerQuery {
                    workflow_id: workflow.map(str::to_owned),
                    cursor: cursor.clone(),
                    ..query(4)
                })
                .expect("page");
            seen.extend(page.items.iter().map(|t| t.trigger_id.clone()));
            // Meanwhile: two new triggers, and one not yet listed deleted.
            round += 1;
            if round < 6 {
                create(&*store, &mut created, "wf_y").await;
                create(&*store, &mut created, "wf_x").await;
            }
            let unseen = created.iter().find(|(id, w)| {
                !seen.contains(id)
                    && !deleted.contains(id)
                    && workflow.is_none_or(|wanted| wanted == *w)
            });
            if let Some((id, _)) = unseen.cloned() {
                if round % 2 == 0 {
                    append_trigger(&*store, &id, &[TriggerEvent::TriggerDeleted { by: None }])
                        .await;
                    deleted.insert(id);
                }
            }
            models.catch_up().await.expect("catch up");
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        let expected: Vec<String> = created
            .iter()
            .filter(|(id, w)| {
                workflow.is_none_or(|wanted| wanted == *w)
                    && !deleted.contains(id)
                    && models.trigger(id).expect("get").is_some()
            })
            .map(|(id, _)| id.clone())
            .collect();
        assert_eq!(seen, expected, "{workflow:?}");
        assert!(!deleted.is_empty());
        assert_eq!(
            seen.iter().collect::<HashSet<_>>().len(),
            seen.len(),
            "a trigger repeated"
        );
    }
}
