"""Redis AUTH (a password, an ACL user) and TLS, each against a redis-server this module starts:
gemsdash works end to end with the right credentials, and the wrong ones fail with one line that
names where it tried to connect and no secret."""

from __future__ import annotations

import json
import traceback
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import redis
import trustme

from gemsdash.queue import BackendUnavailable, JobState, JobType, Runtime, add_job, configure, get_job
from gemsdash.queue import runtime as runtime_module
from gemsdash.queue.handlers import override_work
from tests.conftest import test_settings
from tests.core.workload import email, scripted
from tests.security.helpers import CliRun, one_line_error, run_cli
from tests.support import RedisServer, command, free_port, wait_for

pytestmark = pytest.mark.slow

#: Characters that must survive the trip into a URL (REDIS_PASSWORD is quoted into one).
PASSWORD = "req-Pw #7@x%/y"
WRONG_PASSWORD = "not-the-Pw-91"
ACL_USER, ACL_PASSWORD = "app", "acl-Pw-5k2q"


@pytest.fixture(autouse=True)
def _forget_runtime() -> Iterator[None]:
    yield
    runtime_module.reset()


def cli_env(namespace: str, **values: str) -> dict[str, str]:
    return {"REDIS_ENABLED": "true", "GEMSDASH_NAMESPACE": namespace, **values}


def assert_names_no_secret(text: str, *secrets: str) -> None:
    for secret in (PASSWORD, WRONG_PASSWORD, ACL_PASSWORD, quote(PASSWORD, safe=""), *secrets):
        assert secret not in text, f"secret {secret!r} shown in: {text}"


def refused_by_configure(**settings: object) -> str:
    """`configure()` with these settings must raise BackendUnavailable; returns everything it shows."""
    with pytest.raises(BackendUnavailable) as caught:
        configure(test_settings(redis_enabled=True, redis_connect_timeout=2, **settings), role="oneshot")
    shown = "".join(traceback.format_exception(caught.value))
    assert len(str(caught.value).splitlines()) == 1
    return str(caught.value) + "\n" + shown


def run_one_job(runtime: Runtime) -> str:
    """Enqueue a job, let an in-process worker run it, and return its id once it succeeded."""
    with scripted():
        runtime.start_worker(threads=2)
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("ok"))
        wait_for(lambda: (r := get_job(job_id)) is not None and r.state is JobState.SUCCEEDED, what="job to succeed")
    return job_id


def succeeded_per_cli(run: CliRun) -> int:
    assert run.returncode == 0, run.stderr
    return int(json.loads(run.stdout)["queues"]["email-notification"]["succeeded"])


# -- requirepass ----------------------------------------------------------------------------------


def require_password(server: RedisServer) -> RedisServer:
    """`requirepass` set once the server is up: RedisServer's readiness probe, which meets
    redis-py's own retries on an authentication error, then takes ~4 s instead of ~50 ms."""
    admin = redis.Redis(port=server.port)
    admin.config_set("requirepass", PASSWORD)
    admin.close()
    return server


@pytest.fixture(scope="module")
def password_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield require_password(server)


def test_redis_password_works_end_to_end(password_server: RedisServer, namespace: str, tmp_path: Path) -> None:
    runtime = configure(
        test_settings(
            redis_enabled=True,
            redis_host="127.0.0.1",
            redis_port=password_server.port,
            redis_password=PASSWORD,
            namespace=namespace,
            worker_timeout_seconds=2,
        ),
        role="worker",
    )
    run_one_job(runtime)
    env = cli_env(namespace, REDIS_HOST="127.0.0.1", REDIS_PORT=str(password_server.port), REDIS_PASSWORD=PASSWORD)
    stats = run_cli("stats", "--json", env=env, cwd=tmp_path)
    assert succeeded_per_cli(stats) == 1
    assert_names_no_secret(stats.output)


def test_password_in_redis_url_works(password_server: RedisServer, namespace: str, tmp_path: Path) -> None:
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{password_server.port}/0"
    env = cli_env(namespace, REDIS_URL=url)
    enqueued = run_cli("enqueue", "email-notification", "--payload", json.dumps(email("ok")), env=env, cwd=tmp_path)
    assert enqueued.returncode == 0, enqueued.stderr
    shown = run_cli("job", enqueued.stdout.strip(), "--json", env=env, cwd=tmp_path)
    assert json.loads(shown.stdout)["state"] == "queued"
    assert_names_no_secret(enqueued.output + shown.output)


