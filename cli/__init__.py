"""The ``minigrad`` command line (Typer). Thin: it parses options and calls the library."""
