"""The cases of ../shared/corpus/holmesgpt-logs/ as Healer evaluation cases.

Each expected statement of HolmesGPT's case becomes a statement whose patterns must all match (any case)
the analysis' summary, root cause, facts and suggested fix. The patterns are written to hold the
statement's substance, no looser: "the postgres pod crash-loops because it runs as root" needs
`postgres`, `root` and a crash word. The three negative controls are healthy cases.
"""

from __future__ import annotations

import json
import re
from typing import Any

# case -> [(statement, [patterns, all of which must match])]
STATEMENTS: dict[str, list[tuple[str, list[str]]]] = {
    "ask_09_crashpod": [
        ("DEPLOY_ENV is undefined or missing", [r"DEPLOY_ENV", r"undefined|missing|not set|unset"])
    ],
    "ask_100a_historical_logs": [
        (
            "payment-api failures from database connection pool exhaustion",
            [r"pool", r"exhaust|no (?:available|free|idle) connection|max(?:imum)? (?:size|connections)"],
        )
    ],
    "ask_104a_postgres_root_issue": [
        (
            "user-lookup is slow because its dependency postgres is crash-looping",
            [r"postgres", r"crash|fail|not (?:running|ready|respond)|no response|unreachable|down"],
        ),
        (
            "postgres fails because it is started as root, which is not permitted",
            [r"\broot\b", r"not permitted|unprivileged|privilege"],
        ),
    ],
    "ask_107_log_filter_http_status_code": [
        (
            "503 on /api/reports/generate when requests take over 30 s",
            [r"503", r"reports/generate|report generation", r"30 ?s|30 seconds|timeout|timed out"],
        )
    ],
    "ask_118_new_relic_logs": [
        ("payment declined errors", [r"payment[s]? (?:was |were )?declined|declined payment"])
    ],
    "ask_12_job_crashing": [
        (
            "java-api-checker cannot connect to the database at prod-db:3333",
            [r"prod-db", r"3333", r"connect|refused"],
        )
    ],
    "ask_157_disk_full_statefulset": [
        (
            "the application crash-loops because the PVC's disk is full",
            [r"disk|volume|pvc|storage", r"full|no space|out of space"],
        ),
        ("the PVC only has 100Mi", [r"100 ?Mi"]),
        (
            "to fix, increase the PVC size",
            [r"increase|expand|resize|larger|bigger|grow", r"pvc|volume|storage|disk"],
        ),
    ],
    "ask_20_long_log_file_search": [("there is a Peer down issue", [r"peer (?:is )?down"])],
    "ask_21_job_fail_curl_no_svc_account": [
        (
            "the host kldsvklnsdiogjerkngernjk23432i90erfefjio.com could not be resolved",
            [
                r"kldsvklnsdiogjerkngernjk23432i90erfefjio\.com",
                r"resolv|dns|host not found|could not resolve",
            ],
        )
    ],
    "ask_48_logs_since_thursday": [
        (
            "2025-06-12: the database at my.postgresql.com became unavailable",
            [r"my\.postgresql\.com|database", r"unavailable|unreachable|down|connection"],
        ),
        ("2025-06-13: memory pressure", [r"memory"]),
        ("2025-06-14: high CPU usage", [r"cpu"]),
        ("2025-06-15: syntax error in query fetch_user_logs", [r"syntax error", r"fetch_user_logs|query"]),
        ("2025-06-19: SSL certificate expired", [r"certificate|ssl|tls", r"expir"]),
    ],
    "ask_51_logs_summarize_errors": [
        ("login issues from redis timeouts", [r"redis", r"time ?out|timed out"]),
        (
            "login issues from the identity provider's expired certificate",
            [r"identity provider|idp|certificate", r"expir"],
        ),
        ("DB query issues from a syntax error", [r"syntax error"]),
        (
            "DB query issues from a unique constraint violation",
            [r"unique|unicity|duplicate key", r"constraint|violat|duplicate"],
        ),
    ],
    "ask_53_logs_find_term": [
        ("DB query issues from a syntax error", [r"syntax error"]),
        (
            "DB query issues from a unique constraint violation",
            [r"unique|unicity|duplicate key", r"constraint|violat|duplicate"],
        ),
    ],
    "ask_62_fetch_error_logs_with_errors": [
        ("database connection failed: ETIMEDOUT", [r"ETIMEDOUT|timed out|time ?out"]),
        ("retries exhausted (attempts 1-3, maximum exceeded)", [r"retr|attempt|reconnect"]),
        ("backup connection failed: ECONNREFUSED", [r"backup", r"ECONNREFUSED|refused"]),
        ("unable to establish a database connection", [r"database|db", r"connect"]),
    ],
    "ask_81_service_account_permission_denied": [
        (
            "permission denied: the service account's role has get but not list on pods",
            [r"permission|forbidden|denied|rbac|role", r"\blist\b"],
        )
    ],
    "ask_91f_datadog_logs_historical_pod": [
        ("api-gateway ran out of memory and was OOM-killed", [r"oom|out of memory|memory exhaust"]),
        (
            "the database connection pool was exhausted",
            [r"pool", r"exhaust|no (?:available|free) connection"],
        ),
        ("a memory leak in the request handler", [r"leak"]),
    ],
    "inv_05_crashpod": [
        ("db-certs-authenticator is in CrashLoopBackOff", [r"crash ?loop|crash|restart|exit"]),
        ("the SSL certificate expired", [r"certificate|ssl|tls|cert", r"expir"]),
    ],
    "inv_07_job_syntax_error": [
        (
            "the job product-data-scraper did not complete",
            [r"product-data-scraper|job|script", r"fail|error|did not complete"],
        ),
        ("a shell syntax error: unexpected 'fi'", [r"syntax error", r"\bfi\b"]),
    ],
    "wh_01_crashpod": [
        (
            "the crashpod crash-loops: wget exits 125, recursive calls or a StackOverflowError",
            [r"wget|125|recurs|stack ?overflow"],
        ),
    ],
}