@pytest.mark.parametrize(
    "given",
    ["REDIS_PASSWORD", "REDIS_URL", "none"],
    ids=["wrong-REDIS_PASSWORD", "wrong-password-in-REDIS_URL", "no-password"],
)
def test_a_wrong_password_fails_with_one_line_naming_no_secret(
    password_server: RedisServer, namespace: str, tmp_path: Path, given: str
) -> None:
    port = password_server.port
    where = f"127.0.0.1:{port}"
    if given == "REDIS_PASSWORD":
        env = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port), "REDIS_PASSWORD": WRONG_PASSWORD}
        settings: dict[str, object] = {"redis_host": "127.0.0.1", "redis_port": port, "redis_password": WRONG_PASSWORD}
    elif given == "REDIS_URL":
        url = f"redis://:{WRONG_PASSWORD}@{where}/0"
        env, settings = {"REDIS_URL": url}, {"redis_url": url}
    else:
        env = {"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(port)}
        settings = {"redis_host": "127.0.0.1", "redis_port": port}

    run = run_cli("stats", env=cli_env(namespace, **env), cwd=tmp_path)
    line = one_line_error(run)
    assert where in line and ("authenticat" in line.lower() or "password" in line.lower()), line
    assert_names_no_secret(run.output)

    shown = refused_by_configure(**settings)
    assert where in shown
    assert_names_no_secret(shown)


# -- ACL users ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def acl_server() -> Iterator[RedisServer]:
    """Only ACL users can connect: the default user is switched off."""
    with RedisServer() as server:
        admin = redis.Redis(port=server.port)
        command(admin, "ACL", "SETUSER", ACL_USER, "on", f">{ACL_PASSWORD}", "~*", "&*", "+@all")
        command(admin, "ACL", "SETUSER", "default", "off")
        admin.close()
        yield server


def acl_url(server: RedisServer, user: str = ACL_USER, password: str = ACL_PASSWORD) -> str:
    return f"redis://{user}:{password}@127.0.0.1:{server.port}/0"


def test_an_acl_user_works_end_to_end(acl_server: RedisServer, namespace: str, tmp_path: Path) -> None:
    url = acl_url(acl_server)
    runtime = configure(
        test_settings(redis_enabled=True, redis_url=url, namespace=namespace, worker_timeout_seconds=2), role="worker"
    )
    run_one_job(runtime)
    stats = run_cli("stats", "--json", env=cli_env(namespace, REDIS_URL=url), cwd=tmp_path)
    assert succeeded_per_cli(stats) == 1
    assert_names_no_secret(stats.output)


def test_an_acl_user_limited_to_the_namespace_works(acl_server: RedisServer, namespace: str, tmp_path: Path) -> None:
    """The least privilege docs/security.md recommends: the namespace's keys, no dangerous commands."""
    admin = redis.Redis.from_url(acl_url(acl_server))
    user, password = f"scoped-{namespace}", "scoped-Pw-3"
    command(
        admin, "ACL", "SETUSER", user, "on", f">{password}", f"~{namespace}", f"~{namespace}:*", "+@all", "-@dangerous"
    )
    url = acl_url(acl_server, user, password)
    runtime = configure(
        test_settings(redis_enabled=True, redis_url=url, namespace=namespace, worker_timeout_seconds=2), role="worker"
    )
    job_id = run_one_job(runtime)
    held = add_job(JobType.EMAIL_NOTIFICATION, email("later"), delay=3_600_000)
    env = cli_env(namespace, REDIS_URL=url)
    for args in (("cancel", held), ("retry", held), ("clear", "email-notification", "--yes"), ("job", job_id)):
        run = run_cli(*args, env=env, cwd=tmp_path)
        assert run.returncode == 0, (args, run.stderr)
    # ...and it really cannot see anything else.
    with pytest.raises(redis.exceptions.NoPermissionError):
        redis.Redis.from_url(url).get("other-namespace:gd:job:x")
    admin.close()


def test_a_wrong_acl_password_fails_cleanly(acl_server: RedisServer, namespace: str, tmp_path: Path) -> None:
    url = acl_url(acl_server, password=WRONG_PASSWORD)
    run = run_cli("stats", env=cli_env(namespace, REDIS_URL=url), cwd=tmp_path)
    line = one_line_error(run)
    assert f"{ACL_USER}:***@127.0.0.1:{acl_server.port}" in line
    assert_names_no_secret(run.output)
    assert_names_no_secret(refused_by_configure(redis_url=url))


def test_a_password_given_as_url_query_parameter_is_not_shown(acl_server: RedisServer, tmp_path: Path) -> None:
    url = f"redis://127.0.0.1:{acl_server.port}/0?username={ACL_USER}&password={WRONG_PASSWORD}"
    run = run_cli("stats", env=cli_env("q", REDIS_URL=url), cwd=tmp_path)
    one_line_error(run)
    assert_names_no_secret(run.output)


# -- TLS ------------------------------------------------------------------------------------------


class TlsServer:
    def __init__(self, server: RedisServer, tls_port: int, ca_file: Path) -> None:
        self.server, self.tls_port, self.ca_file = server, tls_port, ca_file

    def url(self, *, password: str = PASSWORD, ca: bool = True) -> str:
        query = f"?ssl_ca_certs={self.ca_file}" if ca else ""
        return f"rediss://:{quote(password, safe='')}@127.0.0.1:{self.tls_port}/0{query}"


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsServer]:
    """A test CA and a server certificate for 127.0.0.1, made here. The plain port stays open only
    for RedisServer's readiness check; every test connects to the TLS port."""
    certs = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    server_cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(certs / "ca.pem"))
    server_cert.private_key_pem.write_to_path(str(certs / "server.key"))
    server_cert.cert_chain_pems[0].write_to_path(str(certs / "server.pem"))
    tls_port = free_port()
    args = (
        *("--tls-port", str(tls_port)),
        *("--tls-cert-file", str(certs / "server.pem")),
        *("--tls-key-file", str(certs / "server.key")),
        *("--tls-ca-cert-file", str(certs / "ca.pem")),
        *("--tls-auth-clients", "no"),
    )
    with RedisServer(*args) as server:
        yield TlsServer(require_password(server), tls_port, certs / "ca.pem")


