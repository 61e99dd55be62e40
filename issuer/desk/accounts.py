"""Person accounts of the desk, their passwords and their browser sessions (no HTTP here).

Passwords are hashed with argon2id (argon2-cffi's defaults, the RFC 9106 low-memory profile), so a stolen
table costs an attacker 64 MiB and several passes per guess. Sign-in is limited per account: after
``max_failures`` wrong passwords in a row the account is locked for ``lockout`` seconds (a right password
does not open it early); an unknown name costs the same argon2 work as a known one, so timing does not tell
which names exist. The desk adds a per-address limit in front (the issuer's rate limits, shared through Redis where
it has one).

A session is a 256-bit random cookie stored only as its SHA-256, with its own CSRF token; it ends after
``idle`` seconds without a request, after ``max_age`` in any case, or at sign-out. Disabling an account or
resetting its password ends its sessions.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, or_, select
from sqlalchemy.orm import Session

from credcore.errors import ConflictError, MalformedInputError, NotFoundError, RefusedError
from issuer import audit
from issuer.errors import UnauthorizedError
from issuer.store.models import DeskSession, DeskUser

__all__ = [
    "ROLES",
    "Person",
    "SignInRateLimitedError",
    "SignInRefusedError",
    "add_user",
    "disable_user",
    "end_session",
    "list_users",
    "reset_password",
    "session_person",
    "sign_in",
]

ROLES = ("clerk", "operator", "auditor")
_USERNAME = re.compile(r"[a-z0-9][a-z0-9._-]{1,39}")
MIN_PASSWORD = 12
_hasher = PasswordHasher()
_DUMMY = _hasher.hash(secrets.token_urlsafe(16))  # verified against when the name is unknown (same cost)


class SignInRefusedError(UnauthorizedError):
    code = "sign_in_refused"
    title = "User name or password not accepted"


class SignInRateLimitedError(RefusedError):
    code = "sign_in_rate_limited"
    title = "Too many sign-in attempts; wait and try again"


class UserExistsError(ConflictError):
    code = "user_exists"
    title = "A desk user with this name already exists"


@dataclass(frozen=True, slots=True)
class Person:
    """Who is signed in, as the desk needs it; ``actor`` is the name the audit log records."""

    id: int
    username: str
    display_name: str
    role: str
    office: str
    csrf: str = ""

    @property
    def actor(self) -> str:
        return actor_of(self.username)


def actor_of(username: str) -> str:
    return f"person:{username}"


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _check_password(password: str) -> None:
    if len(password) < MIN_PASSWORD or len(password) > 1024:
        raise MalformedInputError(f"a password needs {MIN_PASSWORD} to 1024 characters")


def add_user(session: Session, *, username: str, display_name: str, role: str, office: str, password: str,
             now: int, actor: str) -> DeskUser:
    if not _USERNAME.fullmatch(username):
        raise MalformedInputError("user name: 2 to 40 of a-z 0-9 . _ - starting with a letter or digit")
    if role not in ROLES:
        raise MalformedInputError(f"role must be one of {', '.join(ROLES)}")
    if not display_name.strip() or len(display_name) > 100 or not office.strip() or len(office) > 100:
        raise MalformedInputError("display name and office need 1 to 100 characters")
    _check_password(password)
    if session.scalars(select(DeskUser).where(DeskUser.username == username)).first() is not None:
        raise UserExistsError("a desk user with this name already exists")
    user = DeskUser(username=username, display_name=display_name.strip(), role=role, office=office.strip(),
                    password_hash=_hasher.hash(password), disabled=False, failed_signins=0, created_at=now)
    session.add(user)
    audit.append(session, at=now, actor=actor, action="user.added", target=actor_of(username),
                 details={"role": role, "office": user.office})
    return user


def list_users(session: Session) -> list[DeskUser]:
    return list(session.scalars(select(DeskUser).order_by(DeskUser.username)))


def _user(session: Session, username: str) -> DeskUser:
    user = session.scalars(select(DeskUser).where(DeskUser.username == username)).first()
    if user is None:
        raise NotFoundError("no such desk user")
    return user


def disable_user(session: Session, username: str, *, now: int, actor: str) -> None:
    user = _user(session, username)
    user.disabled = True
    session.execute(delete(DeskSession).where(DeskSession.user_id == user.id))
    audit.append(session, at=now, actor=actor, action="user.disabled", target=actor_of(username))


def reset_password(session: Session, username: str, password: str, *, now: int, actor: str) -> None:
    """New password; also re-enables the account, clears a lockout and ends every session."""
    _check_password(password)
    user = _user(session, username)
    user.password_hash, user.disabled, user.failed_signins, user.locked_until = _hasher.hash(password), False, 0, None
    session.execute(delete(DeskSession).where(DeskSession.user_id == user.id))
    audit.append(session, at=now, actor=actor, action="user.password_reset", target=actor_of(username))


def sign_in(session: Session, username: str, password: str, *, now: int, max_failures: int,
            lockout: int, idle: int, max_age: int) -> tuple[str, Person]:
    """Check the password and open a session; returns (cookie value, person). Raises SignInRefusedError or
    SignInRateLimitedError. A failure is recorded in the caller's transaction, which must commit it."""
    user = session.scalars(select(DeskUser).where(DeskUser.username == username).with_for_update()).first()
    if user is None:
        _verify(_DUMMY, password)
        raise SignInRefusedError("user name or password not accepted")
    if user.locked_until is not None and user.locked_until > now:
        raise SignInRateLimitedError("too many wrong passwords; this account is locked for a while")
    if not _verify(user.password_hash, password) or user.disabled:
        user.failed_signins += 1
        if user.failed_signins >= max_failures:
            user.failed_signins, user.locked_until = 0, now + lockout
            audit.append(session, at=now, actor="system", action="user.locked", target=actor_of(username))
        raise SignInRefusedError("user name or password not accepted")
    user.failed_signins, user.locked_until = 0, None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
    session.execute(delete(DeskSession).where(DeskSession.user_id == user.id).where(
        or_(DeskSession.last_seen <= now - idle, DeskSession.created_at <= now - max_age)))  # left without sign-out
    session.add(DeskSession(token_hash=_token_hash(token), user_id=user.id, csrf=csrf, created_at=now, last_seen=now))
    audit.append(session, at=now, actor=actor_of(username), action="desk.signed_in", target=actor_of(username))
    return token, _person(user, csrf)


