"""gunicorn started for a benchmark or a test the way docker-compose.yml's web service
starts it, and the environments it runs in (production settings, or the embedded default)."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from bench.cpu import children
from bench.loadgen import ROOT, Target, exchange


def web_command(workers: int | None = None) -> list[str]:
    """gunicorn's arguments in docker-compose.yml's web service, less its --bind (the caller
    binds); `workers` replaces its worker count."""
    import yaml

    command = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]["web"]["command"]
    assert command[0] == "gunicorn", command
    arguments = list(command[1:])
    at = arguments.index("--bind")
    del arguments[at : at + 2]
    if workers is not None:
        arguments[arguments.index("--workers") + 1] = str(workers)
    return arguments


class Gunicorn:
    """gunicorn started as docker-compose.yml's web service starts it (web_command), on a
    loopback socket this process opens and hands over as fd:// (no race for a free port)."""

    def __init__(self, env: dict[str, str], log_path: Path, workers: int | None = None):
        self.env, self.log_path, self.arguments = env, log_path, web_command(workers)
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Target:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.bind(("127.0.0.1", 0))
        listener.listen(2048)  # gunicorn's default backlog
        port = listener.getsockname()[1]
        command = [sys.executable, "-m", "gunicorn", *self.arguments, "--bind", f"fd://{listener.fileno()}"]
        with self.log_path.open("w") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                pass_fds=[listener.fileno()],
            )
        listener.close()
        target = Target("127.0.0.1", port)
        self._wait_until_serving(target)
        return target

    def _wait_until_serving(self, target: Target, seconds: float = 90) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.process.returncode}):\n{self.log_tail()}")
            # Any HTTP reply (401 without a token) means a worker serves requests.
            if asyncio.run(exchange(target, "GET", "/api/v1/session"))[0]:
                return
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within {seconds:.0f} s:\n{self.log_tail()}")

    def workers(self) -> list[int]:
        return children(self.process.pid)

    def log_tail(self, chars: int = 4000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def __exit__(self, *exc) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def server_env(settings_module: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment a gunicorn child gets: this one, less any service URL the mode
    should not see, plus the settings module, a data directory and `extra`."""
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")}
    env.update(
        DJANGO_SETTINGS_MODULE=settings_module,
        SECONDLOOK_DATA_DIR=str(data_dir),
        LOG_LEVEL="WARNING",
        **extra,
    )
    return env


def production_env(database_url: str, data_dir: Path) -> dict[str, str]:
    """Production settings (config.settings.production, with bench/load_urls.py's trivial
    endpoint added) as docker-compose.yml sets them, behind one trusted proxy (the requests
    carry its headers). The broker is required by the settings but never contacted on the
    participant path."""
    return server_env(
        "bench.load_settings",
        data_dir,
        SECRET_KEY=hashlib.sha256(os.urandom(32)).hexdigest(),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=database_url,
        REDIS_URL=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        NUM_PROXIES="1",
    )
