"""Pure enrichment: an IP address becomes a place, a user agent a device.

No ORM and no Celery here; ``ingest`` and ``jobs`` call these functions and
write the results on the event rows. ``geo`` reads MaxMind databases,
``devices`` the user agent, ``fields`` turns both into the columns of one
event (masked for proxies and machines). Both lookups are cached.
"""

from ..addresses import anonymize as anonymize_ip
from ..addresses import is_public as is_public_ip
from ..exceptions import GeoDatabaseError
from .devices import (
    EMPTY_DEVICE,
    USER_AGENT_CACHE_SIZE,
    USER_AGENT_PARSE_LENGTH,
    Device,
    parse_user_agent,
)
from .fields import DEVICE_FIELDS, ENRICHED_FIELDS, PLACE_FIELDS, READ_FIELDS, enrichment_for
from .geo import (
    EMPTY_PLACE,
    LOCATE_CACHE_SIZE,
    RECHECK_SECONDS,
    GeoLocator,
    GeoStatus,
    Place,
    bundled_geolite2,
    geoip_path_setting,
    geoip_problem,
    get_locator,
    locate,
    locator_problem,
    reset_locator,
    resolve_geoip_paths,
)

__all__ = [
    "bundled_geolite2",
    "geoip_path_setting",
    "LOCATE_CACHE_SIZE",
    "RECHECK_SECONDS",
    "USER_AGENT_CACHE_SIZE",
    "USER_AGENT_PARSE_LENGTH",
    "DEVICE_FIELDS",
    "Device",
    "EMPTY_DEVICE",
    "EMPTY_PLACE",
    "ENRICHED_FIELDS",
    "GeoDatabaseError",
    "GeoLocator",
    "GeoStatus",
    "PLACE_FIELDS",
    "Place",
    "READ_FIELDS",
    "anonymize_ip",
    "enrichment_for",
    "geoip_problem",
    "get_locator",
    "is_public_ip",
    "locate",
    "locator_problem",
    "parse_user_agent",
    "reset_locator",
    "resolve_geoip_paths",
]
