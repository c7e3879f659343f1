//! Read models projected from real engine events in a journal.

mod common;

use std::collections::HashSet;
use std::sync::Arc;

use chrono::DateTime;
use common::{
    append_raw, append_run, completed, failed, paused, spec, started, step_started, stream,
};
use engine::definition::WorkflowStatus;
use engine::events::RunEvent;
use engine::run::RunStatus;
use engine::workflows::{WorkflowEvent, Workflows};
use journal::{
    EmbeddedConfig, EmbeddedStore, EventStore, ExpectedVersion, MemoryStore, NewEvent, Position,
};
use readmodels::{
    Page, ReadModelError, ReadModels, RunQuery, RunSummary, SortOrder, WorkflowQuery,
    WorkflowSortBy, WorkflowSummary,
};

fn memory() -> Arc<dyn EventStore> {
    Arc::new(MemoryStore::new())
}

fn ids(page: &Page<RunSummary>) -> Vec<String> {
    page.items.iter().map(|r| r.run_id.clone()).collect()
}

/// Every run the query matches, following cursors (pages of `limit`).
fn all_runs(models: &ReadModels, query: RunQuery) -> Vec<RunSummary> {
    let mut query = query;
    let mut out = Vec::new();
    loop {
        let page = models.list_runs(&query).expect("list runs");
        out.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return out,
        }
    }
}

fn all_workflows(models: &ReadModels, query: WorkflowQuery) -> Vec<WorkflowSummary> {
    let mut query = query;
    let mut out = Vec::new();
    loop {
        let page = models.list_workflows(&query).expect("list workflows");
        out.extend(page.items);
        match page.next_cursor {
            Some(cursor) => query.cursor = Some(cursor),
            None => return out,
        }
    }
}

fn run_ids(runs: &[RunSummary]) -> Vec<&str> {
    runs.iter().map(|r| r.run_id.as_str()).collect()
}

