//! What the client commands print: aligned tables and key/value blocks for people (colours
//! only when stdout is a terminal and `NO_COLOR` is unset), JSON for scripts.

use std::io::IsTerminal;

use serde_json::Value;

/// Longest cell shown in a table, in characters; longer ones end with `…`.
const CELL_CHARS_MAX: usize = 60;
/// Longest JSON value shown inline in a key/value block.
const INLINE_JSON_CHARS_MAX: usize = 200;

/// Whether to colour stdout: a terminal, and `NO_COLOR` unset.
pub fn colours() -> bool {
    std::env::var_os("NO_COLOR").is_none() && std::io::stdout().is_terminal()
}

/// ANSI styling that is a no-op when colours are off.
#[derive(Clone, Copy, Debug)]
pub struct Style {
    on: bool,
}

impl Style {
    pub fn stdout() -> Style {
        Style { on: colours() }
    }

    fn paint(self, code: &str, text: &str) -> String {
        if self.on && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    pub fn bold(self, text: &str) -> String {
        self.paint("1", text)
    }

    pub fn red(self, text: &str) -> String {
        self.paint("31", text)
    }

    pub fn green(self, text: &str) -> String {
        self.paint("32", text)
    }

    /// A status coloured by what it means: done well green, failed red, going yellow.
    pub fn status(self, text: &str) -> String {
        match text {
            "completed" | "active" | "enabled" => self.paint("32", text),
            "failed" | "cancelled" | "corrupt" | "timed_out" | "disabled" => self.paint("31", text),
            "pending" | "running" | "retrying" | "sleeping" | "paused" => self.paint("33", text),
            "draft" | "inactive" => self.paint("2", text),
            _ => text.to_owned(),
        }
    }
}

/// A value as a cell: strings bare, null as `-`, anything else as compact JSON.
pub fn text(value: &Value) -> String {
    match value {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `text` cut to `max` characters, ending with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_owned();
    }
    let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
    cut.push('…');
    cut
}

/// A JSON value for a key/value block: compact, cut when long.
pub fn inline_json(value: &Value) -> String {
    truncate(&text(value), INLINE_JSON_CHARS_MAX)
}

/// An error object (`{code, message, stepId?}`) or message as one line.
pub fn error_text(error: &Value) -> String {
    match error {
        Value::Object(map) => {
            let message = map.get("message").map(text).unwrap_or_default();
            match map.get("code").and_then(Value::as_str) {
                Some(code) => format!("{code}: {message}"),
                None => message,
            }
        }
        other => text(other),
    }
}

/// The JSON for scripts: pretty-printed, one document on stdout.
pub fn print_json(value: &Value) {
    match serde_json::to_string_pretty(value) {
        Ok(text) => println!("{text}"),
        Err(_) => println!("{value}"),
    }
}

/// A table with aligned columns. Cells are plain text; the column named `STATUS` (if any)
/// is coloured by [`Style::status`].
pub struct Table {
    headers: Vec<&'static str>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(headers: &[&'static str]) -> Table {
        Table {
            headers: headers.to_vec(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|c| truncate(&c.replace(['\n', '\r', '\t'], " "), CELL_CHARS_MAX))
                .collect(),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table's lines, header first, columns two spaces apart, no trailing spaces.
    pub fn render(&self, style: Style) -> String {
        let columns = self.headers.len();
        let mut widths: Vec<usize> = self.headers.iter().map(|h| h.chars().count()).collect();
        for row in &self.rows {
            for (i, cell) in row.iter().enumerate().take(columns) {
                widths[i] = widths[i].max(cell.chars().count());
            }
        }
        let status_column = self.headers.iter().position(|h| *h == "STATUS");
        let line = |cells: Vec<(String, String)>| {
            let last = cells.len().saturating_sub(1);
            let mut out = String::new();
            for (i, (plain, shown)) in cells.into_iter().enumerate() {
                out.push_str(&shown);
                if i < last {
                    let pad = widths[i].saturating_sub(plain.chars().count()) + 2;
                    out.push_str(&" ".repeat(pad));
                }
            }
            out.trim_end().to_owned()
        };
        let mut out = String::new();
        out.push_str(&line(
            self.headers
                .iter()
                .map(|h| ((*h).to_owned(), style.bold(h)))
                .collect(),
        ));
        out.push('\n');
        for row in &self.rows {
            let cells = (0..columns)
                .map(|i| {
                    let plain = row.get(i).cloned().unwrap_or_default();
                    let shown = if Some(i) == status_column {
                        style.status(&plain)
                    } else {
                        plain.clone()
                    };
                    (plain, shown)
                })
                .collect();
            out.push_str(&line(cells));
            out.push('\n');
        }
        out
    }

    pub fn print(&self) {
        print!("{}", self.render(Style::stdout()));
    }
}

/// The text of each of `fields` of a listed item, for a table row.
pub fn cells(item: &Value, fields: &[&str]) -> Vec<String> {
    fields.iter().map(|field| text(&item[*field])).collect()
}

/// Prints a listing: the items as one JSON array, or a table with `headers` of `row(item)`
/// for each item (`empty` when there is none); then, on stderr, how to fetch the next page.
pub fn print_listing(
    items: Vec<Value>,
    next: Option<String>,
    json: bool,
    headers: &[&'static str],
    empty: &str,
    row: impl Fn(&Value) -> Vec<String>,
) {
    if json {
        print_json(&Value::Array(items));
    } else {
        let mut table = Table::new(headers);
        for item in &items {
            table.row(row(item));
        }
        if table.is_empty() {
            println!("{empty}");
        } else {
            table.print();
        }
    }
    if let Some(next) = next {
        eprintln!("more: --cursor {next} (or --all)");
    }
}

/// Prints `label  value` lines with the labels aligned; rows whose value is `None` are left
/// out. A label `status` is coloured.
pub fn print_fields(fields: &[(&str, Option<String>)]) {
    let style = Style::stdout();
    let width = fields
        .iter()
        .filter(|(_, v)| v.is_some())
        .map(|(label, _)| label.chars().count())
        .max()
        .unwrap_or(0);
    for (label, value) in fields {
        let Some(value) = value else { continue };
        let shown = if *label == "status" {
            style.status(value)
        } else {
            value.clone()
        };
        println!("{label:<width$}  {shown}");
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn tables_align_columns_without_colour() {
        let mut table = Table::new(&["ID", "STATUS", "NOTE"]);
        table.row(vec!["run_1".into(), "completed".into(), "".into()]);
        table.row(vec!["r2".into(), "failed".into(), "boom".into()]);
        let text = table.render(Style { on: false });
        assert_eq!(
            text,
            "ID     STATUS     NOTE\nrun_1  completed\nr2     failed     boom\n"
        );
    }

    #[test]
    fn colours_wrap_the_status_but_keep_alignment() {
        let mut table = Table::new(&["STATUS", "ID"]);
        table.row(vec!["failed".into(), "x".into()]);
        let text = table.render(Style { on: true });
        assert!(text.contains("\x1b[31mfailed\x1b[0m  x"), "{text:?}");
    }

    #[test]
    fn cells_and_errors_read_well() {
        assert_eq!(text(&json!(null)), "-");
        assert_eq!(text(&json!("a")), "a");
        assert_eq!(text(&json!({"a": 1})), "{\"a\":1}");
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(
            error_text(&json!({"code": "HTTP", "message": "503"})),
            "HTTP: 503"
        );
    }
}
