"""``engine addon build``: the Blender extension zip, built and validated."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from engine.cli.common import command_group, console, fail

app = command_group("The Blender extension.")


@app.command("build")
def addon_build(
    out: Annotated[Path, typer.Option(help="Folder for the extension zip.")] = Path("dist"),
) -> None:
    """Build the Blender extension zip (pyzmq wheels bundled) and check it with Blender's validator."""
    from engine.addon_build import AddonBuildError, build_addon

    try:
        zip_path = build_addon(out)
    except AddonBuildError as e:
        raise fail(e) from None
    console.print(f"built and validated {zip_path}: Blender > Edit > Preferences > Get Extensions > Install from Disk")
