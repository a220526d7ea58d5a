"""Property-based checks of the whole OpenAPI schema with schemathesis, against a real server: every
response must match the schema (status codes, content types, bodies) and no request may cause a 5xx."""

from __future__ import annotations

import pytest
import schemathesis
import sqlalchemy as sa
from hypothesis import HealthCheck, settings

from api.app import create_app
from core.settings import Settings
from tests.api.conftest import LiveServer, build_world

# The schema the app publishes (building it touches no database).
schema = schemathesis.openapi.from_dict(
    create_app(Settings(jwt_secret="schema-" + "s" * 40), engine=sa.create_engine("sqlite://")).openapi()
)
FUZZ = settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))


@pytest.fixture(scope="module")
def served(tmp_path_factory, screened_lessons):
    home = tmp_path_factory.mktemp("schemathesis") / "home"
    world = build_world(Settings(home=home, jwt_secret="fuzz-" + "f" * 40), screened_lessons)
    with LiveServer(world.settings) as server:
        yield world, server
    world.engine.dispose()


@schema.parametrize()
@FUZZ
def test_openapi_as_administrator(case, served):
    world, server = served
    case.call_and_validate(base_url=server.url, headers=world.auth("province_admin"))


@schema.parametrize()
@FUZZ
def test_openapi_as_teacher(case, served):
    world, server = served
    case.call_and_validate(base_url=server.url, headers=world.auth("teacher"))
