"""Config types <-> plain data <-> YAML/JSON (``io``), decoding and encoding by declared type, ``--set`` values, the fast YAML writer."""