def _verify(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


def _person(user: DeskUser, csrf: str) -> Person:
    return Person(user.id, user.username, user.display_name, user.role, user.office, csrf)


def session_person(session: Session, token: str, *, now: int, idle: int, max_age: int, touch: bool = True
                   ) -> Person:
    """The person behind a session cookie; raises UnauthorizedError when the session is over. ``touch`` resets
    the idle timer: a person's request does, a page's own polling does not (a screen left open still idles out)."""
    row = session.get(DeskSession, _token_hash(token))
    user = session.get(DeskUser, row.user_id) if row is not None else None
    if row is None or user is None or user.disabled:
        raise UnauthorizedError("not signed in")
    if row.last_seen + idle <= now or row.created_at + max_age <= now:
        session.delete(row)
        raise UnauthorizedError("the session has ended; sign in again")
    if touch and now - row.last_seen >= 15:  # one write per quarter minute is precise enough for an idle timer
        row.last_seen = now
    return _person(user, row.csrf)


def end_session(session: Session, token: str, *, now: int) -> None:
    row = session.get(DeskSession, _token_hash(token))
    if row is not None:
        user = session.get(DeskUser, row.user_id)
        session.delete(row)
        if user is not None:
            audit.append(session, at=now, actor=actor_of(user.username), action="desk.signed_out",
                         target=actor_of(user.username))
