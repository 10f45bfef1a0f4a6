"""Devices: a user agent becomes a device type, OS, browser and mail client.

Read off ``useragents.parse``, the parse and cache classification uses too.
A mail proxy's own agent yields ``Device()``: the Google Image Proxy's says
"Windows XP, Firefox 11", which is not the reader's machine.
"""

from __future__ import annotations

import dataclasses
import functools

from .. import useragents
from ..caching import sharing_cache

USER_AGENT_PARSE_LENGTH = useragents.PARSE_LENGTH
USER_AGENT_CACHE_SIZE = useragents.CACHE_SIZE


@dataclasses.dataclass(frozen=True, slots=True)
class Device:
    device_type: str = ""  # "desktop" | "mobile" | "tablet" | "bot" | "" (unknown)
    os: str = ""
    os_version: str = ""
    browser: str = ""
    browser_version: str = ""
    mail_client: str = ""


EMPTY_DEVICE = Device()
FIELDS = tuple(field.name for field in dataclasses.fields(Device))


@sharing_cache(useragents.parse)
def parse_user_agent(ua: str) -> Device:
    """Device type, OS, browser and mail client of a user agent string.

    The string is cut to 1,000 characters before parsing (and caching). Never
    raises: empty, non-string or unparseable input gives ``Device()``.
    ``parse_user_agent.cache_info()`` / ``.cache_clear()`` reach the cache.
    """
    return _device(useragents.parse(ua))


@functools.lru_cache(maxsize=USER_AGENT_CACHE_SIZE)
def _device(agent: useragents.Agent) -> Device:
    # Cached too, so that a repeated agent gives the very same Device.
    if agent == useragents.EMPTY:
        return EMPTY_DEVICE
    return Device(**{name: getattr(agent, name) for name in FIELDS})

