"""The web process's access log (gunicorn with config/gunicorn.conf.py) names paths only:
recruitment ids in query strings and referrers never reach it."""

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SECRET = "PID5f3e2a9c41"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get(url: str, **headers) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=10) as reply:
            return reply.status
    except urllib.error.HTTPError as error:
        return error.code


def test_the_access_log_keeps_paths_and_drops_query_strings_and_referrers(tmp_path):
    port = free_port()
    env = {
        **{
            k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL")
        },
        "DJANGO_SETTINGS_MODULE": "config.settings.embedded",
        "SECONDLOOK_DATA_DIR": str(tmp_path),
    }
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, env=env, check=True)
    log = tmp_path / "gunicorn.log"
    command = [sys.executable, "-m", "gunicorn", "config.wsgi:application", "-c", "config/gunicorn.conf.py"]
    command += ["--bind", f"127.0.0.1:{port}", "--workers", "1"]
    with log.open("w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                get(f"{base}/health/")
                break
            except OSError:
                assert time.monotonic() < deadline, log.read_text()
                time.sleep(0.2)
        assert (
            get(f"{base}/health/?PROLIFIC_PID={SECRET}", Referer=f"{base}/s/x/?PROLIFIC_PID={SECRET}") == 200
        )
        assert get(f"{base}/s/no-such-study/?PROLIFIC_PID={SECRET}") == 404
    finally:
        server.terminate()
        server.wait(timeout=30)
    text = log.read_text()
    assert '"GET /health/" 200' in text and '"GET /s/no-such-study/" 404' in text, text
    assert SECRET not in text
