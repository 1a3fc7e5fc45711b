"""The demo clip's walker, grounded: she walks several metres to the left over a level floor, her
planted feet hardly slide, and her BVH stands upright on Blender's grid at the clip's rate.

The clip has two people and MediaPipe Pose follows one; to follow the walker, the man on the roof is
painted out (everything above the roof's edge). ``pytest -s`` prints the figures the README quotes."""
import json
import shutil
import subprocess

import numpy as np
import pytest

from conftest import DEMO, FedKeypoints
from test_tools import python_with, run_tool


@pytest.fixture(scope="module")
def walker(tmp_path_factory):
    """The grounded clip of the walker and, per frame with a floor, (time, floor up, camera height)."""
    from poselift.engine.outputs.clip import Clip
    from poselift.engine.live.factory import PipelineOptions, build_pipeline
    from poselift.engine.live.keypoints import MediaPipePose
    from poselift.engine.live.sources import VideoFileSource

    mp = MediaPipePose()

    def walker_only(image):
        image = image.copy()
        image[: int(0.48 * image.shape[0])] = 127
        return mp(image)

    pipeline, info = build_pipeline(PipelineOptions(solo=True),
                                    keypoints=FedKeypoints(walker_only, num_poses=1, smooths_landmarks=True))
    source = VideoFileSource(DEMO)
    source.start()
    results = [pipeline.process(frame) for frame in source]
    source.stop()
    floors = [(r.timestamp, r.world.ground.up, r.world.ground.camera_height_mm) for r in results
              if r.world is not None and r.world.ground is not None]
    clip = Clip.from_results(results, source.fps, {"world": pipeline.world.to_dict(), "model": info})
    return clip, floors, tmp_path_factory.mktemp("walker")


def test_the_demo_walker_walks_metres_over_the_floor_without_skating(walker):
    from poselift.engine.live.world import world_pose
    from poselift.models.world import ANKLES, foot_skating
    clip, _, _ = walker
    world = world_pose(clip)
    seen = np.flatnonzero(np.isfinite(world[:, 0, 0]))
    gone = next(f for f in range(45, len(world)) if not np.isfinite(world[f, 0, 0]))
    walk = world[45:gone, 0]  # she enters at the right (frame ~42) and leaves at the left
    travel = walk[-1] - walk[0]
    ground = clip.meta["world"]["ground"]
    slides = foot_skating(world[:, ANKLES], clip.contacts)
    print(f"\nwalker: frames {seen[0]}-{seen[-1]}, travel 45->{gone} {travel[[0, 2]] / 1000} m, "
          f"head top median {np.median(world[seen, 10, 1]):.0f} mm, ankles median {np.median(world[seen][:, ANKLES, 1]):.0f} mm, "
          f"camera pitch {ground['pitch_deg']} deg roll {ground['roll_deg']} deg height {ground['camera_height_mm']} mm, "
          f"{len(slides)} steps, slide median {np.median(slides):.1f} mm, max {slides.max():.1f} mm")
    assert travel[0] < -5000 and abs(travel[2]) < 0.3 * abs(travel[0])  # leftwards, across the frame
    assert 1500 < np.median(world[seen, 10, 1]) < 1900
    assert 0 < np.median(world[seen][:, ANKLES, 1]) < 150
    assert len(slides) >= 10 and slides.max() < 30  # every step under 3 cm


