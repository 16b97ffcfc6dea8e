"""Training the engine's models on prepared mocap."""
