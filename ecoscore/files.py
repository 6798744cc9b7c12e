"""Reading the TOML files ecoscore trusts or is given (scales, embodied table, jury policy,
trusted keys): one place, one error message naming the file."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any


def read_toml(path: Path, error: type[Exception], what: str = "") -> dict[str, Any]:
    """Parse ``path``; an unreadable or malformed file raises ``error`` naming the file."""
    path = Path(path)
    label = f" the {what}" if what else ""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise error(f"{path}: cannot read{label}: {e.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise error(f"{path}: malformed TOML: {e}") from None
