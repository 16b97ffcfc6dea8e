"""Which rig bone follows which SMPL joint: presets, detection by bone names, JSON files.

A bone map is a dict from SMPL joint name (``SMPL24.names``, from the engine's joints module in
``link/``) to the rig's bone name; joints a rig lacks are left out (their rotation is carried by
the nearest mapped joint above).
"""

from __future__ import annotations

import json
from pathlib import Path

from .link.joints import SMPL24

_SIDES = {"l": ("Left", "_l", ".L"), "r": ("Right", "_r", ".R")}


def _mixamo() -> dict[str, str]:
    names = {"pelvis": "Hips", "spine1": "Spine", "spine2": "Spine1", "spine3": "Spine2", "neck": "Neck", "head": "Head"}
    for side, (word, _, _) in _SIDES.items():
        names |= {
            f"{side}_hip": f"{word}UpLeg",
            f"{side}_knee": f"{word}Leg",
            f"{side}_ankle": f"{word}Foot",
            f"{side}_foot": f"{word}ToeBase",
            f"{side}_collar": f"{word}Shoulder",
            f"{side}_shoulder": f"{word}Arm",
            f"{side}_elbow": f"{word}ForeArm",
            f"{side}_wrist": f"{word}Hand",
        }
    return {joint: f"mixamorig:{bone}" for joint, bone in names.items()}


def _rigify() -> dict[str, str]:
    names = {
        "pelvis": "DEF-spine",
        "spine1": "DEF-spine.001",
        "spine2": "DEF-spine.002",
        "spine3": "DEF-spine.003",
        "neck": "DEF-spine.004",
        "head": "DEF-spine.006",
    }
    for side, (_, _, suffix) in _SIDES.items():
        names |= {
            f"{side}_hip": f"DEF-thigh{suffix}",
            f"{side}_knee": f"DEF-shin{suffix}",
            f"{side}_ankle": f"DEF-foot{suffix}",
            f"{side}_foot": f"DEF-toe{suffix}",
            f"{side}_collar": f"DEF-shoulder{suffix}",
            f"{side}_shoulder": f"DEF-upper_arm{suffix}",
            f"{side}_elbow": f"DEF-forearm{suffix}",
            f"{side}_wrist": f"DEF-hand{suffix}",
        }
    return names


def _ue5() -> dict[str, str]:
    names = {"pelvis": "pelvis", "spine1": "spine_01", "spine2": "spine_03", "spine3": "spine_05", "neck": "neck_01", "head": "head"}
    for side, (_, suffix, _) in _SIDES.items():
        names |= {
            f"{side}_hip": f"thigh{suffix}",
            f"{side}_knee": f"calf{suffix}",
            f"{side}_ankle": f"foot{suffix}",
            f"{side}_foot": f"ball{suffix}",
            f"{side}_collar": f"clavicle{suffix}",
            f"{side}_shoulder": f"upperarm{suffix}",
            f"{side}_elbow": f"lowerarm{suffix}",
            f"{side}_wrist": f"hand{suffix}",
        }
    return names


PRESETS: dict[str, dict[str, str]] = {
    "SMPL": {j: j for j in SMPL24.names},
    "Mixamo": _mixamo(),
    "Rigify": _rigify(),
    "UE5 mannequin": _ue5(),
}


def detect(bone_names: list[str]) -> tuple[str, dict[str, str]]:
    """The preset matching most of ``bone_names`` and its map cut to the bones present.
    Mixamo rigs exported with another namespace (``mixamorig1:``) are recognised too."""
    present = set(bone_names)
    namespace = next((n.split(":")[0] for n in bone_names if n.endswith(":Hips")), "mixamorig")

    def candidates(name: str, preset: dict[str, str]) -> dict[str, str]:
        if name == "Mixamo":
            preset = {j: f"{namespace}:{b.split(':', 1)[1]}" for j, b in preset.items()}
        return {j: b for j, b in preset.items() if b in present}

    scored = {name: candidates(name, preset) for name, preset in PRESETS.items()}
    best = max(scored, key=lambda name: len(scored[name]))
    return best, scored[best]


def save(bone_map: dict[str, str], path: Path) -> None:
    path.write_text(json.dumps({"smpl_to_bone": bone_map}, indent=1) + "\n")


def load(path: Path) -> dict[str, str]:
    """A bone map from a JSON file written by :func:`save`; unknown joint names are refused by name."""
    data = json.loads(path.read_text())
    bone_map = data.get("smpl_to_bone") if isinstance(data, dict) else None
    if not isinstance(bone_map, dict) or not all(isinstance(v, str) for v in bone_map.values()):
        raise ValueError(f'{path}: expected {{"smpl_to_bone": {{joint: bone name}}}}')
    unknown = sorted(set(bone_map) - set(SMPL24.names))
    if unknown:
        raise ValueError(f"{path}: not SMPL joints: {', '.join(unknown)} (known: {', '.join(SMPL24.names)})")
    return bone_map
