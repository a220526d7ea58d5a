"""Odd input: date-times UTC cannot hold are a 422, not a 500; a query parameter given twice is a 422;
/metrics behind a token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_app


@pytest.mark.parametrize("value", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_datetimes_out_of_utc_range_are_422(client, world, value):
    for path in ("/v1/admin/submissions", "/v1/admin/stats", "/v1/admin/audit"):
        for name in ("since", "until"):
            resp = client.get(path, params={name: value}, headers=world.auth("county_admin"))
            assert resp.status_code == 422 and resp.json()["error"]["code"] == "invalid_request", (path, name)
    ok = client.get(
        "/v1/admin/submissions",
        params={"since": "0001-01-01T00:00:00+00:00"},
        headers=world.auth("county_admin"),
    )
    assert ok.status_code == 200


def test_metrics_behind_a_token(world):
    settings = world.settings.model_copy(update={"metrics_token": SecretStr("m-" + "t" * 30)})
    with TestClient(create_app(settings)) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        resp = client.get("/metrics", headers={"Authorization": "Bearer m-" + "t" * 30})
        assert resp.status_code == 200 and "evidence_jobs" in resp.text


def test_a_query_parameter_given_twice_is_refused(client, world):
    auth = world.auth("county_admin")
    chinese = {**auth, "Accept-Language": "zh-CN"}
    resp = client.get("/v1/admin/submissions?duplicate=true&duplicate=false", headers=chinese)
    error = resp.json()["error"]
    assert resp.status_code == 422 and error["code"] == "repeated_parameter"
    assert error["detail"] == {"parameters": ["duplicate"]} and "重复" in error["message"]
    assert client.get("/v1/admin/submissions?duplicate=true", headers=auth).status_code == 200
