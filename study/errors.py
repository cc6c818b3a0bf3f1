"""The two kinds of error the study package raises.

Callers (the app, the command line) need to tell "the request was wrong" from "the storage is
unavailable": the first is shown to the person or researcher as is, the second is an operations
problem. Both carry a one-line message that says what to do.
"""

from __future__ import annotations


class StudyError(ValueError):
    """Invalid input: an unknown candidate, a ranking that is not a permutation, a response to
    another participant's trial, a malformed study folder...

    A subclass of ValueError so that generic input validation (and design.md's rule that bad user
    input raises ValueError) catches it too.
    """


class StorageError(RuntimeError):
    """The database cannot be used: locked for longer than the busy timeout, missing, read-only,
    unreachable, or created by a newer version of this package."""
