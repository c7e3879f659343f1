//! Listings: keyset pagination over one index, resumed after a cursor.

use chrono::{DateTime, Utc};
use engine::definition::WorkflowStatus;
use engine::run::RunStatus;
use rusqlite::types::Value;
use rusqlite::{params_from_iter, Connection};

use crate::db::{
    run_row, trigger_row, workflow_row, RUN_COLUMNS, TRIGGER_COLUMNS, WORKFLOW_COLUMNS,
};
use crate::error::{Context, ReadModelError};
use crate::keys::{
    decode_cursor, encode_cursor, push_i64, push_str, run_sort_key, take_i64, take_str,
    workflow_sort_value, TRIGGERS_BY_CREATED, WORKFLOWS_BY_CREATED, WORKFLOWS_BY_NAME,
    WORKFLOWS_BY_UPDATED,
};
use crate::rows::{
    run_status_code, workflow_status_code, Page, RunSummary, TriggerSummary, WorkflowSummary,
};

/// Default page size.
pub const LIMIT_DEFAULT: usize = 20;
/// Largest page size.
pub const LIMIT_MAX: usize = 100;
/// Most index entries one workflow page looks at when filters (`q`, `status`) reject
/// entries; past it the page ends early, with a cursor to go on from.
pub const WORKFLOW_SCAN_MAX: usize = 10_000;

const RUN_CURSOR: u8 = b'r';

/// Which runs to list, newest first (by startedAt, then runId, both descending).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunQuery {
    pub workflow_id: Option<String>,
    pub status: Option<RunStatus>,
    /// Runs started at or after this time.
    pub from: Option<DateTime<Utc>>,
    /// Runs started before this time (exclusive, so adjacent windows do not overlap).
    pub to: Option<DateTime<Utc>>,
    /// 1 to [`LIMIT_MAX`].
    pub limit: usize,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

