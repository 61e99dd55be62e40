"""One JSON log format for both services, however they are started (``civicpass up``, ``issuer serve``,
``verifier serve``): one object per line on stderr, written in one call so the lines of several processes
never interleave.

Every line has the time, the service, the level, the logger, the process id and the message; a line
written while a request is being served carries that request's id; an exception carries its type and full
traceback. Access lines (:mod:`httpedge.observe`) add method, route template, status and duration. Messages
are written for operators and never hold personal data, tokens or ids: request paths are logged only as route
templates.
"""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

__all__ = ["JsonFormatter", "configure_logging", "request_id"]

#: The id of the request being served in this task, if any (set by :class:`httpedge.observe.RequestObserver`).
request_id: ContextVar[str | None] = ContextVar("civicpass_request_id", default=None)
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        ts = datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        line: dict[str, Any] = {"ts": ts, "svc": self.service, "level": record.levelname.lower(),
                                "logger": record.name, "pid": record.process, "msg": record.getMessage()}
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        line.update((k, v) for k, v in record.__dict__.items() if k not in _RESERVED)  # extra={...} fields
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        try:
            return orjson.dumps(line, default=str).decode()  # the access line is written on every request
        except TypeError:  # an int beyond 64 bits in an extra field
            return json.dumps(line, separators=(",", ":"), ensure_ascii=False, default=str)


def configure_logging(service: str, *, level: int = logging.INFO, out: TextIO | None = None) -> None:
    """Route every logger (ours, uvicorn's, the libraries') through one JSON handler."""
    # The format names no source line, thread or process name, so the records need not gather them: the
    # switches the logging documentation gives for that ("Optimization"), on every access line's path.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = logging.StreamHandler(out or sys.stderr)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)  # libraries: warnings and errors only
    for name in ("civicpass", "issuer", "verifier", "httpedge"):
        logging.getLogger(name).setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # ours is the access log (route, not path)
