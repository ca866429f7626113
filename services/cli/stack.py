"""The embedded stack as child processes: API (SQLite), worker (local broker), CPU agent.

Used by ``hwnas demo`` and the benchmarks; each process is stopped with SIGTERM at the end.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager

from rich.markup import escape

from hwnas import ApiRefused, Client
from latency_db.settings import Settings
from services import processes
from services.cli.output import console

DEVICE_NAME = "local-cpu"


@contextmanager
def running_stack(
    settings: Settings, token: str, threads: int, agent_options: Sequence[str] = ()
) -> Iterator[tuple[Client, str]]:
    """API, worker and agent processes, stopped (SIGTERM) when the block ends.

    ``agent_options`` are extra ``hwnas-agent run`` flags, e.g. the protocol's ``--reruns``.
    """
    port = processes.free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        "HWNAS_DATA_DIR": str(settings.data_dir),
        "HWNAS_ADMIN_TOKEN": token,
        # The worker pauses its training steps while the agent measures (one CPU for both).
        "HWNAS_HOST_LOCK_DIR": str(settings.data_dir / "host-lock"),
    }
    # The worker trains on the CPU the agent measures on: one torch thread, or the two
    # runtimes' thread pools oversubscribe the cores and both slow down many times over.
    worker_env = {**env, "HWNAS_TORCH_THREADS": "1"}
    logs = settings.data_dir / "logs"
    with ExitStack() as stack:
        server = processes.start(
            "api", ["-m", "services.cli.main", "server", "--port", str(port)], log_dir=logs, env=env
        )
        stack.callback(server.stop)
        processes.wait_until(
            processes.http_ok(f"{url}/v1/health"), child=server, timeout_s=120, what="API up"
        )
        worker = processes.start("worker", ["-m", "search_worker"], log_dir=logs, env=worker_env)
        stack.callback(worker.stop)
        api = Client(url, token)
        stack.callback(api.close)
        device_id, enroll_token = enroll_device(api)
        agent = processes.start(
            "agent",
            [
                "-m",
                "profiler_agent.cli",
                "run",
                "--server",
                url,
                "--enroll-token",
                enroll_token,
                "--backend",
                "ort-cpu",
                "--threads",
                str(threads),
                "--data-dir",
                str(settings.data_dir / "agent"),
                *agent_options,
            ],
            log_dir=logs,
            env=env,
        )
        stack.callback(agent.stop)
        console.print(f"[bold]stack up[/]: API {url}, worker and ort-cpu agent (logs in {logs})")
        who = "HWNAS_ADMIN_TOKEN" if settings.admin_token else f"the admin token {token}"
        console.print(f"[bold]dashboard[/]: {url}/ui/ (sign in with {escape(who)})")
        yield api, device_id
        for child in (server, worker, agent):
            if not child.alive():
                raise RuntimeError(f"{child.name} died:\n{child.log_tail()}")


def enroll_device(api: Client) -> tuple[str, str]:
    """The demo device's id and a one-time enrollment token: registered on a first run,
    found by name (with a fresh token) on the next."""
    try:
        created = api.devices.create(DEVICE_NAME, "cpu")
        return created["device"]["id"], created["enrollment"]["token"]
    except ApiRefused as err:
        if err.status != 409:
            raise
    device_id = api.devices.find(DEVICE_NAME)["id"]
    return device_id, api.devices.enrollment_token(device_id)["token"]