# Conclusions an analysis of these cases must not draw (a cause the logs do not show)
FORBIDDEN: dict[str, list[tuple[str, list[str]]]] = {
    "ask_12_job_crashing": [("blames credentials", [r"password|credential|authenticat"])],
    "ask_104a_postgres_root_issue": [
        ("blames the user-lookup code", [r"bug in user-lookup|user-lookup code"])
    ],
    "ask_21_job_fail_curl_no_svc_account": [
        ("blames a service account or RBAC", [r"service ?account|rbac|forbidden"])
    ],
}


# The pod whose log a case holds, where its Kubernetes facts do not name it (`match_params` of a pod
# lookup): from its question or its listing, as the workload's own name when no pod name is given.
PODS: dict[str, str] = {
    "ask_100a_historical_logs": "payment-api",
    "ask_104a_postgres_root_issue": "postgres",
    "ask_107_log_filter_http_status_code": "api-server",
    "ask_118_new_relic_logs": "payment-gateway-s1fdsa-231ds",
    "ask_157_disk_full_statefulset": "data-processor-0",
    "ask_26_page_render_times": "ocean-breeze",
    "ask_44_slack_statefulset_logs": "alertmanager-alertmanager-0",
    "ask_81_service_account_permission_denied": "monitoring-agent",
    "ask_91f_datadog_logs_historical_pod": "api-gateway",
    "wh_01_crashpod": "crashpod-9688789bc-lgjzj",
}


def pod_of(case: str, facts: str) -> str:
    """The case's pod: as its recorded Kubernetes lookups name it, else as PODS says."""
    for match in re.finditer(r'"match_params": (\{[^}]*\})', facts):
        params = json.loads(match.group(1))
        if str(params.get("kind", "")).lower() == "pod" and (params.get("name") or params.get("keyword")):
            return params.get("name") or params["keyword"]
    if case not in PODS:
        raise KeyError(f"{case}: no pod named in its facts and none in holmesgpt.PODS")
    return PODS[case]


def statements(case: str) -> list[dict[str, Any]]:
    return [{"statement": text, "patterns": patterns} for text, patterns in STATEMENTS.get(case, [])]


def forbidden(case: str) -> list[dict[str, Any]]:
    return [{"statement": text, "patterns": patterns} for text, patterns in FORBIDDEN.get(case, [])]
