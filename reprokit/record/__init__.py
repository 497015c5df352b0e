"""The run record: its schema, the ``outputs/`` store, the index, what a foreign record may make reprokit do."""
