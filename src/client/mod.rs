//! `duro` as a client of a running server: `workflows`, `run`, `runs`, `triggers` and, with
//! `--url`, `keys`. Every command talks to the REST API of docs/api.md through
//! [`ApiClient`]; what they print and how they exit is the contract of docs/cli.md.
//!
//! Exit codes: 0 success; 1 the server answered with an error (or the outcome asked about
//! is a failure: a waited run that failed, a replay that diverges); 2 a bad command line or
//! unreadable input; 3 the server could not be reached.

pub mod keys;
pub mod output;
pub mod providers;
pub mod runs;
pub mod triggers;
pub mod workflows;

use std::future::Future;
use std::io::Read;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use reqwest::{Method, Url};
use serde_json::Value;

/// The exit codes, as `--help` shows them (docs/cli.md has the same).
pub const EXIT_CODES: &str = "\
Exit codes: 0 success; 1 the server answered with an error (printed as `error: CODE: message`
on stderr), or a waited run failed or was cancelled, or a replay diverges; 2 a bad command
line or an unreadable or invalid input file or JSON; 3 the server could not be reached.
Server: --url or DURO_URL (default http://127.0.0.1:3000), --api-key or DURO_API_KEY.
--json prints JSON for scripts; colours only on a terminal, never with NO_COLOR set.";

/// The server used when neither `--url` nor `DURO_URL` is given.
pub const DEFAULT_URL: &str = "http://127.0.0.1:3000";
/// How long a request may take, unless it waits for a run.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(60);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Items asked for per page when walking every page (`--all`, bulk reruns).
pub const PAGE_MAX: u32 = 100;

/// How to reach the server, and how to print. Flattened into every client subcommand.
#[derive(Args, Clone, Debug, Default)]
pub struct ClientArgs {
    /// The server's base URL [default: http://127.0.0.1:3000].
    #[arg(long, env = "DURO_URL", value_name = "URL")]
    pub url: Option<String>,
    /// API key, sent as `Authorization: Bearer KEY`.
    #[arg(long, env = "DURO_API_KEY", value_name = "KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Print JSON for scripts instead of tables (shapes in docs/cli.md).
    #[arg(long)]
    pub json: bool,
}

/// Paging of a listing.
#[derive(Args)]
pub struct PageArgs {
    /// Items per page (1 to 100; the server's default is 20).
    #[arg(long)]
    limit: Option<u32>,
    /// Start at this page cursor (printed on stderr after a page with more after it).
    #[arg(long, conflicts_with = "all")]
    cursor: Option<String>,
    /// Walk every page.
    #[arg(long)]
    all: bool,
}

impl PageArgs {
    /// Every page, from the first.
    pub fn every() -> PageArgs {
        PageArgs {
            limit: None,
            cursor: None,
            all: true,
        }
    }
}

/// The query of a listing's filters: the ones given, under their names.
pub fn filters<const N: usize>(
    given: [(&'static str, Option<String>); N],
) -> Vec<(&'static str, String)> {
    given
        .into_iter()
        .filter_map(|(name, value)| Some((name, value?)))
        .collect()
}

/// Why a command did not succeed, and so its exit code.
#[derive(Debug)]
pub enum Failure {
    /// Exit 1: the server answered with an error envelope (or a non-2xx without one).
    Api {
        status: u16,
        code: String,
        message: String,
        details: Vec<Value>,
    },
    /// Exit 1: the request worked but the outcome is a failure (a run that failed, a replay
    /// that diverges, reruns that failed). An empty message prints nothing more.
    Outcome(String),
    /// Exit 2: a bad command line, or an input file or JSON argument that cannot be read.
    Usage(String),
    /// Exit 3: the server could not be reached.
    Unreachable(String),
}

impl Failure {
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Api { .. } | Failure::Outcome(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Unreachable(_) => 3,
        }
    }

    /// `error: CODE: message` and any details, on stderr.
    pub fn report(&self) {
        match self {
            Failure::Api {
                code,
                message,
                details,
                ..
            } => {
                eprintln!("error: {code}: {message}");
                for detail in details {
                    let path = detail["path"]
                        .as_array()
                        .map(|parts| parts.iter().map(output::text).collect::<Vec<_>>().join("."))
                        .unwrap_or_default();
                    let text = output::text(&detail["message"]);
                    if path.is_empty() {
                        eprintln!("  {text}");
                    } else {
                        eprintln!("  {path}: {text}");
                    }
                }
            }
            Failure::Outcome(message) if message.is_empty() => {}
            Failure::Outcome(message) | Failure::Usage(message) => eprintln!("error: {message}"),
            Failure::Unreachable(message) => eprintln!("error: {message}"),
        }
    }

    /// Whether this is the server's answer with `status`.
    pub fn is_status(&self, wanted: u16) -> bool {
        matches!(self, Failure::Api { status, .. } if *status == wanted)
    }
}

/// Runs a client command on a fresh runtime and turns its result into the exit code.
pub fn execute<F>(work: F) -> ExitCode
where
    F: Future<Output = Result<(), Failure>>,
{
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: starting the async runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            failure.report();
            ExitCode::from(failure.exit_code())
        }
    }
}

/// A JSON answer: the HTTP status and the whole envelope.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub envelope: Value,
}

impl Reply {
    /// The envelope's `data`.
    pub fn data(&self) -> &Value {
        &self.envelope["data"]
    }

    pub fn into_data(mut self) -> Value {
        self.envelope["data"].take()
    }

