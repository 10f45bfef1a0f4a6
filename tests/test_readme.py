"""The README's tables agree with the code they describe."""

from __future__ import annotations

import re
from pathlib import Path

from django_leadpixel import checks

ROOT = Path(__file__).resolve().parent.parent


def section(name: str) -> str:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    start = text.index(f"<!-- {name} -->")
    return text[start:text.index(f"<!-- /{name} -->", start)]


def test_check_code_table_lists_every_code_checks_py_raises():
    source = Path(checks.__file__).read_text(encoding="utf-8")
    raised = set(re.findall(r'id="(leadpixel\.[EWI]\d{3})"', source))
    listed = re.findall(r"^\| `(leadpixel\.[EWI]\d{3})` \|", section("check-codes"), re.M)
    assert len(listed) == len(set(listed))
    assert set(listed) == raised
    assert {"leadpixel.E008", "leadpixel.E009", "leadpixel.I001"} <= raised
