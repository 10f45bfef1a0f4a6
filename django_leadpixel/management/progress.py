"""Progress and counts for the batch commands (no dependency needed).

The bar is drawn only on a terminal: in a pipe or a log, ``\\r`` updates would pile
up as one long line, so there only the command's summary line is written.
"""

from __future__ import annotations

from django.utils.translation import ngettext


def counted(n: int, singular: str, plural: str) -> str:
    """``"1 message"``, ``"2 messages"``: the number with its noun, translatable."""
    return ngettext("%(n)d " + singular, "%(n)d " + plural, n) % {"n": n}


# Help texts shared by the batch commands.
BATCH_SIZE_HELP = 'Rows per batch (default LEADPIXEL["BATCH_SIZE"], 500).'
NO_PROGRESS_HELP = ("Draw no progress bar. It is drawn only when the error stream is a "
                    "terminal anyway; in a pipe or a log only the summary line is written.")


def is_terminal(stream) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except (ValueError, OSError):  # a closed or odd stream
        return False


class Progress:
    def __init__(self, stream, total: int, label: str, enabled: bool = True):
        self.stream, self.total, self.label = stream, total, label
        self.enabled = enabled and is_terminal(stream)
        self.done = 0

    def __call__(self, count: int) -> None:
        self.done += count
        if not self.enabled:
            return
        width = 30
        share = min(1.0, self.done / self.total) if self.total else 1.0
        bar = "#" * int(width * share)
        self.stream.write(
            f"\r{self.label} [{bar:<{width}}] {self.done}/{self.total}", ending=""
        )
        self.stream.flush()

    def close(self) -> None:
        if self.enabled and self.done:
            self.stream.write("")
