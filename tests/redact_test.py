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
        # one-word capitals, colon and JSON forms, auth headers, a call's first argument
        ("PGPASSWORD=x psql", "PGPASSWORD=<redacted> psql"),
        ("MYSQL_PWD=x mysql", "MYSQL_PWD=<redacted> mysql"),
        ("PWD=/home/me", "PWD=/home/me"),
        ("password: hunter2", "password: <redacted>"),
        ('{"password": "hunter2", "lr": 0.1}', '{"password": "<redacted>", "lr": 0.1}'),
        ("aws_secret_access_key: wJalrXUtnFEMI/K7MDENG", "aws_secret_access_key: <redacted>"),
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic <redacted>"),
        ("authorization=Bearer abc.def", "authorization=Bearer <redacted>"),
        ("Config(api_key='abc123')", "Config(api_key='<redacted>')"),
        ("Config(lr=1, api_key='x')", "Config(lr=1, api_key='<redacted>')"),
        ('Config(token="a b c", lr=1)', 'Config(token="<redacted>", lr=1)'),
        ("f(password=abc)", "f(password=<redacted>)"),
        ("password: ", "password: "),
        ("tokens: 512, max_tokens: 5, time 12:30", "tokens: 512, max_tokens: 5, time 12:30"),
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

    texts = [
        "a" * 60_000 + "@" + "b=" * 30_000,
        "a:b," * 15_000 + "@=",
        "a-" * 30_000 + "@=",
        "a: " * 20_000,
        "{" + '"a": "b", ' * 6_000,
    ]
    start = time.perf_counter()
    for text in texts:
        assert redact.scrub_text(text) == text
    # Quoted values are searched for their closing quote within 1 KiB only.
    quotes = "password='" * 6_000
    assert redact.scrub_text(quotes) == "password='<redacted>'" * 3_000
    # A guard against a catastrophic (quadratic) pattern, not a speed claim: unbounded, the
    # scheme took ~15 s and the names ~45 s; bench/bench_redact.py measures the real cost.
    assert time.perf_counter() - start < 10.0


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
    "name",
    [
        "PGPASSWORD", "MYSQL_PWD", "DB_PWD", "WANDB_API_KEY", "MLFLOW_TRACKING_PASSWORD",
        "AWS_SECRET_ACCESS_KEY", "HF_TOKEN", "GITHUB_TOKEN", "OPENAIAPIKEY", "password",
        "api_key", "db_pass",
    ],
)  # fmt: skip
def test_one_name_rule_for_variables_and_fields(name: str) -> None:
    # MYSQL_PWD was dropped from the environment but kept by the text scrubber.
    assert redact.is_secret_name(name)
    assert redact.is_secret_env_name(name)
    assert redact.scrub_text(f"{name}=x") == f"{name}=<redacted>"


@pytest.mark.parametrize("name", ["PWD", "OLDPWD", "max_tokens", "public_key", "publicKeyToken"])
def test_the_name_rule_leaves_these(name: str) -> None:
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


WANDB = "a1b2c3d4e5" * 4  # 40 hex digits