impl Default for RunQuery {
    fn default() -> Self {
        RunQuery {
            workflow_id: None,
            status: None,
            from: None,
            to: None,
            limit: LIMIT_DEFAULT,
            cursor: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum WorkflowSortBy {
    #[default]
    CreatedAt,
    UpdatedAt,
    /// Case-insensitive.
    Name,
}

impl WorkflowSortBy {
    /// `createdAt`, `updatedAt` or `name` (the API's `sortBy`).
    pub fn parse(name: &str) -> Option<WorkflowSortBy> {
        match name {
            "createdAt" => Some(WorkflowSortBy::CreatedAt),
            "updatedAt" => Some(WorkflowSortBy::UpdatedAt),
            "name" => Some(WorkflowSortBy::Name),
            _ => None,
        }
    }

    fn index(self) -> u8 {
        match self {
            WorkflowSortBy::CreatedAt => WORKFLOWS_BY_CREATED,
            WorkflowSortBy::UpdatedAt => WORKFLOWS_BY_UPDATED,
            WorkflowSortBy::Name => WORKFLOWS_BY_NAME,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortOrder {
    Asc,
    #[default]
    Desc,
}

impl SortOrder {
    /// `asc` or `desc`.
    pub fn parse(name: &str) -> Option<SortOrder> {
        match name {
            "asc" => Some(SortOrder::Asc),
            "desc" => Some(SortOrder::Desc),
            _ => None,
        }
    }
}

/// Which workflows to list (deleted ones never are). Ties in the sort value go by id, in the
/// same direction.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkflowQuery {
    /// Case-insensitive substring of the name.
    pub q: Option<String>,
    pub status: Option<WorkflowStatus>,
    pub sort_by: WorkflowSortBy,
    pub sort_order: SortOrder,
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Default for WorkflowQuery {
    fn default() -> Self {
        WorkflowQuery {
            q: None,
            status: None,
            sort_by: WorkflowSortBy::default(),
            sort_order: SortOrder::default(),
            limit: LIMIT_DEFAULT,
            cursor: None,
        }
    }
}

/// Which triggers to list (deleted ones never are), in creation order (the journal position
/// of the `TriggerUpserted` that created each). Empty lists accept any value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TriggerQuery {
    pub workflow_id: Option<String>,
    /// The spec's `type`.
    pub kind: Option<String>,
    /// Connection ids; a trigger without one passes only when the list is empty.
    pub connection_ids: Vec<String>,
    /// Slugs or trigger names.
    pub names: Vec<String>,
    pub ids: Vec<String>,
    /// Disabled triggers too (enabled ones only otherwise).
    pub show_disabled: bool,
    pub limit: usize,
    pub cursor: Option<String>,
}

impl Default for TriggerQuery {
    fn default() -> Self {
        TriggerQuery {
            workflow_id: None,
            kind: None,
            connection_ids: Vec::new(),
            names: Vec::new(),
            ids: Vec::new(),
            show_disabled: false,
            limit: LIMIT_DEFAULT,
            cursor: None,
        }
    }
}

fn check_limit(limit: usize) -> Result<(), ReadModelError> {
    if (1..=LIMIT_MAX).contains(&limit) {
        Ok(())
    } else {
        Err(ReadModelError::InvalidQuery(format!(
            "limit must be 1 to {LIMIT_MAX}, not {limit}"
        )))
    }
}

/// Scans the one index that holds exactly the runs of the filter (all runs, by workflow, by
/// status, by workflow and status), between the time bounds and below the cursor, newest
/// first: `(started_at, run_id) < (cursor)` ordered by both descending, `limit + 1` rows (the
/// one past the page says there is a next page). A run inserted meanwhile starts no earlier
/// than every run already listed (the journal's timestamps never go back), so it sorts
/// before the cursor (or, in the cursor run's microsecond with a smaller id, just after it,
/// and shows up on a later page): it never displaces or repeats a run of the pages still to
/// come.
pub(crate) fn list_runs(
    conn: &Connection,
    query: &RunQuery,
) -> Result<Page<RunSummary>, ReadModelError> {
    check_limit(query.limit)?;
    let (sql, values) = runs_sql(query)?;
    let mut statement = conn.prepare_cached(&sql).context("listing runs")?;
    let mut rows = statement
        .query_map(params_from_iter(values), run_row)
        .context("listing runs")?
        .collect::<Result<Vec<_>, _>>()
        .context("listing runs")?;
    let more = rows.len() > query.limit;
    rows.truncate(query.limit);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(encode_cursor(
            RUN_CURSOR,
            &run_sort_key(last.started_at, &last.run_id),
        )),
        _ => None,
    };
    Ok(Page {
        items: rows
            .into_iter()
            .map(RunSummary::try_from)
            .collect::<Result<_, _>>()?,
        next_cursor,
    })
}

/// The statement of a run listing and its parameters.
fn runs_sql(query: &RunQuery) -> Result<(String, Vec<Value>), ReadModelError> {
    let after = query
        .cursor
        .as_ref()
        .map(|cursor| {
            let sort_key = decode_cursor(RUN_CURSOR, cursor)?;
            parse_run_sort_key(&sort_key)
        })
        .transpose()?;
    let index = match (&query.workflow_id, &query.status) {
        (None, None) => "runs_by_time",
        (Some(_), None) => "runs_by_workflow",
        (None, Some(_)) => "runs_by_status",
        (Some(_), Some(_)) => "runs_by_workflow_status",
    };
    let mut conditions = Vec::new();
    let mut values = Vec::new();
    if let Some(workflow_id) = &query.workflow_id {
        conditions.push("workflow_id = ?");
        values.push(Value::Text(workflow_id.clone()));
    }
    if let Some(status) = query.status {
        conditions.push("status = ?");
        values.push(Value::Integer(i64::from(run_status_code(status))));
    }
    if let Some(from) = &query.from {
        conditions.push("started_at >= ?");
        values.push(Value::Integer(from.timestamp_micros()));
    }
    // One upper bound, the tighter of `to` and the cursor, so SQLite starts the scan there
    // (given both, it would start at `to` and filter its way down to the cursor).
    let to = query.to.as_ref().map(DateTime::timestamp_micros);
    match (after, to) {
        (Some((started_at, run_id)), to) if to.is_none_or(|to| started_at < to) => {
            conditions.push("(started_at, run_id) < (?, ?)");
            values.push(Value::Integer(started_at));
            values.push(Value::Text(run_id));
        }
        // A cursor at or past `to` bounds nothing more.
        (_, Some(to)) => {
            conditions.push("started_at < ?");
            values.push(Value::Integer(to));
        }
        (_, None) => {}
    }
    let filter = if conditions.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", conditions.join(" AND "))
    };
    let sql = format!(
        "SELECT {RUN_COLUMNS} FROM runs INDEXED BY {index} {filter} \
         ORDER BY started_at DESC, run_id DESC LIMIT ?"
    );
    values.push(Value::Integer(limit_plus_one(query.limit)));
    Ok((sql, values))
}

/// Up to `limit` unfinished runs (pending, running, sleeping, paused, corrupt) with ids after
/// `after`, in id order, from the `runs_unfinished` index alone (it covers every column read):
/// (run id, status code, wake_at, concurrent).
pub(crate) fn unfinished_runs(
    conn: &Connection,
    after: Option<&str>,
    limit: usize,
) -> Result<Vec<UnfinishedRow>, ReadModelError> {
    let mut statement = conn
        .prepare_cached(UNFINISHED_SQL)
        .context("listing unfinished runs")?;
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    let rows = statement
        .query_map(rusqlite::params![after.unwrap_or(""), limit], |row| {
            Ok(UnfinishedRow {
                run_id: row.get(0)?,
                status: row.get(1)?,
                wake_at: row.get(2)?,
                concurrent: row.get(3)?,
            })
        })
        .context("listing unfinished runs")?;
    rows.collect::<Result<_, _>>()
        .context("listing unfinished runs")
}

/// The page of [`unfinished_runs`]: a search of the partial index `runs_unfinished` (its
/// condition repeated, so SQLite may use it), from `?1` on, covering every column read.
const UNFINISHED_SQL: &str = "SELECT run_id, status, wake_at, concurrent \
     FROM runs INDEXED BY runs_unfinished \
     WHERE status IN (1, 2, 3, 4, 8) AND run_id > ?1 ORDER BY run_id LIMIT ?2";

/// An entry of the `runs_unfinished` index.
pub(crate) struct UnfinishedRow {
    pub run_id: String,
    pub status: u8,
    pub wake_at: Option<i64>,
    pub concurrent: bool,
}

fn limit_plus_one(limit: usize) -> i64 {
    i64::try_from(limit).unwrap_or(i64::MAX).saturating_add(1)
}

/// Reads a run sort key (startedAt, runId).
fn parse_run_sort_key(sort_key: &[u8]) -> Result<(i64, String), ReadModelError> {
    take_i64(sort_key)
        .and_then(|(started_at, rest)| {
            take_str(rest).map(|(run_id, rest)| (started_at, run_id, rest))
        })
        .filter(|(_, _, rest)| rest.is_empty())
        .map(|(started_at, run_id, _)| (started_at, run_id))
        .ok_or(ReadModelError::InvalidCursor)
}

/// Walks the index of the sort order from the cursor on, keeping the workflows the filters
/// accept; looks at no more than [`WORKFLOW_SCAN_MAX`] entries per page.
pub(crate) fn list_workflows(
    conn: &Connection,
    query: &WorkflowQuery,
) -> Result<Page<WorkflowSummary>, ReadModelError> {
    check_limit(query.limit)?;
    let index = query.sort_by.index();
    let cursor_kind = match query.sort_order {
        SortOrder::Asc => index,
        SortOrder::Desc => index.to_ascii_uppercase(),
    };
    let (sql, values) = workflows_sql(query, cursor_kind)?;
    let mut statement = conn.prepare_cached(&sql).context("listing workflows")?;
    let rows = statement
        .query_map(params_from_iter(values), workflow_row)
        .context("listing workflows")?;
    let q = query.q.as_ref().map(|q| q.to_lowercase());
    let status = query.status.map(workflow_status_code);
    let mut items = Vec::new();
    let mut last_returned = Vec::new();
    let mut last_scanned = Vec::new();
    let mut next_from = None;
    for (scanned, row) in rows.enumerate() {
        if scanned == WORKFLOW_SCAN_MAX {
            // A short page: the cursor resumes after the last entry looked at.
            next_from = Some(last_scanned);
            break;
        }
        let row = row.context("listing workflows")?;
        let mut sort_key = workflow_sort_value(index, &row);
        push_str(&mut sort_key, &row.id);
        last_scanned.clone_from(&sort_key);
        if status.is_some_and(|s| s != row.status)
            || q.as_ref()
                .is_some_and(|q| !row.name.to_lowercase().contains(q.as_str()))
        {
            continue;
        }
        if items.len() == query.limit {
            next_from = Some(last_returned);
            break;
        }
        last_returned = sort_key;
        items.push(WorkflowSummary::try_from(row)?);
    }
    Ok(Page {
        items,
        next_cursor: next_from.map(|key| encode_cursor(cursor_kind, &key)),
    })
}

/// The statement of a workflow listing (cursors of `cursor_kind`) and its parameters.
fn workflows_sql(
    query: &WorkflowQuery,
    cursor_kind: u8,
) -> Result<(String, Vec<Value>), ReadModelError> {
    let index = query.sort_by.index();
    let after = query
        .cursor
        .as_ref()
        .map(|cursor| {
            let sort_key = decode_cursor(cursor_kind, cursor)?;
            parse_workflow_sort_key(index, &sort_key)
        })
        .transpose()?;
    let (index_name, column) = match query.sort_by {
        WorkflowSortBy::CreatedAt => ("workflows_by_created", "created_at"),
        WorkflowSortBy::UpdatedAt => ("workflows_by_updated", "updated_at"),
        WorkflowSortBy::Name => ("workflows_by_name", "name_lower"),
    };
    let (beyond, direction) = match query.sort_order {
        SortOrder::Asc => (">", "ASC"),
        SortOrder::Desc => ("<", "DESC"),
    };
    let mut values = Vec::new();
    let bound = match after {
        Some((value, id)) => {
            values.push(value);
            values.push(Value::Text(id));
            format!("AND ({column}, id) {beyond} (?, ?)")
        }
        None => String::new(),
    };
    // `deleted = 0` lets SQLite use the partial index (deleted workflows are not in it).
    let sql = format!(
        "SELECT {WORKFLOW_COLUMNS} FROM workflows INDEXED BY {index_name} \
         WHERE deleted = 0 {bound} ORDER BY {column} {direction}, id {direction} LIMIT ?"
    );
    values.push(Value::Integer(limit_plus_one(WORKFLOW_SCAN_MAX)));
    Ok((sql, values))
}

/// Reads a workflow sort key (sort value, id) of `index`: the sort value as SQLite compares
/// it, and the id.
fn parse_workflow_sort_key(index: u8, sort_key: &[u8]) -> Result<(Value, String), ReadModelError> {
    let value_and_rest = match index {
        WORKFLOWS_BY_NAME => take_str(sort_key).map(|(name, rest)| (Value::Text(name), rest)),
        _ => take_i64(sort_key).map(|(time, rest)| (Value::Integer(time), rest)),
    };
    value_and_rest
        .and_then(|(value, rest)| take_str(rest).map(|(id, rest)| (value, id, rest)))
        .filter(|(_, _, rest)| rest.is_empty())
        .map(|(value, id, _)| (value, id))
        .ok_or(ReadModelError::InvalidCursor)
}

/// Searches the index of the filter (by workflow, by kind, or all triggers) in creation
/// order after the cursor: `created_position > (cursor)`, `limit + 1` rows, the other
/// filters on the rows. A trigger created meanwhile has a later position than every
/// trigger already listed, so it shows up on a later page and never displaces or repeats
/// one; a trigger deleted meanwhile just leaves the pages still to come.
pub(crate) fn list_triggers(
    conn: &Connection,
    query: &TriggerQuery,
) -> Result<Page<TriggerSummary>, ReadModelError> {
    check_limit(query.limit)?;
    let (sql, values) = triggers_sql(query)?;
    let mut statement = conn.prepare_cached(&sql).context("listing triggers")?;
    let mut rows = statement
        .query_map(params_from_iter(values), trigger_row)
        .context("listing triggers")?
        .collect::<Result<Vec<_>, _>>()
        .context("listing triggers")?;
    let more = rows.len() > query.limit;
    rows.truncate(query.limit);
    let next_cursor = match rows.last() {
        Some(last) if more => Some(encode_cursor(
            TRIGGERS_BY_CREATED,
            &trigger_sort_key(last.created_position),
        )),
        _ => None,
    };
    Ok(Page {
        items: rows.into_iter().map(TriggerSummary::from).collect(),
        next_cursor,
    })
}

pub(crate) fn trigger_sort_key(created_position: u64) -> Vec<u8> {
    let mut key = Vec::with_capacity(8);
    push_i64(&mut key, created_position as i64);
    key
}

/// The statement of a trigger listing and its parameters.
fn triggers_sql(query: &TriggerQuery) -> Result<(String, Vec<Value>), ReadModelError> {
    let after = query
        .cursor
        .as_ref()
        .map(|cursor| {
            let sort_key = decode_cursor(TRIGGERS_BY_CREATED, cursor)?;
            take_i64(&sort_key)
                .filter(|(position, rest)| rest.is_empty() && *position >= 0)
                .map(|(position, _)| position)
                .ok_or(ReadModelError::InvalidCursor)
        })
        .transpose()?;
    let index = match (&query.workflow_id, &query.kind) {
        (Some(_), _) => "triggers_by_workflow",
        (None, Some(_)) => "triggers_by_kind",
        (None, None) => "triggers_by_created",
    };
    // `deleted = 0` lets SQLite use the partial indexes (deleted triggers are not in them).
    let mut conditions = vec!["deleted = 0".to_owned()];
    let mut values = Vec::new();
    if let Some(workflow_id) = &query.workflow_id {
        conditions.push("workflow_id = ?".to_owned());
        values.push(Value::Text(workflow_id.clone()));
    }
    if let Some(kind) = &query.kind {
        conditions.push("kind = ?".to_owned());
        values.push(Value::Text(kind.clone()));
    }
    if let Some(position) = after {
        conditions.push("created_position > ?".to_owned());
        values.push(Value::Integer(position));
    }
    if !query.show_disabled {
        conditions.push("enabled = 1".to_owned());
    }
    let one_of = |column: &str, list: &[String], values: &mut Vec<Value>| {
        values.extend(list.iter().cloned().map(Value::Text));
        format!("{column} IN ({})", vec!["?"; list.len()].join(", "))
    };
    if !query.connection_ids.is_empty() {
        let condition = one_of("connection_id", &query.connection_ids, &mut values);
        conditions.push(condition);
    }
    if !query.ids.is_empty() {
        let condition = one_of("trigger_id", &query.ids, &mut values);
        conditions.push(condition);
    }
    if !query.names.is_empty() {
        let slugs = one_of("slug", &query.names, &mut values);
        let names = one_of("trigger_name", &query.names, &mut values);
        conditions.push(format!("({slugs} OR {names})"));
    }
    let sql = format!(
        "SELECT {TRIGGER_COLUMNS} FROM triggers INDEXED BY {index} WHERE {} \
         ORDER BY created_position LIMIT ?",
        conditions.join(" AND ")
    );
    values.push(Value::Integer(limit_plus_one(query.limit)));
    Ok((sql, values))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::run_sort_key;

    /// Every listing is a search of its index in the index's order: no full scan, no sort.
    #[test]
    fn listings_search_one_index_in_order() {
        let dir = tempfile::tempdir().expect("tempdir");
        let (db, _) =
            crate::db::Db::open(&dir.path().join("x.sqlite3"), &crate::Options::default())
                .expect("open");
        let plan = |sql: &str, values: Vec<Value>| -> String {
            let mut statement = db
                .writer
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .expect("explain");
            let rows = statement
                .query_map(params_from_iter(values), |row| row.get::<_, String>(3))
                .expect("plan");
            rows.map(|r| r.expect("row")).collect::<Vec<_>>().join("; ")
        };
        let cursor = encode_cursor(RUN_CURSOR, &run_sort_key(5, "r1"));
        let time = DateTime::from_timestamp_micros(1).expect("time");
        for (workflow_id, status, index) in [
            (None, None, "runs_by_time"),
            (Some("wf".to_owned()), None, "runs_by_workflow"),
            (None, Some(RunStatus::Running), "runs_by_status"),
            (
                Some("wf".to_owned()),
                Some(RunStatus::Running),
                "runs_by_workflow_status",
            ),
        ] {
            let later = DateTime::from_timestamp_micros(9).expect("time");
            for (from, to, cursor) in [
                (None, None, None),
                (Some(time), None, None),
                (None, Some(later), None),
                (Some(time), Some(later), None),
                (None, None, Some(cursor.clone())),
                (Some(time), Some(later), Some(cursor.clone())),
            ] {
                let query = RunQuery {
                    workflow_id: workflow_id.clone(),
                    status,
                    from,
                    to,
                    cursor,
                    ..RunQuery::default()
                };
                let (sql, values) = runs_sql(&query).expect("sql");
                let plan = plan(&sql, values);
                assert!(
                    plan.contains(&format!("USING COVERING INDEX {index}"))
                        || plan.contains(&format!("USING INDEX {index}")),
                    "{query:?}: {plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "{query:?}: {plan}");
                if query.cursor.is_some() {
                    assert!(plan.contains("(started_at,run_id)<(?,?)"), "{plan}");
                }
            }
        }
        for sort_by in [
            WorkflowSortBy::CreatedAt,
            WorkflowSortBy::UpdatedAt,
            WorkflowSortBy::Name,
        ] {
            for sort_order in [SortOrder::Asc, SortOrder::Desc] {
                let query = WorkflowQuery {
                    sort_by,
                    sort_order,
                    ..WorkflowQuery::default()
                };
                let kind = match sort_order {
                    SortOrder::Asc => sort_by.index(),
                    SortOrder::Desc => sort_by.index().to_ascii_uppercase(),
                };
                let mut sort_key = match sort_by {
                    WorkflowSortBy::Name => {
                        let mut key = Vec::new();
                        push_str(&mut key, "name");
                        key
                    }
                    _ => run_sort_key(7, "").split_off(0)[..8].to_vec(),
                };
                push_str(&mut sort_key, "wf");
                for cursor in [None, Some(encode_cursor(kind, &sort_key))] {
                    let query = WorkflowQuery {
                        cursor,
                        ..query.clone()
                    };
                    let (sql, values) = workflows_sql(&query, kind).expect("sql");
                    let plan = plan(&sql, values);
                    assert!(plan.contains("INDEX workflows_by_"), "{query:?}: {plan}");
                    assert!(!plan.contains("TEMP B-TREE"), "{query:?}: {plan}");
                }
            }
        }
        let cursor = encode_cursor(TRIGGERS_BY_CREATED, &trigger_sort_key(7));
        for (workflow_id, kind, index) in [
            (None, None, "triggers_by_created"),
            (Some("wf".to_owned()), None, "triggers_by_workflow"),
            (None, Some("schedule".to_owned()), "triggers_by_kind"),
            (
                Some("wf".to_owned()),
                Some("schedule".to_owned()),
                "triggers_by_workflow",
            ),
        ] {
            for cursor in [None, Some(cursor.clone())] {
                let query = TriggerQuery {
                    workflow_id: workflow_id.clone(),
                    kind: kind.clone(),
                    names: vec!["a".into(), "b".into()],
                    connection_ids: vec!["c".into()],
                    cursor,
                    ..TriggerQuery::default()
                };
                let (sql, values) = triggers_sql(&query).expect("sql");
                let plan = plan(&sql, values);
                assert!(
                    plan.contains(&format!("INDEX {index}")),
                    "{query:?}: {plan}"
                );
                assert!(!plan.contains("TEMP B-TREE"), "{query:?}: {plan}");
            }
        }
        let plan = plan(
            UNFINISHED_SQL,
            vec![Value::Text("run_x".into()), Value::Integer(10)],
        );
        assert!(
            plan.contains("USING COVERING INDEX runs_unfinished (run_id>?)"),
            "{plan}"
        );
        assert!(!plan.contains("TEMP B-TREE"), "{plan}");
    }
}
