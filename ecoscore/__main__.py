"""``python -m ecoscore``: the same command line as the ``ecoscore`` script."""

from ecoscore.cli import main

main()
