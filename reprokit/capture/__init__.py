"""What a run is made of: git state and snapshot, environment, hardware, inputs, determinism, this host and process."""
