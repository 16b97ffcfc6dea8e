"""Data flows one way: no module of the engine imports a module of a later stage."""

from __future__ import annotations

import ast

from tests.paths import REPO

# Stages in the order data flows (DESIGN.md): video → keypoints → lifting → solver (the decoder
# or IK) → Motion → writers → pipeline (which runs them all) → servers (engine serve, engine
# live); training, evaluation, optimising (ECLM), benchmarks and the command line use everything. Training data
# (mocap read through io, normalised as the lifters see it) comes before the pipeline, which
# never needs it; the rendered corpus comes after it, since it runs the pipeline's own 2D stage
# on its videos.
STAGES = [
    ["engine", "engine.protocol", "engine.geometry", "engine.timeseries", "engine.body", "engine.layer_merging"],
    ["engine.video", "engine.keypoints"],
    ["engine.lifting"],
    ["engine.decoding", "engine.solving"],
    ["engine.motion"],
    ["engine.io"],
    ["engine.data"],
    ["engine.pipeline"],
    ["engine.data.render"],
    ["engine.server", "engine.live_server", "engine.client"],
    ["engine.train", "engine.eval", "engine.optimize", "engine.bench", "engine.addon_build", "engine.cli", "engine.__main__"],
]


def stage_of(module: str) -> int:
    """The stage of ``module``: that of the longest prefix named in STAGES."""
    matches = [
        (len(prefix), i) for i, prefixes in enumerate(STAGES) for prefix in prefixes if module == prefix or module.startswith(prefix + ".")
    ]
    assert matches, f"{module} belongs to no stage: add it to STAGES"
    return max(matches)[1]


def imports_of(path) -> set[str]:
    """Every engine module ``path`` imports, at the top or inside functions, relative ones resolved."""
    package = ".".join(path.relative_to(REPO).with_suffix("").parts[:-1])
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(part for part in (base, node.module) if part)
            found |= {module} | {f"{module}.{alias.name}" for alias in node.names}
    return {name for name in found if name == "engine" or name.startswith("engine.")}


def test_no_engine_module_imports_a_later_stage():
    backwards = []
    for path in sorted((REPO / "engine").rglob("*.py")):
        module = ".".join(path.relative_to(REPO).with_suffix("").parts).removesuffix(".__init__")
        for imported in imports_of(path):
            if stage_of(imported) > stage_of(module):
                backwards.append(f"{module} imports {imported}")
    assert not backwards, "imports against the data flow:\n" + "\n".join(backwards)


def test_the_walk_sees_imports_inside_functions_and_relative_ones(tmp_path):
    assert {"engine.protocol", "engine.protocol.Message"} <= imports_of(REPO / "engine" / "client.py")
    assert "engine.pipeline.batch.run_one" in imports_of(REPO / "engine" / "server.py")  # imported inside a function