#[tokio::test]
async fn runs_are_listed_newest_first_and_filtered_by_workflow_status_and_time() {
    let store = memory();
    let models = ReadModels::temporary(store.clone()).expect("read models");
    // r00..r09: even runs belong to wf_a, odd to wf_b; r02 and r05 complete, r03 fails,
    // r04 pauses.
    for i in 0..10 {
        let workflow = if i % 2 == 0 { "wf_a" } else { "wf_b" };
        append_run(
            &*store,
            &format!("r{i:02}"),
            &[started(&format!("r{i:02}"), workflow)],
        )
        .await;
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    append_run(&*store, "r02", &[step_started("a"), completed()]).await;
    append_run(&*store, "r05", &[completed()]).await;
    append_run(&*store, "r03", &[step_started("a"), failed("boom")]).await;
    append_run(&*store, "r04", &[paused("wait")]).await;
    let checkpoint = models.catch_up().await.expect("catch up");
    assert_eq!(checkpoint, Position(16));
    assert_eq!(models.checkpoint(), Position(16));

    let all = models.list_runs(&RunQuery::default()).expect("list");
    assert_eq!(
        ids(&all),
        ["r09", "r08", "r07", "r06", "r05", "r04", "r03", "r02", "r01", "r00"]
    );
    assert_eq!(all.next_cursor, None);

    let by_workflow = models
        .list_runs(&RunQuery {
            workflow_id: Some("wf_a".into()),
            ..RunQuery::default()
        })
        .expect("list");
    assert_eq!(ids(&by_workflow), ["r08", "r06", "r04", "r02", "r00"]);

    let completed_runs = models
        .list_runs(&RunQuery {
            status: Some(RunStatus::Completed),
            ..RunQuery::default()
        })
        .expect("list");
    assert_eq!(ids(&completed_runs), ["r05", "r02"]);
    let completed_of_b = models
        .list_runs(&RunQuery {
            workflow_id: Some("wf_b".into()),
            status: Some(RunStatus::Completed),
            ..RunQuery::default()
        })
        .expect("list");
    assert_eq!(ids(&completed_of_b), ["r05"]);
    let pending = models
        .list_runs(&RunQuery {
            status: Some(RunStatus::Pending),
            ..RunQuery::default()
        })
        .expect("list");
    assert_eq!(ids(&pending), ["r09", "r08", "r07", "r06", "r01", "r00"]);

    // Time: `from` inclusive, `to` exclusive, on startedAt.
    let started_at = |id: &str| {
        let micros = all
            .items
            .iter()
            .find(|r| r.run_id == id)
            .expect("listed")
            .started_at_us;
        DateTime::from_timestamp_micros(micros).expect("a time")
    };
    let window = models
        .list_runs(&RunQuery {
            from: Some(started_at("r03")),
            to: Some(started_at("r07")),
            ..RunQuery::default()
        })
        .expect("list");
    assert_eq!(ids(&window), ["r06", "r05", "r04", "r03"]);
    let window_of_a = models
        .list_runs(&RunQuery {
            workflow_id: Some("wf_a".into()),
            from: Some(started_at("r03")),
            ..RunQuery::default()
        })
        .expect("list");
    assert_eq!(ids(&window_of_a), ["r08", "r06", "r04"]);

    // The summary of a failed run.
    let r03 = models.run("r03").expect("get").expect("r03");
    assert_eq!(r03.status, RunStatus::Failed);
    assert_eq!(r03.error.as_deref(), Some("boom"));
    assert!(r03.completed_at_us >= Some(r03.started_at_us));
    assert_eq!(
        (r03.workflow_id.as_str(), r03.workflow_version),
        ("wf_b", 1)
    );
    let r04 = models.run("r04").expect("get").expect("r04");
    assert_eq!((r04.status, r04.completed_at_us), (RunStatus::Paused, None));

    // Limits and cursors are checked.
    for limit in [0, 101] {
        let result = models.list_runs(&RunQuery {
            limit,
            ..RunQuery::default()
        });
        assert!(matches!(result, Err(ReadModelError::InvalidQuery(_))));
    }
    let result = models.list_runs(&RunQuery {
        cursor: Some("not a cursor".into()),
        ..RunQuery::default()
    });
    assert!(matches!(result, Err(ReadModelError::InvalidCursor)));
}

#[tokio::test]
async fn status_changes_move_a_run_between_status_index_entries() {
    let store = memory();
    let models = ReadModels::temporary(store.clone()).expect("read models");
    let listed = |status: RunStatus| {
        ids(&models
            .list_runs(&RunQuery {
                status: Some(status),
                ..RunQuery::default()
            })
            .expect("list"))
    };
    let status_entries = |models: &ReadModels| {
        models
            .dump()
            .expect("dump")
            .iter()
            .filter(|(key, _)| key[0] == b's' || key[0] == b'x')
            .count()
    };
    append_run(&*store, "r1", &[started("r1", "wf")]).await;
    append_run(&*store, "r2", &[started("r2", "wf")]).await;
    models.catch_up().await.expect("catch up");
    assert_eq!(listed(RunStatus::Pending), ["r2", "r1"]);

    let steps: [(RunEvent, RunStatus); 5] = [
        (step_started("a"), RunStatus::Running),
        (
            RunEvent::TimerScheduled {
                step_id: "b".into(),
                fire_at_ms: 1,
            },
            RunStatus::Sleeping,
        ),
        (
            RunEvent::TimerFired {
                step_id: "b".into(),
            },
            RunStatus::Running,
        ),
        (paused("c"), RunStatus::Paused),
        (
            RunEvent::RunResumed {
                step_id: "c".into(),
                payload_json: "{}".into(),
            },
            RunStatus::Running,
        ),
    ];
    for (event, status) in steps {
        append_run(&*store, "r1", &[event]).await;
        models.catch_up().await.expect("catch up");
        assert_eq!(listed(status), ["r1"], "{status:?}");
        for other in [
            RunStatus::Running,
            RunStatus::Sleeping,
            RunStatus::Paused,
            RunStatus::Completed,
        ] {
            if other != status {
                assert!(!listed(other).contains(&"r1".to_owned()), "{other:?}");
            }
        }
        assert_eq!(listed(RunStatus::Pending), ["r2"]);
        // Two entries (by status, by workflow and status) per run, none left behind.
        assert_eq!(status_entries(&models), 4);
    }

    let end = append_run(
        &*store,
        "r1",
        &[RunEvent::RunCancelled { reason: "x".into() }],
    )
    .await;
    // A terminal status never changes: events after it are skipped and kept on record.
    let late = append_run(&*store, "r1", &[completed()]).await;
    models.wait_for(late.last_position()).await.expect("wait");
    assert!(models.checkpoint() >= end.last_position());
    assert_eq!(listed(RunStatus::Cancelled), ["r1"]);
    assert!(listed(RunStatus::Completed).is_empty());
    assert!(listed(RunStatus::Running).is_empty());
    let r1 = models.run("r1").expect("get").expect("r1");
    assert_eq!(r1.status, RunStatus::Cancelled);
    assert!(r1.completed_at_us.is_some());
    let skipped = models.skipped().expect("skipped");
    assert_eq!(skipped.len(), 1);
    assert_eq!(skipped[0].position, late.last_position().0);
    assert!(
        skipped[0].reason.contains("after the run ended"),
        "{skipped:?}"
    );
    assert_eq!(status_entries(&models), 4);
}

#[tokio::test]
async fn corrupt_events_are_skipped_with_their_position_and_unknown_kinds_pass() {
    let store = memory();
    let models = ReadModels::temporary(store.clone()).expect("read models");
    append_run(&*store, "r1", &[started("r1", "wf")]).await;
    let corrupt = append_raw(&*store, "run-r2", 100, &[0xFF; 7]).await;
    let unknown = append_raw(&*store, "idem-wf-abc", 300, b"claim").await;
    let orphan = append_run(&*store, "r3", &[completed()]).await;
    append_run(&*store, "r4", &[started("r4", "wf")]).await;
    models.catch_up().await.expect("catch up");
    // The run with an undecodable event is listed as the engine shows it: corrupt.
    assert_eq!(
        run_ids(&all_runs(&models, RunQuery::default())),
        ["r4", "r2", "r1"]
    );
    let r2 = models.run("r2").expect("get").expect("r2");
    assert_eq!(r2.status, RunStatus::Corrupt);
    assert!(
        r2.error
            .as_deref()
            .is_some_and(|e| e.starts_with("event 1 of its journal cannot be decoded")),
        "{r2:?}"
    );
    assert_eq!(
        run_ids(&all_runs(
            &models,
            RunQuery {
                status: Some(RunStatus::Corrupt),
                ..RunQuery::default()
            }
        )),
        ["r2"]
    );
    let skipped = models.skipped().expect("skipped");
    let positions: Vec<u64> = skipped.iter().map(|s| s.position).collect();
    assert_eq!(
        positions,
        [corrupt.first_position.0, orphan.first_position.0],
        "{skipped:?}"
    );
    assert_eq!(skipped[0].stream, "run-r2");
    assert!(!positions.contains(&unknown.first_position.0));
    let stats = models.stats().expect("stats");
    assert_eq!(
        (stats.runs, stats.skipped_events, stats.checkpoint),
        (3, 2, 5)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_neither_skip_nor_repeat_while_new_runs_are_inserted() {
    let store = memory();
    let models = ReadModels::temporary(store.clone()).expect("read models");
    for i in 0..250 {
        let id = format!("old{i:03}");
        append_run(
            &*store,
            &id,
            &[started(&id, if i % 3 == 0 { "wf_a" } else { "wf_b" })],
        )
        .await;
    }
    models.catch_up().await.expect("catch up");
    let expected: Vec<String> = all_runs(
        &models,
        RunQuery {
            limit: 100,
            ..RunQuery::default()
        },
    )
    .into_iter()
    .map(|r| r.run_id)
    .collect();
    assert_eq!(expected.len(), 250);
    let follower = models.spawn_follower();

    // Another task inserts 100 runs, eight after each page is read.
    let (page_read, mut pages) = tokio::sync::mpsc::unbounded_channel::<()>();
    let inserter = {
        let store = store.clone();
        tokio::spawn(async move {
            let mut inserted = 0;
            while pages.recv().await.is_some() {
                for _ in 0..8 {
                    if inserted == 100 {
                        break;
                    }
                    let id = format!("new{inserted:03}");
                    append_run(&*store, &id, &[started(&id, "wf_a")]).await;
                    inserted += 1;
                }
            }
            while inserted < 100 {
                let id = format!("new{inserted:03}");
                append_run(&*store, &id, &[started(&id, "wf_a")]).await;
                inserted += 1;
            }
        })
    };

    let mut seen = Vec::new();
    let mut query = RunQuery {
        limit: 20,
        ..RunQuery::default()
    };
    let mut new_runs_applied_midway = 0;
    loop {
        let page = models.list_runs(&query).expect("list");
        assert!(page.items.len() <= 20);
        seen.extend(page.items.into_iter().map(|r| r.run_id));
        let Some(cursor) = page.next_cursor else {
            break;
        };
        query.cursor = Some(cursor);
        page_read.send(()).expect("inserter alive");
        // Let the inserter's runs land in the read models before the next page.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        let committed = *store.subscribe().borrow();
        models.wait_for(committed).await.expect("wait");
        new_runs_applied_midway = models.stats().expect("stats").runs - 250;
    }
    drop(page_read);
    inserter.await.expect("inserter");
    assert!(
        new_runs_applied_midway > 0,
        "new runs were applied while paging"
    );

    let old: Vec<String> = seen
        .iter()
        .filter(|id| id.starts_with("old"))
        .cloned()
        .collect();
    assert_eq!(old, expected, "every original run exactly once, in order");
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), seen.len(), "no run repeated");

    let committed = *store.subscribe().borrow();
    models.wait_for(committed).await.expect("wait");
    assert_eq!(all_runs(&models, RunQuery::default()).len(), 350);
    follower.abort();
}

/// Pages of several listings, to compare two projections.
fn snapshot(models: &ReadModels) -> (Vec<Vec<RunSummary>>, Vec<Vec<WorkflowSummary>>) {
    let run_queries = [
        RunQuery::default(),
        RunQuery {
            limit: 3,
            ..RunQuery::default()
        },
        RunQuery {
            workflow_id: Some("wf_a".into()),
            limit: 2,
            ..RunQuery::default()
        },
        RunQuery {
            status: Some(RunStatus::Completed),
            ..RunQuery::default()
        },
        RunQuery {
            status: Some(RunStatus::Pending),
            workflow_id: Some("wf_b".into()),
            ..RunQuery::default()
        },
    ];
    let runs = run_queries
        .into_iter()
        .map(|q| all_runs(models, q))
        .collect();
    let mut workflows = Vec::new();
    for sort_by in [
        WorkflowSortBy::CreatedAt,
        WorkflowSortBy::UpdatedAt,
        WorkflowSortBy::Name,
    ] {
        for sort_order in [SortOrder::Asc, SortOrder::Desc] {
            workflows.push(all_workflows(
                models,
                WorkflowQuery {
                    sort_by,
                    sort_order,
                    limit: 2,
                    ..WorkflowQuery::default()
                },
            ));
        }
    }
    (runs, workflows)
}

/// Workflows and runs in every status, a corrupt event and an unknown kind.
async fn write_history(store: &Arc<dyn EventStore>, models: Option<&ReadModels>) {
    let workflows = Workflows::new(store.clone());
    for (id, name) in [("wf_a", "Alpha"), ("wf_b", "beta"), ("wf_c", "Gamma")] {
        workflows
            .create(id, &spec(name, "x"))
            .await
            .expect("create");
        if let Some(models) = models {
            models.catch_up().await.expect("catch up");
        }
    }
    workflows
        .set_status("wf_a", WorkflowStatus::Active)
        .await
        .expect("status");
    workflows
        .update("wf_b", &spec("Beta", "y"))
        .await
        .expect("update");
    delete_workflow(&**store, "wf_c").await;
    for i in 0..12 {
        let id = format!("r{i:02}");
        let workflow = ["wf_a", "wf_b"][i % 2];
        let mut events = vec![started(&id, workflow)];
        match i % 4 {
            0 => events.extend([step_started("a"), completed()]),
            1 => events.extend([step_started("a"), failed("no")]),
            2 => events.push(paused("w")),
            _ => {}
        }
        // Split each run's events over two appends.
        let later = events.split_off(1);
        append_run(&**store, &id, &events).await;
        if let Some(models) = models {
            models.catch_up().await.expect("catch up");
        }
        if !later.is_empty() {
            append_run(&**store, &id, &later).await;
        }
    }
    append_raw(&**store, "run-r99", 105, &[1, 2, 3]).await;
    append_raw(&**store, "trigger-t1", 400, b"future").await;
}

async fn delete_workflow(store: &dyn EventStore, id: &str) {
    let event = WorkflowEvent::WorkflowDeleted;
    store
        .append(
            &stream(&format!("workflow-{id}")),
            ExpectedVersion::Any,
            vec![NewEvent::new(event.tag(), event.encode())],
        )
        .await
        .expect("delete");
}

#[tokio::test]
async fn a_rebuild_gives_the_same_pages_as_the_incremental_projection() {
    let store = memory();
    let models = ReadModels::temporary(store.clone()).expect("read models");
    write_history(&store, Some(&models)).await;
    models.catch_up().await.expect("catch up");
    let incremental = snapshot(&models);
    let incremental_dump = models.dump().expect("dump");
    // Twelve runs, and r99 listed as corrupt.
    assert_eq!(incremental.0[0].len(), 13);
    assert_eq!(
        incremental.1[0].len(),
        2,
        "the deleted workflow is not listed"
    );

    let stats = models.rebuild().await.expect("rebuild");
    assert_eq!(
        (stats.runs, stats.workflows, stats.deleted_workflows),
        (13, 2, 1)
    );
    assert_eq!(stats.skipped_events, 1);
    assert_eq!(snapshot(&models), incremental);
    assert_eq!(models.dump().expect("dump"), incremental_dump);

    // And a projection built in one pass by another instance.
    let fresh = ReadModels::temporary(store.clone()).expect("read models");
    fresh.catch_up().await.expect("catch up");
    assert_eq!(fresh.dump().expect("dump"), incremental_dump);

    // The rebuilt projection goes on following the journal.
    append_run(&*store, "r50", &[started("r50", "wf_a")]).await;
    models.catch_up().await.expect("catch up");
    assert_eq!(all_runs(&models, RunQuery::default())[0].run_id, "r50");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reopening_resumes_from_the_checkpoint_without_double_counting() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models_dir = readmodels::dir_in(dir.path());
    let open_store = || -> Arc<dyn EventStore> {
        Arc::new(EmbeddedStore::open(EmbeddedConfig::new(dir.path())).expect("open journal"))
    };
    let store = open_store();
    write_history(&store, None).await;
    let models = ReadModels::open(&models_dir, store.clone()).expect("open");
    let first = models.catch_up().await.expect("catch up");
    let dump = models.dump().expect("dump");
    // More events the read models have not seen when they are dropped.
    for i in 0..30 {
        let id = format!("late{i:02}");
        append_run(&*store, &id, &[started(&id, "wf_b"), step_started("a")]).await;
    }
    drop(models);

    let models = ReadModels::open(&models_dir, store.clone()).expect("reopen");
    assert_eq!(models.checkpoint(), first);
    assert_eq!(models.dump().expect("dump"), dump);
    models.catch_up().await.expect("catch up");
    let stats = models.stats().expect("stats");
    assert_eq!((stats.runs, stats.workflows), (43, 2));
    let running = all_runs(
        &models,
        RunQuery {
            status: Some(RunStatus::Running),
            ..RunQuery::default()
        },
    );
    assert_eq!(running.len(), 30);
    let after_catch_up = models.dump().expect("dump");
    let index_entries = |dump: &[(Vec<u8>, Vec<u8>)], prefix: u8| {
        dump.iter().filter(|(key, _)| key[0] == prefix).count()
    };
    for prefix in [b't', b'w', b's', b'x'] {
        assert_eq!(
            index_entries(&after_catch_up, prefix),
            43,
            "{}",
            prefix as char
        );
    }
    drop(models);
    drop(store);

    // Both reopened from disk: nothing is applied twice, and a rebuild agrees.
    let store = open_store();
    let models = ReadModels::open(&models_dir, store.clone()).expect("reopen");
    assert_eq!(models.dump().expect("dump"), after_catch_up);
    models.catch_up().await.expect("catch up");
    assert_eq!(models.dump().expect("dump"), after_catch_up);
    models.rebuild().await.expect("rebuild");
    assert_eq!(models.dump().expect("dump"), after_catch_up);
    drop(models);
    let models = ReadModels::open(&models_dir, store.clone()).expect("reopen after rebuild");
    assert_eq!(models.dump().expect("dump"), after_catch_up);
}

#[tokio::test]
async fn workflows_are_listed_by_name_status_and_time_with_cursors() {
    let store = memory();
    let models = ReadModels::temporary(store.clone()).expect("read models");
    let workflows = Workflows::new(store.clone());
    let names = [
        ("wf_1", "Daily report"),
        ("wf_2", "weekly REPORT"),
        ("wf_3", "Billing sync"),
        ("wf_4", "alerts"),
        ("wf_5", "Cleanup"),
        ("wf_6", "Reporter bot"),
    ];
    for (id, name) in names {
        workflows
            .create(id, &spec(name, "x"))
            .await
            .expect("create");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    for id in ["wf_2", "wf_3", "wf_6"] {
        workflows
            .set_status(id, WorkflowStatus::Active)
            .await
            .expect("status");
    }
    // wf_1: a new version (its steps changed), updated last.
    workflows
        .update("wf_1", &spec("Daily report", "changed"))
        .await
        .expect("update");
    delete_workflow(&*store, "wf_5").await;
    models.catch_up().await.expect("catch up");

    let listed = |query: WorkflowQuery| -> Vec<String> {
        all_workflows(&models, query)
            .into_iter()
            .map(|w| w.id)
            .collect()
    };
    // Default: newest created first; the deleted one never listed.
    assert_eq!(
        listed(WorkflowQuery::default()),
        ["wf_6", "wf_4", "wf_3", "wf_2", "wf_1"]
    );
    assert_eq!(
        listed(WorkflowQuery {
            q: Some("RePoRt".into()),
            ..WorkflowQuery::default()
        }),
        ["wf_6", "wf_2", "wf_1"]
    );
    assert_eq!(
        listed(WorkflowQuery {
            status: Some(WorkflowStatus::Active),
            sort_by: WorkflowSortBy::Name,
            sort_order: SortOrder::Asc,
            ..WorkflowQuery::default()
        }),
        ["wf_3", "wf_6", "wf_2"]
    );
    assert_eq!(
        listed(WorkflowQuery {
            q: Some("report".into()),
            status: Some(WorkflowStatus::Draft),
            ..WorkflowQuery::default()
        }),
        ["wf_1"]
    );
    for limit in [1, 2, 3, 100] {
        assert_eq!(
            listed(WorkflowQuery {
                sort_by: WorkflowSortBy::Name,
                sort_order: SortOrder::Asc,
                limit,
                ..WorkflowQuery::default()
            }),
            ["wf_4", "wf_3", "wf_1", "wf_6", "wf_2"],
            "limit {limit}"
        );
        assert_eq!(
            listed(WorkflowQuery {
                sort_by: WorkflowSortBy::Name,
                sort_order: SortOrder::Desc,
                limit,
                ..WorkflowQuery::default()
            }),
            ["wf_2", "wf_6", "wf_1", "wf_3", "wf_4"],
            "limit {limit}"
        );
        assert_eq!(
            listed(WorkflowQuery {
                sort_by: WorkflowSortBy::CreatedAt,
                sort_order: SortOrder::Asc,
                limit,
                ..WorkflowQuery::default()
            }),
            ["wf_1", "wf_2", "wf_3", "wf_4", "wf_6"],
            "limit {limit}"
        );
    }
    let by_update = listed(WorkflowQuery {
        sort_by: WorkflowSortBy::UpdatedAt,
        ..WorkflowQuery::default()
    });
    assert_eq!(by_update[0], "wf_1");

    let page = models
        .list_workflows(&WorkflowQuery {
            limit: 2,
            ..WorkflowQuery::default()
        })
        .expect("list");
    assert_eq!(page.items.len(), 2);
    let cursor = page.next_cursor.expect("more pages");
    // A cursor belongs to its sort.
    let other_sort = models.list_workflows(&WorkflowQuery {
        sort_by: WorkflowSortBy::Name,
        cursor: Some(cursor.clone()),
        ..WorkflowQuery::default()
    });
    assert!(matches!(other_sort, Err(ReadModelError::InvalidCursor)));
    let other_order = models.list_workflows(&WorkflowQuery {
        sort_order: SortOrder::Asc,
        cursor: Some(cursor),
        ..WorkflowQuery::default()
    });
    assert!(matches!(other_order, Err(ReadModelError::InvalidCursor)));

    let wf_1 = models.workflow("wf_1").expect("get").expect("wf_1");
    assert_eq!(
        (wf_1.name.as_str(), wf_1.version, wf_1.status),
        ("Daily report", 2, WorkflowStatus::Draft)
    );
    assert_eq!(wf_1.description.as_deref(), Some("Daily report, described"));
    assert!(wf_1.updated_at_us > wf_1.created_at_us);
    assert_eq!(models.workflow("wf_5").expect("get"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_earlier_sled_database_is_replaced_and_rebuilt_from_the_journal() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models_dir = readmodels::dir_in(dir.path());
    // What sled 0.34 leaves in a directory.
    std::fs::create_dir_all(models_dir.join("blobs")).expect("mkdir");
    std::fs::write(models_dir.join("conf"), b"segment_size: 524288").expect("conf");
    std::fs::write(models_dir.join("db"), [0u8; 4096]).expect("db");
    std::fs::write(models_dir.join("snap.0000000000000060"), b"snap").expect("snap");
    let store = memory();
    append_run(&*store, "r1", &[started("r1", "wf")]).await;
    append_run(&*store, "r2", &[started("r2", "wf"), completed()]).await;

    let models = ReadModels::open(&models_dir, store.clone()).expect("open");
    assert_eq!(models.checkpoint(), Position::NONE);
    let rebuild = models.rebuilt_at_open().expect("a rebuild");
    assert_eq!(rebuild.reason, journal::RebuildReason::Format, "{rebuild}");
    models.catch_up().await.expect("catch up");
    assert_eq!(
        run_ids(&all_runs(&models, RunQuery::default())),
        ["r2", "r1"]
    );
    let mut names: Vec<String> = std::fs::read_dir(&models_dir)
        .expect("read dir")
        .map(|entry| {
            entry
                .expect("entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    names.sort();
    assert!(
        names
            .iter()
            .all(|name| name.starts_with("readmodels.sqlite3")),
        "{names:?}"
    );
    models.flush().expect("flush");
    let dump = models.dump().expect("dump");
    drop(models);

    // Its own files are kept: reopening resumes from the checkpoint.
    let models = ReadModels::open(&models_dir, store.clone()).expect("reopen");
    assert_eq!(models.checkpoint(), Position(3));
    assert_eq!(models.dump().expect("dump"), dump);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_models_ahead_of_the_journal_are_rebuilt_and_never_served() {
    let dir = tempfile::tempdir().expect("tempdir");
    let models_dir = readmodels::dir_in(dir.path());
    let longer = memory();
    append_run(&*longer, "r1", &[started("r1", "wf")]).await;
    append_run(&*longer, "r2", &[started("r2", "wf"), completed()]).await;
    {
        let models = ReadModels::open(&models_dir, longer.clone()).expect("open");
        // None beside a journal with events: built from it, and said.
        let rebuild = models.rebuilt_at_open().expect("a rebuild");
        assert_eq!(rebuild.reason, journal::RebuildReason::Missing, "{rebuild}");
        models.catch_up().await.expect("catch up");
        assert_eq!(models.checkpoint(), Position(3));
        models.flush().expect("flush");
    }
    // Another journal, shorter: the rows of r2 are not in it.
    let shorter = memory();
    append_run(&*shorter, "r1", &[started("r1", "wf")]).await;
    assert_eq!(
        readmodels::check(&models_dir, Position(1)),
        journal::Soundness::Unsound {
            reason: "they reach position 3, the journal ends at 1".into()
        }
    );
    let models = ReadModels::open(&models_dir, shorter.clone()).expect("open");
    let rebuild = models.rebuilt_at_open().expect("a rebuild");
    assert_eq!(rebuild.reason, journal::RebuildReason::Ahead, "{rebuild}");
    assert_eq!(models.checkpoint(), Position::NONE);
    assert!(all_runs(&models, RunQuery::default()).is_empty());
    models.catch_up().await.expect("catch up");
    assert_eq!(run_ids(&all_runs(&models, RunQuery::default())), ["r1"]);
    assert_eq!(
        readmodels::check(&models_dir, Position(1)),
        journal::Soundness::Sound { through: 1 }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_see_the_old_data_until_a_rebuild_commits() {
    let store = memory();
    let options = readmodels::Options {
        read_batch: 8,
        ..readmodels::Options::default()
    };
    let models = ReadModels::temporary_with(store.clone(), options).expect("read models");
    for i in 0..600 {
        let id = format!("r{i:04}");
        append_run(&*store, &id, &[started(&id, "wf_a"), step_started("a")]).await;
    }
    models.catch_up().await.expect("catch up");
    let first_page = models.list_runs(&RunQuery::default()).expect("list");
    let rebuild = {
        let models = models.clone();
        tokio::spawn(async move { models.rebuild().await })
    };
    let mut looks = 0;
    while !rebuild.is_finished() {
        let stats = models.stats().expect("stats");
        assert_eq!((stats.runs, stats.checkpoint), (600, 1200), "{stats:?}");
        assert_eq!(
            models.list_runs(&RunQuery::default()).expect("list"),
            first_page
        );
        looks += 1;
        tokio::task::yield_now().await;
    }
    let stats = rebuild.await.expect("join").expect("rebuild");
    assert_eq!((stats.runs, stats.checkpoint), (600, 1200));
    assert!(looks > 0);
}
