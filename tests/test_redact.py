"""Tests for tools.redact.

Every secret below is assembled at run time from harmless pieces, so this file contains nothing
that a secret scanner would take for a leaked credential.
"""

import string

import pytest

from tools.redact import REDACTION_KINDS, find_secrets, redact
from tools.secret_places import PLACE_KINDS
from tools.secret_shapes import SHAPE_KINDS

ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"
UPPER_DIGITS = string.ascii_uppercase + "234567"
B64 = ALNUM + "+/"
URLSAFE = ALNUM + "-_"


def chars(n: int, alphabet: str = ALNUM, seed: int = 1) -> str:
    """``n`` deterministic but random-looking characters (mixed case and digits for ALNUM)."""
    return "".join(alphabet[(seed + i * 7) % len(alphabet)] for i in range(n))


def marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


# Values for key=value cases: ordinary strings that only become secrets by where they stand.
PW = "hunter" + "2-Xq!"
VALUE = "v4lue" + chars(12, seed=5)

JWT_START = "ey" + "J"  # base64url of '{"'
JWT = ".".join((JWT_START + chars(20, URLSAFE, 2), JWT_START + chars(40, URLSAFE, 3), chars(43, URLSAFE)))
OPAQUE = chars(32, seed=9)
BASIC = chars(22, B64, 6) + "=="
PEM_BODY = "\n".join(chars(64, B64, seed) for seed in range(5))
PEM_BEGIN = "-----BEGIN " + "RSA PRIVATE KEY-----"
PEM_END = "-----END " + "RSA PRIVATE KEY-----"

# (kind, text before, secret, text after): redact() must give before + marker(kind) + after.
SECRET_CASES: list[tuple[str, str, str, str]] = [
    ("github-token", "GITHUB_TOKEN=", "gh" + "p_" + chars(36), ""),
    ("github-token", "using ", "gh" + "o_" + chars(36, seed=2), " for oauth"),
    ("github-token", "git push https://x-access-token:", "gh" + "s_" + chars(36, seed=3), "@github.com/r"),
    ("github-token", "token ", "gh" + "u_" + chars(36, seed=4), "\n"),
    ("github-token", "refresh=", "gh" + "r_" + chars(40, seed=5), " ok"),
    ("github-token", "GH_TOKEN: ", "github_" + "pat_" + chars(22) + "_" + chars(59, seed=7), ""),
    ("openai-key", "OPENAI_API_KEY=", "sk-" + chars(48), ""),
    ("openai-key", "key is ", "sk-" + "proj-" + chars(120, URLSAFE, 8), ", rotate it"),
    ("openai-key", "svc ", "sk-" + "svcacct-" + chars(80, URLSAFE, 9), "."),
    ("openai-key", "OpenAI-compatible ", "sk-" + chars(32, HEX, 27), ""),
    ("anthropic-key", "x-api-key: ", "sk-" + "ant-" + "api03-" + chars(93, URLSAFE, 10) + "AA", ""),
    ("openrouter-key", "OPENROUTER_API_KEY=", "sk-" + "or-v1-" + chars(64, HEX, 11), ""),
    ("xai-key", "client = Client(api_key='", "xai-" + chars(80, seed=12), "')"),
    ("perplexity-key", "PERPLEXITY_API_KEY=", "pplx-" + chars(48, seed=13), ""),
    ("aws-access-key", "aws_access_key_id = ", "AK" + "IA" + chars(16, UPPER_DIGITS), ""),
    ("aws-access-key", "sts creds ", "AS" + "IA" + chars(16, string.ascii_uppercase, 3), " expire"),
    ("aws-secret-key", "aws_secret_access_key = ", chars(40, B64, 14), ""),
    ("aws-secret-key", '{"SecretAccessKey": "', chars(40, B64, 15), '", "x": 1}'),
    ("aws-secret-key", "aws configure set aws_secret_access_key ", chars(40, B64, 16), ""),
    ("google-api-key", "https://maps.googleapis.com/api?key=", "AI" + "za" + chars(35, URLSAFE, 16), "&v=3"),
    ("slack-token", "SLACK_BOT_TOKEN=", "xo" + "xb-" + "1234567890-9876543210-" + chars(24, seed=17), ""),
    ("slack-token", "app token ", "xa" + "pp-1-" + "A0B1C2D3E4F-1234567890-" + chars(64, HEX, 18), ""),
    ("slack-webhook", "posting to https://hooks.slack.com/services/", "T0AB12/B0CD34/" + chars(24), " now"),
    ("discord-webhook", "https://discord.com/api/webhooks/", "1234567890123/" + chars(68, URLSAFE, 19), ""),
    ("stripe-key", "stripe.api_key = '", "sk" + "_live_" + chars(24, seed=20), "'"),
    ("stripe-key", "restricted ", "rk" + "_live_" + chars(24, seed=21), ""),
    ("npm-token", "//registry.npmjs.org/:_authToken=", "np" + "m_" + chars(36, seed=22), ""),
    ("gitlab-token", "PRIVATE-TOKEN: ", "gl" + "pat-" + chars(20, URLSAFE, 23), ""),
    ("huggingface-token", "HF ", "hf" + "_" + chars(34, string.ascii_letters, 24), " loaded"),
    ("jwt", "id_token ", JWT, " received"),
    ("jwt", "Authorization: Bearer ", JWT, ""),
    ("bearer-token", "> Authorization: Bearer ", OPAQUE, "\r"),
    ("bearer-token", '"authorization": "Bearer ', OPAQUE, '"'),
    ("bearer-token", "curl sent Bearer ", OPAQUE, " to the api"),
    ("bearer-token", "retrying with bearer ", OPAQUE, ""),
    ("basic-auth", "Authorization: Basic ", BASIC, ""),
    ("auth-header", "Authorization: token ", chars(40, HEX, 25), ""),
    ("auth-header", "authorization=Bot ", chars(59, URLSAFE, 26), ""),
    ("url-password", "DATABASE_URL=postgres://app:", PW, "@db.internal:5432/app"),
    ("url-password", "redis://:", VALUE, "@cache:6379/0"),
    ("url-password", "cloning https://bob:", "p@ss" + "w0rd", "@git.example.com/x.git"),
    ("private-key", "key file:\n", PEM_BEGIN + "\n" + PEM_BODY + "\n" + PEM_END, "\nnext line"),
    # The key= rule's span (up to the closing quote) is merged into the PEM span.
    ("private-key", '{"private_key": "', PEM_BEGIN + "\\n" + chars(64, B64) + "\\n" + PEM_END + "\\n", '"}'),
    ("generic-secret", "MY_SERVICE_API_KEY=", VALUE, ""),
    ("generic-secret", "export WEBHOOK_SECRET=", VALUE, "\n"),
    ("generic-secret", "CI_JOB_TOKEN='", VALUE, "'"),
    ("generic-secret", '{"client_secret": "', VALUE, '", "client_id": "abc"}'),
    ("generic-secret", '{"api_key":"', VALUE, '"}'),
    ("generic-secret", "  apiKey: ", VALUE, ""),
    ("generic-secret", "level=info access_token=", VALUE, " user=bob"),
    ("generic-secret", "X-Api-Key: ", VALUE, ""),
    ("password", "DB_PASSWORD=", PW, ""),
    ("password", "MYSQL_PWD=", PW, " mysql -u root"),
    ("password", "  password: ", PW, ""),
    ("password", '{"password": "', PW, '"}'),
    ("password", "mysql --password=", PW, " -h db"),
    ("password", "{'passphrase': '", PW, "'}"),
]