@pytest.mark.parametrize(
    ("name", "content", "what"),
    [
        # assignments of a literal to a secret name, in every file format of a training job
        ("env.sh", f"export WANDB_API_KEY={WANDB}\n", "Weights & Biases"),
        ("env.sh", "export MLFLOW_TRACKING_PASSWORD=mlfl0w-pw\n", "MLFLOW_TRACKING_PASSWORD"),
        (".envfile", "PGPASSWORD=s3cr3t-pg\n", "PGPASSWORD"),
        ("db.ini", "[db]\nhost = db\npassword = Hunter2Hunter2\n", "password"),
        ("conf.toml", '[wandb]\napi_key = "k3y-Value"\n', "api_key"),
        ("conf.yaml", "db:\n  password: hunter2\n", "password"),
        ("conf.yaml", "aws_secret_access_key: abcdEFGH1234\n", "aws_secret_access_key"),
        ("conf.json", '{"user": "me", "password": "hunter2"}', "password"),
        ("keys.py", f'WANDB_API_KEY = "{WANDB}"\n', "Weights & Biases"),
        ("keys.py", 'PASSWORD = "hunter2"\n', "PASSWORD"),
        ("cfg.py", 'class C:\n    api_key: str = "abc123"\n', "api_key"),
        ("cfg.py", 'os.environ["MLFLOW_TRACKING_PASSWORD"] = "mlfl0w"\n', "MLFLOW"),
        ("cfg.py", 'run(Config(lr=1, api_key="abc123"))\n', "api_key"),
        ("cfg.py", 'access_token = "x7Yq2LmN9pR4sT6v"\n', "access_token"),
        ("nb.ipynb", '{"source": ["password = \\"hunter2\\"\\n"]}', "password"),
        # URL passwords, in code and in docstrings alike when they look real
        ("env.sh", "DATABASE_URL=postgres://alice:Sup3rS3cret@db/prod\n", "URL"),
        ("db.py", '"""Connect: postgres://alice:Sup3rS3cret@db/prod"""\n', "URL"),
        # Weights & Biases keys, wherever the key goes
        ("login.sh", f"wandb login {WANDB}\n", "Weights & Biases"),
        ("t.py", f'wandb.login(key="{WANDB}")\n', "Weights & Biases"),
        ("netrc.txt", f"machine api.wandb.ai\n  login user\n  password {WANDB}\n", "netrc"),
    ],
)
def test_secret_assignments_in_files(name: str, content: str, what: str) -> None:
    found = redact.secret_content(content.encode(), name)
    assert found is not None and what in found


@pytest.mark.parametrize(
    ("name", "content"),
    [
        # code that reads a secret from elsewhere
        ("t.py", 'api_key = os.environ["API_KEY"]\npassword = getpass.getpass()\n'),
        ("t.py", "token = tokenizer(x)\nself.api_key = api_key\npassword = args.password\n"),
        ("t.py", 'token = "the"\ntoken = "<pad>"\ntoken = "[CLS]"\n{col_token: "min"}\n'),
        ("t.py", 'if password == "abc": pass\nkey = "abc"\nAPI_KEY = f"{prefix}-x"\n'),
        ("t.py", 'ENV_GITHUB_TOKEN = "GITHUB_TOKEN"\nnull_token = "__null_token_value__"\n'),
        ("t.py", 'headers["authorization"] = "Basic " + encoded\npassword = ":****"\n'),
        # empty values, placeholders and references
        ("t.py", 'password = ""\napi_key = None\nAPI_KEY = "${API_KEY}"\nkey = "xxxx"\n'),
        ("conf.ini", "password =\npassword = ${DB}\npassword = changeme\npassword = %(pw)s\n"),
        ("conf.yaml", "api_key: ???\ntoken: null\npassword: <your password>\nsecret: ~\n"),
        ("conf.yaml", "password: !ENV DB_PASSWORD\napi_key: your-api-key-here\n"),
        ("env.sh", 'export WANDB_API_KEY=$KEY\nexport HF_TOKEN="$(cat ~/.hf)"\n'),
        ("env.sh", "PASSWORD_FILE=/run/secrets/db\nTOKEN_URL=https://auth/x\n"),
        ("README.md", "export WANDB_API_KEY=<your key>\nexport OPENAI_API_KEY=sk-...\n"),
        # documentation URLs
        ("t.py", '"""Example: https://user:pass@host/x, ssh://git:pw@host/x."""\n'),
        ("t.py", '"""smb://myuser:mypassword@server/share or http://u:p@example.com/"""\n'),
        # a git SHA is 40 hex digits too, a public key is public
        ("lock.txt", f"rev = {WANDB}\npublic_key: AAAAB3NzaC1yc2E\n"),
    ],
)
def test_ordinary_assignments_in_files_are_not_secret(name: str, content: str) -> None:
    assert redact.secret_content(content.encode(), name) is None


def test_the_whole_file_is_searched() -> None:
    # A notebook held its token at byte ~9,000, after the 8 KiB that was once read.
    filler = b"x = 1  # padding\n" * 70_000  # about 1.2 MB
    for secret in (f"HF = '{HF}'\n".encode(), f"WANDB_API_KEY={WANDB}\n".encode()):
        assert redact.secret_content(filler + secret, "late.py") is not None
        assert redact.secret_content(filler + secret[:-20], "late.py") is None
