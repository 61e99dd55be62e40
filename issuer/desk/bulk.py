"""Many offers from one CSV: check every row first, then create the offers in chunks, then a result CSV.

Upload: the file (UTF-8, with or without BOM; CP949 as saved by Korean Excel) has one header row naming the
type's claims (the claim names, or the Korean or English labels) and one row per credential. Every row is
read through the same field rules as the issue form (issuer/desk/forms.py); the report names each bad row by
its line in the file, with the field and the rule, never the value. The checked rows are kept sealed
(AES-256-GCM) in a *draft* job whose key is the SHA-256 of the type and the file's bytes: uploading the
same file again finds that job (draft, running or done) instead of issuing twice.

Confirm: the job runs in chunks of :data:`CHUNK` rows; each chunk's offers, audit events, holder index
entries, sealed result rows and the job's ``done`` counter commit in one transaction, and the counter only
moves from the value the chunk started at. So a crash loses no offer and repeats none, a second runner
(another worker process) cannot issue a chunk twice, and the page's progress bar is the committed count.
Once every row has its offer the job's rows are deleted; the sealed result is kept until its offers have
expired (``desk_bulk_offer_ttl``), then dropped at the next upload.
"""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import hashlib
import io
import json
import os
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from credcore.errors import ConflictError, MalformedInputError, NotFoundError
from issuer import audit
from issuer.desk.accounts import Person
from issuer.desk.forms import fields_of, parse_row
from issuer.desk.service import DeskService
from issuer.openid4vci import OfferCreated
from issuer.store.models import DeskBulkChunk, DeskBulkJob
from issuer.types import ClaimsRefusedError

__all__ = ["CHUNK", "MAX_ROWS", "BulkDesk", "JobView"]

CHUNK = 500
MAX_ROWS = 20_000
RESULT_HEADER = ["line", "offer_id", "credential_offer_uri", "tx_code", "expires_at"]


@dataclass(frozen=True, slots=True)
class JobView:
    id: str
    vct: str
    filename: str
    rows: int
    done: int
    state: str
    bad: list[tuple[int, dict[str, str]]]
    created_by: str
    created_at: int
    existing: bool = False  # the upload found the job of the same file

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "rows": self.rows, "done": self.done, "state": self.state, "bad": len(self.bad)}


class _JobRaced(ConflictError):
    code = "bulk_job_raced"
    title = "Another runner committed this chunk first"


