"""What the studio accepts, in one place: the CLI's defaults and the app's limits (no web imports here)."""

from __future__ import annotations

from dataclasses import dataclass

from msau.runtime.limits import DEFAULT_MAX_PIXELS

DEFAULT_MAX_UPLOAD_BYTES = 50 * 1024 * 1024
DEFAULT_IDLE_SECONDS = 30 * 60
DEFAULT_MAX_SESSIONS = 16
# An edit's hint list as JSON; a painted PNG loaded as hints can give many points.
MAX_JSON_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class StudioLimits:
    """What the studio accepts: upload bytes, photo pixels, idle time and number of open sessions."""

    max_upload_bytes: int = DEFAULT_MAX_UPLOAD_BYTES
    max_pixels: int = DEFAULT_MAX_PIXELS
    idle_seconds: float = DEFAULT_IDLE_SECONDS
    max_sessions: int = DEFAULT_MAX_SESSIONS
