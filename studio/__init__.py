"""msau-studio: colorize a photo interactively in the browser, on the same runtime as msau-run.

A local Starlette app (``msau.studio.app``) serves a static page (``static/``, no build step, no CDN) and a
small JSON/PNG API; photos live in memory per browser tab (``msau.studio.sessions``) and every colour comes
from ``msau.studio.render``, which calls the runtime exactly as msau-run does.
"""
