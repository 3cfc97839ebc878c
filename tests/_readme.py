"""Read the README's tested Python examples (blocks after a ``readme-test`` marker)."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"
_BLOCK = re.compile(r"<!-- readme-test: ([\w-]+) -->\n```python\n(.*?)```", re.DOTALL)


def readme_blocks() -> dict[str, str]:
    """The README's tested Python blocks by name."""
    return dict(_BLOCK.findall(README.read_text(encoding="utf-8")))
