"""The pods' agent output for the stream scenarios of definitions.py: what Rex, Blaze and Atlas print.

Each function returns `(offset_s, line)` pairs: the CTO container scripts' plain lines and the agent CLI's
JSON events (tests/scenarios/streams.py), one per line, as `kubectl logs` shows them.
"""

from __future__ import annotations

from tests.scenarios.streams import CLAUDE_BUILTIN_TOOLS, ClaudeStream, CodexStream, mcp_diagnostics, timed

REPO_DIR = "/workspace/cto-parallel-test"


def diagnostics(remote_tools: int, at: float = -29) -> list[tuple[float, str]]:
    """The container scripts' MCP check, printed before the agent starts."""
    return timed(at, 0.01, mcp_diagnostics(remote_tools))


def mcp_tools(names: list[str], server: str = "tools") -> list[str]:
    return [f"mcp__{server}__{name}" for name in names]


# --- stream-preflight: Rex starts without firecrawl_scrape, and its `firecrawl` MCP server failed --------


def rex_missing_firecrawl(declared: list[str], available: list[str]) -> list[tuple[float, str]]:
    claude = ClaudeStream("stream-preflight/rex")
    tools = [*CLAUDE_BUILTIN_TOOLS, *mcp_tools(available)]
    servers = [{"name": "tools", "status": "connected"}, {"name": "firecrawl", "status": "failed"}]
    start = [
        *timed(-29, 0.01, mcp_diagnostics(remote_tools=len(declared))),
        (-25, claude.init(tools, servers)),
        *timed(
            -23,
            1.5,
            [
                claude.text(
                    "I'll start by reading the task and the service layout, then research the rate-limit "
                    "headers the upstream API documents before implementing the client."
                ),
                *claude.call(
                    "Read",
                    {"file_path": f"{REPO_DIR}/.taskmaster/docs/task.md"},
                    "     1→# Task 1: Respect upstream rate limits in the catalog sync client\n"
                    "     2→\n"
                    "     3→The sync job is throttled by the vendor API. Read its documentation at\n"
                    "     4→https://docs.vendor.example/api/rate-limits and honour `Retry-After` and\n"
                    "     5→`X-RateLimit-Reset` in `src/sync/client.rs`.\n",
                ),
                claude.text("Let me fetch the vendor's rate-limit documentation."),
            ],
        ),
    ]
    call, tool_id = claude.tool_use(
        "mcp__tools__firecrawl_scrape",
        {"url": "https://docs.vendor.example/api/rate-limits", "formats": ["markdown"]},
    )
    missing = claude.tool_result(
        tool_id,
        "<tool_use_error>Error: No such tool available: mcp__tools__firecrawl_scrape</tool_use_error>",
        is_error=True,
    )
    work = [
        claude.text(
            "The firecrawl tool is not available in this session. I'll fetch the page with WebFetch instead."
        ),
        *claude.call(
            "WebFetch",
            {
                "url": "https://docs.vendor.example/api/rate-limits",
                "prompt": "Which headers tell a client when it may retry after a 429?",
            },
            "The API answers 429 Too Many Requests when a key exceeds 600 requests per minute. Clients "
            "should wait for the number of seconds in `Retry-After`, or until the epoch second in "
            "`X-RateLimit-Reset` when `Retry-After` is absent.",
        ),
        *claude.bash(
            "cargo test sync::client",
            "Run the sync client's tests",
            "   Compiling cto-parallel-test v0.3.1 (/workspace/cto-parallel-test)\n"
            "    Finished `test` profile [unoptimized + debuginfo] target(s) in 14.02s\n"
            "     Running unittests src/main.rs (target/debug/deps/cto_parallel_test-5c1f0e6a2b7d9e41)\n\n"
            "running 6 tests\ntest sync::client::tests::waits_for_retry_after ... ok\n"
            "test sync::client::tests::falls_back_to_reset_header ... ok\n"
            "test sync::client::tests::gives_up_after_five_429s ... ok\n"
            "test sync::client::tests::passes_through_200 ... ok\n"
            "test sync::client::tests::parses_http_date_retry_after ... ok\n"
            "test sync::client::tests::ignores_negative_reset ... ok\n\n"
            "test result: ok. 6 passed; 0 failed; 0 ignored; 0 measured; 21 filtered out; finished in 0.02s\n",
            text="I implemented the backoff in src/sync/client.rs; running its tests.",
        ),
        *claude.call(
            "mcp__tools__github_create_pull_request",
            {
                "owner": "5dlabs",
                "repo": "cto-parallel-test",
                "title": "feat(sync): honour Retry-After and X-RateLimit-Reset",
                "head": "feature/task-1-rate-limits",
                "base": "main",
                "body": "Closes task 1.",
            },
            '{"number": 57, "html_url": "https://github.com/5dlabs/cto-parallel-test/pull/57", "state": "open"}',
            text="Tests pass. Opening the pull request.",
        ),
    ]
    end = claude.result(
        "Implemented rate-limit handling in the sync client (PR #57). Note: the firecrawl MCP tool was not "
        "available, so the vendor docs were read with WebFetch.",
        duration_ms=71_240,
        cost_usd=0.41,
    )
    return [
        *start,
        (-14, call),
        (-9, missing),  # before Healer's first pass: read with the init event, the same fingerprint
        *timed(-7, 2.5, work),
        (44, end),
        (44.5, "✓ CLI execution completed successfully"),
    ]


