"""The 3D view grounded: the skeleton over the estimated floor, its trail and the camera's frustum;
the live angle plot."""
import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(not os.environ.get("DISPLAY"),
                                reason="no X display: run the tests under xvfb-run (see README)")

from conftest import grounded_clip  # noqa: E402


@pytest.fixture(scope="module")
def qapp():
    from poselift.app.window import make_application
    return make_application()


def test_skeleton_walks_over_the_floor_with_trail_and_frustum(qapp):
    from poselift.app.angles import AnglePlot
    from poselift.app.views import SkeletonView
    from poselift.calibration import Camera
    from poselift.calibration.floor import Ground
    from poselift.engine.live.world import WorldFrame, frame_angles
    from poselift.models.skeletons import H36M
    clip, world = grounded_clip()
    camera = Camera.from_dict(clip.meta["camera"])
    ground = Ground.from_dict(clip.meta["world"]["ground"])
    view, plot = SkeletonView(), AnglePlot()
    for f in range(30):
        frame = WorldFrame(clip.trajectory[f].astype(float), 1.0, ground, np.zeros(2, bool))
        view.show_pose(clip.pose3d[f], clip.uncertainty[f], H36M, world=frame, camera=camera, t=clip.timestamps[f])
        plot.add(clip.timestamps[f], frame_angles(clip.pose3d[f], frame))
    joints = view.joints.pos
    want = world[29] / 1000.0
    assert np.allclose(joints, np.column_stack([want[:, 0], -want[:, 2], want[:, 1]]), atol=1e-3)  # scene: Z up
    assert len(view.trail.pos) == 30 and np.ptp(view.trail.pos[:, 0]) > 0.9  # a metre walked so far
    apex = view.frustum.pos[0]
    assert len(view.frustum.pos) == 16 and np.allclose(apex, [0, 0, 1.5], atol=1e-6)  # the camera, 1.5 m up
    assert abs(view.opts["center"].x() - want[0, 0]) < 1e-6  # the view follows the person
    view.trail_visible = False
    view.show_pose(clip.pose3d[30], clip.uncertainty[30], H36M, world=frame, camera=camera)
    assert len(view.trail.pos) == 0
    view.show_pose(clip.pose3d[30], clip.uncertainty[30], H36M)  # not grounded: root-relative on the grid
    assert len(view.frustum.pos) == 0 and view.joints.pos[:, 2].min() == pytest.approx(0.0, abs=1e-9)
    x, y = plot.curves[0].getData()
    assert len(x) == 30 and np.isfinite(y).all() and x[-1] == 0.0
    plot.choose("trunk flexion")
    assert plot.curves[1].getData()[0] is None or len(plot.curves[1].getData()[0]) == 0
