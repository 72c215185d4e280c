"""`python -m floe` runs the `floe` command."""

from floe.cli import main

main()