# --- codex-auth: Blaze's Codex is refused by the API (401) on every attempt -----------------------------


def blaze_codex_unauthorized() -> list[tuple[float, str]]:
    """One `codex exec --json` run, as in samples/codex__link-assistant_hive-mind__issue-715-401-reconnect.log:
    five reconnect notices, then the last error and `turn.failed` (401). Codex writes `Reading prompt from
    stdin...` on stderr, merged into the pod's log."""
    codex = CodexStream("codex-auth/blaze")
    lines: list[tuple[float, str]] = timed(-29, 0.01, mcp_diagnostics(remote_tools=2))
    lines += [
        (-27.4, "Reading prompt from stdin..."),
        (-27.2, codex.thread_started()),
        (-27.17, codex.turn_started()),
    ]
    at = -22.3
    for n in range(1, 6):
        lines.append((round(at, 3), codex.error(f"Reconnecting... {n}/5")))
        at += 4.4 + 0.3 * n
    why = f"exceeded retry limit, last status: 401 Unauthorized, request id: {codex.request_id(1)}"
    return [*lines, (round(at, 3), codex.error(why)), (round(at + 0.001, 3), codex.turn_failed(why))]


# --- healthy-transcript: a long Claude run full of failing builds and tests it then fixes ---------------

_CLIENT_RS = """use std::time::Duration;

use reqwest::{Client, StatusCode};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum SyncError {
    #[error("upstream returned {0}")]
    Status(StatusCode),
    #[error("request failed: {0}")]
    Request(#[from] reqwest::Error),
    #[error("gave up after {0} attempts")]
    Exhausted(u32),
}

pub struct SyncClient {
    http: Client,
    base: String,
}

impl SyncClient {
    pub fn new(base: impl Into<String>) -> Self {
        let http = Client::builder().timeout(Duration::from_secs(10)).build().expect("client builds");
        Self { http, base: base.into() }
    }

    pub async fn page(&self, cursor: &str) -> Result<Page, SyncError> {
        let response = self.http.get(format!("{}/items?cursor={cursor}", self.base)).send().await?;
        if !response.status().is_success() {
            return Err(SyncError::Status(response.status()));
        }
        Ok(response.json().await?)
    }
}
"""

_LIMITER_RS = """use std::time::{Duration, Instant};

/// A token bucket: `capacity` requests, refilled at `per_second`.
pub struct RateLimiter {
    capacity: u32,
    tokens: f64,
    per_second: f64,
    last: Instant,
}

impl RateLimiter {
    pub fn new(capacity: u32, per_second: f64) -> Self {
        Self { capacity, tokens: capacity as f64, per_second, last: Instant::now() }
    }

    pub fn try_acquire(&mut self) -> Result<(), Duration> {
        self.refill();
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return Ok(());
        }
        Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_second))
    }

    fn refill(&mut self) {
        let elapsed = self.last.elapsed().as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity as f64);
        self.last = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allows_burst_up_to_capacity() {
        let mut limiter = RateLimiter::new(5, 5.0);
        for _ in 0..5 {
            assert!(limiter.try_acquire().is_ok());
        }
    }

    #[test]
    fn rejects_when_empty() {
        let mut limiter = RateLimiter::new(1, 5.0);
        limiter.try_acquire().unwrap();
        assert!(limiter.try_acquire().is_err());
    }

    #[test]
    fn refills_after_window() {
        let mut limiter = RateLimiter::new(1, 5.0);
        limiter.try_acquire().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(limiter.try_acquire(), Ok(()));
    }
}
"""

