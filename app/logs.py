"""One JSON line per event, from web and worker alike, so one run can be followed through the
whole system by its id: `grep '"run_id": "…"'` over both logs."""

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any

FIELDS = "greenbar"  # the LogRecord attribute carrying an event's fields


class JsonFormatter(logging.Formatter):
    """Formats a record as one JSON object: time, level, logger, event and its fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": record.getMessage(),
            **getattr(record, FIELDS, {}),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(level: str | int = "INFO") -> None:
    """Sends every log record of this process to stderr as JSON lines (idempotent; handlers
    already there, such as a test runner's, stay)."""
    root = logging.getLogger()
    if not any(isinstance(h.formatter, JsonFormatter) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root.addHandler(handler)
    root.setLevel(level)


def event(logger: logging.Logger, name: str, **fields: Any) -> None:
    """Logs the event `name` (e.g. `run.finished`) with its fields."""
    logger.info(name, extra={FIELDS: fields})
