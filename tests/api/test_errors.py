"""Every error class from every body shape, and errors that never leak a secret."""

from __future__ import annotations

import pytest

from polyctl.api import (
    ConnectionInUseError,
    Dependent,
    ForbiddenError,
    NotFoundError,
    PolytomicError,
    RateLimitedError,
    RetryPolicy,
    ServerError,
    UnauthorizedError,
    ValidationError,
)

from .conftest import Reply, Script

pytestmark = pytest.mark.anyio

CURRENT = "current"
LEGACY_ERROR = "legacy-error"
LEGACY_STATUS_CODE = "legacy-status-code"


def body(shape: str, status: int, message: str, metadata=None):
    if shape == CURRENT:
        return {"status": status, "key": "some_key", "message": message, "metadata": metadata or {}}
    if shape == LEGACY_ERROR:
        return {"error": {"message": message}}
    return {"message": message, "status_code": status, "metadata": [metadata] if metadata else []}


async def fail_with(make_client, reply: Reply, call=None) -> PolytomicError:
    script = Script(reply)
    async with make_client(script, retry=RetryPolicy.none()) as client:
        org = client.for_organization(None)
        with pytest.raises(PolytomicError) as info:
            await (call(org) if call else org.get_connection("c-1"))
    return info.value


@pytest.mark.parametrize("shape", [CURRENT, LEGACY_ERROR, LEGACY_STATUS_CODE])
@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, ValidationError),
        (401, UnauthorizedError),
        (403, ForbiddenError),
        (404, NotFoundError),
        (409, PolytomicError),
        (422, ValidationError),
        (429, RateLimitedError),
        (500, ServerError),
        (502, ServerError),
        (503, ServerError),
        (504, ServerError),
    ],
)
async def test_status_maps_to_class_with_server_message(make_client, shape, status, cls):
    error = await fail_with(make_client, Reply(status, body(shape, status, "the server says no")))
    assert type(error) is cls
    assert error.status == status
    assert "the server says no" in error.message
    assert error.method == "GET"
    assert error.url.endswith("/api/connections/c-1")
    assert "GET /api/connections/c-1" in str(error) and f"HTTP {status}" in str(error)
    if shape == CURRENT:
        assert error.key == "some_key"


async def test_non_json_body_is_kept_as_truncated_text(make_client):
    html = "<html><body>" + "Bad gateway " * 200 + "</body></html>"
    error = await fail_with(make_client, Reply(502, text=html))
    assert isinstance(error, ServerError)
    assert error.message.startswith("<html><body>Bad gateway")
    assert len(error.message) <= 500


@pytest.mark.parametrize("reply", [Reply(500), Reply(500, text=""), Reply(500, body="")])
async def test_empty_or_string_body_falls_back_to_the_status(make_client, reply):
    error = await fail_with(make_client, reply)
    assert isinstance(error, ServerError)
    assert "HTTP 500" in str(error)


async def test_connection_in_use_carries_dependents(make_client):
    used_by = [
        {"type": "model", "name": "Users", "id": "m-1"},
        {"type": "sync", "name": "Users to CRM", "id": "s-1", "extra": True},
    ]
    error = await fail_with(
        make_client,
        Reply(422, {"status": 422, "message": "connection in use", "metadata": {"used_by": used_by}}),
        call=lambda org: org.delete_connection("c-1", force=False),
    )
    assert isinstance(error, ConnectionInUseError) and isinstance(error, ValidationError)
    assert error.used_by == [Dependent("model", "Users", "m-1"), Dependent("sync", "Users to CRM", "s-1")]
    assert 'model "Users" (m-1)' in str(error) and 'sync "Users to CRM" (s-1)' in str(error)


async def test_connection_in_use_from_message_alone_and_from_legacy_metadata_array(make_client):
    error = await fail_with(make_client, Reply(422, {"message": "Connection in use"}))
    assert isinstance(error, ConnectionInUseError) and error.used_by == []
    legacy = {"message": "connection in use", "status_code": 422,
              "metadata": [{"used_by": [{"type": "bulk_sync", "name": "B", "id": "b-1"}]}]}
    error = await fail_with(make_client, Reply(422, legacy))
    assert isinstance(error, ConnectionInUseError)
    assert error.used_by == [Dependent("bulk_sync", "B", "b-1")]


async def test_other_422_is_a_validation_error_with_the_message(make_client):
    error = await fail_with(make_client, Reply(422, {"status": 422, "message": "url: must be https"}))
    assert type(error) is ValidationError
    assert "url: must be https" in str(error)


async def test_forbidden_names_the_credential_source(make_client):
    error = await fail_with(make_client, Reply(403, {"message": "partner only"}))
    assert isinstance(error, ForbiddenError)
    assert "POLYTOMIC_API_KEY" in str(error) and "partner only" in str(error)


async def test_error_on_create_never_contains_the_secret(make_client):
    secret = "hunter2-very-secret-token"
    configuration = {
        "url": "https://example.com",
        "auth": {"header": {"name": "Authorization", "value": secret}},
        "password": "pw-" + secret,
    }

    def echo(request):  # a careless server that echoes the request in its error
        return Reply(400, {"status": 400, "message": f"invalid body: {request.content.decode()}"}).build(request)

    script = Script(echo)
    async with make_client(script, retry=RetryPolicy.none()) as client:
        with pytest.raises(ValidationError) as info:
            await client.for_organization(None).create_connection(
                name="Example", type="api", configuration=configuration
            )
    error = info.value
    for text in (str(error), repr(error), error.message, str(error.args)):
        assert secret not in text
    assert "[redacted]" in error.message
    assert "https://example.com" in error.message  # non-secret detail survives


async def test_userinfo_in_the_base_url_never_reaches_an_error(make_client):
    from polyctl.api import ApiSettings

    settings = ApiSettings(base_url="https://user:pa55word@api.test", api_key="k")
    script = Script(Reply(404, {"message": "not found"}))
    async with make_client(script, settings=settings, retry=RetryPolicy.none()) as client:
        with pytest.raises(NotFoundError) as info:
            await client.for_organization(None).get_connection("x")
    assert "pa55word" not in repr(info.value) and "pa55word" not in (info.value.url or "")


async def test_success_that_is_not_json_is_a_clear_error(make_client):
    error = await fail_with(make_client, Reply(200, text="<html>login</html>"))
    assert type(error) is PolytomicError
    assert "not JSON" in str(error)
    assert isinstance(error.__cause__, ValueError)


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
async def test_an_answer_with_nan_or_infinity_is_not_json(make_client, constant):
    # Python's json reads them, but they are not JSON: taken in, they would be written
    # back out as something else (orjson writes null) or not at all
    body = '{"data": {"id": "c1", "configuration": {"timeout": %s}}}' % constant
    error = await fail_with(make_client, Reply(200, text=body))
    assert type(error) is PolytomicError
    assert "not JSON" in str(error)
    assert f"{constant} is not a JSON value" in str(error.__cause__)