def case_id(case: tuple[str, str, str, str]) -> str:
    kind, before, _, _ = case
    return f"{kind}:{before.strip()[:24]}"


@pytest.mark.parametrize("case", SECRET_CASES, ids=[case_id(c) for c in SECRET_CASES])
def test_secret_is_replaced_and_context_kept(case: tuple[str, str, str, str]) -> None:
    kind, before, secret, after = case
    result = redact(before + secret + after)
    assert secret not in result
    assert marker(kind) in result
    assert result == before + marker(kind) + after


@pytest.mark.parametrize("case", SECRET_CASES, ids=[case_id(c) for c in SECRET_CASES])
def test_find_secrets_reports_kind_and_span(case: tuple[str, str, str, str]) -> None:
    kind, before, secret, after = case
    assert find_secrets(before + secret + after) == [(kind, len(before), len(before) + len(secret))]


def test_cases_cover_every_kind_and_many_formats() -> None:
    # The kinds found by their shape alone or by their place are measured over the corpus
    # (tests/test_redact_corpus.py); every rule of tools/redact.py itself has a case here.
    covered = {case[0] for case in SECRET_CASES}
    assert covered >= set(REDACTION_KINDS) - set(SHAPE_KINDS) - set(PLACE_KINDS)
    assert covered <= set(REDACTION_KINDS)
    assert len({(kind, secret[:4]) for kind, _, secret, _ in SECRET_CASES}) >= 20
    assert all(kind == kind.lower() and " " not in kind for kind in REDACTION_KINDS)


def test_url_password_keeps_scheme_user_host_and_path() -> None:
    text = "connect postgres://healer:" + PW + "@db.internal:5432/healer?sslmode=require failed"
    assert redact(text) == (
        "connect postgres://healer:[REDACTED:url-password]@db.internal:5432/healer?sslmode=require failed"
    )


