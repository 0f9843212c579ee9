"""The one exception type for problems a user can fix (bad file, bad flag, bad checkpoint, no network).

The CLI prints such an error as a single line on stderr and exits non-zero; anything else is a bug and
is allowed to raise with its traceback.
"""


class MicroGPTError(Exception):
    """A problem with the user's input or environment, explained in one line."""


class ComputeError(MicroGPTError):
    """The machinery of a run failed under it (a worker process died): the run stops, its last checkpoint
    intact."""
