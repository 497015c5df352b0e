"""The command line: ``parser`` (every command and option) and ``dispatch`` (to each
command's module, imported lazily).

``main`` is re-exported here because the console script is ``reprokit.cli:main`` and
``python -m reprokit`` calls it: importing the parser and the dispatcher is what every
command does first anyway, and neither imports a command module at import time.
"""

from reprokit.cli.dispatch import main as main
