"""reprokit.redact: the one owner of credential rules (text scrubbing, secret names, files)."""

from __future__ import annotations

import pytest

from reprokit import redact

# Fake credentials in the real shapes, built at run time so no scanner takes this file for
# a leak.
GITHUB = "ghp_" + "A1b2C3d4E5" * 4
GITHUB_PAT = "github_pat_" + "11ABCDEFG0" * 4
GITLAB = "glpat-" + "xY9_zW8-vU7" * 2
SLACK = "xoxb-" + "1234567890-abcdefABCDEF"
AWS_ID = "AKIA" + "IOSFODNN7EXAMPLE"
OPENAI = "sk-proj-" + "Tq3BlbkFJ" * 4
HF = "hf_" + "aBcDeFgHiJ" * 4
JWT = "eyJhbGciOiJIUzI1NiJ9." + "eyJzdWIiOiIxMjM0NTY3ODkwIn0." + "dozjgNryP4J3jVmNHl0w5N"
PEM = (
    "-----BEGIN OPENSSH PRIVATE KEY-----\n"
    + "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW\n"
    + "-----END OPENSSH PRIVATE KEY-----\n"
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # user-info in any scheme; ssh keeps the user name, never the password
        ("https://user:tok3n@host/x", "https://host/x"),
        ("https://tok3n@host", "https://host"),
        ("https://u:p@ss@host/x", "https://host/x"),
        ("tcp://user:pw@10.0.0.1:29500", "tcp://10.0.0.1:29500"),
        ("ssh://git:pw@host/x", "ssh://git@host/x"),
        ("ssh://git@host/x", "ssh://git@host/x"),
        ("user:pw@host:team/x.git", "user@host:team/x.git"),
        ("git@github.com:team/x.git", "git@github.com:team/x.git"),
        # odd URLs git accepts: unchanged, never an exception
        ("https://[bad/x", "https://[bad/x"),
        ("https://[::1]:8443/x.git", "https://[::1]:8443/x.git"),
        ("/srv/git/x.git", "/srv/git/x.git"),
        ("../x.git", "../x.git"),
        ("", ""),
        # token-bearing parameters
        (
            "https://gitlab.example/x.git?private_token=s3cr3t&ref=main",
            "https://gitlab.example/x.git?private_token=<redacted>&ref=main",
        ),
        (
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=AKID%2F1&X-Amz-Signature=abc123",
            "https://b.s3.amazonaws.com/k?X-Amz-Credential=<redacted>&X-Amz-Signature=<redacted>",
        ),
        (
            "https://h/x?access_token=a&token=b&key=c&sig=d",
            "https://h/x?access_token=<redacted>&token=<redacted>&key=<redacted>&sig=<redacted>",
        ),
        ("https://h/x?password=a&page=2", "https://h/x?password=<redacted>&page=2"),
        (
            "retry with password=hunter2 and max_tokens=5",
            "retry with password=<redacted> and max_tokens=5",
        ),
        ("Authorization: Bearer abcdefghijklmnop0123", "Authorization: Bearer <redacted>"),
        # a pair inside another pair's value is still seen
        ("--note=--password=hunter2", "--note=--password=<redacted>"),
        ("opts=a;password=pw=with=equals;b=1", "opts=a;password=<redacted>;b=1"),
        ("url=https://h/x?token=t", "url=https://h/x?token=<redacted>"),
        ("password=", "password="),
        # ordinary text and ML vocabulary are left alone
        (
            "lr=0.1 max_tokens=512 key_dim=64 tokenizer=gpt2",
            "lr=0.1 max_tokens=512 key_dim=64 tokenizer=gpt2",
        ),
        ("bob@example.com asked for it", "bob@example.com asked for it"),
        ("experiments/digits/mlp/adam_04_03.py", "experiments/digits/mlp/adam_04_03.py"),
    ],
)
def test_scrub_text(text: str, expected: str) -> None:
    assert redact.scrub_text(text) == expected


