//! Every row and every listing index entry of the database as sorted key-value pairs, for
//! tests that compare two projections entry for entry.
//!
//! Index entries are read from the indexes themselves (`INDEXED BY`, covering scans), so a
//! stale or missing entry would show. Keys: `m` name (meta, u64 BE), `r` runId (run row),
//! `t` / `w` workflowId / `s` status / `x` workflowId status, then (startedAt, runId) (the run
//! indexes), `o` runId status wakeAt concurrent (the unfinished runs), `f` id (workflow row), `c` / `u` / `n`, then (createdAt / updatedAt / lowercase
//! name, id) (the workflow indexes, workflows not deleted), `g` triggerId (trigger row), `p` /
//! `q` workflowId / `y` kind, then (createdPosition) (the trigger indexes, triggers not
//! deleted), `k` position (skipped events).
//! Rows are postcard; index entries have empty values.

use rusqlite::{Connection, Row};

use crate::db::{
    run_row, trigger_row, workflow_row, RUN_COLUMNS, TRIGGER_COLUMNS, WORKFLOW_COLUMNS,
};
use crate::error::{Context, ReadModelError};
use crate::keys::{
    push_i64, push_str, run_sort_key, META, RUNS_BY_STATUS, RUNS_BY_TIME, RUNS_BY_WORKFLOW,
    RUNS_BY_WORKFLOW_STATUS, RUNS_UNFINISHED, RUN_ROW, SKIPPED, TRIGGERS_BY_CREATED,
    TRIGGERS_BY_KIND, TRIGGERS_BY_WORKFLOW, TRIGGER_ROW, WORKFLOWS_BY_CREATED, WORKFLOWS_BY_NAME,
    WORKFLOWS_BY_UPDATED, WORKFLOW_ROW,
};
use crate::rows::{encode_row, SkippedEvent};
use crate::RawEntry;