def test_the_demo_walkers_bvh_in_blender(walker):
    from poselift.engine.outputs.export import export_clip
    python = python_with("bpy", "POSELIFT_BPY_PYTHON")
    clip, _, out = walker
    bvh, _ = export_clip(clip, "bvh", out / "walker.bvh")
    got = run_tool(python, "blender_import.py", bvh, tag="BLENDER")
    seen = np.flatnonzero(np.isfinite(clip.pose3d).all((1, 2)))  # the BVH runs from her first frame to her last
    walk = slice(45 - seen[0], 200 - seen[0])
    high, low, root = np.array(got["high"])[walk], np.array(got["low"])[walk], np.array(got["root"])[walk]
    print(f"\nBlender: {got['fps']:.2f} fps, {got['frames']} frames, head top median {np.median(high):.2f} m, "
          f"lowest joint median {np.median(low):.3f} m, root 45->200 {root[-1] - root[0]}")
    assert abs(got["fps"] - clip.fps) < 0.01 and got["frames"] == seen[-1] - seen[0] + 1
    assert 1.5 < np.median(high) < 1.9 and -0.05 < np.median(low) < 0.15
    assert root[-1, 0] - root[0, 0] < -5.0


def gltf_validator_issues(path) -> dict:
    """The Khronos glTF validator's issue counts and messages for ``path`` (npm's gltf-validator, found
    through NODE_PATH)."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed: apt install nodejs npm, then npm install gltf-validator.")
    script = ("const v = require('gltf-validator'); const fs = require('fs');"
              "v.validateBytes(new Uint8Array(fs.readFileSync(process.argv[1])))"
              ".then(r => console.log('GLTF ' + JSON.stringify(r.issues)));")
    out = subprocess.run([node, "-e", script, str(path)], capture_output=True, text=True, timeout=120)
    if "Cannot find module 'gltf-validator'" in out.stderr:
        pytest.skip("the glTF validator is not installed: npm install gltf-validator, and put its node_modules "
                    "on NODE_PATH.")
    line = next((ln for ln in out.stdout.splitlines() if ln.startswith("GLTF ")), None)
    assert line, out.stderr[-2000:]
    return json.loads(line[5:])


def test_the_demo_walkers_glb_is_valid_gltf_and_opens_in_blender_joint_for_joint(walker):
    from poselift.engine.live.world import world_pose
    from poselift.engine.outputs.export import export_clip
    from poselift.models.humanoid import Humanoid
    clip, _, out = walker
    glb, _ = export_clip(clip, "glb", out / "walker.glb")
    issues = gltf_validator_issues(glb)
    assert issues["numErrors"] == 0 and issues["numWarnings"] == 0, issues["messages"][:5]
    python = python_with("bpy", "POSELIFT_BPY_PYTHON")
    got = run_tool(python, "blender_rig.py", glb, clip.fps, tag="RIG")
    world = world_pose(clip) / 1000
    seen = np.flatnonzero(np.isfinite(world).all((1, 2)))  # the animation runs from her first frame to her last
    humanoid = Humanoid()
    bones = next(iter(got["bones"].values()))
    heads = np.stack([np.array(bones[node]) for node in humanoid.nodes], 1)
    truth = world[seen[0]:seen[-1] + 1, humanoid.joints]
    kept = np.isfinite(truth).all(axis=(1, 2))
    error = np.abs(heads[:len(truth)][kept] - truth[kept]).max()
    print(f"\nglb: {issues['numErrors']} errors, {issues['numWarnings']} warnings; Blender's joints within "
          f"{1000 * error:.3f} mm of the clip")
    assert error < 0.001


def test_the_live_floor_estimate_settles_within_seconds_then_holds(walker):
    _, floors, _ = walker
    t = np.array([f[0] for f in floors]) - floors[0][0]
    up = np.array([f[1] for f in floors])
    height = np.array([f[2] for f in floors])
    angle = np.degrees(np.arccos(np.clip(up @ up[-1], -1, 1)))  # from the final estimate
    late = t >= 3.0
    off = np.flatnonzero(angle > 2)
    print(f"\nfloor: within 2 deg of the final after {t[off[-1] + 1] if len(off) else 0.0:.2f} s; after 3 s it moves "
          f"{angle[late].max():.2f} deg, the camera height {np.ptp(height[late]):.0f} mm")
    assert angle[late].max() < 1.0 and np.ptp(height[late]) < 100
