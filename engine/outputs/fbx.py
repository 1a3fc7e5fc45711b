"""FBX through Blender: the people written as glb (``gltf``), read by Blender's glTF importer and written
by its FBX exporter (baked animation, Y up, metres), in the Python that has ``bpy``: this one, or
the one ``POSELIFT_BPY_PYTHON`` names (bpy pins its own Python and numpy, so it often has a venv of
its own)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ...errors import UserError
from .gltf import Animated, write_glb

IN_BLENDER = Path(__file__).with_name("fbx_in_blender.py")
BLENDER_TIMEOUT_S = 600


def blender_python() -> str:
    """The Python that has ``bpy``, or a UserError saying how to get one."""
    if os.environ.get("POSELIFT_BPY_PYTHON"):
        return os.environ["POSELIFT_BPY_PYTHON"]
    if importlib.util.find_spec("bpy") is not None:
        return sys.executable
    raise UserError("FBX is written by Blender, which is not installed here: make a venv with Python 3.11, pip "
                    "install bpy into it and set POSELIFT_BPY_PYTHON to its python (docs/export.md#gltf-and-fbx), or "
                    "export --to glb, which Blender, Unity and Unreal import as well.")


def write_fbx(path: str | Path, people: list[Animated], fps: float) -> None:
    python = blender_python()
    with tempfile.TemporaryDirectory() as folder:
        glb = Path(folder) / "people.glb"
        write_glb(glb, people, fps)
        try:
            done = subprocess.run([python, str(IN_BLENDER), str(glb), str(path), f"{fps:.6f}"], capture_output=True,
                                  text=True, timeout=BLENDER_TIMEOUT_S)
        except OSError as e:
            raise UserError(f"POSELIFT_BPY_PYTHON={python} does not run ({e.strerror}): point it at the python of "
                            f"the venv that has bpy.") from e
    if done.returncode != 0 or not Path(path).is_file():
        last = (done.stderr.strip() or done.stdout.strip() or "no output").splitlines()[-1]
        raise UserError(f"Blender could not write the FBX ({last}): check that {python} imports bpy, or export "
                        f"--to glb.")