_HANDLERS = {
    "src/routes/items.rs": """use axum::{extract::State, http::StatusCode, Json};

use crate::{error::ApiError, AppState};

pub async fn list(State(state): State<AppState>) -> Result<Json<Vec<Item>>, ApiError> {
    let items = state.db.items().await.map_err(|e| {
        tracing::error!(error = %e, "failed to list items");
        ApiError::Internal
    })?;
    Ok(Json(items))
}

pub async fn get(State(state): State<AppState>, id: ItemId) -> Result<Json<Item>, ApiError> {
    match state.db.item(id).await {
        Ok(Some(item)) => Ok(Json(item)),
        Ok(None) => Err(ApiError::NotFound),
        Err(e) => {
            tracing::error!(error = %e, %id, "database error");
            Err(ApiError::Internal)
        }
    }
}
""",
    "src/error.rs": """use axum::{http::StatusCode, response::IntoResponse};

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("not found")]
    NotFound,
    #[error("rate limited, retry in {0:?}")]
    RateLimited(std::time::Duration),
    #[error("internal error")]
    Internal,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        let status = match self {
            ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        };
        (status, self.to_string()).into_response()
    }
}
""",
    "src/main.rs": """mod error;
mod rate_limit;
mod routes;
mod sync;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt().json().init();
    let state = AppState::connect(&std::env::var("DATABASE_URL")?).await?;
    let app = routes::router(state);
    let listener = tokio::net::TcpListener::bind("0.0.0.0:8080").await?;
    axum::serve(listener, app).await?;
    Ok(())
}
""",
    "src/sync/mod.rs": """pub mod client;

pub async fn run(client: &client::SyncClient) -> Result<usize, client::SyncError> {
    let mut cursor = String::new();
    let mut total = 0;
    loop {
        let page = client.page(&cursor).await?;
        total += page.items.len();
        match page.next {
            Some(next) => cursor = next,
            None => return Ok(total),
        }
    }
}
""",
    "src/routes/health.rs": """use axum::{extract::State, http::StatusCode};

use crate::AppState;

pub async fn health(State(state): State<AppState>) -> StatusCode {
    if state.db.ping().await.is_err() {
        return StatusCode::SERVICE_UNAVAILABLE;
    }
    StatusCode::OK
}
""",
    "tests/api.rs": """use std::time::Duration;

#[tokio::test]
async fn health_answers_ok() {
    let response = reqwest::get("http://127.0.0.1:8080/health").await.unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn sixth_request_in_a_second_is_limited() {
    let client = reqwest::Client::new();
    for _ in 0..5 {
        client.get("http://127.0.0.1:8080/items").send().await.unwrap();
    }
    let response = client.get("http://127.0.0.1:8080/items").send().await.unwrap();
    assert_eq!(response.status(), 429);
    tokio::time::sleep(Duration::from_secs(1)).await;
}
""",
}

_BUILD_E0308 = """   Compiling cto-parallel-test v0.3.1 (/workspace/cto-parallel-test)
error[E0308]: mismatched types
  --> src/rate_limit.rs:22:29
   |
22 |         Err(Duration::from_secs((1.0 - self.tokens) / self.per_second))
   |             ------------------- ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^ expected `u64`, found `f64`
   |             |
   |             arguments to this function are incorrect
   |
note: associated function defined here
  --> /rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/time.rs:224:18

error[E0433]: failed to resolve: use of undeclared type `RateLimiter`
  --> src/routes/mod.rs:31:22
   |
31 |     let limiter = Arc::new(Mutex::new(RateLimiter::new(5, 5.0)));
   |                                       ^^^^^^^^^^^ use of undeclared type `RateLimiter`
   |
help: consider importing this struct
   |
1  + use crate::rate_limit::RateLimiter;
   |

Some errors have detailed explanations: E0308, E0433.
For more information about an error, try `rustc --explain E0308`.
error: could not compile `cto-parallel-test` (bin "cto-parallel-test") due to 2 previous errors"""

_TEST_PANIC = """   Compiling cto-parallel-test v0.3.1 (/workspace/cto-parallel-test)
    Finished `test` profile [unoptimized + debuginfo] target(s) in 9.87s
     Running unittests src/main.rs (target/debug/deps/cto_parallel_test-5c1f0e6a2b7d9e41)

running 12 tests
test error::tests::not_found_is_404 ... ok
test error::tests::rate_limited_is_429 ... ok
test rate_limit::tests::allows_burst_up_to_capacity ... ok
test rate_limit::tests::refills_after_window ... FAILED
test rate_limit::tests::rejects_when_empty ... ok
test routes::items::tests::list_maps_db_error_to_500 ... ok
test routes::items::tests::get_missing_is_404 ... ok
test routes::health::tests::db_down_is_503 ... ok
test sync::client::tests::passes_through_200 ... ok
test sync::client::tests::status_error_is_reported ... ok
test sync::tests::follows_cursor_to_the_end ... ok
test sync::tests::stops_on_first_error ... ok

failures:

---- rate_limit::tests::refills_after_window stdout ----

thread 'rate_limit::tests::refills_after_window' panicked at src/rate_limit.rs:56:9:
assertion `left == right` failed
  left: Err(199.999ms)
 right: Ok(())
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace


failures:
    rate_limit::tests::refills_after_window

test result: FAILED. 11 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.21s

error: test failed, to rerun pass `--bin cto-parallel-test`"""

