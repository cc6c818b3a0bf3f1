"""What the tabs of the page share: the services opened at start-up, the page itself, its tabs, and
the visitor's anonymous participant id (on the server, and its copy kept in the browser)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr

from webapp.startup import Services

Updates = dict[Any, Any]
"""What a handler returns: {component: its new value, or a component standing for its new
properties}. The event lists every component that the handler may update (Gradio leaves any
component the dict does not name as it is)."""


@dataclass(frozen=True, eq=False)
class Page:
    """Given to each tab's ``build``, inside the page's ``gr.Tabs``."""

    services: Services
    demo: gr.Blocks
    tabs: gr.Tabs
    participant: gr.State  # the anonymous id, once the visitor agreed; None before
    remembered: gr.BrowserState  # {"participant": id} in the browser, so that the notice is shown once
