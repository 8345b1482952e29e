"""The gallery: an MCP App (the ``io.modelcontextprotocol/ui`` extension) that hosts able to render Apps show beside
the image tools' results, where a person sees the images, compares two, and asks for changes by drawing on them.

The image tools point at it through ``_meta.ui.resourceUri``; a host without Apps ignores that and gets the very
same result as ever (text, structured output, previews, links). The page is one self-contained HTML document
(``gallery.html`` with ``gallery.css`` and ``gallery.js`` written into it, and the facts it needs from the specs as
JSON): no CDN, no remote font, a CSP that allows nothing beyond the page itself and the images it is handed. Every
action it offers is a call of this server's tools through the host, never a side channel.
"""

from __future__ import annotations

import functools
import json
from importlib import resources as package
from typing import Any

import mcp_types as types

URI = "ui://ideogram/gallery"
"""The gallery's resource."""
EXTENSION = "io.modelcontextprotocol/ui"
"""The MCP Apps extension's identifier (``mcp.server.apps.EXTENSION_ID``; not imported: a start loads no more of the
SDK than it must)."""
MIME_TYPE = "text/html;profile=mcp-app"
"""What hosts render an App's HTML as (``mcp.server.apps.APP_MIME_TYPE``)."""
SHOWN_IN: dict[str, Any] = {"ui": {"resourceUri": URI}}
"""The ``_meta`` of a tool whose results are images (those with the image tools' output): the gallery shows them."""
CSP: dict[str, list[str]] = {"resourceDomains": ["https://im.runware.ai"]}
"""What the page may load beyond itself: images Runware serves (those not saved are shown from their URL). Saved
images come through the host as data, so nothing else is named."""


@functools.cache
def page() -> str:
    """The gallery's HTML, whole: its style, its script and the facts it needs (ratios, strength bounds) inside."""
    from ideogram_mcp.arguments.names import aliases_for
    from ideogram_mcp.sizes import ratios  # the specs load only when a host asks for the page
    from ideogram_mcp.specs import models_of

    remix = models_of("remix_image")[0]
    strength = remix.parameters["remixStrength"]
    hosts = CSP["resourceDomains"]
    facts: dict[str, Any] = {
        "imageHosts": hosts,
        "ratios": ratios(models_of("reframe_image")[0].sizes),
        "strength": {"min": strength.minimum, "max": strength.maximum, "default": strength.default},
        # Every spelling of the prompt the server reads, so that the page shows the prompt an agent gave as it gave it.
        "promptNames": ["positivePrompt", *aliases_for({"positivePrompt"})],
        "imageNames": list(dict.fromkeys(["image", *aliases_for({"image"})])),  # and of the image an edit is made of
        # The models whose prompt says what a whole image shows (not what an edit changed), and how long a prompt a
        # remix takes: a remix asked for with no prompt of its own takes the image's.
        "wholePrompts": [spec.model.id for tool in ("generate_image", "remix_image") for spec in models_of(tool)],
        "remixPromptMost": remix.parameters["positivePrompt"].max_length,
    }
    folder = package.files(__name__)
    html = folder.joinpath("gallery.html").read_text(encoding="utf-8")
    style = folder.joinpath("gallery.css").read_text(encoding="utf-8")
    script = folder.joinpath("gallery.js").read_text(encoding="utf-8")
    # "</" could end the script element early: JSON written into HTML escapes it.
    said = json.dumps(facts, separators=(",", ":")).replace("</", "<\\/")
    html = html.replace("/*IMAGE_HOSTS*/", " ".join(hosts))  # the page's own CSP: the same hosts as the host's
    return html.replace("/*STYLE*/", style).replace("/*FACTS*/", said).replace("/*SCRIPT*/", script)


def contents() -> types.TextResourceContents:
    """The gallery as ``resources/read`` gives it."""
    return types.TextResourceContents(
        uri=URI, mime_type=MIME_TYPE, text=page(), _meta={"ui": {"csp": CSP, "prefersBorder": False}}
    )
