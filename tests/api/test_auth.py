"""Authentication: pinned HS256 JWTs with required claims, hashed API keys, generated secrets."""

from __future__ import annotations

import os
import stat
import time
from concurrent.futures import ThreadPoolExecutor

import jwt
import pytest
from sqlmodel import Session, select

from core.accounts import (
    InvalidCredentials,
    authenticate,
    check_roles,
    create_api_key,
    decode_token,
    issue_token,
)
from core.secrets import jwt_secret, webhook_secret
from core.settings import Settings
from models.accounts import ApiKey, Role

SECRET = "auth-secret-" + "z" * 64


def _claims(settings: Settings, **override) -> dict:
    now = int(time.time())
    claims = {"sub": "usr_1", "iss": settings.jwt_issuer, "aud": settings.jwt_audience, "iat": now}
    claims["exp"] = now + 60
    claims.update(override)
    return {k: v for k, v in claims.items() if v is not None}


@pytest.fixture
def settings(tmp_path) -> Settings:
    return Settings(home=tmp_path / "home", jwt_secret=SECRET)


def test_issued_token_names_the_user(settings):
    assert decode_token(settings, issue_token(settings, "usr_42")) == "usr_42"


@pytest.mark.parametrize("missing", ["exp", "aud", "iss", "sub", "iat"])
def test_a_required_claim_missing_is_refused(settings, missing):
    token = jwt.encode(_claims(settings, **{missing: None}), SECRET, algorithm="HS256")
    with pytest.raises(InvalidCredentials):
        decode_token(settings, token)


@pytest.mark.parametrize(
    "override",
    [{"exp": 1}, {"aud": "another-api"}, {"iss": "someone-else"}],
    ids=["expired", "wrong-audience", "wrong-issuer"],
)
def test_wrong_claims_are_refused(settings, override):
    token = jwt.encode(_claims(settings, **override), SECRET, algorithm="HS256")
    with pytest.raises(InvalidCredentials):
        decode_token(settings, token)


@pytest.mark.parametrize("alg", ["HS384", "HS512", "none"])
def test_only_hs256_is_accepted(settings, alg):
    key = None if alg == "none" else SECRET
    token = jwt.encode(_claims(settings), key, algorithm=alg)
    with pytest.raises(InvalidCredentials):
        decode_token(settings, token)


def test_a_token_signed_with_another_secret_is_refused(settings):
    token = jwt.encode(_claims(settings), "another-secret-" + "q" * 32, algorithm="HS256")
    with pytest.raises(InvalidCredentials):
        decode_token(settings, token)


def test_secrets_are_generated_once_into_home(tmp_path):
    settings = Settings(home=tmp_path / "home")
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: jwt_secret(settings), range(16)))
    assert len(secrets) == 1 and len(secrets.pop()) >= 32
    path = settings.home / "secrets" / "jwt_secret"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert decode_token(settings, issue_token(settings, "usr_1")) == "usr_1"
    hook = webhook_secret(settings)
    assert hook.startswith("whsec_") and webhook_secret(settings) == hook


def test_api_keys_are_stored_hashed_and_work(world):
    with Session(world.engine) as session:
        key = create_api_key(session, world.user_ids["service"])
        session.commit()
        principal = authenticate(session, world.settings, key)
        rows = session.exec(select(ApiKey)).all()
    assert principal.is_service
    assert all(key.split("_", 2)[2] not in (r.secret_sha256, r.id) for r in rows)
    with Session(world.engine) as session, pytest.raises(InvalidCredentials):
        authenticate(session, world.settings, key[:-2] + "xx")


def test_api_key_over_http(client, world):
    with Session(world.engine) as session:
        key = create_api_key(session, world.user_ids["service"])
        session.commit()
    for headers in ({"Authorization": f"Bearer {key}"}, {"X-API-Key": key}):
        assert client.get("/v1/events", headers=headers).status_code == 200
    assert client.get("/v1/events", headers={"X-API-Key": key + "x"}).status_code == 401


@pytest.mark.parametrize(
    ("roles", "region", "teacher"),
    [
        ({Role.county_admin}, "sc.cd", None),
        ({Role.school_admin}, None, None),
        ({Role.teacher}, None, None),
        (set(), None, None),
    ],
)
def test_roles_must_fit_the_region(roles, region, teacher):
    with pytest.raises(ValueError):
        check_roles(roles, region, teacher)
