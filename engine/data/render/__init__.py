"""A rendered training corpus: free-licence bodies (Anny) performing the prepared mocap, filmed
by random cameras and watched by the pipeline's own 2D detector (docs/training-data.md,
"Rendered corpus").

- ``body``: the Anny body model (random shape, age, proportions, skin tone, clothing colours)
  and its skinning.
- ``retarget``: the mocap's motion on Anny's skeleton, by rotations, standing on the floor;
  the SMPL24 / H36M17 joints of the posed Anny skeleton.
- ``camera``: a camera per frame that keeps the person in view, static or following.
- ``scene``: room, props, light; rendered offscreen (pyrender, EGL).
- ``corpus``: the render loop, one clip at a time, resumable; ``shards``: the clips packed
  into per-split arrays.

Needs the ``render`` extra (``pip install -e ".[render]"``) and EGL (on Debian,
``.ci/system-packages`` installs what is missing).
"""
