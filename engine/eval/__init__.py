"""Evaluation: error metrics for 3D pose and motion."""
