"""Turning exceptions into messages a person can read (never a traceback in the page)."""

from __future__ import annotations

import functools
import html
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import gradio as gr

import study

log = logging.getLogger("webapp")
F = TypeVar("F", bound=Callable[..., Any])


def user_errors(fn: F) -> F:
    """Wrap a handler: bad input (ValueError, which includes inpaint's WeightsError and study's
    StudyError) becomes a gr.Error with its own one-line message; an unavailable database and
    anything unexpected become a short message, with the details in the server log."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except ValueError as e:
            raise gr.Error(_first_line(e), print_exception=False) from None
        except study.StorageError as e:
            log.error("study database unavailable: %s", e)
            raise gr.Error(
                f"The study database is unavailable right now ({_first_line(e)}). "
                "Nothing was recorded; please try again in a minute.",
                print_exception=False,
            ) from None
        except MemoryError:
            raise gr.Error("Not enough memory for this photo: try a smaller one.", print_exception=False) from None
        except Exception:
            log.exception("unexpected error in %s", fn.__name__)
            raise gr.Error(
                "Something went wrong on the server (the details are in its log). Please try again.",
                print_exception=False,
            ) from None

    return wrapper  # type: ignore[return-value]


def _first_line(error: BaseException) -> str:
    text = str(error).strip() or type(error).__name__
    first = text.splitlines()[0]
    return html.escape(first[:1].upper() + first[1:], quote=False)  # gr.Error renders HTML
