"""The add-on's side of the engine link. ``protocol.py`` and ``client.py`` are the engine's own
modules, copied in by ``engine addon build`` (they are not kept twice in the source tree);
``session.py`` follows one capture without blocking Blender."""