def test_complete_pem_block_is_replaced_whole() -> None:
    text = "before\n" + PEM_BEGIN + "\n" + PEM_BODY + "\n" + PEM_END + "\nafter"
    assert redact(text) == "before\n[REDACTED:private-key]\nafter"


@pytest.mark.parametrize("label", ["PRIVATE", "EC PRIVATE", "OPENSSH PRIVATE"])
def test_truncated_pem_block_is_redacted_to_end_of_text(label: str) -> None:
    begin = "-----BEGIN " + label + " KEY-----"
    text = "log excerpt:\n" + begin + "\n" + PEM_BODY[:150]
    assert redact(text) == "log excerpt:\n[REDACTED:private-key]"


def test_json_keeps_keys_and_quotes() -> None:
    text = '{"user": "bob", "api_key": "' + VALUE + '", "password": "' + PW + '", "token": "' + VALUE + '"}'
    assert redact(text) == (
        '{"user": "bob", "api_key": "[REDACTED:generic-secret]", "password": "[REDACTED:password]", '
        '"token": "[REDACTED:generic-secret]"}'
    )


def test_escaped_json_inside_a_log_string() -> None:
    text = '{"msg": "body={\\"password\\": \\"' + PW + '\\", \\"user\\": \\"bob\\"}"}'
    expected = '{"msg": "body={\\"password\\": \\"[REDACTED:password]\\", \\"user\\": \\"bob\\"}"}'
    assert redact(text) == expected


def test_value_cut_off_before_its_closing_quote_is_redacted_to_end_of_line() -> None:
    text = '{"user": "bob", "password": "' + PW + "\nnext line"
    assert redact(text) == '{"user": "bob", "password": "[REDACTED:password]\nnext line'


def test_env_file_keeps_names_and_non_secrets() -> None:
    text = "API_TOKEN=" + VALUE + "\nDB_PASSWORD='" + PW + "'\nDEBUG=true\nLOG_LEVEL=info\n"
    assert redact(text) == (
        "API_TOKEN=[REDACTED:generic-secret]\nDB_PASSWORD='[REDACTED:password]'\nDEBUG=true\nLOG_LEVEL=info\n"
    )


def test_yaml_keeps_keys_and_structure() -> None:
    text = "auth:\n  username: bob\n  password: " + PW + '\n  client_secret: "' + VALUE + '"\n  port: 443\n'
    assert redact(text) == (
        "auth:\n  username: bob\n  password: [REDACTED:password]\n"
        '  client_secret: "[REDACTED:generic-secret]"\n  port: 443\n'
    )


def test_multiple_secrets_in_one_line() -> None:
    github = "gh" + "p_" + chars(36)
    openai = "sk-" + chars(48, seed=3)
    text = f"env GITHUB_TOKEN={github} OPENAI_API_KEY={openai} password={PW} db=mysql://root:{PW}@db/x done"
    assert redact(text) == (
        "env GITHUB_TOKEN=[REDACTED:github-token] OPENAI_API_KEY=[REDACTED:openai-key] "
        "password=[REDACTED:password] db=mysql://root:[REDACTED:url-password]@db/x done"
    )
    kinds = [kind for kind, _, _ in find_secrets(text)]
    assert kinds == ["github-token", "openai-key", "password", "url-password"]


