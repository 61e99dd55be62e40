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
import os
import sys
import time
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson

__all__ = ["JsonFormatter", "JsonLineHandler", "configure_logging", "log_access", "request_id"]

#: The id of the request being served in this task, if any (set by :class:`httpedge.observe.RequestObserver`).
request_id: ContextVar[str | None] = ContextVar("civicpass_request_id", default=None)
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self._stamp: tuple[int, str] = (-1, "")

    def _ts(self, created: float) -> str:
        second = int(created)
        cached, text = self._stamp  # one tuple, replaced whole: threads that log at once never mix two seconds
        if second != cached:  # one strftime a second, not one per access line
            text = datetime.fromtimestamp(second, UTC).strftime("%Y-%m-%dT%H:%M:%S")
            self._stamp = (second, text)
        return f"{text}.{int((created - second) * 1000):03d}Z"

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        extra = {k: v for k, v in record.__dict__.items() if k not in _RESERVED}  # extra={...} fields
        line = self.line(record.created, level=record.levelname.lower(), logger=record.name, pid=record.process,
                         msg=record.getMessage(), extra=extra)
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return line

    def line(self, created: float, *, level: str, logger: str, pid: int | None, msg: str,
             extra: dict[str, Any]) -> dict[str, Any]:
        """The fields of a line, in their order."""
        line: dict[str, Any] = {"ts": self._ts(created), "svc": self.service, "level": level, "logger": logger,
                                "pid": pid, "msg": msg}
        rid = request_id.get()
        if rid is not None:
            line["request_id"] = rid
        line.update(extra)
        return line

    def format(self, record: logging.LogRecord) -> str:
        return self.encode(record)[:-1].decode()  # the line without its newline, as Formatter.format gives

    def encode(self, record: logging.LogRecord) -> bytes:
        """The line as UTF-8 bytes, newline included."""
        return _dumps(self.fields(record))


def _dumps(line: dict[str, Any]) -> bytes:
    try:
        return orjson.dumps(line, default=str, option=orjson.OPT_APPEND_NEWLINE)
    except TypeError:  # an int beyond 64 bits in an extra field
        return (json.dumps(line, separators=(",", ":"), ensure_ascii=False, default=str) + "\n").encode()


class JsonLineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Each record one ``write`` of its whole line to the stream's file descriptor (no text layer, no separate
    flush), so lines of several processes sharing stderr never interleave; streams without a descriptor (a
    test's StringIO) get the text."""

    def __init__(self, stream: TextIO, formatter: JsonFormatter) -> None:
        super().__init__(stream)
        self.setFormatter(formatter)
        self._json = formatter
        try:
            stream.flush()
            self._fd: int | None = stream.fileno()
        except (AttributeError, OSError, ValueError):
            self._fd = None

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._write(self._json.encode(record))
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def _write(self, data: bytes) -> None:
        if self._fd is None:
            self.stream.write(data.decode())
            self.stream.flush()
            return
        view = memoryview(data)
        while view:  # a regular file or pipe takes the line at once; a short write only on a full pipe
            view = view[os.write(self._fd, view):]

    def writes_alone_for(self, logger: logging.Logger) -> bool:
        """Whether a record of ``logger`` at INFO reaches this handler and nothing else: no handler or filter on
        the way, this one the root's only handler, at INFO or below, without filters."""
        root = logging.root
        if len(root.handlers) != 1 or root.handlers[0] is not self or self.filters or self.level > logging.INFO:
            return False
        if logger.filters:
            return False
        node: Any = logger
        while node is not root:
            if node.handlers or not node.propagate:
                return False
            node = node.parent
        return True


_access = logging.getLogger("civicpass.access")


def log_access(method: str, route: str, status: int, ms: float) -> None:
    """The access line of one request (logger ``civicpass.access``, INFO, message ``request``).

    It is on every request's path, so where :func:`configure_logging`'s handler is the only place the line
    goes, the line is written straight to it: the same bytes a log record would give, without building the
    record and passing it through the logging machinery, which cost several times the line itself. Anywhere
    else (a test capturing records, another handler added) it is an ordinary log record.
    """
    if not _access.isEnabledFor(logging.INFO):
        return
    extra = {"method": method, "route": route, "status": status, "ms": ms}
    handlers = logging.root.handlers
    handler = handlers[0] if len(handlers) == 1 else None
    if type(handler) is JsonLineHandler and handler.writes_alone_for(_access):
        try:
            data = _dumps(handler._json.line(time.time(), level="info", logger=_access.name, pid=os.getpid(),
                                             msg="request", extra=extra))
            with handler.lock:  # type: ignore[union-attr]  # as Handler.handle does around emit
                handler._write(data)
            return
        except Exception:  # noqa: S110 - the ordinary path below reports it through logging's own handling
            pass
    _access.info("request", extra=extra)


def configure_logging(service: str, *, level: int = logging.INFO, out: TextIO | None = None) -> None:
    """Route every logger (ours, uvicorn's, the libraries') through one JSON handler."""
    # The format names no source line, thread or process name, so the records need not gather them: the
    # switches the logging documentation gives for that ("Optimization"), on every access line's path.
    logging._srcfile = None
    logging.logThreads = False
    logging.logMultiprocessing = False
    handler = JsonLineHandler(out or sys.stderr, JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)  # libraries: warnings and errors only
    for name in ("civicpass", "issuer", "verifier", "httpedge"):
        logging.getLogger(name).setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)  # ours is the access log (route, not path)
