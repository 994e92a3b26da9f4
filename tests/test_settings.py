"""Settings come from the environment; production refuses to start half-configured and
passes Django's deployment checklist."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config import env

ROOT = Path(__file__).resolve().parent.parent
PRODUCTION = {
    "DJANGO_SETTINGS_MODULE": "config.settings.production",
    "SECRET_KEY": "k3y-" + "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJ" * 2,
    "ALLOWED_HOSTS": "studies.example.org",
    "DATABASE_URL": "postgres://secondlook@127.0.0.1:5432/secondlook",
    "REDIS_URL": "redis://127.0.0.1:6379/0",
}


def manage(*args, **overrides):
    environment = {
        k: v for k, v in os.environ.items() if k not in PRODUCTION and k not in ("CELERY_BROKER_URL", "DEBUG")
    }
    environment.update({k: v for k, v in {**PRODUCTION, **overrides}.items() if v is not None})
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_production_settings_pass_the_deployment_checklist():
    result = manage("check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    "missing, message",
    [
        ("SECRET_KEY", "SECRET_KEY must be set"),
        ("ALLOWED_HOSTS", "ALLOWED_HOSTS must name"),
        ("DATABASE_URL", "DATABASE_URL must be set"),
        ("REDIS_URL", "Production needs a broker"),
    ],
)
def test_production_refuses_to_start_without_each_required_setting(missing, message):
    result = manage("check", **{missing: None})
    assert result.returncode != 0
    assert message in result.stderr


def test_a_malformed_boolean_stops_start_up():
    result = manage("check", DEBUG="maybe")
    assert result.returncode != 0


def test_an_admin_login_failure_limit_of_zero_stops_start_up():
    # Zero would lock every login out, the first one included.
    result = manage("check", ADMIN_LOGIN_FAILURE_LIMIT="0")
    assert result.returncode != 0
    assert "ADMIN_LOGIN_FAILURE_LIMIT='0' is less than 1" in result.stderr


def test_the_embedded_mode_announces_itself():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT,
        env={
            **{
                k: v
                for k, v in os.environ.items()
                if k not in ("DATABASE_URL", "REDIS_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE")
            },
            "SECONDLOOK_DATA_DIR": "/tmp/secondlook-check",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "secondlook.I001" in result.stdout + result.stderr


@pytest.mark.parametrize(
    "reader, raw, expected",
    [
        (lambda: env.env_bool("SL_T", False), "yes", True),
        (lambda: env.env_bool("SL_T", True), "0", False),
        (lambda: env.env_int("SL_T", 1), "42", 42),
        (lambda: env.env_list("SL_T", []), "a, b,,c", ["a", "b", "c"]),
    ],
)
def test_env_helpers_parse_values(monkeypatch, reader, raw, expected):
    monkeypatch.setenv("SL_T", raw)
    assert reader() == expected


@pytest.mark.parametrize("reader", [lambda: env.env_bool("SL_T", False), lambda: env.env_int("SL_T", 1)])
def test_env_helpers_fail_loudly_on_bad_values(monkeypatch, reader):
    monkeypatch.setenv("SL_T", "not-a-value")
    with pytest.raises(ImproperlyConfigured, match="SL_T"):
        reader()


def test_an_integer_below_its_minimum_fails_loudly(monkeypatch):
    monkeypatch.setenv("SL_T", "0")
    assert env.env_int("SL_T", 5) == 0
    with pytest.raises(ImproperlyConfigured, match="SL_T='0' is less than 1"):
        env.env_int("SL_T", 5, minimum=1)