_TEST_OK = """    Finished `test` profile [unoptimized + debuginfo] target(s) in 2.31s
     Running unittests src/main.rs (target/debug/deps/cto_parallel_test-5c1f0e6a2b7d9e41)

running 12 tests
test error::tests::not_found_is_404 ... ok
test error::tests::rate_limited_is_429 ... ok
test rate_limit::tests::allows_burst_up_to_capacity ... ok
test rate_limit::tests::refills_after_window ... ok
test rate_limit::tests::rejects_when_empty ... ok
test routes::items::tests::list_maps_db_error_to_500 ... ok
test routes::items::tests::get_missing_is_404 ... ok
test routes::health::tests::db_down_is_503 ... ok
test sync::client::tests::passes_through_200 ... ok
test sync::client::tests::status_error_is_reported ... ok
test sync::tests::follows_cursor_to_the_end ... ok
test sync::tests::stops_on_first_error ... ok

test result: ok. 12 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.02s"""

_API_REFUSED = """    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.41s
     Running tests/api.rs (target/debug/deps/api-0b9de3c47a5f1d26)

running 2 tests
test health_answers_ok ... FAILED
test sixth_request_in_a_second_is_limited ... FAILED

failures:

---- health_answers_ok stdout ----

thread 'health_answers_ok' panicked at tests/api.rs:5:71:
called `Result::unwrap()` on an `Err` value: reqwest::Error { kind: Request, url: "http://127.0.0.1:8080/health", source: hyper_util::client::legacy::Error(Connect, ConnectError("tcp connect error", Os { code: 111, kind: ConnectionRefused, message: "Connection refused" })) }
note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace

---- sixth_request_in_a_second_is_limited stdout ----

thread 'sixth_request_in_a_second_is_limited' panicked at tests/api.rs:12:52:
called `Result::unwrap()` on an `Err` value: reqwest::Error { kind: Request, url: "http://127.0.0.1:8080/items", source: hyper_util::client::legacy::Error(Connect, ConnectError("tcp connect error", Os { code: 111, kind: ConnectionRefused, message: "Connection refused" })) }


failures:
    health_answers_ok
    sixth_request_in_a_second_is_limited

test result: FAILED. 0 passed; 2 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.01s

error: test failed, to rerun pass `--test api`"""

_SERVER_NO_DB = """    Finished `dev` profile [unoptimized + debuginfo] target(s) in 0.38s
     Running `target/debug/cto-parallel-test`
Error: connection refused

Caused by:
    0: error connecting to server: Connection refused (os error 111)
    1: Connection refused (os error 111)"""

_CLIPPY = """    Checking cto-parallel-test v0.3.1 (/workspace/cto-parallel-test)
warning: this `match` can be collapsed into the outer `if let`
  --> src/routes/items.rs:14:5
   |
14 |     match state.db.item(id).await {
   |     ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
   |
   = help: for further information visit https://rust-lang.github.io/rust-clippy/master/index.html#collapsible_match
   = note: `-D warnings` implied by `-D clippy::all`

error: used `expect()` on a `Result` value
  --> src/sync/client.rs:24:20
   |
24 |         let http = Client::builder().timeout(Duration::from_secs(10)).build().expect("client builds");
   |                    ^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^^
   |
   = note: if this value is an `Err`, it will panic
   = help: for further information visit https://rust-lang.github.io/rust-clippy/master/index.html#expect_used

error: could not compile `cto-parallel-test` (bin "cto-parallel-test") due to 1 previous error; 1 warning emitted"""


_MODELS = [
    "item", "catalog", "vendor", "price", "stock", "cursor", "page", "sync_run", "api_key", "tenant",
    "audit", "webhook", "category", "image", "variant", "warehouse", "shipment", "order", "invoice",
    "refund", "coupon", "review", "user", "session", "job", "schedule", "quota", "region",
]  # fmt: skip


def _model_source(name: str) -> str:
    kind = "".join(part.title() for part in name.split("_"))
    return f"""use serde::{{Deserialize, Serialize}};
use sqlx::FromRow;

#[derive(Debug, Clone, Serialize, Deserialize, FromRow)]
pub struct {kind} {{
    pub id: i64,
    pub tenant_id: i64,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}}

#[derive(Debug, thiserror::Error)]
pub enum {kind}Error {{
    #[error("{name} {{0}} not found")]
    NotFound(i64),
    #[error("database error: {{0}}")]
    Db(#[from] sqlx::Error),
}}

pub async fn load(pool: &sqlx::PgPool, id: i64) -> Result<{kind}, {kind}Error> {{
    sqlx::query_as("SELECT * FROM {name}s WHERE id = $1")
        .bind(id)
        .fetch_optional(pool)
        .await?
        .ok_or({kind}Error::NotFound(id))
}}
"""


