//! Listings over the data tree: range scans of one index, resumed after a cursor.

use std::ops::Bound;

use chrono::{DateTime, Utc};
use engine::definition::WorkflowStatus;
use engine::run::RunStatus;

use crate::apply::{
    row_key, run_index_prefix, workflow_sort_value, RUN_ROW, WORKFLOWS_BY_CREATED,
    WORKFLOWS_BY_NAME, WORKFLOWS_BY_UPDATED, WORKFLOW_ROW,
};
use crate::error::ReadModelError;
use crate::keys::{
    decode_cursor, encode_cursor, prefix_end, push_i64, push_str, take_i64, take_str,
};
use crate::rows::{
    decode_row, run_status_code, workflow_status_code, Page, RunRow, RunSummary, WorkflowRow,
    WorkflowSummary,
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

fn check_limit(limit: usize) -> Result<(), ReadModelError> {
    if (1..=LIMIT_MAX).contains(&limit) {
        Ok(())
    } else {
        Err(ReadModelError::InvalidQuery(format!(
            "limit must be 1 to {LIMIT_MAX}, not {limit}"
        )))
    }
}

fn storage(error: sled::Error) -> ReadModelError {
    ReadModelError::storage("reading a listing", error)
}

pub(crate) fn get_run(tree: &sled::Tree, run_id: &str) -> Result<Option<RunRow>, ReadModelError> {
    tree.get(row_key(RUN_ROW, run_id))
        .map_err(storage)?
        .map(|bytes| decode_row(&format!("run {run_id}"), &bytes))
        .transpose()
}

pub(crate) fn get_workflow(
    tree: &sled::Tree,
    workflow_id: &str,
) -> Result<Option<WorkflowRow>, ReadModelError> {
    tree.get(row_key(WORKFLOW_ROW, workflow_id))
        .map_err(storage)?
        .map(|bytes| decode_row(&format!("workflow {workflow_id}"), &bytes))
        .transpose()
}

/// Scans the one index that holds exactly the runs of the filter (all runs, by workflow, by
/// status, by workflow and status), between the time bounds and below the cursor, newest
/// first. A run inserted meanwhile starts no earlier than every run already listed (the
/// journal's timestamps never go back), so it sorts before the cursor (or, in the cursor
/// run's microsecond with a smaller id, just after it, and shows up on a later page): it
/// never displaces or repeats a run of the pages still to come.
pub(crate) fn list_runs(
    tree: &sled::Tree,
    query: &RunQuery,
) -> Result<Page<RunSummary>, ReadModelError> {
    check_limit(query.limit)?;
    let status = query.status.map(run_status_code);
    let prefix = run_index_prefix(query.workflow_id.as_deref(), status);
    let with_prefix = |sort_key: &[u8]| {
        let mut key = prefix.clone();
        key.extend_from_slice(sort_key);
        key
    };
    let time_key = |time: &DateTime<Utc>| {
        let mut key = Vec::new();
        push_i64(&mut key, time.timestamp_micros());
        with_prefix(&key)
    };
    let lower = query.from.as_ref().map_or_else(|| prefix.clone(), time_key);
    let mut upper = match &query.to {
        Some(to) => Some(time_key(to)),
        None => prefix_end(&prefix),
    };
    if let Some(cursor) = &query.cursor {
        let sort_key = decode_cursor(RUN_CURSOR, cursor)?;
        check_run_sort_key(&sort_key)?;
        let after = with_prefix(&sort_key);
        upper = Some(match upper {
            Some(upper) if upper < after => upper,
            _ => after,
        });
    }
    if upper.as_ref().is_some_and(|upper| *upper <= lower) {
        return Ok(Page {
            items: Vec::new(),
            next_cursor: None,
        });
    }
    let upper = upper.map_or(Bound::Unbounded, Bound::Excluded);
    let mut items = Vec::new();
    let mut last_key = Vec::new();
    let mut more = false;
    for entry in tree.range((Bound::Included(lower), upper)).rev() {
        let (key, _) = entry.map_err(storage)?;
        let sort_key = &key[prefix.len()..];
        let run_id = check_run_sort_key(sort_key)?;
        let Some(row) = get_run(tree, &run_id)? else {
            continue;
        };
        // The index and the row are written in one batch; this guards against a reader
        // that saw the index before a batch and the row after it.
        if status.is_some_and(|s| s != row.status) {
            continue;
        }
        if items.len() == query.limit {
            more = true;
            break;
        }
        last_key = sort_key.to_vec();
        items.push(RunSummary::from(row));
    }
    Ok(Page {
        items,
        next_cursor: more.then(|| encode_cursor(RUN_CURSOR, &last_key)),
    })
}

/// Checks a run sort key (startedAt, runId) and returns the run id.
fn check_run_sort_key(sort_key: &[u8]) -> Result<String, ReadModelError> {
    take_i64(sort_key)
        .and_then(|(_, rest)| take_str(rest))
        .filter(|(_, rest)| rest.is_empty())
        .map(|(run_id, _)| run_id)
        .ok_or(ReadModelError::InvalidCursor)
}

/// Scans the index of the sort order from the cursor on, keeping the workflows the filters
/// accept.
pub(crate) fn list_workflows(
    tree: &sled::Tree,
    query: &WorkflowQuery,
) -> Result<Page<WorkflowSummary>, ReadModelError> {
    check_limit(query.limit)?;
    let index = query.sort_by.index();
    let cursor_kind = match query.sort_order {
        SortOrder::Asc => index,
        SortOrder::Desc => index.to_ascii_uppercase(),
    };
    let prefix = vec![index];
    let after = match &query.cursor {
        Some(cursor) => {
            let sort_key = decode_cursor(cursor_kind, cursor)?;
            check_workflow_sort_key(index, &sort_key)?;
            let mut key = prefix.clone();
            key.extend_from_slice(&sort_key);
            Some(key)
        }
        None => None,
    };
    let end = prefix_end(&prefix).map_or(Bound::Unbounded, Bound::Excluded);
    let entries: Box<dyn Iterator<Item = sled::Result<(sled::IVec, sled::IVec)>>> =
        match (query.sort_order, after) {
            (SortOrder::Asc, Some(after)) => Box::new(tree.range((Bound::Excluded(after), end))),
            (SortOrder::Asc, None) => Box::new(tree.range((Bound::Included(prefix.clone()), end))),
            (SortOrder::Desc, Some(after)) => Box::new(
                tree.range((Bound::Included(prefix.clone()), Bound::Excluded(after)))
                    .rev(),
            ),
            (SortOrder::Desc, None) => {
                Box::new(tree.range((Bound::Included(prefix.clone()), end)).rev())
            }
        };
    let q = query.q.as_ref().map(|q| q.to_lowercase());
    let status = query.status.map(workflow_status_code);
    let mut items = Vec::new();
    let mut last_returned = Vec::new();
    let mut last_scanned = Vec::new();
    let mut next_from = None;
    for (scanned, entry) in entries.enumerate() {
        if scanned == WORKFLOW_SCAN_MAX {
            // A short page: the cursor resumes after the last entry looked at.
            next_from = Some(last_scanned);
            break;
        }
        let (key, _) = entry.map_err(storage)?;
        let sort_key = &key[prefix.len()..];
        last_scanned = sort_key.to_vec();
        let id = check_workflow_sort_key(index, sort_key)?;
        let Some(row) = get_workflow(tree, &id)? else {
            continue;
        };
        // The entry must still be the row's (a guard against a reader that saw the index
        // before a batch and the row after it).
        let mut expected = workflow_sort_value(index, &row);
        push_str(&mut expected, &row.id);
        if row.deleted
            || expected[..] != sort_key[..]
            || status.is_some_and(|s| s != row.status)
            || q.as_ref()
                .is_some_and(|q| !row.name.to_lowercase().contains(q.as_str()))
        {
            continue;
        }
        if items.len() == query.limit {
            next_from = Some(last_returned);
            break;
        }
        last_returned = sort_key.to_vec();
        items.push(WorkflowSummary::from(row));
    }
    Ok(Page {
        items,
        next_cursor: next_from.map(|key| encode_cursor(cursor_kind, &key)),
    })
}

/// Checks a workflow sort key (sort value, id) of `index` and returns the id.
fn check_workflow_sort_key(index: u8, sort_key: &[u8]) -> Result<String, ReadModelError> {
    let rest = match index {
        WORKFLOWS_BY_NAME => take_str(sort_key).map(|(_, rest)| rest),
        _ => take_i64(sort_key).map(|(_, rest)| rest),
    };
    rest.and_then(take_str)
        .filter(|(_, rest)| rest.is_empty())
        .map(|(id, _)| id)
        .ok_or(ReadModelError::InvalidCursor)
}
