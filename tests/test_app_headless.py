"""The app on a machine without a display: one sentence, exit code 2, no core dump (runs with or
without Xvfb: the display is taken away from the child process)."""
import os
import subprocess
import sys

from conftest import DEMO


def test_the_app_without_a_display_says_so():
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}
    result = subprocess.run([sys.executable, "-m", "poselift.app.main", str(DEMO)], env=env, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 2, result.stderr[-2000:]
    assert "no display to open the window on" in result.stderr and "xvfb-run" in result.stderr
    assert "Traceback" not in result.stderr and "qt.qpa" not in result.stderr


def test_app_options_are_explained():
    result = subprocess.run([sys.executable, "-m", "poselift.app.main", "--help"], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0 and "lifter weights (.pt)" in result.stdout and "how the lifter runs" in result.stdout
