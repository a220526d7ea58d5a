"""Request dependencies: settings, database, blob store and the authenticated caller."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Annotated

import sqlalchemy as sa
from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from sqlmodel import Session

from api.errors import ApiError
from api.form_stream import BodyLimits
from api.session_cookie import cookie_user, csrf_ok
from api.upload_slots import UploadSlots
from core.accounts import ADMIN_DEPTH, InvalidCredentials, Principal, authenticate
from core.errors import DomainError
from core.settings import Settings
from core.storage import BlobStore
from models.accounts import Role

_bearer = HTTPBearer(auto_error=False, description="A JWT from `evidence users create`, or an API key")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False, description="An API key (evk_…)")


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_engine(request: Request) -> sa.Engine:
    return request.app.state.engine


async def get_store(request: Request) -> BlobStore:
    return request.app.state.store


async def get_upload_slots(request: Request) -> UploadSlots:
    return request.app.state.upload_slots


async def get_body_limits(request: Request) -> BodyLimits:
    return request.app.state.body_limits


SettingsDep = Annotated[Settings, Depends(get_settings)]
UploadSlotsDep = Annotated[UploadSlots, Depends(get_upload_slots)]
BodyLimitsDep = Annotated[BodyLimits, Depends(get_body_limits)]
EngineDep = Annotated[sa.Engine, Depends(get_engine)]
StoreDep = Annotated[BlobStore, Depends(get_store)]


async def get_session(engine: EngineDep) -> AsyncIterator[Session]:
    """A session for reads; writes open their own transaction with ``core.db.session_scope``.
    (Creating one does no I/O; closing it, which may roll back, runs in the thread pool.)"""
    session = Session(engine, expire_on_commit=False)
    try:
        yield session
    finally:
        await run_in_threadpool(session.close)


SessionDep = Annotated[Session, Depends(get_session)]


def get_current_user(
    request: Request,
    settings: SettingsDep,
    engine: EngineDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key)],
) -> Principal:
    """The caller, from ``Authorization: Bearer <jwt or API key>``, ``X-API-Key`` or the pages' session
    cookie (whose state-changing requests must carry its CSRF token); else 401."""
    token = bearer.credentials if bearer else api_key
    if not token:
        signed_in = cookie_user(request, settings, engine)
        if signed_in is None:
            raise ApiError(401, "unauthenticated", headers={"WWW-Authenticate": "Bearer"})
        if not csrf_ok(request, signed_in):
            raise ApiError(403, "csrf_failed")
        request.state.user_id = signed_in.principal.user_id
        return signed_in.principal
    try:
        # A session of its own, closed at once: a request streaming a large upload must not hold a
        # pooled connection for its whole length.
        with Session(engine) as session:
            principal = authenticate(session, settings, token)
    except InvalidCredentials:
        raise ApiError(401, "unauthenticated", headers={"WWW-Authenticate": "Bearer"}) from None
    request.state.user_id = principal.user_id
    return principal


CurrentUser = Annotated[Principal, Depends(get_current_user)]
ADMIN_ROLES = tuple(ADMIN_DEPTH)


def require_roles(*roles: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets only callers holding one of ``roles`` through (403 otherwise)."""

    async def check(user: CurrentUser) -> Principal:
        if not user.has(*roles):
            raise ApiError(403, "forbidden")
        return user

    return check


Uploader = Annotated[Principal, Depends(require_roles(Role.teacher, *ADMIN_ROLES))]
Admin = Annotated[Principal, Depends(require_roles(*ADMIN_ROLES))]
AdminOrService = Annotated[Principal, Depends(require_roles(*ADMIN_ROLES, Role.service))]


def single_valued_query(request: Request) -> None:
    """Refuse a query parameter given more than once (``repeated_parameter``): every parameter of this
    API takes one value, and silently keeping the last of several hides a caller's mistake."""
    counts = Counter(key for key, _ in request.query_params.multi_items())
    if repeated := sorted(key for key, n in counts.items() if n > 1):
        raise DomainError("repeated_parameter", {"parameters": repeated[:10]})
