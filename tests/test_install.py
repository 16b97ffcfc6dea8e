"""The installed set the README's commands make: no jax, jaxlib or opencv-contrib-python, cv2
from opencv-python-headless with its FFmpeg back-end, and mediapipe's pose solution working
without jax. pyproject.toml says why mediapipe is installed apart, with --no-deps."""

from __future__ import annotations

import importlib.metadata
import re
import subprocess
import sys

import cv2

from tests.paths import REPO

# mediapipe declares these; its pose solution never imports them. opencv-python would put a
# second copy of cv2 over opencv-python-headless's files.
UNWANTED = {"jax", "jaxlib", "opencv-contrib-python", "opencv-contrib-python-headless", "opencv-python"}
REBUILD = "this environment predates the README's install commands: python3.11 -m venv --clear .venv, then the README's command"


def _installed() -> dict[str, str]:
    return {re.sub(r"[-_.]+", "-", d.metadata["Name"]).lower(): d.version for d in importlib.metadata.distributions()}


def _readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)\n```", (REPO / "README.md").read_text(), re.S)
    return [b for b in blocks if b.startswith("python3.11 -m venv")]


def test_no_jax_jaxlib_or_opencv_contrib_installed():
    found = sorted(f"{name} {version}" for name, version in _installed().items() if name in UNWANTED)
    assert not found, f"installed: {', '.join(found)}; {REBUILD}"


def test_cv2_is_opencv_python_headless_with_ffmpeg():
    assert importlib.metadata.packages_distributions()["cv2"] == ["opencv-python-headless"], REBUILD
    assert cv2.videoio_registry.hasBackend(cv2.CAP_FFMPEG), "this cv2 has no FFmpeg back-end"


def test_mediapipe_pose_runs_with_jax_unimportable():
    # In a child process: mediapipe may already be imported here. sys.modules[name] = None
    # makes `import name` fail, as if jax were not installed.
    script = (
        "import sys\n"
        "sys.modules.update(jax=None, jaxlib=None)\n"
        "import numpy as np\n"
        "from mediapipe.python.solutions.pose import Pose\n"
        "with Pose(static_image_mode=True, model_complexity=1) as pose:\n"
        "    pose.process(np.zeros((64, 64, 3), np.uint8))\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, timeout=300)


def test_readme_commands_install_mediapipe_apart_and_share_one_venv():
    commands = _readme_commands()
    assert len(commands) == 2, "the README's two commands, each starting python3.11 -m venv"
    pins = {m for c in commands for m in re.findall(r"pip install --no-deps mediapipe==(\S+)", c)}
    assert pins == {_installed()["mediapipe"]}, f"README pins mediapipe {pins}, installed {_installed().get('mediapipe')}"
    # The second command must not wipe what the first installed (nor the first the second).
    assert not any("--clear" in c for c in commands)


def test_ci_runs_the_readme_test_command():
    test_command = next(c for c in _readme_commands() if "pytest" in c)
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines() if line.startswith("python3.11 -m venv")]
    assert ci == [test_command]
