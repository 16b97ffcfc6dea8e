"""Training data: mocap prepared for the lifters, virtual cameras, and 2D detector noise calibrated on real video."""
