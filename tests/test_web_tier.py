"""The web tier never imports torch: gunicorn loads config.wsgi, which loads every app,
the admin and the URL conf with its views; none of that may pull in an ML library."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# Worker-side modules: only Celery workers and the embedded in-process runner load them.
WORKER_SIDE = ("inference.engine", "inference.preparation")

PROBE = """
import importlib, pkgutil, sys
import config.wsgi
from django.test import Client

def import_tree(name):
    # pkgutil.walk_packages would import the worker-side packages to look inside them.
    module = importlib.import_module(name)
    for info in pkgutil.iter_modules(getattr(module, "__path__", [])):
        child = f"{name}.{info.name}"
        if not child.startswith(WORKER_SIDE) and child != "config.settings":
            import_tree(child)

for package in ("studies", "inference", "config"):
    import_tree(package)
# The admin validates preparation requests in the web process.
from inference.params import canonical_params
canonical_params("adversarial", {"attack": "pgd", "eps": 4}, num_classes=1000)
canonical_params("explanations", {"method": "gradcam", "on": "clean_and_adversarial",
                                  "attack": {"attack": "fgsm", "eps": 2}}, num_classes=1000)
# The admin validates a classifier registration's preprocessing in the web process.
from inference.engine.preprocessing_params import Preprocessing
Preprocessing.from_dict({"resize": 256, "crop": 224, "interpolation": "bilinear",
                         "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]})
reply = Client().get("/api/v1/schema/", HTTP_HOST="example.org", secure=True)
assert reply.status_code == 200, reply.status_code
ml = {"torch", "torchvision", "timm", "captum", "art"}
print("LOADED", sorted({name.split(".")[0] for name in sys.modules} & ml))
"""


def test_loading_the_web_application_imports_no_ml_library(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "SECRET_KEY": "x" * 60,
        "ALLOWED_HOSTS": "example.org",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "SECONDLOOK_DATA_DIR": str(tmp_path),
    }
    result = subprocess.run(
        [sys.executable, "-c", f"WORKER_SIDE = {WORKER_SIDE!r}\n{PROBE}"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout, result.stdout


def test_the_probe_would_notice_torch(tmp_path):
    # Guards the test above against passing vacuously: the same check sees torch once a
    # worker-side module is imported.
    result = subprocess.run(
        [sys.executable, "-c", "import sys, inference.engine.predict; print('torch' in sys.modules)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout.strip() == "True", result.stderr