@pytest.mark.parametrize("token", [GITHUB, GITHUB_PAT, GITLAB, SLACK, AWS_ID, OPENAI, HF, JWT])
def test_token_shapes_are_scrubbed_anywhere(token: str) -> None:
    text = f"see {token} and 'x={token}'"
    scrubbed = redact.scrub_text(text)
    assert token not in scrubbed and "<redacted>" in scrubbed
    assert redact.find_credential(token) is not None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://user:pass word@host/x", "https://host/x"),
        (
            "https://u:p@ss@host:8443/x?private_token=t#f",
            "https://host:8443/x?private_token=<redacted>#f",
        ),
        ("ssh://git:pw@host/x", "ssh://git@host/x"),
        ("https://[bad/x", "https://[bad/x"),
        ("user:pw@host:path", "user@host:path"),
        ("git@host:x.git", "git@host:x.git"),
        ("C:/repos/x.git", "C:/repos/x.git"),
        ("file:///srv/x.git", "file:///srv/x.git"),
        ("fd::17", "fd::17"),
    ],
)
def test_scrub_url_takes_the_whole_string_as_one_url(url: str, expected: str) -> None:
    assert redact.scrub_url(url) == expected


def test_scrubbing_a_long_text_stays_linear() -> None:
    import time

    texts = ["a" * 60_000 + "@" + "b=" * 30_000, "a:b," * 15_000 + "@=", "a-" * 30_000 + "@="]
    start = time.perf_counter()
    for text in texts:
        assert redact.scrub_text(text) == text
    assert time.perf_counter() - start < 2.0  # unbounded, the scheme took ~15 s and the names ~45 s


def test_private_key_block_is_scrubbed() -> None:
    scrubbed = redact.scrub_text(f"key:\n{PEM}after")
    assert "b3BlbnNzaC1rZXkt" not in scrubbed
    assert scrubbed == "key:\n<redacted>\nafter"


@pytest.mark.parametrize(
    "name",
    [
        "api_key", "apiKey", "API_KEY", "password", "db_password", "passwd", "token",
        "access_token", "hf_token", "secret", "client_secret", "access_key", "private_key",
        "secret_key", "aws_access_key_id", "auth", "basic_auth", "credentials", "db_pass",
        "cookie",
    ],
)  # fmt: skip
def test_secret_names(name: str) -> None:
    assert redact.is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "tokenizer", "tokenizer_name", "max_tokens", "num_tokens", "max_new_tokens",
        "pad_token", "eos_token", "token_ids", "key_dim", "keypoints", "sort_key", "rng_key",
        "key", "token_file", "password_env", "api_key_path", "secret_name", "num_passes",
        "auth_url", "monkey", "hidden",
    ],
)  # fmt: skip
def test_names_that_are_not_secrets(name: str) -> None:
    assert not redact.is_secret_name(name)


@pytest.mark.parametrize(
    "path",
    [
        ".pgpass", "token.txt", "hf_token", "service-account.json", "gcp/service_account_key.json",
        "kubeconfig", "dev.kubeconfig", ".kube/config", ".dockercfg", ".docker/config.json",
        ".ssh/id_ecdsa_sk", "home/.ssh/known_hosts", "id_rsa", "id_ed25519_sk", "id_work",
        "deploy.pem", "tls.key", ".netrc", "_netrc", ".env", ".env.local", ".envrc",
        ".aws/credentials", ".aws/config", ".config/gcloud/application_default_credentials.json",
        ".config/gcloud/access_tokens.db", ".azure/msal_token_cache.json", "api_key.txt",
        "sa-key.json", ".git-credentials", ".pypirc", "kaggle.json", "client_secret.json",
        "secrets/db.yaml", "deploy/credentials/prod.json",
        "terraform.tfstate",
    ],
)  # fmt: skip
def test_secret_file_names(path: str) -> None:
    assert redact.secret_file_name(path)


