"""Write the run record's JSON Schema to docs/record.schema.json:
``python -m ecoscore.record_schema``."""

from __future__ import annotations

import json
from pathlib import Path

from ecoscore.files import write_atomic
from ecoscore.record import json_schema

TARGET = Path(__file__).resolve().parents[1] / "docs" / "record.schema.json"

if __name__ == "__main__":
    write_atomic(TARGET, (json.dumps(json_schema(), indent=2) + "\n").encode())
    print(TARGET)
