"""`python -m edge COMMAND`: one module per command (add_arguments + main): run, sensors, analyze,
check-profile, snapshot, discover, demo-camera."""
