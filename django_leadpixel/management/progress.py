"""A small progress line for the batch commands (no dependency needed)."""

from __future__ import annotations


class Progress:
    def __init__(self, stream, total: int, label: str, enabled: bool = True):
        self.stream, self.total, self.label, self.enabled = stream, total, label, enabled
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