class BulkDesk:
    def __init__(self, desk: DeskService) -> None:
        self.desk = desk
        self.issuer = desk.issuer
        self._aead = AESGCM(desk.seal_key)
        self._running: dict[str, threading.Thread] = {}
        self._lock = threading.Lock()

    # --- sealing -------------------------------------------------------------------------------------------
    def _seal(self, data: bytes, aad: str) -> bytes:
        nonce = os.urandom(12)
        return nonce + self._aead.encrypt(nonce, data, aad.encode())

    def _unseal(self, blob: bytes, aad: str) -> bytes:
        return self._aead.decrypt(blob[:12], blob[12:], aad.encode())

    # --- upload ----------------------------------------------------------------------------------------------
    def upload(self, person: Person, type_id: str, filename: str, data: bytes) -> JobView:
        """Check every row and keep the good ones in a draft job (or find the job of the same file)."""
        self.desk.require(person, "clerk")
        ctype = self.desk.ctype(type_id)
        digest = hashlib.sha256(ctype.vct.encode() + b"\0" + data).hexdigest()
        self.purge()
        with self.issuer.sessions() as session:
            found = session.scalars(select(DeskBulkJob).where(DeskBulkJob.digest == digest)).first()
            if found is not None:
                return dataclasses.replace(self._view(found), existing=True)
        rows, bad = self._check(ctype, _decode(data))
        job_id = secrets.token_hex(16)
        payload = json.dumps({"rows": rows, "bad": bad}, ensure_ascii=False, separators=(",", ":")).encode()
        now = self.desk.now
        with self.issuer.sessions.begin() as session:
            job = DeskBulkJob(id=job_id, digest=digest, vct=ctype.vct, filename=filename[:200] or "upload.csv",
                              rows=len(rows), done=0, state="draft", payload=self._seal(payload, job_id),
                              created_by=person.actor, created_at=now)
            session.add(job)
            audit.append(session, at=now, actor=person.actor, action="bulk.uploaded", target=job_id,
                         details={"vct": ctype.vct, "rows": len(rows), "bad_rows": len(bad), "sha256": digest})
        return self._view(job, bad)

    def _check(self, ctype: Any, text: str) -> tuple[list[list[Any]], list[list[Any]]]:
        reader = csv.reader(io.StringIO(text))
        try:
            header = next(reader)
        except StopIteration:
            raise MalformedInputError("the file is empty") from None
        names = _header_names(ctype, header)
        rows: list[list[Any]] = []
        bad: list[list[Any]] = []
        for record in reader:
            line = reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            if len(rows) + len(bad) >= MAX_ROWS:
                raise MalformedInputError(f"at most {MAX_ROWS} rows per file")
            if len(record) != len(names):
                bad.append([line, {"(row)": "column_count"}])
                continue
            claims, errors = parse_row(ctype, dict(zip(names, record, strict=True)))
            if not errors:
                try:  # what the offer itself would refuse (a birth date ahead, a district CP1 has no code for)
                    ctype.prepare_claims(claims, now=self.desk.now, tz=self.issuer.settings.timezone)
                except ClaimsRefusedError as exc:
                    errors = {str(exc.context.get("claim", "(claims)")): exc.code}
            if errors:
                bad.append([line, dict(errors)])
            else:
                rows.append([line, claims])
        if not rows and not bad:
            raise MalformedInputError("the file has a header but no rows")
        return rows, bad

    # --- jobs -------------------------------------------------------------------------------------------------
    def job(self, person: Person, job_id: str) -> JobView:
        with self.issuer.sessions() as session:
            return self._view(self._own(session, person, job_id))

    def _own(self, session: Session, person: Person, job_id: str) -> DeskBulkJob:
        self.desk.require(person, "clerk")
        job = session.get(DeskBulkJob, job_id)
        if job is None or job.created_by != person.actor:
            raise NotFoundError("no such CSV job of yours")
        return job

    def _view(self, job: DeskBulkJob, bad: list[list[Any]] | None = None) -> JobView:
        if bad is None and job.payload is not None:
            bad = json.loads(self._unseal(job.payload, job.id))["bad"]
        pairs = [(int(line), dict(errs)) for line, errs in (bad or [])]
        return JobView(job.id, job.vct, job.filename, job.rows, job.done, job.state, pairs, job.created_by,
                       job.created_at)

    def confirm(self, person: Person, job_id: str) -> JobView:
        now = self.desk.now
        with self.issuer.sessions.begin() as session:
            job = self._own(session, person, job_id)
            if job.state == "draft":
                if job.rows == 0:
                    raise MalformedInputError("no row of this file can be issued")
                job.state = "running"
                audit.append(session, at=now, actor=person.actor, action="bulk.confirmed", target=job.id,
                             details={"rows": job.rows})
            view = self._view(job)
        if view.state == "running":
            self.ensure_running(job_id)
        return view

    def ensure_running(self, job_id: str) -> None:
        """Start this process's runner for a running job unless one is already at work on it."""
        with self._lock:
            thread = self._running.get(job_id)
            if thread is not None and thread.is_alive():
                return
            thread = threading.Thread(target=self._run_safely, args=(job_id,), name=f"desk-bulk-{job_id[:8]}",
                                      daemon=True)
            self._running[job_id] = thread
            thread.start()

    def _run_safely(self, job_id: str) -> None:
        try:
            self.run(job_id)
        except Exception as exc:  # the job stays "running" with its committed progress; a page visit resumes it
            self.issuer.log(f"CSV job {job_id[:8]} stopped ({type(exc).__name__}); it resumes when reopened")

    def run(self, job_id: str) -> int:
        """Create the job's remaining offers, chunk by chunk; returns how many this call created."""
        with self.issuer.sessions() as session:
            job = session.get(DeskBulkJob, job_id)
            if job is None or job.state != "running" or job.payload is None:
                return 0
            rows = json.loads(self._unseal(job.payload, job.id))["rows"]
            start, vct, actor = job.done, job.vct, job.created_by
        created = 0
        ttl = self.desk.settings.desk_bulk_offer_ttl
        for first in range(start, len(rows), CHUNK):
            part = rows[first:first + CHUNK]
            chunk_no = first // CHUNK

            def finish(session: Session, made: list[OfferCreated], first: int = first, part: list[Any] = part,
                       chunk_no: int = chunk_no) -> None:
                self._commit_chunk(session, job_id, first=first, chunk_no=chunk_no,
                                   lines=[line for line, _ in part], made=made)

            try:
                self.issuer.oid4vci.create_offers(actor, vct, [claims for _, claims in part], ttl=ttl,
                                                  schema_checked=True, finish=finish)
            except (_JobRaced, IntegrityError):  # another runner committed this chunk: it carries on
                return created
            created += len(part)
        return created

    def _commit_chunk(self, session: Session, job_id: str, *, first: int, chunk_no: int, lines: list[int],
                      made: list[OfferCreated]) -> None:
        buf = io.StringIO()
        out = csv.writer(buf)
        for line, offer in zip(lines, made, strict=True):
            expires = dt.datetime.fromtimestamp(offer.expires_at, dt.UTC).isoformat()
            out.writerow([line, offer.offer_id, offer.uri, offer.tx_code, expires])
        moved = session.execute(update(DeskBulkJob).where(DeskBulkJob.id == job_id, DeskBulkJob.done == first,
                                                          DeskBulkJob.state == "running")
                                .values(done=first + len(made)))
        if getattr(moved, "rowcount", 0) != 1:
            raise _JobRaced("chunk already committed")
        aad = f"{job_id}:{chunk_no}"
        session.add(DeskBulkChunk(job_id=job_id, chunk=chunk_no, sealed=self._seal(buf.getvalue().encode(), aad)))
        job = session.get(DeskBulkJob, job_id)
        assert job is not None
        session.refresh(job)
        if job.done >= job.rows:
            now = self.desk.now
            job.state, job.payload, job.finished_at = "done", None, now  # the rows (personal data) go now
            audit.append(session, at=now, actor=job.created_by, action="bulk.finished", target=job_id,
                         details={"offers": job.rows})

    def result_csv(self, person: Person, job_id: str) -> str:
        with self.issuer.sessions.begin() as session:
            job = self._own(session, person, job_id)
            chunks = session.scalars(select(DeskBulkChunk).where(DeskBulkChunk.job_id == job_id)
                                     .order_by(DeskBulkChunk.chunk)).all()
            audit.append(session, at=self.desk.now, actor=person.actor, action="bulk.result_downloaded",
                         target=job.id, details={"offers": job.done})
            body = "".join(self._unseal(c.sealed, f"{job_id}:{c.chunk}").decode() for c in chunks)
        return ",".join(RESULT_HEADER) + "\r\n" + body

    def purge(self) -> int:
        """Drop the sealed results of jobs whose offers have all expired (the links in them are dead)."""
        cutoff = self.desk.now - self.desk.settings.desk_bulk_offer_ttl
        with self.issuer.sessions.begin() as session:
            old = select(DeskBulkJob.id).where(DeskBulkJob.state == "done", DeskBulkJob.finished_at < cutoff)
            result = session.execute(delete(DeskBulkChunk).where(DeskBulkChunk.job_id.in_(old)))
            return int(getattr(result, "rowcount", 0) or 0)

    def template_csv(self, type_id: str) -> str:
        ctype = self.desk.ctype(type_id)
        return ",".join(f.name for f in fields_of(ctype)) + "\r\n"


def _decode(data: bytes) -> str:
    for encoding in ("utf-8-sig", "cp949"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise MalformedInputError("the file is neither UTF-8 nor CP949 text")


def _header_names(ctype: Any, header: list[str]) -> list[str]:
    known: Mapping[str, str] = {}
    for f in fields_of(ctype):
        known = {**known, f.name: f.name, f.label_ko: f.name, f.label_en: f.name}
    names = [known.get(h.strip(), h.strip()) for h in header]
    unknown = [h for h in names if h not in {f.name for f in fields_of(ctype)}]
    if unknown:
        raise MalformedInputError(f"unknown columns in the header: {', '.join(unknown[:5])}"[:300])
    if len(set(names)) != len(names):
        raise MalformedInputError("a column appears twice in the header")
    return names
