"""docker-compose.yml cannot run here (no Docker engine), so its wiring is checked: every
service's command points at entry points that exist in this repository and its venv."""

import ast
import shutil
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES = COMPOSE["services"]


def module_defines(module_path: str, name: str) -> bool:
    path = ROOT / (module_path.replace(".", "/") + ".py")
    if not path.exists():
        path = ROOT / module_path.replace(".", "/") / "__init__.py"
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == name for t in node.targets):
            return True
        if isinstance(node, ast.ImportFrom) and any((a.asname or a.name) == name for a in node.names):
            return True
    return False


def executable(name: str) -> bool:
    return shutil.which(name) is not None or (Path(sys.executable).parent / name).exists()


def test_the_stack_has_web_worker_database_and_broker():
    assert {"web", "worker", "db", "redis", "migrate"} <= set(SERVICES)
    assert (ROOT / "Dockerfile").exists()


def test_every_command_points_to_an_existing_entry_point():
    for name, service in SERVICES.items():
        command = service.get("command")
        if not command or name in ("db", "redis"):
            continue
        program = command[0]
        if program == "gunicorn":
            module, _, attribute = command[1].partition(":")
            assert module_defines(module, attribute), (name, command[1])
        elif program == "celery":
            app = command[command.index("-A") + 1]
            assert module_defines(app, "celery_app"), (name, app)
            assert module_defines(f"{app}.celery", "app"), (name, app)
            queues = command[command.index("-Q") + 1].split(",")
            assert set(queues) == {"gpu", "default"}
        elif program == "python":
            assert (ROOT / command[1]).exists(), (name, command[1])
        else:
            raise AssertionError(f"{name}: unexpected program {program}")
        assert executable(program), program


def test_the_worker_reserves_a_gpu_and_shares_media_with_web():
    worker, web = SERVICES["worker"], SERVICES["web"]
    devices = worker["deploy"]["resources"]["reservations"]["devices"]
    assert devices[0]["capabilities"] == ["gpu"]
    media = {v for v in web["volumes"] if v.endswith("/data/media")}
    assert media and media == {v for v in worker["volumes"] if v.endswith("/data/media")}


def test_web_and_worker_use_production_settings_with_postgres_and_redis():
    for name in ("web", "worker"):
        env = SERVICES[name]["environment"]
        assert env["DJANGO_SETTINGS_MODULE"] == "config.settings.production"
        assert env["DATABASE_URL"].startswith("postgres://")
        assert env["REDIS_URL"].startswith("redis://")
    assert (ROOT / "config/settings/production.py").exists()
