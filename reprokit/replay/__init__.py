"""``reprokit replay``: restore the snapshot, the child process, what replay says, ``--verify``."""
