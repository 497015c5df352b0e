"""``reprokit launch``: the order of a launch, what it runs, the live run (record, heartbeat, signals, tee, metrics)."""
