"""``python -m engine``: the same command line as the ``engine`` executable (so a Python
interpreter path is enough to start one, as the Blender add-on does)."""

from engine.cli import app

app(prog_name="engine")