_UNIT_TESTS = [
    ("error::tests::not_found_is_404", ""),
    ("error::tests::rate_limited_is_429", ""),
    ("rate_limit::tests::allows_burst_up_to_capacity", ""),
    ("rate_limit::tests::refills_after_window", ""),
    ("rate_limit::tests::rejects_when_empty", ""),
    (
        "routes::items::tests::list_maps_db_error_to_500",
        '{"timestamp":"2026-11-24T06:00:41.882Z","level":"ERROR","fields":{"message":"failed to list items",'
        '"error":"error returned from database: relation \\"items\\" does not exist"},"target":"cto_parallel_test::routes::items"}\n',
    ),
    ("routes::items::tests::get_missing_is_404", ""),
    (
        "routes::health::tests::db_down_is_503",
        '{"timestamp":"2026-11-24T06:00:42.017Z","level":"WARN","fields":{"message":"health check failed",'
        '"error":"pool timed out while waiting for an open connection"},"target":"cto_parallel_test::routes::health"}\n',
    ),
    ("sync::client::tests::passes_through_200", ""),
    ("sync::client::tests::status_error_is_reported", ""),
    ("sync::tests::follows_cursor_to_the_end", ""),
    ("sync::tests::stops_on_first_error", ""),
]


def _numbered(source: str) -> str:
    return "".join(f"{n:>6}→{line}\n" for n, line in enumerate(source.splitlines(), start=1))


