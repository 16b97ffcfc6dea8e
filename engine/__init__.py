"""Markerless motion-capture engine: video → 2D keypoints → 3D joints → SMPL motion → files."""

__version__ = "0.1.0"
