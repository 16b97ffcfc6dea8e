"""Body models: joint sets, rest skeletons, kinematics and SMPL model files."""
