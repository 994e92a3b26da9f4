"""Captum imports matplotlib; a worker without a usable home must still import it quietly."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = """
import os
from inference.engine.saliency.captum_loader import captum_attr
attr = captum_attr()
import matplotlib
print(attr.Saliency.__name__, matplotlib.get_backend(), os.environ["MPLCONFIGDIR"], matplotlib.get_cachedir())
"""


def test_captum_imports_headless_with_a_reused_config_dir_when_home_is_unusable(tmp_path):
    # A home below a regular file can be created by nobody, root included
    # (permission bits would not stop root, which runs these tests in CI).
    (tmp_path / "file").write_text("")
    home = tmp_path / "file" / "home"
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"MPLCONFIGDIR", "MPLBACKEND", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "DISPLAY"}
    }
    python_path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    env.update(HOME=str(home), PYTHONPATH=python_path, TMPDIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )

    assert result.returncode == 0, result.stderr
    name, backend, config_dir, cache_dir = result.stdout.split()
    assert name == "Saliency"
    assert backend.lower() == "agg"
    assert config_dir == cache_dir == str(tmp_path / f"secondlook-matplotlib-{os.getuid()}")
    assert "Matplotlib created a temporary" not in result.stderr
