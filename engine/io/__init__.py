"""Animation file formats: BVH reading and writing, FBX writing through Blender."""
