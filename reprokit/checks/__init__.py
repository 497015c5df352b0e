"""The commit-time checks behind ``reprokit check``.

Every finding prints as ``path:line:col: RKnnn message`` followed by ``  hint: ...``.

======  ===========================================================================
code    meaning
======  ===========================================================================
RK001   the file does not parse (syntax error)
RK101   the file name does not follow ``<name>_<id>_<parent>.py``
RK102   a folder between the project root and the file is not an importable name
RK201   two or more files of one family use the same id
RK202   the family has no base ``<name>_01_01.py``
RK203   a file names itself as its parent but its id is not 01 (only 01_01 is a base)
RK301   the declared parent id does not exist in the family folder
RK302   the declared parent is not older (its id is not smaller): no cycles
RK401   a derived experiment does not import its declared parent
RK402   a derived experiment imports a sibling that is not its declared parent
RK403   a base imports another experiment of its own family
RK500   the experiment cannot be imported (the underlying error is shown)
RK501   no module-level ``config``
RK502   ``config`` is not a dataclass instance
RK503   ``config`` or a nested dataclass value is not ``frozen=True``
RK504   a field holds a list, dict, set or bytearray (``allow_mutable_fields``)
RK505   a field holds a credential: its name says so (``api_key``, ``password``, ``token``)
        and it has a value, or its value is one (``secret_fields``)
RK506   importing or checking the experiment did not finish within ``check_timeout``
        seconds (the finding points at the line it was stuck on)
RK601   ``config`` cannot be dumped to YAML or loaded back (e.g. a lambda field)
RK602   loading the dumped YAML gives a different config
RK603   the YAML is not byte-stable (dump, load, dump gives other text)
RK604   no callable ``main(config)`` (``entry`` in ``[tool.reprokit]``)
RK605   ``smoke(config)`` raises or returns another type than ``config``'s
RK606   ``smoke(config)`` does not round-trip
RK610   the family's base defines no ``smoke(config)`` (``require_smoke``)
======  ===========================================================================

Checks RK0xx-RK4xx read files with ``ast`` and never import them (``reprokit check
--static``); RK5xx-RK6xx import each experiment once, skipped while the content hashes of
the file and of every project file it imports are unchanged.
"""
