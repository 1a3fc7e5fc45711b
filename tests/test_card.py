import hashlib
import json

from poselift.models.card import write_card
from poselift.models.checkpoint import save_weights
from poselift.models.lifter import LifterSpec, TemporalLifter


def fake_run(folder, steps, seconds_per_log_line, validation="takes"):
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"subjects": ["S1", "S5"], "validation_subject": "S5",
                                                    "validation": validation, "batch_size": 64}))
    lines = [{"step": s, "time": 1000.0 + i * seconds_per_log_line, "train/mpjpe": 50.0}
             for i, s in enumerate(range(50, steps + 1, 50))]
    (folder / "log.jsonl").write_text("\n".join(map(json.dumps, lines)) + "\n")
    return folder


def test_card_sums_the_schedules_and_names_the_weights(tmp_path):
    weights = tmp_path / "lifter.pt"
    save_weights(weights, TemporalLifter(LifterSpec(channels=16, levels=2)), {"step": 300})
    mean = {"p1": 44.94, "p2": 33.3, "n_mpjpe": 41.0, "pck": 97.0, "auc": 60.0, "accel": 1.0}
    evaluation = {"results": [{"source": "gt", "fps": 50, "flip": True, "mean": mean,
                               "per_action": {"Walking": {"p1": 40.0, "p2": 30.0}}}]}
    (tmp_path / "eval.json").write_text(json.dumps(evaluation))
    runs = [fake_run(tmp_path / "first", 1200, 36.0), fake_run(tmp_path / "second", 600, 18.0)]
    json_path, md_path = write_card(weights, tmp_path / "eval.json", runs, None, tmp_path / "card")

    card = json.loads(json_path.read_text())
    assert card["sha256"] == hashlib.sha256(weights.read_bytes()).hexdigest()
    assert card["training"]["steps"] == 1800 and len(card["training"]["stages"]) == 2
    assert abs(card["training"]["hours_cpu"] - (23 * 36 + 11 * 18) / 3600) < 0.01
    text = md_path.read_text()
    assert "1200 + 600 steps of 64 windows" in text and "2 schedules" in text
    assert "step 300 of the last schedule" in text and "| GT | 50 | 44.9 | 33.3 |" in text
    assert "research/non-commercial" in text and "S5 second takes" in text

    whole = fake_run(tmp_path / "whole", 600, 18.0, validation="subject")
    json_path, _ = write_card(weights, tmp_path / "eval.json", [whole], None, tmp_path / "card_subject")
    assert json.loads(json_path.read_text())["data"]["validation"] == "S5, held out"


def test_card_continues_from_a_card_and_lists_the_suites(tmp_path):
    weights = tmp_path / "lifter.pt"
    save_weights(weights, TemporalLifter(LifterSpec(channels=16, levels=2)), {"step": 100})
    mean = {"p1": 50.0, "p2": 35.0, "n_mpjpe": 45.0, "pck": 95.0, "auc": 60.0}
    results = [{"source": "gt", "fps": 50, "flip": True, "suite": "h36m", "mean": mean, "per_action": {}},
               {"source": "mp", "fps": 30, "flip": True, "suite": "bandai1-virtual", "frames": 1200,
                "sequence_step": 16, "mean": {**mean, "p1": 58.25}, "per_action": {}}]
    (tmp_path / "eval.json").write_text(json.dumps({"results": results}))
    first, _ = write_card(weights, tmp_path / "eval.json", [fake_run(tmp_path / "first", 1200, 36.0)], None,
                          tmp_path / "first_card")
    world = fake_run(tmp_path / "world", 400, 18.0)
    config = json.loads((world / "config.json").read_text())
    config.update(augment={"virtual": 0.5, "bandai": 0.5}, cross_validation=True)
    (world / "config.json").write_text(json.dumps(config))
    json_path, md_path = write_card(weights, tmp_path / "eval.json", [first, world], None, tmp_path / "card")
    card = json.loads(json_path.read_text())
    assert card["training"]["steps"] == 1600 and len(card["training"]["stages"]) == 2
    assert "CC BY-NC 4.0" in card["license"] and "Bandai dataset-2" in card["data"]["train"]
    text = md_path.read_text()
    assert "| bandai1-virtual | MP | 30 | 1200 | 58.2 |" in text and "| GT | 50 | 50.0 |" in text
    assert "Bandai dataset-1 through seeded virtual cameras" in text
    assert "first camera): bandai1-virtual every 16; h36m in full." in text
    assert "S9 and S11 (causal, every frame" in text and "suites ...`, causal" in text


def test_card_of_a_non_causal_form_says_so(tmp_path):
    from poselift.models.nets.tgraphnet import TGraphNet, TGraphNetSpec

    weights = tmp_path / "centred.pt"
    save_weights(weights, TGraphNet(TGraphNetSpec(channels=8, dilations=(1, 2), causal=False)), {"step": 10})
    mean = {"p1": 50.0, "p2": 35.0, "n_mpjpe": 45.0, "pck": 95.0, "auc": 60.0}
    results = [{"source": "gt", "fps": 50, "flip": False, "suite": "h36m", "mean": mean, "per_action": {}},
               {"source": "mp", "fps": 30, "flip": False, "suite": "bandai1-virtual", "frames": 10, "mean": mean,
                "per_action": {}}]
    (tmp_path / "eval.json").write_text(json.dumps({"results": results}))
    _, md_path = write_card(weights, tmp_path / "eval.json", [fake_run(tmp_path / "run", 100, 10.0)], None,
                            tmp_path / "card")
    text = md_path.read_text()
    assert "S9 and S11 (non-causal, every frame)" in text and "suites ...`, non-causal" in text
    assert "non-causal, each frame sees 4 frames before it and 4 after" in text