@pytest.mark.parametrize(
    "path",
    [
        "secret_sauce.py", "tokens/token.py", ".ssh/helper.py", "tokenizer.json",
        "special_tokens_map.json", "id_rsa.pub", "train.py", "data/config.json", "config.yaml",
        "README.md", "keys.md", "docker/config.json", "secrets/__init__.py",
        "secret_sauce/data.json",
    ],
)  # fmt: skip
def test_file_names_that_are_not_secrets(path: str) -> None:
    assert not redact.secret_file_name(path)


@pytest.mark.parametrize(
    ("content", "what"),
    [
        (PEM, "a private key"),
        (
            "-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\n\nMIIEowIBAAKCAQEA7bq98j\n",
            "a private key",
        ),
        ('{\n  "type": "service_account",\n  "project_id": "p"\n}\n', "service-account"),
        ('{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIE"}', "service-account"),
        (
            "[default]\naws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n",
            "AWS",
        ),
        (f"export GH={GITHUB}\n", "GitHub"),
        (f"{GITLAB}\n", "GitLab"),
        (f"slack: {SLACK}\n", "Slack"),
        (f"{AWS_ID}\n", "AWS"),
        (f"OPENAI_API_KEY={OPENAI}\n", "sk-"),
        (f"{HF}\n", "Hugging Face"),
        (f"{JWT}\n", "JSON web token"),
        (
            "users:\n- user:\n    client-key-data: " + "LS0tLS1CRUdJTiBSU0EgUFJJVkFURSBLRVkt\n",
            "kubeconfig",
        ),
        ('{"auths": {"r.io": {"auth": "dXNlcjpwYXNzd29yZA=="}}}', "registry"),
        ("machine api.example.com login me password hunter2\n", "netrc"),
    ],
)
def test_secret_content(content: str, what: str) -> None:
    found = redact.secret_content(content.encode())
    assert found is not None
    assert what in found


@pytest.mark.parametrize(
    "content",
    [
        # Ordinary Python code that talks about keys, tokens and passwords.
        'PEM_HEADER = "-----BEGIN RSA PRIVATE KEY-----"\n'
        'def load(d):\n    return d["private_key"], d.get("type")\n',
        "token = tokenizer(text)\npassword = getpass.getpass()\napi_key = os.environ['API_KEY']\n",
        '"""Example: https://user:token@host/x or Authorization: Bearer <token>."""\n',
        "sk-learn and scikit-learn; task-0123456789abcdefghij; ghp_short\n",
        "import torch\nmodel = torch.nn.Linear(16, 16)\n",
        # A binary file is not searched.
        "\0" + GITHUB,
    ],
)
def test_ordinary_content_is_not_secret(content: str) -> None:
    assert redact.secret_content(content.encode()) is None


def test_scrub_argv_uses_the_same_names() -> None:
    argv = ["reprokit", "launch", "x.py", "--max-tokens", "5", "--hf-token", "abc", "--note=a b"]
    assert redact.scrub_argv(argv) == [
        "reprokit", "launch", "x.py", "--max-tokens", "5", "--hf-token", "<redacted>", "--note=a b",
    ]  # fmt: skip
    note = f"--note=pushed to https://me:{GITHUB}@github.com/x?private_token=zz"
    assert redact.scrub_argv([note]) == [
        "--note=pushed to https://github.com/x?private_token=<redacted>"
    ]


def test_checking_a_file_costs_microseconds() -> None:
    import time
    from pathlib import Path

    sample = Path(redact.__file__).read_bytes()[: redact.CONTENT_SAMPLE]  # full of literals
    start = time.perf_counter()
    for _ in range(1000):
        assert redact.secret_content(sample) is None
    # ~0.15 s measured; whole-text regexes took ~1 s (launch checks every untracked file).
    assert time.perf_counter() - start < 0.6
