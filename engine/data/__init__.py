"""Training data: mocap prepared for the lifters, and synthetic 2D detector noise calibrated on real video."""
