"""The one exception type for user mistakes.

`MonaLabError` subclasses ``ValueError`` so library callers can catch either; the CLI
prints its message on one line and exits with status 2. Messages name the file, argument
or shapes at fault.
"""


class MonaLabError(ValueError):
    """A user-facing error: bad input data, a missing file, an invalid argument."""
