import os
from pathlib import Path

import pytest

DATA = Path(os.environ.get("POSELIFT_DATA") or Path(__file__).resolve().parents[2] / "shared/data/h36m")
needs_h36m = pytest.mark.skipif(not (DATA / "poses_3d.npz").is_file(),
                                reason=f"Human3.6M data not found at {DATA}: set POSELIFT_DATA to run these tests.")


@pytest.fixture(scope="session")
def s9():
    from poselift.models.h36m import load_sequences
    return load_sequences(["S9"], DATA)
