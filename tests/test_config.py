from pathlib import Path

import pytest

from poselift.models.config import load_config
from poselift.models.errors import ConfigError
from poselift.models.train import TrainConfig

CONFIG = "assets/configs/lifter_tcn81.yaml"
SHIPPED = sorted(str(p) for p in (Path(__file__).resolve().parents[1] / "assets/configs").glob("*.yaml"))


def test_shipped_config_loads():
    cfg = load_config(CONFIG, TrainConfig)
    assert cfg.model.receptive_field == 81
    assert cfg.augment.fps_range == (25.0, 60.0)


@pytest.mark.parametrize("text,message", [
    ("stepz: 10\n", r"unknown key\(s\) stepz"),
    ("model:\n  chanels: 8\n", r"model has unknown key\(s\) chanels"),
    ("steps: ten\n", "steps must be int, got 'ten'"),
    ("lr: true\n", "lr must be float"),
    ("augment:\n  fps_range: [25]\n", "fps_range must be a list of 2 values"),
    ("- 1\n- 2\n", "must be a mapping"),
    ("steps: [\n", "not valid YAML"),
])
def test_bad_configs_name_file_and_problem(tmp_path, text, message):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message) as info:
        load_config(path, TrainConfig)
    assert str(path) in str(info.value)


def test_missing_config(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "none.yaml", TrainConfig)


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: Path(p).stem)
def test_every_shipped_config_loads_and_builds_its_model(path):
    """A typo in any shipped config fails here, not minutes into a training run."""
    from poselift.models.refiner_train import is_refiner_config, load_refiner_config
    from poselift.models.train import build_lifter, load_train_config

    if is_refiner_config(path):
        assert load_refiner_config(path).out.startswith("runs/")
        return
    cfg = load_train_config(path)
    assert cfg.out == f"runs/{Path(path).stem}" and build_lifter(cfg).arch == cfg.arch