pub(crate) fn dump(conn: &Connection) -> Result<Vec<RawEntry>, ReadModelError> {
    let mut entries = Vec::new();
    collect(conn, "SELECT key, value FROM meta", &mut entries, |row| {
        let mut key = vec![META];
        key.extend_from_slice(row.get::<_, String>(0)?.as_bytes());
        Ok((key, (row.get::<_, i64>(1)? as u64).to_be_bytes().to_vec()))
    })?;
    collect(
        conn,
        &format!("SELECT {RUN_COLUMNS} FROM runs"),
        &mut entries,
        |row| {
            let run = run_row(row)?;
            let mut key = vec![RUN_ROW];
            key.extend_from_slice(run.run_id.as_bytes());
            Ok((key, encode_row(&run)))
        },
    )?;
    collect(
        conn,
        "SELECT started_at, run_id FROM runs INDEXED BY runs_by_time",
        &mut entries,
        |row| {
            let mut key = vec![RUNS_BY_TIME];
            key.extend_from_slice(&run_sort_key(row.get(0)?, &row.get::<_, String>(1)?));
            Ok((key, Vec::new()))
        },
    )?;
    collect(
        conn,
        "SELECT workflow_id, started_at, run_id FROM runs INDEXED BY runs_by_workflow",
        &mut entries,
        |row| {
            let mut key = vec![RUNS_BY_WORKFLOW];
            push_str(&mut key, &row.get::<_, String>(0)?);
            key.extend_from_slice(&run_sort_key(row.get(1)?, &row.get::<_, String>(2)?));
            Ok((key, Vec::new()))
        },
    )?;
    collect(
        conn,
        "SELECT status, started_at, run_id FROM runs INDEXED BY runs_by_status",
        &mut entries,
        |row| {
            let mut key = vec![RUNS_BY_STATUS, row.get(0)?];
            key.extend_from_slice(&run_sort_key(row.get(1)?, &row.get::<_, String>(2)?));
            Ok((key, Vec::new()))
        },
    )?;
    collect(
        conn,
        "SELECT workflow_id, status, started_at, run_id \
         FROM runs INDEXED BY runs_by_workflow_status",
        &mut entries,
        |row| {
            let mut key = vec![RUNS_BY_WORKFLOW_STATUS];
            push_str(&mut key, &row.get::<_, String>(0)?);
            key.push(row.get(1)?);
            key.extend_from_slice(&run_sort_key(row.get(2)?, &row.get::<_, String>(3)?));
            Ok((key, Vec::new()))
        },
    )?;
    collect(
        conn,
        "SELECT run_id, status, wake_at, concurrent FROM runs INDEXED BY runs_unfinished \
         WHERE status IN (1, 2, 3, 4, 8)",
        &mut entries,
        |row| {
            let mut key = vec![RUNS_UNFINISHED];
            push_str(&mut key, &row.get::<_, String>(0)?);
            key.push(row.get(1)?);
            let wake_at: Option<i64> = row.get(2)?;
            key.push(u8::from(wake_at.is_some()));
            push_i64(&mut key, wake_at.unwrap_or(0));
            key.push(row.get(3)?);
            Ok((key, Vec::new()))
        },
    )?;
    collect(
        conn,
        &format!("SELECT {WORKFLOW_COLUMNS} FROM workflows"),
        &mut entries,
        |row| {
            let workflow = workflow_row(row)?;
            let mut key = vec![WORKFLOW_ROW];
            key.extend_from_slice(workflow.id.as_bytes());
            Ok((key, encode_row(&workflow)))
        },
    )?;
    for (prefix, column, index) in [
        (WORKFLOWS_BY_CREATED, "created_at", "workflows_by_created"),
        (WORKFLOWS_BY_UPDATED, "updated_at", "workflows_by_updated"),
    ] {
        collect(
            conn,
            &format!("SELECT {column}, id FROM workflows INDEXED BY {index} WHERE deleted = 0"),
            &mut entries,
            |row| {
                let mut key = vec![prefix];
                push_i64(&mut key, row.get(0)?);
                push_str(&mut key, &row.get::<_, String>(1)?);
                Ok((key, Vec::new()))
            },
        )?;
    }
    collect(
        conn,
        "SELECT name_lower, id FROM workflows INDEXED BY workflows_by_name WHERE deleted = 0",
        &mut entries,
        |row| {
            let mut key = vec![WORKFLOWS_BY_NAME];
            push_str(&mut key, &row.get::<_, String>(0)?);
            push_str(&mut key, &row.get::<_, String>(1)?);
            Ok((key, Vec::new()))
        },
    )?;
    collect(
        conn,
        &format!("SELECT {TRIGGER_COLUMNS} FROM triggers"),
        &mut entries,
        |row| {
            let trigger = trigger_row(row)?;
            let mut key = vec![TRIGGER_ROW];
            key.extend_from_slice(trigger.trigger_id.as_bytes());
            Ok((key, encode_row(&trigger)))
        },
    )?;
    collect(
        conn,
        "SELECT created_position FROM triggers INDEXED BY triggers_by_created WHERE deleted = 0",
        &mut entries,
        |row| {
            let mut key = vec![TRIGGERS_BY_CREATED];
            push_i64(&mut key, row.get(0)?);
            Ok((key, Vec::new()))
        },
    )?;
    for (prefix, column, index) in [
        (TRIGGERS_BY_WORKFLOW, "workflow_id", "triggers_by_workflow"),
        (TRIGGERS_BY_KIND, "kind", "triggers_by_kind"),
    ] {
        collect(
            conn,
            &format!(
                "SELECT {column}, created_position FROM triggers INDEXED BY {index} \
                 WHERE deleted = 0"
            ),
            &mut entries,
            |row| {
                let mut key = vec![prefix];
                push_str(&mut key, &row.get::<_, String>(0)?);
                push_i64(&mut key, row.get(1)?);
                Ok((key, Vec::new()))
            },
        )?;
    }
    collect(
        conn,
        "SELECT position, stream, event_type, reason FROM skipped",
        &mut entries,
        |row| {
            let skipped = SkippedEvent {
                position: row.get::<_, i64>(0)? as u64,
                stream: row.get(1)?,
                event_type: row.get(2)?,
                reason: row.get(3)?,
            };
            let mut key = vec![SKIPPED];
            key.extend_from_slice(&skipped.position.to_be_bytes());
            Ok((key, encode_row(&skipped)))
        },
    )?;
    entries.sort();
    Ok(entries)
}

fn collect(
    conn: &Connection,
    sql: &str,
    entries: &mut Vec<RawEntry>,
    entry: impl FnMut(&Row<'_>) -> rusqlite::Result<RawEntry>,
) -> Result<(), ReadModelError> {
    let mut statement = conn.prepare(sql).context("dumping")?;
    for item in statement.query_map([], entry).context("dumping")? {
        entries.push(item.context("dumping")?);
    }
    Ok(())
}