    /// `pagination.nextCursor`, when there is a next page.
    pub fn next_cursor(&self) -> Option<String> {
        self.envelope["pagination"]["nextCursor"]
            .as_str()
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
    }
}

/// The REST API of one server.
pub struct ApiClient {
    http: reqwest::Client,
    base: Url,
    key: Option<String>,
}

impl ApiClient {
    pub fn new(args: &ClientArgs) -> Result<ApiClient, Failure> {
        let text = args.url.as_deref().unwrap_or(DEFAULT_URL).trim();
        let base = Url::parse(text)
            .ok()
            .filter(|url| matches!(url.scheme(), "http" | "https") && url.has_host())
            .ok_or_else(|| {
                Failure::Usage(format!(
                    "--url must be an http(s) URL like {DEFAULT_URL}, not {text:?}"
                ))
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .user_agent(concat!("duro-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| Failure::Outcome(format!("making the HTTP client: {e}")))?;
        Ok(ApiClient {
            http,
            base,
            key: args.api_key.clone().filter(|k| !k.trim().is_empty()),
        })
    }

    /// The URL of `segments` (each percent-encoded) under the base URL, with `query`.
    fn url(&self, segments: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            let mut pairs = url.query_pairs_mut();
            for (name, value) in query {
                pairs.append_pair(name, value);
            }
        }
        url
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> Result<Reply, Failure> {
        self.send(Method::GET, segments, query, None, None).await
    }

    /// Sends one request; `wait` lengthens the timeout for `?wait=` requests.
    pub async fn send(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, String)],
        body: Option<&Value>,
        wait: Option<u64>,
    ) -> Result<Reply, Failure> {
        let url = self.url(segments, query);
        let timeout = REQUEST_TIMEOUT + Duration::from_secs(wait.unwrap_or(0));
        let mut request = self.http.request(method, url.clone()).timeout(timeout);
        if let Some(key) = &self.key {
            request = request.bearer_auth(key);
        }
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |error: reqwest::Error| {
            let mut cause = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(inner) = source {
                cause = format!("{cause}: {inner}");
                source = inner.source();
            }
            Failure::Unreachable(format!(
                "cannot reach the server at {}: {cause}",
                self.base.as_str().trim_end_matches('/')
            ))
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(unreachable)?;
        let parsed: Option<Value> = serde_json::from_str(&text).ok();
        if (200..300).contains(&status) {
            return match parsed {
                Some(envelope) => Ok(Reply { status, envelope }),
                None => Err(Failure::Api {
                    status,
                    code: "BAD_RESPONSE".to_owned(),
                    message: format!("the answer to {url} is not JSON"),
                    details: Vec::new(),
                }),
            };
        }
        let error = parsed.as_ref().map(|e| &e["error"]);
        match error.and_then(|e| e["code"].as_str()) {
            Some(code) => Err(Failure::Api {
                status,
                code: code.to_owned(),
                message: error
                    .map(|e| output::text(&e["message"]))
                    .unwrap_or_default(),
                details: error
                    .and_then(|e| e["details"].as_array().cloned())
                    .unwrap_or_default(),
            }),
            None => Err(Failure::Api {
                status,
                code: format!("HTTP_{status}"),
                message: output::truncate(text.trim(), 200),
                details: Vec::new(),
            }),
        }
    }

    /// The items of a listing: one page (from `cursor`, at most `limit`) or, with `all`,
    /// every page. Returns the items and the cursor of the page after them.
    pub async fn list(
        &self,
        segments: &[&str],
        mut query: Vec<(&str, String)>,
        page: &PageArgs,
    ) -> Result<(Vec<Value>, Option<String>), Failure> {
        let all = page.all;
        let limit = page.limit.or(all.then_some(PAGE_MAX));
        if let Some(limit) = limit {
            query.push(("limit", limit.to_string()));
        }
        let mut cursor = page.cursor.clone();
        let mut items = Vec::new();
        loop {
            let mut page_query = query.clone();
            if let Some(cursor) = &cursor {
                page_query.push(("cursor", cursor.clone()));
            }
            let reply = self.get(segments, &page_query).await?;
            let next = reply.next_cursor();
            if let Value::Array(page) = reply.into_data() {
                items.extend(page);
            }
            match next {
                Some(next) if all => cursor = Some(next),
                next => return Ok((items, next)),
            }
        }
    }
}

/// A JSON argument: inline JSON, `@FILE`, or `@-` for stdin. `what` names it in errors.
pub fn json_arg(text: &str, what: &str) -> Result<Value, Failure> {
    match text.strip_prefix('@') {
        Some(path) => read_json_file(path, what),
        None => serde_json::from_str(text)
            .map_err(|e| Failure::Usage(format!("{what} is not valid JSON: {e}"))),
    }
}

/// The JSON in the file `path` (`-`: stdin).
pub fn read_json_file(path: &str, what: &str) -> Result<Value, Failure> {
    let text = if path == "-" {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::Usage(format!("reading {what} from stdin: {e}")))?;
        text
    } else {
        std::fs::read_to_string(path)
            .map_err(|e| Failure::Usage(format!("reading {what} from {path}: {e}")))?
    };
    serde_json::from_str(&text).map_err(|e| {
        let source = if path == "-" { "stdin" } else { path };
        Failure::Usage(format!("{what} in {source} is not valid JSON: {e}"))
    })
}

/// `?wait=SECONDS` when waiting.
pub fn wait_query(wait: Option<u64>) -> Vec<(&'static str, String)> {
    wait.map(|s| vec![("wait", s.to_string())])
        .unwrap_or_default()
}
