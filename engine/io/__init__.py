"""Animation files: the Motion record written as ``.npz``, ``.bvh`` or ``.fbx`` (:mod:`engine.io.write`),
BVH reading and writing, FBX writing through Blender, and staged writes."""

FORMATS = ("npz", "bvh", "fbx")  # what engine.io.write.write_motion writes
