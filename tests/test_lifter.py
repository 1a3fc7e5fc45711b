import pytest
import torch

from poselift.models.checkpoint import load_weights, save_weights
from poselift.models.errors import WeightsError
from poselift.models.lifter import LifterSpec, LifterStep, TemporalLifter, lifter_loss, normalize_2d
from poselift.models.skeletons import H36M, flip_pose


@pytest.fixture(scope="module", params=[False, True], ids=["joints", "joints+root"])
def lifter(request):
    torch.manual_seed(0)
    model = TemporalLifter(LifterSpec(channels=64, levels=3, root_features=request.param))
    for m in model.modules():  # non-trivial batch-norm statistics, so folding them is tested
        if isinstance(m, torch.nn.BatchNorm1d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 2.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.2, 0.2)
    return model.eval()


def rows(lifter) -> int:
    return lifter.spec.in_channels // 3


def test_strided_dense_and_streaming_agree(lifter):
    rf = lifter.spec.receptive_field
    x = torch.randn(1, 60, rows(lifter), 3)
    with torch.no_grad():
        dense, dense_ls = lifter(x, dense=True)
        strided, _ = lifter(x[:, -rf:])
        step = LifterStep(lifter)
        state, outs = step.initial_state(), []
        for t in range(60):
            pose, log_scale, *state = step(x[:, t].flatten(1), *state)
            outs.append(pose[0])
    assert dense.shape == (1, 60 - rf + 1, 17, 3)
    assert torch.allclose(strided[0, 0], dense[0, -1], atol=1e-3)
    assert torch.allclose(torch.stack(outs[rf - 1:]), dense[0], atol=1e-3)
    assert torch.allclose(log_scale[0], dense_ls[0, -1], atol=1e-4)
    assert (dense[..., 0, :] == 0).all()  # pelvis at the origin


def test_output_depends_only_on_the_past(lifter):
    x = torch.randn(1, 40, rows(lifter), 3)
    y = x.clone()
    y[:, 30:] += 1.0
    with torch.no_grad():
        a, _ = lifter(x, dense=True)
        b, _ = lifter(y, dense=True)
    first_changed = 30 - (lifter.spec.receptive_field - 1)
    assert torch.equal(a[:, :first_changed], b[:, :first_changed])
    assert not torch.allclose(a[:, first_changed], b[:, first_changed])


def test_normalisation_ignores_position_and_distance():
    kp = torch.randn(5, 17, 2) * 0.1
    conf = torch.rand(5, 17)
    a = normalize_2d(kp, conf)
    b = normalize_2d(kp * 3.0 + torch.tensor([0.4, -0.2]), conf)
    assert torch.allclose(a, b, atol=1e-5)
    assert torch.equal(a[..., 2], conf) and (a[..., 0, :2] == 0).all()
    with_root = normalize_2d(kp + torch.tensor([0.4, -0.2]), conf, root_features=True)
    assert with_root.shape == (5, 18, 3)
    assert torch.allclose(with_root[:, :17], a, atol=1e-5)
    assert torch.allclose(with_root[:, 17, :2], kp[:, 0] + torch.tensor([0.4, -0.2]))  # where the pelvis is


def test_uncertainty_learns_to_follow_the_error():
    """With the pose frozen, the likelihood drives each joint's scale towards its own error."""
    torch.manual_seed(0)
    pose = torch.zeros(256, 17, 3)
    target = torch.zeros(256, 17, 3)
    target[..., 0] = torch.linspace(0, 160, 17)  # joint j errs by 10 j mm
    log_scale = torch.full((256, 17), 3.0, requires_grad=True)
    opt = torch.optim.Adam([log_scale], lr=0.05)
    for _ in range(400):
        loss, _ = lifter_loss(pose, log_scale, target, nll_weight=1.0)
        opt.zero_grad()
        loss.backward()
        opt.step()
    expected = 3 * log_scale.detach().exp().mean(0)
    assert torch.allclose(expected[3:], torch.linspace(0, 160, 17)[3:], rtol=0.1)


def test_weights_round_trip_and_bad_files(lifter, tmp_path):
    path = tmp_path / "w.pt"
    save_weights(path, lifter, {"note": "test"})
    again = load_weights(path)
    assert again.spec == lifter.spec
    x = torch.randn(1, 30, rows(lifter), 3)
    with torch.no_grad():
        assert torch.equal(again(x, dense=True)[0], lifter(x, dense=True)[0])

    with pytest.raises(WeightsError, match=f"{tmp_path / 'none.pt'} does not exist"):
        load_weights(tmp_path / "none.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(WeightsError, match="corrupt"):
        load_weights(corrupt)
    other = tmp_path / "other.pt"
    torch.save({"arch": "resnet", "state_dict": {}}, other)
    with pytest.raises(WeightsError, match="another architecture"):
        load_weights(other)
    mismatched = tmp_path / "mismatched.pt"
    state = torch.load(path, weights_only=True)
    state["spec"]["channels"] = 32
    torch.save(state, mismatched)
    with pytest.raises(WeightsError, match="does not match the temporal lifter's layers"):
        load_weights(mismatched)
    pickled = tmp_path / "pickled.pt"
    torch.save({"arch": "temporal_lifter", "spec": object()}, pickled)
    with pytest.raises(WeightsError, match="corrupt or not a poselift checkpoint"):
        load_weights(pickled)


def test_primed_stream_equals_edge_padding(lifter):
    """A stream primed with its first frame gives what the padded sequence gives in evaluation."""
    rf = lifter.spec.receptive_field
    x = torch.randn(3, 12, rows(lifter), 3)  # three independent streams stepped together
    padded = torch.cat([x[:, :1].expand(-1, rf - 1, -1, -1), x], dim=1)
    with torch.no_grad():
        dense, _ = lifter(padded, dense=True)
        step = LifterStep(lifter)
        state = step.prime(x[:, 0].flatten(1))
        outs = []
        for t in range(12):
            pose, _, *state = step(x[:, t].flatten(1), *state)
            outs.append(pose)
    assert torch.allclose(torch.stack(outs, dim=1), dense, atol=1e-3)


def test_mirror_swaps_sides_and_undoes_itself(lifter):
    x = torch.randn(4, rows(lifter), 3)
    m = flip_pose(x, H36M)
    left, right = H36M.index("left_wrist"), H36M.index("right_wrist")
    assert torch.equal(m[:, left, 0], -x[:, right, 0]) and torch.equal(m[:, left, 1:], x[:, right, 1:])
    assert torch.equal(m[:, 0, 1:], x[:, 0, 1:])  # the pelvis (and the pelvis row) stays, x negated
    assert torch.equal(flip_pose(m, H36M), x)
