"""What the explorer says to a web user: one line, never a server path, Gradio's own refusals included.

Every handler turns the errors it expects (`USER_ERRORS`) into its tab's
status line with [`web_message`][explainer.app.messages.web_message];
[`guard_requests`][explainer.app.messages.guard_requests] makes everything
else that reaches Gradio (a request Gradio itself refuses: a bad upload,
a value not among a dropdown's choices, the wrong number of inputs; a user
error a handler let through; a bug) a `gr.Error` with a readable line, so
the page never shows an empty "Error" badge (`show_error=False` hides the
message of any other exception).
"""

from __future__ import annotations

import functools
import html
import re
from typing import Any

import gradio as gr

from explainer.errors import USER_ERRORS, one_line

#: An absolute (or home- or dot-relative) path in a message: `/tmp/gradio/3f2a/clip.mp4`, `'~/x/y.png'`. Not a
#: URL (`https://a/b`), nor a ratio or unit (`1/255`, `images/s`): the slash must not follow a word character.
_PATH = re.compile(r"(?<![\w:/.~-])(?:~|\.\.?)?/(?:[^\s/'\"`()\[\]<>,;]+/)*([^\s/'\"`()\[\]<>,;]+)")
#: Said when Gradio refuses a request before any handler runs and its own words are empty.
REFUSED = "the request was refused (a file or value the explorer cannot take); reload the page and try again"
#: Said for a failure the explorer did not expect; its traceback is in the server's log.
FAILED = "the explorer failed ({kind}); the server's log says why"


def hide_paths(text: str) -> str:
    """`text` with every path in it replaced by its last part (the file's own name, as the upload widget shows it)."""
    return _PATH.sub(lambda match: match.group(1), text)


def web_message(error: BaseException | str) -> str:
    """An error as one line for a web page: its message (see `one_line`) without any server path."""
    text = error if isinstance(error, str) else error.message if isinstance(error, gr.Error) else one_line(error)
    return hide_paths(" ".join(str(text).split()))


def as_gr_error(error: BaseException, *, refused: bool = False) -> gr.Error:
    """`error` as the `gr.Error` the page shows: a user error's line, Gradio's own refusal, or `FAILED`.

    `refused`: Gradio raised it while reading the request (before any handler ran).
    """
    if isinstance(error, gr.Error):
        line, quiet = web_message(error), not error.print_exception
    elif isinstance(error, USER_ERRORS):
        line, quiet = web_message(error), True
    elif refused:
        line, quiet = web_message(error), True
        line = f"the request was refused: {line}" if line and line != type(error).__name__ else REFUSED
    else:
        line, quiet = FAILED.format(kind=type(error).__name__), False
    # gr.Error's message is HTML in the page: what the user typed is shown, never run.
    return gr.Error(html.escape(line or REFUSED, quote=False), print_exception=not quiet)


def guard_requests(demo: gr.Blocks) -> gr.Blocks:
    """Make every failure of `demo`'s events reach the page as a readable one-line `gr.Error`, without paths.

    Wraps the instance's `preprocess_data` (Gradio's checks of a request:
    uploads, choices, the number of inputs) and `call_function` (the
    handlers); cancellation (`BaseException`s) passes through unchanged.
    """
    if getattr(demo, "_explorer_guarded", False):
        return demo
    preprocess, call = demo.preprocess_data, demo.call_function

    @functools.wraps(preprocess)
    async def preprocess_data(*args: Any, **kwargs: Any) -> Any:
        try:
            return await preprocess(*args, **kwargs)
        except Exception as error:  # every refusal becomes one readable line
            raise as_gr_error(error, refused=True) from error

    @functools.wraps(call)
    async def call_function(*args: Any, **kwargs: Any) -> Any:
        try:
            return await call(*args, **kwargs)
        except Exception as error:  # as above; a bug's traceback still goes to the log
            raise as_gr_error(error) from error

    demo.preprocess_data, demo.call_function = preprocess_data, call_function
    demo._explorer_guarded = True
    return demo
