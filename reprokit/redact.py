"""Credentials kept out of everything reprokit records: the one place that knows them.

A run folder is shared with teammates, the index is built from it, and the snapshot commit
sits under a ref meant to be pushed. So every string reprokit writes there goes through
:func:`scrub_text` (notes, the command line, the working directory, allow-listed
environment values, remote URLs, error messages), every name that may label a secret goes
through :func:`is_secret_name` (config fields, URL parameters, command-line options) or
:func:`is_secret_env_name` (environment variables), and every untracked file about to be
snapshotted through :func:`secret_file_name` and :func:`secret_content`.

Scrubbing is regexes on text, never a URL parser: ``urllib.parse.urlsplit`` raises on
URLs git accepts (``https://[bad/x``), and one such remote made every launch fail.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from pathlib import Path

REDACTED = "<redacted>"

# Environment variables: any of these words anywhere in the name drops the variable, even
# an allow-listed one (TORCH_HUB_TOKEN, NCCL_IB_PASSPHRASE). Broad on purpose: a dropped
# variable costs a line of the record, a kept one may cost a credential.
_SECRET_ENV_WORDS = ("TOKEN", "KEY", "SECRET", "PASS", "CREDENTIAL", "AUTH", "PRIVATE", "COOKIE")

# Field, option and parameter names: the LAST word decides (`api_key`, `db_password`), so a
# pointer to a secret (`token_file`, `password_env`) or a count (`max_tokens`) is not one.
_SECRET_LAST_WORDS = frozenset(
    {
        "password", "passwd", "passphrase", "secret", "secrets", "credential", "credentials",
        "apikey", "privatekey", "accesskey", "secretkey", "authorization", "auth", "cookie",
        "cookies",
    }
)  # fmt: skip
# One-word capitals glue a qualifier on: PGPASSWORD, MYSQLPASSWORD, OPENAIAPIKEY.
_SECRET_SUFFIXES = ("password", "passwd", "passphrase", "apikey", "secretkey", "privatekey")
# `key` alone is a dictionary key, a sort key or a JAX PRNG key; these make it a credential.
_KEY_QUALIFIERS = frozenset(
    {
        "api", "access", "private", "secret", "signing", "encryption", "master", "client",
        "account", "auth", "ssh", "license", "licence", "subscription", "service", "app",
        "consumer", "storage", "shared", "session", "hmac", "webhook", "aws", "openai",
        "anthropic", "wandb", "hf", "deploy", "admin",
    }
)  # fmt: skip
# `token` is also a word of language models: pad_token, eos_token, max_token are not secrets.
_MODEL_TOKENS = frozenset(
    {
        "pad", "bos", "eos", "unk", "mask", "sep", "cls", "start", "end", "stop", "special",
        "image", "img", "vision", "audio", "video", "max", "min", "num", "n", "total", "first",
        "last", "new", "added", "extra", "bad", "dummy", "placeholder", "split", "vocab", "eot",
        "sot", "sos", "begin", "think", "tool", "prefix", "suffix", "middle", "sentinel",
    }
)  # fmt: skip
# `db_pass` is a password; `num_pass`, `two_pass` are not.
_PASS_QUALIFIERS = frozenset(
    {"db", "user", "admin", "root", "smtp", "mail", "email", "ftp", "proxy", "login", "sql",
     "mysql", "postgres", "pg", "redis", "ldap", "vault"}
)  # fmt: skip
# URL query parameters carry credentials under short names too (`?key=` Google API keys,
# `?sig=` Azure SAS, `X-Amz-Signature`), which as config field names would be too broad.
_PARAM_LAST_WORDS = frozenset({"key", "sig", "signature", "pwd", "pass", "token"})

# Patterns are kept as text and compiled by `re` on first use (and cached there): compiling
# them all at import cost ~4 ms of every launch, most of them needed only for untracked files.
_WORD = r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+"


def _words(name: str) -> list[str]:
    """``apiKey`` / ``API_KEY`` / ``X-Amz-Signature`` as lowercase words."""
    return [w.lower() for w in re.findall(_WORD, name)]


def is_secret_name(name: str) -> bool:
    """Whether a config field, option or parameter name says it holds a credential.

    ``api_key``, ``password``, ``token``, ``client_secret``, ``aws_access_key_id``,
    ``PGPASSWORD``, ``MYSQL_PWD``: yes. ``tokenizer``, ``max_tokens``, ``pad_token``,
    ``key_dim``, ``keypoints``, ``sort_key``, ``token_file``, ``PWD``: no. The same rule
    for environment variables (see :func:`is_secret_env_name`).
    """
    words = _words(name)
    if not words or "public" in words:  # public_key, publicKeyToken: public by name
        return False
    last, prev = words[-1], words[-2] if len(words) > 1 else ""
    if last in _SECRET_LAST_WORDS or last.endswith(_SECRET_SUFFIXES):
        return True
    if last == "token":
        return prev not in _MODEL_TOKENS
    if last == "key":
        return prev in _KEY_QUALIFIERS
    if last in ("pass", "pwd"):
        return prev in _PASS_QUALIFIERS
    # AWS names the key's id after the key: aws_access_key_id.
    return last == "id" and words[-3:-1] == ["access", "key"]


def is_secret_param(name: str) -> bool:
    """Whether a URL query parameter carries a credential (broader than field names)."""
    words = _words(name)
    return is_secret_name(name) or (bool(words) and words[-1] in _PARAM_LAST_WORDS)


def is_secret_env_name(name: str) -> bool:
    """Whether an environment variable's name says it may hold a credential.

    :func:`is_secret_name`, widened: every name that rule calls a secret is one here too
    (``MYSQL_PWD`` was recorded while ``MYSQL_PWD=x`` in a note was scrubbed), plus any
    name holding a secret word anywhere (``NCCL_IB_PASSPHRASE_FILE``), since a dropped
    variable costs only a line of the record.
    """
    upper = name.upper()
    return is_secret_name(name) or any(word in upper for word in _SECRET_ENV_WORDS)


# --- text --------------------------------------------------------------------------------

# user-info: up to the LAST "@" before the host ends ("/", "?", "#" or a blank), so a
# password holding an unencoded "@" goes too. git splits at the first "/?#" as well.
# Lengths are bounded here and below: unbounded, a long run of letters (or of `a:b,`)
# made every position rescan it, and a long note took minutes.
_USERINFO = r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<userinfo>[^/?#\s]*)@"
_SSH_SCHEMES = ("ssh://", "git+ssh://", "ssh+git://", "sftp://")
# scp-like `user:password@host:path` (git reads it as ssh to host).
_SCP_PASSWORD = r"(?<![\w.+/:@-])(?P<user>[\w.+-]{1,64}):[^\s@/:]{1,256}@(?=[\w.-]+:)"
# name=value or name: value after "?", "&", ";", ",", "=", "-", "/", "(", "{", a quote or a
# blank (or at the start): a URL's query, a connection string, a note's `password=...`,
# `--note=--password=x`, YAML's `password: x`, JSON's `"password": "x"`, the first
# argument of `Config(api_key='x')`. Only the name is matched: a value is not consumed
# unless it is redacted, so a pair inside another pair's value is still seen.
_PARAM_NAME = (
    r"(?:^|(?<=[?&;,\s=/({\[\"'-]))(?P<q>[\"']?)(?P<name>[\w.\[\]][\w.\[\]-]{0,63})(?P=q)"
    r"[ \t]{0,16}[=:][ \t]{0,16}"
)
# A value ends at a quote or a parenthesis too: `Config(lr=1, api_key='x')` keeps its `')`.
_PARAM_VALUE_END = r"[&#\s;,'\"()]"
# `Authorization: Basic x`: the scheme stays, the credential after it goes.
_AUTH_SCHEME = r"(?i)(?:basic|bearer|digest|token|negotiate)[ \t]+"
_BEARER = r"(?i)\b(?P<lead>bearer\s+)[A-Za-z0-9._~+/-]{16,}=*"
_PRIVATE_KEY_HEADER = r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_PRIVATE_KEY_BLOCK = r"(?s)" + _PRIVATE_KEY_HEADER + r".*?(?:-----END[A-Z0-9 ]*-----|\Z)"
# Well-known token shapes, each with what it is (for warnings and findings). Lengths are
# the real tokens' so short look-alikes in ordinary text and code stay untouched.
# Each with the literals it starts with (text is tested for those first, see scrub_text)
# and its forms, each starting with a literal: re then finds candidates by a fast prefix
# scan, which keeps searching a MiB at a few milliseconds (see secret_content).
_TOKEN_SHAPES = (
    ("aws", "an AWS access key id", ("AKIA", "ASIA", "ABIA", "ACCA"), (r"A(?:KIA|SIA|BIA|CCA)[0-9A-Z]{16}",)),
    ("github", "a GitHub token", ("gh", "github_pat_"), (r"gh[pousr]_[A-Za-z0-9]{30,}", r"github_pat_[A-Za-z0-9_]{30,}")),
    ("gitlab", "a GitLab token", ("gl",), (r"gl(?:pat|ptt|dt|rt|oas|cbt)-[A-Za-z0-9_-]{20,}",)),
    ("slack", "a Slack token", ("xox",), (r"xox[baprs]-[A-Za-z0-9-]{10,}",)),
    # sk- keys mix cases and digits; scikit-learn's CSS classes (sk-estimator-...) do not.
    ("sk", "an API secret key (sk-...)", ("sk-", "k_live_"), (r"sk-(?=[\w-]{0,80}[A-Z])(?=[\w-]{0,80}[0-9])[A-Za-z0-9_-]{20,}", r"sk_live_[0-9A-Za-z]{16,}", r"rk_live_[0-9A-Za-z]{16,}")),
    ("hf", "a Hugging Face token", ("hf_",), (r"hf_[A-Za-z0-9]{30,}",)),
    ("google", "a Google API key", ("AIza",), (r"AIza[0-9A-Za-z_-]{35}",)),
    ("registry", "a package registry token", ("npm_", "pypi-"), (r"npm_[A-Za-z0-9]{36}", r"pypi-[A-Za-z0-9_-]{50,}")),
    ("jwt", "a JSON web token", ("eyJ",), (r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}",)),
)  # fmt: skip
_TOKEN_EDGES = (r"(?<![A-Za-z0-9_-])(?:", r")(?![A-Za-z0-9_-])")
_TOKENS = (
    _TOKEN_EDGES[0]
    + "|".join(f"(?P<{key}>{'|'.join(forms)})" for key, _, _, forms in _TOKEN_SHAPES)
    + _TOKEN_EDGES[1]
)
_TOKEN_NAMES = {key: what for key, what, _, _ in _TOKEN_SHAPES}
_TOKEN_LITERALS = tuple(literal for _, _, literals, _ in _TOKEN_SHAPES for literal in literals)


def _kept_user(scheme: str, userinfo: str) -> str:
    """``scheme`` plus what of ``userinfo`` may be recorded: ssh needs the user name to
    connect and it is not a secret; a password, or any user-info of other schemes (often a
    token: ``https://<token>@github.com``), goes."""
    user = userinfo.partition(":")[0]
    if scheme.lower() in _SSH_SCHEMES and user and not re.fullmatch(_TOKENS, user):
        return f"{scheme}{user}@"
    return scheme


def _userinfo(match: re.Match[str]) -> str:
    return _kept_user(match["scheme"], match["userinfo"])


def _secret_values(text: str) -> Iterator[tuple[str, int, int]]:
    """``(name, start, end)`` of each non-empty value of a credential-named parameter."""
    names = re.compile(_PARAM_NAME)
    scan = 0
    while (match := names.search(text, scan)) is not None:
        scan = match.end()
        name, lead = match["name"], text[match.start() - 1 : match.start()]
        # In a URL's query, short names carry credentials too (?key=, ?sig=).
        if not (is_secret_param(name) if lead in ("?", "&") else is_secret_name(name)):
            continue
        start, end = _value_span(text, scan)
        if end > start and text[start:end] != REDACTED:
            yield name, start, end
        scan = max(end, scan)


def _value_span(text: str, at: int) -> tuple[int, int]:
    """Where the value starting at ``at`` lies: inside its quotes when quoted (up to 1 KiB
    on one line, so a stray quote cannot make the scan quadratic), else up to the next
    separator, a quote or a parenthesis; after an auth scheme (``Basic``) when one leads."""
    quote = text[at : at + 1]
    if quote in ("'", '"'):
        close = text.find(quote, at + 1, at + 1025)
        if close > 0 and "\n" not in text[at + 1 : close]:
            return at + 1, close
    scheme = re.match(_AUTH_SCHEME, text[at : at + 32])
    if scheme is not None:
        at += scheme.end()
    end_match = re.compile(_PARAM_VALUE_END).search(text, at)
    return at, end_match.start() if end_match is not None else len(text)


def _scrub_params(text: str) -> str:
    parts: list[str] = []
    done = 0
    for _, start, end in _secret_values(text):
        parts += [text[done:start], REDACTED]
        done = end
    return "".join(parts) + text[done:]


def scrub_text(text: str) -> str:
    """``text`` with credentials replaced by ``<redacted>`` or removed; never raises.

    URL user-info (``https://user:token@host`` → ``https://host``; ssh URLs keep the user
    name), scp-like ``user:pw@host:path`` → ``user@host:path``, token-bearing parameters
    (``?private_token=x``, ``&X-Amz-Signature=x``, ``password=x``), ``Bearer x``,
    private-key blocks and well-known token shapes (AWS, GitHub, GitLab, Slack, ``sk-``,
    ``hf_``, Google, JWT). Text without any of these comes back unchanged.
    """
    if not text:
        return text
    # Plain `in` tests first: this runs on every argument of every launch.
    if "-----BEGIN" in text:
        text = re.sub(_PRIVATE_KEY_BLOCK, REDACTED, text)
    if "@" in text:
        text = re.sub(_USERINFO, _userinfo, text)
        text = re.sub(_SCP_PASSWORD, r"\g<user>@", text)
    if "=" in text or ":" in text:
        text = _scrub_params(text)
    if "earer" in text or "EARER" in text:
        text = re.sub(_BEARER, lambda m: m["lead"] + REDACTED, text)
    if any(literal in text for literal in _TOKEN_LITERALS):
        text = re.sub(_TOKENS, REDACTED, text)
    return text


def scrub_url(url: str) -> str:
    """A remote URL without credentials (user-info, token parameters); never raises.

    ``https://user:token@host/x`` → ``https://host/x``; ``ssh://git:pw@host/x`` →
    ``ssh://git@host/x``; ``git@host:x`` and local paths unchanged. The whole string is
    one URL here, so its user-info goes even when it holds a blank, which in free text
    would end it.
    """
    scheme, sep, rest = url.partition("://")
    if sep and re.fullmatch(r"[A-Za-z][A-Za-z0-9+.-]*", scheme):
        end = min((i for i in map(rest.find, "/?#") if i >= 0), default=len(rest))
        userinfo, at, host = rest[:end].rpartition("@")
        if at:
            url = _kept_user(f"{scheme}://", userinfo) + host + rest[end:]
    return scrub_text(url)


def scrub_argv(argv: Sequence[str]) -> list[str]:
    """The command line with credentials replaced: ``--token=x``, ``--api-key x``, URLs,
    token shapes in any argument (``--note "... ghp_..."``)."""
    out: list[str] = []
    redact_next = False
    for arg in argv:
        if redact_next:
            out.append(REDACTED)
            redact_next = False
            continue
        if arg.startswith("-") and is_secret_name(arg.split("=", 1)[0]):
            if "=" in arg:
                out.append(arg.split("=", 1)[0] + "=" + REDACTED)
            else:
                out.append(arg)
                redact_next = True
            continue
        out.append(scrub_text(arg))
    return out


def find_credential(text: str) -> str | None:
    """What credential ``text`` holds, in words (``a password in a URL``); None if none.

    The same rules as :func:`scrub_text`, except that a bare user name in a URL is not
    reported (it is removed when recorded, but is rarely a secret by itself).
    """
    if not text:
        return None
    if re.search(_PRIVATE_KEY_HEADER, text):
        return "a private key"
    for match in re.finditer(_USERINFO, text):
        if ":" in match["userinfo"]:
            return "a password in a URL"
    if re.search(_SCP_PASSWORD, text):
        return "a password in a URL"
    for name, _, _ in _secret_values(text):
        return f"a credential in {name}="
    if re.search(_BEARER, text):
        return "a bearer token"
    token = re.search(_TOKENS, text)
    return _TOKEN_NAMES[token.lastgroup] if token is not None and token.lastgroup else None


# --- files -------------------------------------------------------------------------------

# Folders whose every file is a credential store.
_SECRET_DIRS = frozenset(
    {
        ".ssh", ".gnupg", ".aws", ".azure", "gcloud", ".password-store", "legacy_credentials",
        "secrets", ".secrets", "credentials", ".credentials",
    }
)  # fmt: skip
# (folder, file) pairs: config files that hold tokens only in these folders.
_SECRET_PAIRS = frozenset(
    {(".docker", "config.json"), (".kube", "config"), ("gh", "hosts.yml"), (".config", "hub")}
)
_SECRET_FILE = r"""(?ix) ^ (?:
        \.env (?:\..*)? | \.envrc | [._]netrc | \.pgpass | \.pypirc | \.npmrc | \.yarnrc(?:\.yml)?
      | \.git-credentials | \.htpasswd | \.dockercfg | \.vault-token | \.boto | \.s3cfg
      | \.my\.cnf | \.mylogin\.cnf | \.databrickscfg | kaggle\.json | rclone\.conf
      | .*kubeconfig.* | .*service[-_]?account.*\.json
      | id_[^.]+ | id_(?:rsa|dsa|ecdsa|ed25519)(?:_sk)?\.(?!pub$).*
      | .*\.(?:pem|key|p12|pfx|kdbx|jks|keystore|ppk|tfstate|tfvars)
      | .*(?:secret|credential|passw).*
    ) $"""
# Markers of a credential file's content, beyond the token shapes of text.
# Each pattern starts with a literal (see _TOKEN_SHAPES); the AWS one runs on the
# lowered text (`(?i)` would defeat the prefix scan).
_CONTENT_MARKERS = (
    ("a private key", (_PRIVATE_KEY_HEADER + r"[ \t]*\r?\n(?:[\w-]+:[^\n]*\n|\s)*[A-Za-z0-9+/=]{20,}",)),
    ("a Google service-account key", (r'"type"\s*:\s*"service_account"', r'"private_key"\s*:\s*"-----BEGIN')),
    ("a kubeconfig client key", (r"client-key-data:\s*[A-Za-z0-9+/=]{20,}",)),
    ("a registry login", (r'"auths?"\s*:\s*\{[^}]{0,4096}"auth"\s*:\s*"[A-Za-z0-9+/=]{8,}"',)),
    ("a PuTTY private key", (r"PuTTY-User-Key-File-\d+:",)),
    ("a netrc password", (r"machine\s+\S{1,256}\s+login\s+\S{1,256}\s+password\s+\S",)),
)  # fmt: skip
_AWS_SECRET = rb"aws_secret_access_key\s*[=:]\s*[a-z0-9/+=]{40}"
_TOKEN_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


def secret_file_name(rel: str) -> bool:
    """Whether an untracked file's path says it holds credentials (``.pgpass``,
    ``token.txt``, ``.ssh/id_ecdsa_sk``, ``.docker/config.json``, ``*.pem``, ...).

    Python modules are never matched by name: an experiment may import ``secret_sauce.py``
    (their content still counts, see :func:`secret_content`).
    """
    parts = rel.rstrip("/").split("/")
    name = parts[-1]
    if name.endswith(".py"):
        return False
    if _SECRET_DIRS.intersection(parts[:-1]):
        return True
    if len(parts) > 1 and (parts[-2], name) in _SECRET_PAIRS:
        return True
    if re.match(_SECRET_FILE, name):
        return True
    # token.txt, hf_token, api_key.json, sa-key.json: the stem's last word names a secret.
    stem = name.lstrip(".").split(".", 1)[0]
    words = _words(stem)
    return bool(words) and (is_secret_name(stem) or words[-1] in ("token", "key"))


def secret_file_content(path: Path, limit: int) -> str | None:
    """What credential a file holds (:func:`secret_content` on its first ``limit`` bytes,
    the whole file for any file reprokit snapshots); None when none or unreadable."""
    try:
        with path.open("rb") as f:
            return secret_content(f.read(limit), path.name)
    except OSError:
        return None


def secret_content(data: bytes, name: str = "") -> str | None:
    """What credential a file's content holds, in words; None when it looks like none.

    ``name`` (the file's name) says whether it is code: in ``.py``, ``.ipynb`` and other
    source files only a quoted literal is a value (``password = getpass()`` is code), in
    config files (``.ini``, ``.env``, ``.sh``, YAML, ...) a bare word is one too. Binary
    content (a NUL byte) is not searched: keys and tokens are text, and random bytes would
    only add false alarms. Every pattern starts with a literal, which re finds by a
    prefix scan: about 20-35 ms a MiB measured on a loaded 2-core machine, near what git
    spends hashing and writing the same bytes (the one regex over every position that
    this replaced took 60-130 ms).
    """
    if b"\0" in data:
        return None
    if name.endswith(".ipynb"):
        data = data.replace(b'\\"', b'"')  # a notebook's code is JSON strings
    # Bytes throughout: a str holding one non-ASCII character is searched ~10x slower.
    for what, patterns in _CONTENT_MARKERS:
        if any(_found(data, pattern) for pattern in patterns):
            return what
    for _, shape, _, forms in _TOKEN_SHAPES:
        if any(_found(data, "(?:" + form + _TOKEN_EDGES[1], edge=True) for form in forms):
            return shape
    lowered = data.lower()  # bytes: ASCII only, so offsets stay those of data
    if re.search(_AWS_SECRET, lowered):
        return "an AWS secret access key"
    if _has_wandb_key(data, lowered):
        return "a Weights & Biases API key"
    if _has_url_password(data):
        return "a password in a URL"
    found = _secret_assignment(data, lowered, code=name.endswith(_CODE_SUFFIXES))
    return f"a value for {found}" if found else None


def _found(data: bytes, pattern: str, edge: bool = False) -> bool:
    """Whether ``pattern`` matches in ``data`` (after a byte that cannot be part of a
    token, with ``edge``: tested here, since a look-behind in front would defeat re's
    prefix scan and make it try every position, 0.5-15 ms per pattern and MiB)."""
    for match in re.finditer(pattern.encode(), data):
        at = match.start()
        if not edge or at == 0 or data[at - 1] not in _TOKEN_BYTES:
            return True
    return False


# --- secrets assigned in files -----------------------------------------------------------

# Files whose unquoted values are code (`password = getpass()`), not literals.
_CODE_SUFFIXES = (
    ".py", ".pyi", ".ipynb", ".js", ".mjs", ".ts", ".jsx", ".tsx", ".rb", ".go", ".rs",
    ".java", ".kt", ".scala", ".c", ".cc", ".cpp", ".h", ".hpp", ".cs", ".php", ".lua",
    ".jl", ".r", ".R", ".swift", ".m",
)  # fmt: skip
# Every secret name (see is_secret_name) holds one of these; searched in the lowered bytes.
_NAME_LITERALS = (b"pass", b"pwd", b"secret", b"token", b"key", b"credential", b"auth", b"cookie")
_NAME_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-")
# From a name literal on: the rest of the name, the closing quote of a JSON key or of
# `os.environ["X"]`, a Python annotation (`password: str = "x"`), the separator (never
# `==`, `:=`, `!=`, `<=`), blanks.
_ASSIGN_TAIL = (
    rb"[\w.-]{0,64}(?:[\"']\]?|\])?[ \t]{0,16}"
    rb"(?::[ \t]*[\w.\[\], |]{1,40}?[ \t]*(?==))?(?:=>|[=:])(?!=)[ \t]{0,16}"
)
_QUOTED = rb"(?P<prefix>[rRbBuUfF]{0,2})(?P<q>[\"'])"
_BARE = rb"[A-Za-z0-9_+/=.@!%^*~:-]{1,1024}"
# Values that stand for a secret rather than being one: empty, null-ish, an environment
# or template reference (`$X`, `${X}`, `{{ x }}`, `%(x)s`, `<your key>`, `???`), a
# special token (`[PAD]`), a run of one character (`xxxx`, `****`), a word saying so.
# `changeme` too: a documented default protects nothing by being left out.
_PLACEHOLDER_STARTS = tuple("$<{%!~?*[")
_PLACEHOLDER_WORDS = frozenset(
    {
        "none", "null", "nil", "true", "false", "yes", "no", "changeme", "change_me",
        "change-me", "secret", "password", "passwd", "token", "apikey", "api_key", "redacted",
        "todo", "fixme", "example", "dummy", "fake", "test", "placeholder", "default",
        "empty", "missing", "required", "pass", "pw", "pwd", "user", "username", "xxx",
        "basic", "bearer", "digest", "key",
    }
)  # fmt: skip
_PLACEHOLDER_LEADS = ("your", "my_", "my-", "insert", "enter", "replace", "put_", "put-")
_REFERENCE = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+"  # settings.PASSWORD, process.env.X
# `token` and `auth` are words of ordinary code (`token = "the"`, `{col_token: "min"}`,
# `null_token = "__null_token__"`, `auth: basic`): only a value shaped like a credential
# counts for them.
_LOOSE_NAMES = frozenset({"token", "auth"})
_WANDB_KEY = rb"(?<![0-9a-f])(?:local-)?[0-9a-f]{40}(?![0-9a-f])"
_URL_PASSWORD = (
    rb"://(?P<user>[^\s/?#@:'\"]{0,128}):(?P<pw>[^\s/?#@'\"]{1,256})@(?P<host>[^\s/?#:'\"]{1,256})"
)
# Hosts of documentation examples: `https://user:pass@host/x` in a docstring is not a leak.
_EXAMPLE_HOSTS = re.compile(r"(?i)(?:.*\.)?example(?:\.(?:com|org|net))?|host|hostname|server")


def _is_placeholder(value: str) -> bool:
    """Whether a value stands for a secret instead of being one (``""``, ``None``,
    ``${X}``, ``<your key>``, ``xxxx``, ``changeme``)."""
    v = value.strip()
    low = v.lower()
    return (
        not v
        or v.startswith(_PLACEHOLDER_STARTS)
        or low in _PLACEHOLDER_WORDS
        or low == REDACTED
        or len(set(low)) == 1
        or low.startswith(_PLACEHOLDER_LEADS)
        or (low.startswith("my") and low[2:].lstrip("_-") in _PLACEHOLDER_WORDS)
        or "..." in v
        or "password" in low
        or "passwd" in low
        or not any(c.isalnum() for c in v)
    )


def _secret_assignment(data: bytes, lowered: bytes, code: bool) -> str | None:
    """The name of the first secret-named field, key or variable given a literal value:
    ``NAME=value``, ``export NAME=value``, ``name: value``, ``"name": "value"``,
    ``name = "value"``, ``os.environ["NAME"] = "value"``."""
    for literal in _NAME_LITERALS:
        for match in re.finditer(literal + _ASSIGN_TAIL, lowered):
            name = _name_around(data, match.start())
            value = _literal_at(data, match.end(), code)
            if value is not None and _secret_pair(name, value):
                return name
    return None


def _name_around(data: bytes, at: int) -> str:
    """The name (``WANDB_API_KEY``, ``db.password``) holding the byte at ``at``."""
    start = end = at
    while start > 0 and at - start < 64 and data[start - 1] in _NAME_BYTES:
        start -= 1
    while end < len(data) and end - at < 64 and data[end] in _NAME_BYTES:
        end += 1
    return data[start:end].decode("ascii", "replace")


def _literal_at(data: bytes, at: int, code: bool) -> str | None:
    """The literal value at ``at``: a quoted string on one line (not an f-string), or in
    a config file a bare word that is not a call or a dotted reference; else None."""
    quoted = re.compile(_QUOTED).match(data, at)
    if quoted is not None:
        if b"f" in quoted["prefix"].lower():
            return None  # f"{x}": a format, not a literal
        start = quoted.end()
        close = data.find(quoted["q"], start, start + 1025)
        if close < 0 or b"\n" in data[start:close]:
            return None
        return data[start:close].decode("utf-8", "replace")
    if code:
        return None
    bare = re.compile(_BARE).match(data, at)
    if bare is None or data[bare.end() : bare.end() + 1] in (b"(", b"["):
        return None
    value = bare[0].decode("ascii", "replace")
    return None if re.fullmatch(_REFERENCE, value) else value


def _secret_pair(name: str, value: str) -> bool:
    """Whether ``name`` says secret and ``value`` is a real one."""
    words = _words(name)
    if not is_secret_name(name) or _is_placeholder(value) or value == name:
        return False
    if re.fullmatch(r"[A-Za-z_]\w*", value) and is_secret_name(value):
        return False  # ENV_GITHUB_TOKEN = "GITHUB_TOKEN": the variable to read it from
    if words[-1] in _LOOSE_NAMES:
        return (
            len(value) >= 16
            and not any(c.isspace() for c in value)
            and "token" not in value.lower()
            and not value.startswith("__")
        )
    return True


def _has_wandb_key(data: bytes, lowered: bytes) -> bool:
    """A Weights & Biases key: 40 hex digits within a line after ``wandb`` (``WANDB_API_KEY=``,
    ``wandb login <key>``, ``wandb.login(key="<key>")``); the hex alone is a git SHA."""
    for match in re.finditer(rb"wandb", lowered):
        line_end = lowered.find(b"\n", match.start(), match.start() + 200)
        if re.search(
            _WANDB_KEY, data[match.start() : line_end if line_end >= 0 else match.start() + 200]
        ):
            return True
    return False


def _has_url_password(data: bytes) -> bool:
    """A URL whose user-info holds a password (``postgres://alice:Sup3rS3cret@db/prod``),
    unless it is a documentation example: a placeholder password (``pass``, ``<pw>``, the
    user's own name) or an example host (``host``, ``example.com``)."""
    for match in re.finditer(_URL_PASSWORD, data):
        user, pw, host = (match[g].decode("utf-8", "replace") for g in ("user", "pw", "host"))
        template = any(c in user + pw for c in "[]<>{}")  # git://[repo[:]][ref@]path
        if not (template or _is_placeholder(pw) or pw == user or _EXAMPLE_HOSTS.fullmatch(host)):
            return True
    return False
