"""A function in front of an ``lru_cache`` that reaches its ``cache_info()`` and ``cache_clear()``.

``useragents.parse``, ``enrichment.locate`` and ``enrichment.parse_user_agent``
clean their input before a cached function sees it; callers still clear and
inspect the cache through them, and type checkers know they can.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, Protocol, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R", covariant=True)
T = TypeVar("T")


class CacheControls(Protocol):
    def cache_info(self) -> functools._CacheInfo: ...

    def cache_clear(self) -> None: ...


class CachedFunction(CacheControls, Protocol[P, R]):
    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R: ...


def sharing_cache(cache: CacheControls) -> Callable[[Callable[P, T]], CachedFunction[P, T]]:
    """Decorator: the function gets ``cache``'s ``cache_info`` and ``cache_clear``."""

    def attach(function: Callable[P, T]) -> CachedFunction[P, T]:
        shared = cast("CachedFunction[P, T]", function)
        # Attaching the cache's methods to the function is the point; mypy flags any such assignment.
        shared.cache_info = cache.cache_info  # type: ignore[method-assign]
        shared.cache_clear = cache.cache_clear  # type: ignore[method-assign]
        return shared

    return attach
