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

    ``api_key``, ``password``, ``token``, ``client_secret``, ``aws_access_key_id``: yes.
    ``tokenizer``, ``max_tokens``, ``pad_token``, ``key_dim``, ``keypoints``, ``sort_key``,
    ``token_file``: no.
    """
    words = _words(name)
    if not words:
        return False
    last, prev = words[-1], words[-2] if len(words) > 1 else ""
    if last in _SECRET_LAST_WORDS:
        return True
    if last == "token":
        return prev not in _MODEL_TOKENS
    if last == "key":
        return prev in _KEY_QUALIFIERS
    if last == "pass":
        return prev in _PASS_QUALIFIERS
    # AWS names the key's id after the key: aws_access_key_id.
    return last == "id" and words[-3:-1] == ["access", "key"]


def is_secret_param(name: str) -> bool:
    """Whether a URL query parameter carries a credential (broader than field names)."""
    words = _words(name)
    return is_secret_name(name) or (bool(words) and words[-1] in _PARAM_LAST_WORDS)


def is_secret_env_name(name: str) -> bool:
    """Whether an environment variable's name says it may hold a credential."""
    upper = name.upper()
    return any(word in upper for word in _SECRET_ENV_WORDS)


# --- text --------------------------------------------------------------------------------

# user-info: up to the LAST "@" before the host ends ("/", "?", "#" or a blank), so a
# password holding an unencoded "@" goes too. git splits at the first "/?#" as well.
# Lengths are bounded here and below: unbounded, a long run of letters (or of `a:b,`)
# made every position rescan it, and a long note took minutes.
_USERINFO = r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{0,31}://)(?P<userinfo>[^/?#\s]*)@"
_SSH_SCHEMES = ("ssh://", "git+ssh://", "ssh+git://", "sftp://")
# scp-like `user:password@host:path` (git reads it as ssh to host).
_SCP_PASSWORD = r"(?<![\w.+/:@-])(?P<user>[\w.+-]{1,64}):[^\s@/:]{1,256}@(?=[\w.-]+:)"
# name=value after "?", "&", ";", ",", "=", "-", "/" or a blank (or at the start): a URL's
# query, a connection string, a note's `password=...`, `--note=--password=x`. Only the
# name is matched: a value is not consumed unless it is redacted, so a pair inside another
# pair's value is still seen.
_PARAM_NAME = r"(?:^|(?<=[?&;,\s=/-]))(?P<name>[\w.\[\]][\w.\[\]-]{0,63})="
_PARAM_VALUE_END = r"[&#\s;,]"
_BEARER = r"(?i)\b(?P<lead>bearer\s+)[A-Za-z0-9._~+/-]{16,}=*"
_PRIVATE_KEY_HEADER = r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
_PRIVATE_KEY_BLOCK = r"(?s)" + _PRIVATE_KEY_HEADER + r".*?(?:-----END[A-Z0-9 ]*-----|\Z)"
# Well-known token shapes, each with what it is (for warnings and findings). Lengths are
# the real tokens' so short look-alikes in ordinary text and code stay untouched.
# Each with the literals it starts with: files are searched for those first (plain
# substring search, see _has_token), which keeps checking an 8 KiB file at microseconds;
# the regexes alone took ~1 ms a file.
_TOKEN_SHAPES = (
    ("aws", "an AWS access key id", ("AKIA", "ASIA", "ABIA", "ACCA"), r"(?:AKIA|ASIA|ABIA|ACCA)[0-9A-Z]{16}"),
    ("github", "a GitHub token", ("gh", "github_pat_"), r"gh[pousr]_[A-Za-z0-9]{30,}|github_pat_[A-Za-z0-9_]{30,}"),
    ("gitlab", "a GitLab token", ("gl",), r"gl(?:pat|ptt|dt|rt|oas|cbt)-[A-Za-z0-9_-]{20,}"),
    ("slack", "a Slack token", ("xox",), r"xox[baprs]-[A-Za-z0-9-]{10,}"),
    ("sk", "an API secret key (sk-...)", ("sk-", "k_live_"), r"sk-[A-Za-z0-9_-]{20,}|[sr]k_live_[0-9A-Za-z]{16,}"),
    ("hf", "a Hugging Face token", ("hf_",), r"hf_[A-Za-z0-9]{30,}"),
    ("google", "a Google API key", ("AIza",), r"AIza[0-9A-Za-z_-]{35}"),
    ("registry", "a package registry token", ("npm_", "pypi-"), r"npm_[A-Za-z0-9]{36}|pypi-[A-Za-z0-9_-]{50,}"),
    ("jwt", "a JSON web token", ("eyJ",), r"eyJ[A-Za-z0-9_-]{10,}\.eyJ[A-Za-z0-9_-]{10,}\.[A-Za-z0-9_-]{10,}"),
)  # fmt: skip
_TOKEN_EDGES = (r"(?<![A-Za-z0-9_-])(?:", r")(?![A-Za-z0-9_-])")
_TOKENS = (
    _TOKEN_EDGES[0]
    + "|".join(f"(?P<{key}>{pattern})" for key, _, _, pattern in _TOKEN_SHAPES)
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
    names, ends = re.compile(_PARAM_NAME), re.compile(_PARAM_VALUE_END)
    scan = 0
    while (match := names.search(text, scan)) is not None:
        scan = match.end()
        name, lead = match["name"], text[match.start() - 1 : match.start()]
        # In a URL's query, short names carry credentials too (?key=, ?sig=).
        if not (is_secret_param(name) if lead in ("?", "&") else is_secret_name(name)):
            continue
        end_match = ends.search(text, scan)
        end = end_match.start() if end_match is not None else len(text)
        if end > scan and text[scan:end] != REDACTED:
            yield name, scan, end
        scan = max(end, scan)


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
    if "=" in text:
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

# How much of an untracked file :func:`secret_content` reads. Launch checks every untracked
# file it is about to snapshot, so this bounds the cost to one small read per file; key
# files, token files and service-account JSON are small, and their marker (the PEM header,
# `"type": "service_account"`) comes first.
CONTENT_SAMPLE = 8 * 1024

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
_CONTENT_MARKERS = (
    ("a private key", ("PRIVATE KEY",), _PRIVATE_KEY_HEADER + r"[ \t]*\r?\n(?:[\w-]+:[^\n]*\n|\s)*[A-Za-z0-9+/=]{20,}"),
    ("a Google service-account key", ('"service_account"', '"private_key"'), r'"type"\s*:\s*"service_account"|"private_key"\s*:\s*"-----BEGIN'),
    ("an AWS secret access key", ("aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"), r"(?i)aws_secret_access_key\s*[=:]\s*[A-Za-z0-9/+=]{40}"),
    ("a kubeconfig client key", ("client-key-data",), r"client-key-data:\s*[A-Za-z0-9+/=]{20,}"),
    ("a registry login", ('"auth',), r'"auths?"\s*:\s*\{[^}]*"auth"\s*:\s*"[A-Za-z0-9+/=]{8,}"'),
    ("a PuTTY private key", ("PuTTY-User-Key-File-",), r"PuTTY-User-Key-File-\d+:"),
    ("a netrc password", ("machine",), r"machine\s+\S+\s+login\s+\S+\s+password\s+\S+"),
)  # fmt: skip
_TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")


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


def secret_content(sample: bytes) -> str | None:
    """What credential the start of a file holds, in words; None when it looks like none.

    Binary content (a NUL byte) is not searched: keys and tokens are text, and random
    bytes would only add false alarms. Ordinary Python code matches nothing here: only
    complete private-key blocks and the real lengths of tokens count.
    """
    if b"\0" in sample:
        return None
    text = sample.decode("utf-8", "replace")
    # Not URL passwords or `Bearer x`: docstrings and READMEs show them as examples.
    for what, literals, pattern in _CONTENT_MARKERS:
        if any(literal in text for literal in literals) and re.search(pattern, text):
            return what
    for _, shape, starts, token in _TOKEN_SHAPES:
        if _has_token(text, starts, token):
            return shape
    return None


def _has_token(text: str, literals: tuple[str, ...], pattern: str) -> bool:
    """Whether ``pattern`` matches where one of its ``literals`` starts, as a whole token.

    Matched only at the literals' places: a regex that must test every position of 8 KiB
    (a look-behind defeats re's prefix search) took ~0.5 ms per shape and file.
    """
    whole = re.compile("(?:" + pattern + _TOKEN_EDGES[1])
    for literal in literals:
        at = text.find(literal)
        while at >= 0:
            if (at == 0 or text[at - 1] not in _TOKEN_CHARS) and whole.match(text, at):
                return True
            at = text.find(literal, at + 1)
    return False
