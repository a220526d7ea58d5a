"""Administrators manage the accounts of their region: disable or enable a user, revoke an API key.
Only users below the administrator's level (``core.accounts.may_manage``); others are not found.
Issuing tokens for someone else stays with the CLI (``evidence users token``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request

from api.audit import origin_of
from api.deps import Admin, EngineDep
from api.errors import responses
from core.accounts import revoke_api_key, set_disabled, user_public
from core.db import session_scope
from models.accounts import ApiKeyPublic, UserPublic
from models.common import ID_PATTERN

router = APIRouter(prefix="/v1/admin", tags=["admin"])

UserId = Annotated[str, Path(pattern=ID_PATTERN)]


def _set_disabled(
    request: Request, user: Admin, engine: EngineDep, user_id: str, disabled: bool
) -> UserPublic:
    with session_scope(engine) as session:
        target = set_disabled(session, user_id, disabled, origin_of(request, user), actor=user)
        return user_public(session, target)


@router.post("/users/{user_id}/disable", response_model=UserPublic, responses=responses(401, 403, 404, 422))
def disable_user(user_id: UserId, request: Request, user: Admin, engine: EngineDep) -> UserPublic:
    """Disable a user of the caller's region: their tokens, sessions and keys are refused from the next
    request; their tokens and sessions for good."""
    return _set_disabled(request, user, engine, user_id, True)


@router.post("/users/{user_id}/enable", response_model=UserPublic, responses=responses(401, 403, 404, 422))
def enable_user(user_id: UserId, request: Request, user: Admin, engine: EngineDep) -> UserPublic:
    """Enable a disabled user of the caller's region again: their unrevoked API keys work again; tokens
    and sessions issued before the disable stay refused."""
    return _set_disabled(request, user, engine, user_id, False)


@router.delete("/keys/{key_id}", response_model=ApiKeyPublic, responses=responses(401, 403, 404, 422))
def revoke_key(
    key_id: Annotated[str, Path(pattern=r"^[0-9a-f]{16}$")], request: Request, user: Admin, engine: EngineDep
) -> ApiKeyPublic:
    """Revoke an API key of a user of the caller's region (by the key's id, the part after ``evk_``)."""
    with session_scope(engine) as session:
        row = revoke_api_key(session, key_id, origin_of(request, user), actor=user)
        return ApiKeyPublic.model_validate(row, from_attributes=True)
