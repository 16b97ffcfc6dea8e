"""The add-on's side of the engine link. The engine's own modules are copied in by ``engine
addon build`` (they are not kept twice in the source tree): ``protocol.py`` and ``client.py``
(engine/), ``joints.py`` (engine/body/joints.py: the SMPL24 names and parents),
``geometry.py`` (engine/geometry.py: rotations in numpy) and ``lifters.py``
(engine/lifting/registry.py: the lifters a capture may name). ``session.py`` follows one
capture, or one live stream, without blocking Blender."""
