"""Tokens: only HS256 tokens signed with our key, unexpired, with valid roles, are accepted."""

from __future__ import annotations

import base64
import inspect
import json
import uuid
from datetime import UTC, datetime, timedelta

import jwt
import pytest

from kpi_contracts.enums import Role
from kpi_kit.auth import authorize, decode_token, decode_token_with, issue_token
from kpi_kit.errors import Forbidden, Unauthorized

SECRET = "a-test-secret-that-is-long-enough-for-hs256"


def test_a_signed_token_gives_its_principal() -> None:
    staff = uuid.uuid4()
    token, _ = issue_token(SECRET, sub="u1", roles=["staff"], staff_id=staff)
    principal = decode_token(SECRET, token)
    assert principal.roles == {Role.STAFF}
    assert principal.staff_id == staff
    assert principal.is_staff_only


def test_an_expired_token_is_refused() -> None:
    token, _ = issue_token(SECRET, sub="u1", roles=["manager"], lifetime=timedelta(seconds=-5))
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(SECRET, token)


def test_a_token_signed_with_another_key_is_refused() -> None:
    token, _ = issue_token("another-secret-another-secret-another", sub="u1", roles=["manager"])
    with pytest.raises(Unauthorized):
        decode_token(SECRET, token)


def test_an_unsigned_alg_none_token_is_refused() -> None:
    def part(value: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    exp = int((datetime.now(UTC) + timedelta(hours=1)).timestamp())
    token = (
        part({"alg": "none", "typ": "JWT"})
        + "."
        + part({"sub": "x", "roles": ["hr_admin"], "exp": exp})
        + "."
    )
    with pytest.raises(Unauthorized):
        decode_token(SECRET, token)


def test_a_token_without_expiry_is_refused() -> None:
    token = jwt.encode({"sub": "u1", "roles": ["manager"]}, SECRET, algorithm="HS256")
    with pytest.raises(Unauthorized):
        decode_token(SECRET, token)


def _token_with_roles(roles: object, **claims: object) -> str:
    body = {"sub": "u1", "roles": roles, "exp": datetime.now(UTC) + timedelta(hours=1), **claims}
    return jwt.encode(body, SECRET, algorithm="HS256")


@pytest.mark.parametrize("roles", ["manager", {"manager": True}, None])
def test_a_roles_claim_that_is_not_a_list_makes_the_token_invalid(roles: object) -> None:
    with pytest.raises(Unauthorized, match="roles"):
        decode_token(SECRET, _token_with_roles(roles))


@pytest.mark.parametrize("roles", [[], ["superuser"], ["Manager", 7, {"role": "hr_admin"}]])
def test_a_valid_token_without_a_role_of_ours_grants_nothing(roles: object) -> None:
    # Interfaces §2: "valid token, no right" is a 403, not a 401.
    with pytest.raises(Forbidden, match="no role"):
        decode_token(SECRET, _token_with_roles(roles))


def test_roles_of_other_systems_are_ignored_not_refused() -> None:
    principal = decode_token(SECRET, _token_with_roles(["payroll_admin", "manager"]))
    assert principal.roles == {Role.MANAGER}


def test_a_staff_token_with_only_other_systems_roles_beside_still_needs_a_staff_id() -> None:
    with pytest.raises(Unauthorized, match="staff_id"):
        decode_token(SECRET, _token_with_roles(["staff", "rostering_viewer"]))


def test_a_staff_token_needs_a_staff_id() -> None:
    token, _ = issue_token(SECRET, sub="u1", roles=["staff"])
    with pytest.raises(Unauthorized, match="staff_id"):
        decode_token(SECRET, token)


def test_staff_may_read_only_their_own_person() -> None:
    me, someone = uuid.uuid4(), uuid.uuid4()
    token, _ = issue_token(SECRET, sub="u1", roles=["staff"], staff_id=me)
    principal = decode_token(SECRET, token)
    principal.require_person(me)
    with pytest.raises(Forbidden):
        principal.require_person(someone)


def test_hr_admin_holds_every_role() -> None:
    token, _ = issue_token(SECRET, sub="u1", roles=["hr_admin"])
    principal = decode_token(SECRET, token)
    principal.require(Role.MANAGER)
    assert not principal.is_staff_only


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    token, expires = issue_token(SECRET, sub="u1", roles=["manager"])
    assert decode_token(SECRET, token).sub == "u1"
    later = expires.timestamp() + 1
    monkeypatch.setattr("kpi_kit.auth.time.time", lambda: later)
    with pytest.raises(Unauthorized, match="expired"):
        decode_token(SECRET, token)


def test_a_token_verified_under_one_key_is_not_accepted_under_another() -> None:
    token, _ = issue_token(SECRET, sub="u1", roles=["manager"])
    assert decode_token(SECRET, token).sub == "u1"
    with pytest.raises(Unauthorized):
        decode_token("another-secret-another-secret-another", token)


def test_the_before_request_check_runs_on_the_event_loop() -> None:
    # Litestar runs a sync before-request hook in a worker thread: a thread hop per request.
    assert inspect.iscoroutinefunction(authorize)


PREVIOUS = "the-key-before-the-rotation-long-enough-too"


def test_during_a_rotation_a_token_signed_with_the_previous_key_is_accepted() -> None:
    old, _ = issue_token(PREVIOUS, sub="before", roles=["manager"])
    new, _ = issue_token(SECRET, sub="after", roles=["manager"])
    assert decode_token_with((SECRET, PREVIOUS), old).sub == "before"
    assert decode_token_with((SECRET, PREVIOUS), new).sub == "after"
    with pytest.raises(Unauthorized, match="not valid"):  # once the rotation is over
        decode_token_with((SECRET,), old)


def test_a_refusal_gives_the_reason_of_the_key_that_signed_the_token() -> None:
    expired, _ = issue_token(PREVIOUS, sub="u1", roles=["manager"], lifetime=timedelta(seconds=-5))
    with pytest.raises(Unauthorized, match="expired"):
        decode_token_with((SECRET, PREVIOUS), expired)
    no_role, _ = issue_token(PREVIOUS, sub="u1", roles=["payroll"])
    with pytest.raises(Forbidden):
        decode_token_with((SECRET, PREVIOUS), no_role)


def test_a_previous_keys_token_once_verified_is_not_verified_again(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old, _ = issue_token(PREVIOUS, sub="before", roles=["manager"])
    assert decode_token_with((SECRET, PREVIOUS), old).sub == "before"
    monkeypatch.setattr(jwt, "decode", lambda *args, **kwargs: pytest.fail("verified again"))
    assert decode_token_with((SECRET, PREVIOUS), old).sub == "before"


def test_a_token_no_key_verifies_is_refused_with_the_current_keys_reason() -> None:
    expired, _ = issue_token(SECRET, sub="u1", roles=["manager"], lifetime=timedelta(seconds=-5))
    with pytest.raises(Unauthorized, match="expired"):
        decode_token_with((SECRET, PREVIOUS), expired)
    stranger, _ = issue_token(
        "a-third-key-nobody-here-knows-of-at-all", sub="u1", roles=["manager"]
    )
    with pytest.raises(Unauthorized, match="not valid"):
        decode_token_with((SECRET, PREVIOUS), stranger)