def rex_long_healthy_run(declared: list[str]) -> list[tuple[float, str]]:
    """Rex implements a rate limiter over ~300 events: reads, failing builds and tests, fixes, a PR."""
    claude = ClaudeStream("healthy-transcript/rex")
    tools = [*CLAUDE_BUILTIN_TOOLS, *mcp_tools(declared)]
    events: list[str] = [
        claude.init(tools, [{"name": "tools", "status": "connected"}]),
        claude.text(
            "I'll implement task 11: a token-bucket rate limiter for the items API (429 with Retry-After), "
            "and make the catalog sync client back off. First I'll read the code that is involved."
        ),
    ]
    todo, todo_id = claude.tool_use(
        "TodoWrite",
        {
            "todos": [
                {"content": "Read routes, error handling and the sync client", "status": "in_progress"},
                {"content": "Implement RateLimiter and wire it into the router", "status": "pending"},
                {"content": "Make cargo build, cargo test and clippy pass", "status": "pending"},
                {"content": "Run the API integration tests against a running server", "status": "pending"},
                {"content": "Commit, push and open the pull request", "status": "pending"},
            ]
        },
    )
    events += [todo, claude.tool_result(todo_id, "Todos have been modified successfully.")]
    events += claude.call(
        "Grep",
        {"pattern": "unwrap\\(\\)|expect\\(|panic!", "path": "src", "output_mode": "content", "-n": True},
        "src/sync/client.rs:24:        let http = Client::builder().timeout(Duration::from_secs(10)).build()"
        '.expect("client builds");\n'
        'src/routes/mod.rs:40:        .unwrap_or_else(|e| panic!("invalid route table: {e}"))',
    )
    events += claude.bash(
        "ls src/models",
        "List the models",
        "\n".join(f"{name}.rs" for name in sorted(_MODELS)) + "\nmod.rs",
        text="The models might already have a quota or rate concept; listing them.",
    )
    for name in _MODELS:  # a quick read of each: the agent looks for an existing limit to reuse
        call, tool_id = claude.tool_use("Read", {"file_path": f"{REPO_DIR}/src/models/{name}.rs"})
        events += [call, claude.tool_result(tool_id, _numbered(_model_source(name)))]
    events += [
        claude.text(
            "No model has a rate limit; `quota` counts monthly API calls per tenant, a different thing. "
            "The limiter will be new code."
        )
    ]
    for path, source in [("src/sync/client.rs", _CLIENT_RS), *_HANDLERS.items()]:
        events += claude.call(
            "Read",
            {"file_path": f"{REPO_DIR}/{path}"},
            _numbered(source),
            text=f"Reading `{path}` to see how errors are mapped today.",
        )
    events += [
        claude.text(
            "Errors already map to status codes in `ApiError` (NotFound → 404, Internal → 500). I'll add a "
            "`RateLimited` path returning 429 and a token bucket in `src/rate_limit.rs`."
        )
    ]
    events += claude.call(
        "Write",
        {
            "file_path": f"{REPO_DIR}/src/rate_limit.rs",
            "content": _LIMITER_RS.replace("Duration::from_secs_f64(", "Duration::from_secs("),
        },
        f"File created successfully at: {REPO_DIR}/src/rate_limit.rs",
    )
    events += claude.bash(
        "cargo build 2>&1",
        "Build the service",
        _BUILD_E0308,
        exit_code=101,
        text="Building.",
    )
    events += [
        claude.text(
            "Two compile errors: error[E0308] because `Duration::from_secs` takes a u64 — I need "
            "`from_secs_f64` — and error[E0433] because the router does not import `RateLimiter`."
        )
    ]
    events += claude.call(
        "Edit",
        {
            "file_path": f"{REPO_DIR}/src/rate_limit.rs",
            "old_string": "Err(Duration::from_secs((1.0 - self.tokens) / self.per_second))",
            "new_string": "Err(Duration::from_secs_f64((1.0 - self.tokens) / self.per_second))",
        },
        f"The file {REPO_DIR}/src/rate_limit.rs has been updated.",
    )
    events += claude.call(
        "Edit",
        {
            "file_path": f"{REPO_DIR}/src/routes/mod.rs",
            "old_string": "use crate::AppState;",
            "new_string": "use crate::{rate_limit::RateLimiter, AppState};",
        },
        "<tool_use_error>String to replace not found in file.\nString: use crate::AppState;</tool_use_error>",
        is_error=True,
    )
    events += claude.call(
        "Read",
        {"file_path": f"{REPO_DIR}/src/routes/mod.rs", "limit": 12},
        _numbered(
            "use std::sync::Arc;\n\nuse axum::{routing::get, Router};\nuse tokio::sync::Mutex;\n\n"
            "use crate::{error::ApiError, AppState};\n\npub mod health;\npub mod items;\n"
        ),
        text="The import line is different; let me look at it.",
    )
    events += claude.call(
        "Edit",
        {
            "file_path": f"{REPO_DIR}/src/routes/mod.rs",
            "old_string": "use crate::{error::ApiError, AppState};",
            "new_string": "use crate::{error::ApiError, rate_limit::RateLimiter, AppState};",
        },
        f"The file {REPO_DIR}/src/routes/mod.rs has been updated.",
    )
    events += claude.bash(
        "cargo build 2>&1",
        "Build again",
        "   Compiling cto-parallel-test v0.3.1 (/workspace/cto-parallel-test)\n"
        "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 11.64s",
    )
    events += claude.bash(
        "cargo test --bin cto-parallel-test 2>&1",
        "Run the unit tests",
        _TEST_PANIC,
        exit_code=101,
        text="It builds. Running the unit tests.",
    )
    events += [
        claude.text(
            "`refills_after_window` panicked: the test sleeps 200 ms and expects a token back, but the bucket "
            "refills 5 tokens per second, so after 200 ms it holds 0.999… tokens — a floating-point edge. "
            "The limiter is right; the test should wait slightly longer than one refill interval."
        )
    ]
    events += claude.call(
        "Edit",
        {
            "file_path": f"{REPO_DIR}/src/rate_limit.rs",
            "old_string": "std::thread::sleep(Duration::from_millis(200));",
            "new_string": "std::thread::sleep(Duration::from_millis(210));",
        },
        f"The file {REPO_DIR}/src/rate_limit.rs has been updated.",
    )
    events += claude.bash("cargo test --bin cto-parallel-test 2>&1", "Run the unit tests again", _TEST_OK)
    events += [
        claude.text(
            "All 12 pass together. Since the failure was timing-related, I'll run each test on its own to "
            "make sure none depends on another's state."
        )
    ]
    for test, logged in _UNIT_TESTS:
        events += claude.bash(
            f"cargo test --bin cto-parallel-test {test} -- --exact --nocapture 2>&1 | tail -4",
            f"Run {test} alone",
            f"running 1 test\n{logged}test {test} ... ok\n\n"
            "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 11 filtered out; finished in 0.21s",
        )
    events += claude.bash(
        "cargo clippy --all-targets -- -D warnings 2>&1",
        "Lint with clippy",
        _CLIPPY,
        exit_code=101,
        text="Unit tests pass. Now clippy, which CI runs with -D warnings.",
    )
    events += claude.call(
        "Edit",
        {
            "file_path": f"{REPO_DIR}/src/sync/client.rs",
            "old_string": 'let http = Client::builder().timeout(Duration::from_secs(10)).build().expect("client builds");',
            "new_string": "let http = Client::builder().timeout(Duration::from_secs(10)).build()?;",
        },
        f"The file {REPO_DIR}/src/sync/client.rs has been updated.",
        text="Clippy rejects `expect()` on a Result; `SyncClient::new` will return the builder's error instead.",
    )
    events += claude.bash(
        "cargo clippy --all-targets -- -D warnings 2>&1",
        "Lint again",
        "    Checking cto-parallel-test v0.3.1 (/workspace/cto-parallel-test)\n"
        "    Finished `dev` profile [unoptimized + debuginfo] target(s) in 3.20s",
    )
    events += claude.bash(
        "cargo test --test api 2>&1",
        "Run the API integration tests",
        _API_REFUSED,
        exit_code=101,
        text="Now the integration tests in tests/api.rs.",
    )
    events += claude.bash(
        "DATABASE_URL=postgres://app@127.0.0.1:5432/app cargo run 2>&1 | tail -5",
        "Start the server",
        _SERVER_NO_DB,
        exit_code=1,
        text="They need the server on :8080 (connection refused). Starting it.",
    )
    events += claude.bash(
        "pg_ctl -D /workspace/.pg -l /workspace/.pg/log start && sleep 2 && pg_isready -h 127.0.0.1",
        "Start the local PostgreSQL",
        "waiting for server to start.... done\nserver started\n127.0.0.1:5432 - accepting connections",
        text="The server itself cannot reach PostgreSQL. The task image ships a local cluster; starting it.",
    )
    events += claude.bash(
        "(DATABASE_URL=postgres://app@127.0.0.1:5432/app cargo run > /tmp/server.log 2>&1 &) "
        "&& sleep 3 && curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:8080/health",
        "Start the server in the background and probe it",
        "200",
    )
    events += claude.bash(
        "cargo test --test api 2>&1",
        "Run the API integration tests again",
        (
            "    Finished `test` profile [unoptimized + debuginfo] target(s) in 0.39s\n"
            "     Running tests/api.rs (target/debug/deps/api-0b9de3c47a5f1d26)\n\n"
            "running 2 tests\ntest health_answers_ok ... ok\ntest sixth_request_in_a_second_is_limited ... ok\n\n"
            "test result: ok. 2 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 1.03s"
        ),
    )
    # the agent reviews every module it touched, file by file, and checks the server's log for errors
    for round_no in range(1, 5):
        for path in _HANDLERS:
            events += claude.bash(
                f"git diff --stat HEAD -- {path}; rg -n 'Err\\(|error!|unwrap' {path} | head -5",
                f"Review {path} (pass {round_no})",
                f" {path} | {3 + round_no} {'+' * (2 + round_no)}{'-' * round_no}\n"
                f" 1 file changed, {2 + round_no} insertions(+), {round_no} deletions(-)\n"
                f'{7 + round_no}:        tracing::error!(error = %e, "failed to list items");\n'
                f"{14 + round_no}:        Err(e) => Err(ApiError::Internal),",
                text=f"Reviewing `{path}`: error paths must still log and map to a status.",
            )
        events += claude.bash(
            'grep -c \'"level":"ERROR"\' /tmp/server.log; tail -2 /tmp/server.log',
            "Count ERROR records in the server log",
            f"{round_no - 1}\n"
            '{"timestamp":"2026-11-24T06:01:12.104Z","level":"WARN","fields":{"message":"rate limited",'
            '"client":"127.0.0.1","retry_after_ms":200}}\n'
            '{"timestamp":"2026-11-24T06:01:12.311Z","level":"ERROR","fields":{"message":"failed to list items",'
            '"error":"pool timed out while waiting for an open connection"}}',
            text="Checking what the running server logged during the tests.",
        )
        events += [
            claude.text(
                "The ERROR record is the integration test that exercises the pool-exhaustion path on purpose "
                f"(`list_maps_db_error_to_500`); expected. Review pass {round_no} done."
            )
        ]
    events += claude.bash(
        "git add -A && git commit -q -m 'feat(api): token-bucket rate limiting with 429 + Retry-After' "
        "&& git push -q origin HEAD:feature/task-11-rate-limit && git log --oneline -1",
        "Commit and push",
        "4f1d9ce feat(api): token-bucket rate limiting with 429 + Retry-After",
        text="Everything passes: build, 12 unit tests, clippy, 2 integration tests. Committing.",
    )
    events += claude.call(
        "mcp__tools__github_create_pull_request",
        {
            "owner": "5dlabs",
            "repo": "cto-parallel-test",
            "title": "feat(api): token-bucket rate limiting (task 11)",
            "head": "feature/task-11-rate-limit",
            "base": "main",
            "body": "Adds `RateLimiter`, returns 429 with Retry-After, makes the sync client back off.",
        },
        '{"number": 61, "html_url": "https://github.com/5dlabs/cto-parallel-test/pull/61", "state": "open"}',
    )
    events.append(
        claude.result(
            "Task 11 done: PR #61 adds a token-bucket rate limiter (429 + Retry-After). Fixed along the way: "
            "two compile errors (E0308, E0433), a flaky refill test, a clippy `expect_used` error, and the "
            "integration tests' connection refused (the server needed the local PostgreSQL).",
            duration_ms=1_312_880,
            cost_usd=2.87,
        )
    )
    step = 170 / len(events)
    return [
        *timed(-29, 0.01, mcp_diagnostics(remote_tools=len(declared))),
        *timed(-25, step, events),
        (146, "✓ CLI execution completed successfully"),
    ]