ORDINARY_LINES = [
    "thread 'main' panicked at src/parser.rs:142:17:\ncalled `Option::unwrap()` on a `None` value",
    "thread 'tokio-runtime-worker' panicked at 'invalid token: expected `}`', crates/lexer/src/token.rs:88:9",
    "note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
    'I0501 12:34:56.789012       1 controller.go:142] "Reconciling CodeRun" '
    'coderun="cto/coderun-rex-t1-play-42-x7k2p" phase="Running" restarts=0',
    "E0501 12:34:57.000001       1 reflector.go:147] Failed to watch *v1.Secret: secrets is forbidden: "
    'User "system:serviceaccount:cto:healer" cannot list resource "secrets" in the namespace "cto"',
    '{"level":"info","ts":"2024-05-01T12:34:56.789Z","msg":"token usage","input_tokens":1234,'
    '"output_tokens":567,"cache_key":"a1b2c3","max_tokens":4096}',
    '{"level":"error","msg":"invalid token","error":"token expired","user":"bob","retry":true}',
    "NAME                           READY   STATUS      RESTARTS   AGE\n"
    "coderun-rex-t1-play-42-x7k2p   0/1     Completed   0          5m",
    "NAME             TYPE     DATA   AGE\ngithub-app-key   Opaque   2      41d",
    "commit 3f2a9c1d8e7b6a5f4e3d2c1b0a9f8e7d6c5b4a39\nAuthor: Rex Agent <rex@5dlabs.ai>\n"
    "Date:   Wed May 1 12:34:56 2024 +0000",
    "3f2a9c1 fix(lexer): handle a missing token after the password prompt (#142)",
    "   Compiling healer-core v0.1.0 (/work/main/crates/core)",
    "    Finished `release` profile [optimized] target(s) in 42.17s",
    "error[E0425]: cannot find value `secret_key` in this scope",
    "tests/test_auth.py::test_password_reset PASSED                                [ 42%]",
    "password must be 8 characters",
    "the tokenizer splits text; press any key on the keyboard to see the skeleton",
    "a risk-based plan for task-1 uses sk-learn for clustering",
    "Bearer tokens are described in RFC 6750; send them with the Bearer scheme",
    "request_id=550e8400-e29b-41d4-a716-446655440000 at 2024-05-01T12:34:56.789+00:00",
    "fetching https://api.github.com/repos/5dlabs/cto/issues?state=open&per_page=100",
    "reading /home/runner/work/cto/cto/src/secrets/token_store.rs",
    "password=",
    "password=*** token=<redacted> secret=[REDACTED:generic-secret]",
    "api_key=${OPENAI_API_KEY} DB_PASSWORD=$DB_PASSWORD",
    "max_tokens=4096 temperature=0.2 model=gpt-4o",
    "panic: runtime error: invalid memory address or nil pointer dereference\n"
    "[signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x4a5b6c]",
    "    pub token: Token,",
    "def login(username: str, password: str) -> Token:",
    "        - name: GITHUB_TOKEN\n          valueFrom:\n            secretKeyRef:\n              key: token",
    'Error from server (NotFound): secrets "github-app-key" not found',
    "ssh -i ~/.ssh/id_ed25519 git@github.com",
    "let token = lexer.next_token()?;",
    "client = OpenAI(api_key=api_key)",
    "Authorization header missing; use Authorization: Bearer",
    "PWD=/home/runner OLDPWD=/tmp",
    "crate::token::Kind::Ident",
    "--- PASS: TestReconcileCipher (153.88s)\nPASS\nok  \tgithub.com/5dlabs/cto/controller\t154.210s",
    '{"token": null, "password": null, "api_key": "", "secret": true}',
    'api_key=os.environ["OPENAI_API_KEY"]',
    "self.api_key = api_key; secret = settings.SECRET_KEY",
    "    private readonly apiKey: string;",
    "pip install sk-learn-compatible-wrappers-v2",
    "the proxy expects Bearer authorization-header-values",
    "      GITHUB_TOKEN: ${{ secrets.GITHUB_TOKEN }}",
    "authorization=disabled authorization: Negotiate",
    "rename hf_downloadmanagerconfigurationoptions",
    'Warning  FailedMount  12s  kubelet  MountVolume.SetUp failed for volume "github-token" : '
    'secret "github-app" not found',
]


@pytest.mark.parametrize("line", ORDINARY_LINES)
def test_ordinary_lines_are_unchanged(line: str) -> None:
    assert redact(line) == line
    assert find_secrets(line) == []


IDEMPOTENCE_SAMPLES = [before + secret + after for _, before, secret, after in SECRET_CASES] + [
    "\n".join(before + secret + after for _, before, secret, after in SECRET_CASES),
]


@pytest.mark.parametrize("text", IDEMPOTENCE_SAMPLES)
def test_redact_is_idempotent(text: str) -> None:
    once = redact(text)
    assert once != text
    assert redact(once) == once


def test_everything_in_one_document() -> None:
    text = "\n".join(before + secret + after for _, before, secret, after in SECRET_CASES)
    result = redact(text)
    for _, _, secret, _ in SECRET_CASES:
        assert secret not in result
    assert result.count("[REDACTED:") == len(SECRET_CASES)


def test_redaction_from_many_threads_at_once() -> None:
    """Watch threads, `to_thread` reads and the event loop redact side by side: each scan of the gate
    has scratch space of its own (one shared, a scan beside another failed with ScratchInUseError)."""
    from concurrent.futures import ThreadPoolExecutor

    text = "token=ghp_" + "a1B2c3D4e5" * 4 + " and an ordinary line about cargo build " * 40

    def redact_many(_: int) -> set[str]:
        return {redact(text) for _ in range(300)}

    with ThreadPoolExecutor(8) as pool:
        answers = set().union(*pool.map(redact_many, range(8)))
    assert len(answers) == 1 and "ghp_" not in answers.pop()
