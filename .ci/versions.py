"""Print the versions a test environment runs; with an argument, fail unless Django's
version starts with it (``python .ci/versions.py 4.2``)."""

import sys
from importlib.metadata import PackageNotFoundError, version

NAMES = ["Django", "djangorestframework", "django-filter", "drf-spectacular", "django-ipware",
         "celery", "geoip2", "user-agents"]


def main() -> int:
    found = {}
    for name in NAMES:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            found[name] = "not installed"
    print(f"Python {sys.version.split()[0]}; " + ", ".join(f"{n} {v}" for n, v in found.items()))
    series = sys.argv[1] if len(sys.argv) > 1 else ""
    if series and not found["Django"].startswith(series):
        print(f"expected Django {series}*, found {found['Django']}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