# --- noisy-but-fine: Atlas merges, its transcript full of error-looking command output -------------------


def atlas_merge_run(declared: list[str]) -> list[tuple[float, str]]:
    """Atlas's Claude run (from 1 s before the play's start; its MCP check is `diagnostics`)."""
    claude = ClaudeStream("noisy-but-fine/atlas")
    tools = [*CLAUDE_BUILTIN_TOOLS, *mcp_tools(declared)]
    events = [
        claude.init(tools, [{"name": "tools", "status": "connected"}]),
        *claude.bash(
            "gh pr checks 57 --repo 5dlabs/cto-parallel-test",
            "List the PR's checks",
            "lint\tpass\t41s\thttps://github.com/5dlabs/cto-parallel-test/actions/runs/11870021/job/33081101\n"
            "test\tfail\t2m3s\thttps://github.com/5dlabs/cto-parallel-test/actions/runs/11870021/job/33081102\n"
            "test (retry)\tpass\t1m58s\thttps://github.com/5dlabs/cto-parallel-test/actions/runs/11870044/job/33081188",
            exit_code=1,
            text="Checking PR #57's CI before merging.",
        ),
        *claude.bash(
            "gh run view 11870021 --log-failed | tail -6",
            "Read the failed run's log",
            "test\tRun tests\t2026-11-24T05:58:41.220Z thread 'sync::tests::follows_cursor_to_the_end' panicked "
            "at src/sync/mod.rs:77:10:\n"
            "test\tRun tests\t2026-11-24T05:58:41.220Z called `Result::unwrap()` on an `Err` value: "
            'Request(reqwest::Error { kind: Request, source: ConnectError("dns error") })\n'
            "test\tRun tests\t2026-11-24T05:58:41.223Z test result: FAILED. 26 passed; 1 failed\n"
            "test\tRun tests\t2026-11-24T05:58:41.301Z ##[error]Process completed with exit code 101.",
            text="One failed run; reading why.",
        ),
        claude.text(
            "That failure was a DNS error on the shared runner, and the re-run of the same commit passed. "
            "The PR is green; I'll rebase it on main before merging."
        ),
        *claude.bash(
            "git fetch -q origin && git rebase origin/main",
            "Rebase on main",
            "Auto-merging src/sync/client.rs\nCONFLICT (content): Merge conflict in src/sync/client.rs\n"
            "error: could not apply 8c2e41f... feat(sync): honour Retry-After\n"
            "hint: Resolve all conflicts manually, mark them as resolved with\n"
            'hint: "git add/rm <conflicted_files>", then run "git rebase --continue".',
            exit_code=1,
        ),
        *claude.call(
            "Read",
            {"file_path": f"{REPO_DIR}/src/sync/client.rs", "offset": 20, "limit": 12},
            _numbered(
                "<<<<<<< HEAD\n    const MAX_ATTEMPTS: u32 = 3;\n=======\n    const MAX_ATTEMPTS: u32 = 5;\n"
                ">>>>>>> 8c2e41f (feat(sync): honour Retry-After)\n"
                "    if attempts > MAX_ATTEMPTS {\n        return Err(SyncError::Exhausted(attempts));\n    }\n"
            ),
        ),
        *claude.call(
            "Edit",
            {
                "file_path": f"{REPO_DIR}/src/sync/client.rs",
                "old_string": "<<<<<<< HEAD\n    const MAX_ATTEMPTS: u32 = 3;\n=======\n    const MAX_ATTEMPTS: u32 = 5;\n"
                ">>>>>>> 8c2e41f (feat(sync): honour Retry-After)\n",
                "new_string": "    const MAX_ATTEMPTS: u32 = 5;\n",
            },
            f"The file {REPO_DIR}/src/sync/client.rs has been updated.",
            text="Keeping the PR's 5 attempts, which its tests assert.",
        ),
        *claude.bash(
            "git add src/sync/client.rs && GIT_EDITOR=true git rebase --continue && cargo test 2>&1 | tail -4",
            "Finish the rebase and test",
            "Successfully rebased and updated refs/heads/feature/task-1-rate-limits.\n"
            "test sync::client::tests::gives_up_after_five_429s ... ok\n"
            "test error_paths::returns_500_on_db_error ... ok\n\n"
            "test result: ok. 27 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 0.31s",
        ),
        *claude.call(
            "mcp__tools__github_merge_pull_request",
            {"owner": "5dlabs", "repo": "cto-parallel-test", "pull_number": 57, "merge_method": "squash"},
            '{"sha": "b7e0c1d54f2a9e8d3c6b1a0f9e8d7c6b5a4f3e2d", "merged": true, "message": "Pull Request '
            'successfully merged"}',
            text="Rebased, 27 tests pass. Merging.",
        ),
    ]
    events.append(
        claude.result(
            "Merged PR #57 after rebasing on main (one conflict in src/sync/client.rs resolved). The only red "
            "CI run was a runner DNS error; its re-run passed.",
            duration_ms=96_410,
            cost_usd=0.22,
        )
    )
    return [
        *timed(-1, 1.2, events),
        (30, "✓ CLI execution completed successfully"),
    ]
