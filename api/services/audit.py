"""The audit log: appending entries (ids and counts, never personal data) and reading them back (managers)."""

from __future__ import annotations

import datetime as dt

from sqlmodel import Session

from .. import crud
from ..auditwriter import AUDIT_QUEUE, AuditWriter
from ..models import AuditLog
from ..security import Principal
from .access import require_manager

__all__ = ["READ_ACTIONS", "audit", "list_audit"]

READ_ACTIONS = frozenset({"read", "list"})


def audit(
    session: Session, p: Principal | None, action: str, resource: str, resource_id: str | None,
    *, team_id: str | None = None, detail: str = "",
) -> None:
    """Append one entry (ids and counts only, never personal data).

    A change is audited in its own transaction.  A read (``read``, ``list``) in a request is
    handed, once the request has committed, to the background audit writer (see
    ``deps.get_session``), so reads never take a write lock.
    """
    entry = AuditLog(
        actor_id=p.user_id if p else None,
        actor_role=p.role if p else "system",
        action=action,
        resource=resource,
        resource_id=resource_id,
        team_id=team_id,
        detail=detail[:500],
    )
    if action in READ_ACTIONS and AUDIT_QUEUE in session.info:
        session.info[AUDIT_QUEUE].append(entry)
        return
    crud.insert_audit(session, entry)


def list_audit(
    session: Session, p: Principal, *, writer: AuditWriter | None, actor_id: str | None = None,
    resource: str | None = None, resource_id: str | None = None, team_id: str | None = None,
    since: dt.datetime | None = None, limit: int = 100, offset: int = 0,
) -> tuple[list[AuditLog], int]:
    """Entries newest first (managers), including reads still queued for the background ``writer``."""
    require_manager(p)
    if writer is not None:
        writer.flush()
        session.commit()
    return crud.list_audit(
        session, actor_id=actor_id, resource=resource, resource_id=resource_id, team_id=team_id,
        since=since, limit=limit, offset=offset,
    )
