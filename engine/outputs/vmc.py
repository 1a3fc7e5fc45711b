"""The VMC protocol (Virtual Motion Capture, OSC over UDP) as a performer sends it to a marionette:
VSeeFace, Warudo, VMC4B in Blender, EVMC4U in Unity. Each frame is one OSC bundle:

- ``/VMC/Ext/Root/Pos`` "root", position xyz, quaternion xyzw: the avatar's root, left at the origin;
- ``/VMC/Ext/Bone/Pos`` per humanoid bone: Unity's bone name (VRM's, capitalised: ``leftUpperLeg`` ->
  ``LeftUpperLeg``), its local position (metres, in its parent's frame, from this frame's bone lengths; the
  hips' is where the person stands) and local rotation (relative to the parent; identity is the T-pose facing +Z);
- ``/VMC/Ext/OK`` loaded (1), calibration state (3: calibrated), calibration mode (0: normal),
  tracking (1 while the person is seen, 0 otherwise: the bones are then left out, so the avatar holds
  its last pose);
- ``/VMC/Ext/T`` the frame's time in seconds.

Unity, and so VMC, is left-handed (X right, Y up, Z forward); poselift's frame is right-handed (Y up,
Z towards the camera, so that a person facing the camera faces +Z with their left at +X, as VRM 1.0's
T-pose). Mirroring X maps one onto the other: a point (x, y, z) becomes (-x, y, z), and a rotation R
becomes M R M with M = diag(-1, 1, 1), which for a quaternion (x, y, z, w) is (x, -y, -z, w) (its axis
mirrors as a point does and, being an axial vector, also flips). UniVRM converts VRM 1.0 the same way."""
from __future__ import annotations

import numpy as np
from pythonosc.osc_bundle import OscBundle
from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import UDPClient

from .stream_frame import StreamFrame
from .targets import Target, resolve

MIRROR_POINT = np.array([-1.0, 1.0, 1.0])
MIRROR_QUATERNION = np.array([1.0, -1.0, -1.0, 1.0])
CALIBRATED, NORMAL_MODE = 3, 0


def to_unity_points(points: np.ndarray) -> np.ndarray:
    """Right-handed Y-up points (..., 3) -> Unity's left-handed axes."""
    return np.asarray(points) * MIRROR_POINT


def to_unity_rotations(quaternions: np.ndarray) -> np.ndarray:
    """Right-handed quaternions (..., 4) xyzw -> the same rotations in Unity's left-handed axes."""
    return np.asarray(quaternions) * MIRROR_QUATERNION


def unity_bone_name(vrm_name: str) -> str:
    """VRM's humanoid bone name -> Unity's HumanBodyBones name, which VMC uses."""
    return vrm_name[:1].upper() + vrm_name[1:]


def _message(address: str, *args: tuple[str, object]) -> object:
    builder = OscMessageBuilder(address)
    for kind, value in args:
        builder.add_arg(value, kind)
    return builder.build()


def vmc_bundle(frame: StreamFrame) -> OscBundle:
    """One frame as the VMC bundle described in the module docstring."""
    bundle = OscBundleBuilder(IMMEDIATELY)
    bundle.add_content(_message("/VMC/Ext/Root/Pos", ("s", "root"), *[("f", 0.0)] * 6, ("f", 1.0)))
    if frame.seen:
        positions = to_unity_points(frame.translations).tolist()
        rotations = to_unity_rotations(frame.rotations).tolist()
        for name, p, q in zip(frame.bones, positions, rotations):
            bundle.add_content(_message("/VMC/Ext/Bone/Pos", ("s", unity_bone_name(name)),
                                        *[("f", v) for v in p + q]))
    bundle.add_content(_message("/VMC/Ext/OK", ("i", 1), ("i", CALIBRATED), ("i", NORMAL_MODE),
                                ("i", int(frame.seen))))
    bundle.add_content(_message("/VMC/Ext/T", ("f", float(frame.time))))
    return bundle.build()


class VmcSender:
    """VMC bundles over UDP to a marionette at ``target``: nothing comes back, so a receiver that is
    not (or no longer) running goes unnoticed, and the stream simply reaches it when it starts."""

    def __init__(self, target: Target):
        self.target = target
        self._client = UDPClient(resolve(target), target.port)  # by address: no name look-up per frame

    def send(self, frame: StreamFrame) -> None:
        self._client.send(vmc_bundle(frame))

    def close(self) -> None:
        self._client.close()
