"""``civicpass up``: a clerk, an operator and an auditor on each demo issuer's desk (``/desk``).

Their passwords are made once per data directory and kept in the dev secrets file (0600) beside the admin
tokens; a person who already exists is left as is, so a second run neither re-hashes nor resets anything.
Their office is the issuer's title, and so is the demo clerk token's, so the desk's clerk finds the demo
residents and merchants the token issued.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

__all__ = ["ROLES", "ensure_desk_people", "token_offices"]

ROLES = ("clerk", "operator", "auditor")


def token_offices(issuer: Any, own: dict[str, Any]) -> str:
    """``CIVICPASS_ISSUER_TOKEN_OFFICES`` of a demo issuer: its clerk token issues for its desk people's office."""
    from issuer.settings import token_actor

    return json.dumps({token_actor("clerk", own["clerk_token"]): issuer.title})


def ensure_desk_people(layout: Any, db_urls: dict[str, str]) -> None:
    """Create the missing desk accounts of every demo issuer (its database is migrated by then)."""
    from sqlalchemy import select

    from civicpass._up_layout import DEMO_ISSUERS
    from issuer.desk import accounts
    from issuer.store.db import make_engine, make_sessionmaker
    from issuer.store.models import DeskUser

    data = layout.secrets()
    changed = False
    for issuer in DEMO_ISSUERS:
        own = data["issuers"][issuer.name]
        if "desk" not in own:
            own["desk"] = {role: {"user": role, "password": secrets.token_urlsafe(12)} for role in ROLES}
            changed = True
        engine = make_engine(db_urls[issuer.name])
        try:
            with make_sessionmaker(engine).begin() as session:
                existing = set(session.scalars(select(DeskUser.username)))
                for role, person in own["desk"].items():
                    if person["user"] not in existing:
                        accounts.add_user(session, username=person["user"], display_name=f"Demo {role}",
                                          role=role, office=issuer.title, password=person["password"],
                                          now=int(time.time()), actor="cli:civicpass-up")
        finally:
            engine.dispose()
    if changed:
        layout.write_secrets(data)