def test_tls_with_a_test_ca_works_end_to_end(tls_server: TlsServer, namespace: str, tmp_path: Path) -> None:
    url = tls_server.url()
    runtime = configure(
        test_settings(redis_enabled=True, redis_url=url, namespace=namespace, worker_timeout_seconds=2), role="worker"
    )
    assert isinstance(runtime.client, redis.Redis)
    assert runtime.client.connection_pool.connection_class is redis.SSLConnection
    run_one_job(runtime)
    env = cli_env(namespace, REDIS_URL=url)
    stats = run_cli("stats", "--json", env=env, cwd=tmp_path)
    assert succeeded_per_cli(stats) == 1
    assert_names_no_secret(stats.output)


def test_tls_refuses_a_server_certificate_it_cannot_verify(tls_server: TlsServer, tmp_path: Path) -> None:
    """Without the test CA the certificate is untrusted: refused, not silently accepted."""
    run = run_cli("stats", env=cli_env("tls", REDIS_URL=tls_server.url(ca=False)), cwd=tmp_path)
    line = one_line_error(run)
    assert "CERTIFICATE_VERIFY_FAILED" in line and f"127.0.0.1:{tls_server.tls_port}" in line
    assert_names_no_secret(run.output)


def test_tls_with_a_wrong_password_fails_cleanly(tls_server: TlsServer, tmp_path: Path) -> None:
    url = tls_server.url(password=WRONG_PASSWORD)
    run = run_cli("stats", env=cli_env("tls", REDIS_URL=url), cwd=tmp_path)
    one_line_error(run)
    assert_names_no_secret(run.output)
    assert_names_no_secret(refused_by_configure(redis_url=url))


def test_plain_redis_to_the_tls_port_fails_cleanly(tls_server: TlsServer, tmp_path: Path) -> None:
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{tls_server.tls_port}/0"
    run = run_cli("stats", env={**cli_env("tls", REDIS_URL=url), "GEMSDASH_REDIS_TIMEOUT": "1"}, cwd=tmp_path)
    one_line_error(run)
    assert_names_no_secret(run.output)


def test_a_percent_encoded_password_in_redis_url_is_redacted(password_server: RedisServer, namespace: str) -> None:
    url = f"redis://:{quote(PASSWORD, safe='')}@127.0.0.1:{password_server.port}/0"
    runtime = configure(
        test_settings(redis_enabled=True, redis_url=url, namespace=namespace, worker_timeout_seconds=2), role="worker"
    )

    def fail(payload: object) -> None:
        raise ConnectionError(f"AUTH {PASSWORD} refused")

    with override_work(JobType.EMAIL_NOTIFICATION, fail):
        runtime.start_worker(threads=1)
        job_id = add_job(JobType.EMAIL_NOTIFICATION, email("x"), attempts=1)
        record = wait_for(lambda: (r := get_job(job_id)) is not None and r.state is JobState.DEAD and r, what="dead")
    assert record.error is not None and record.error.message.startswith("AUTH ")
    assert_names_no_secret(record.model_dump_json())
