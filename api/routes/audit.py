"""The append-only audit log of who read or changed household data (managers)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from ..deps import PrincipalDep, SessionDep
from ..errors import problem_responses
from ..mappers import audit_public
from ..models import MAX_OFFSET, AuditPublic, IsoDateTime, Page
from ..services import audit

router = APIRouter(tags=["audit"], responses=problem_responses(401, 403, 422))


@router.get("/audit", response_model=Page[AuditPublic], summary="Audit entries, newest first")
def list_audit(
    request: Request, session: SessionDep, p: PrincipalDep, actor_id: str | None = None,
    resource: str | None = None, resource_id: str | None = None, team_id: str | None = None,
    since: IsoDateTime | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Page[AuditPublic]:
    rows, total = audit.list_audit(
        session, p, writer=getattr(request.app.state, "audit_writer", None), actor_id=actor_id, resource=resource,
        resource_id=resource_id, team_id=team_id, since=since, limit=limit, offset=offset,
    )
    return Page(data=[audit_public(r) for r in rows], count=total)
