"""Bearer-token authentication and the roles of interfaces §2."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import msgspec
from litestar import Request, post
from litestar.di import NamedDependency, Provide
from litestar.params import JSONBody

from kpi_contracts.enums import Role
from kpi_kit.errors import BadRequest, Forbidden, Unauthorized
from kpi_kit.settings import Settings

ALGORITHM = "HS256"
KNOWN_ROLES = frozenset(role.value for role in Role)

# The contract fixes the dev secret at 25 bytes; prod refuses anything under 32 (see settings).
warnings.filterwarnings("ignore", category=jwt.warnings.InsecureKeyLengthWarning)


class Principal(msgspec.Struct, frozen=True, kw_only=True):
    """Who is calling: the token's subject, roles and (for staff) their staff id."""

    sub: str
    roles: frozenset[Role]
    staff_id: uuid.UUID | None = None

    @property
    def is_staff_only(self) -> bool:
        """A staff token without a manager or hr_admin role: never sees scoring mechanics."""
        return not (self.roles & {Role.HR_ADMIN, Role.MANAGER})

    def require(self, *allowed: Role) -> None:
        """Raise Forbidden unless the caller holds one of `allowed` (hr_admin holds all)."""
        if Role.HR_ADMIN in self.roles or self.roles & set(allowed):
            return
        raise Forbidden("Your role does not allow this action")

    def require_person(self, staff_id: uuid.UUID) -> None:
        """Raise Forbidden unless the caller may read this person's KPIs and journal."""
        if not self.is_staff_only or self.staff_id == staff_id:
            return
        raise Forbidden("Staff may only see their own KPIs and journal")


def issue_token(
    secret: str,
    *,
    sub: str,
    roles: list[str],
    staff_id: uuid.UUID | None = None,
    lifetime: timedelta = timedelta(hours=8),
) -> tuple[str, datetime]:
    """Sign a token; returns it with its expiry."""
    expires = datetime.now(UTC) + lifetime
    claims: dict[str, Any] = {"sub": sub, "roles": roles, "exp": expires}
    if staff_id is not None:
        claims["staff_id"] = str(staff_id)
    return jwt.encode(claims, secret, algorithm=ALGORITHM), expires


# Tokens already verified, with their principal and expiry. A client sends the same token on
# every request, and checking its signature and claims each time was a tenth of a read's CPU.
_verified: dict[tuple[str, str], tuple[Principal, float]] = {}
VERIFIED_TOKENS_KEPT = 4096


def decode_token(secret: str, token: str) -> Principal:
    """Verify a token and read its claims.

    Raises Unauthorized when the token is not valid (interfaces §2: 401), and Forbidden when it
    is valid but grants no role of this system (403: "valid token, no right").

    A token once verified is remembered until it expires: its expiry is checked on every use.
    """
    known = _verified.get((secret, token))
    if known is not None:
        principal, expires = known
        if time.time() < expires:
            return principal
        del _verified[(secret, token)]
        raise Unauthorized("The token has expired")
    principal, expires = _verify(secret, token)
    if len(_verified) >= VERIFIED_TOKENS_KEPT:
        _verified.clear()
    _verified[(secret, token)] = (principal, expires)
    return principal


class _NotOurSignature(Unauthorized):
    """The token is not signed with the key tried (it may be with another)."""


def decode_token_with(secrets: Sequence[str], token: str) -> Principal:
    """`decode_token` under the key that signed the token: the current one, or the previous one
    while a rotation lets its tokens be used up. A token remembered under either is taken without
    verifying it again. Refused: the reason of the key that signed it (expired, no role, ...),
    else the current key's."""
    for secret in secrets:
        if (secret, token) in _verified:
            return decode_token(secret, token)
    refusals: list[Unauthorized] = []
    for secret in secrets:
        try:
            return decode_token(secret, token)
        except _NotOurSignature as refused:
            refusals.append(refused)
    raise refusals[0]


def _verify(secret: str, token: str) -> tuple[Principal, float]:
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The token has expired") from exc
    except jwt.InvalidSignatureError as exc:
        raise _NotOurSignature("The token is not valid") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("The token is not valid") from exc
    return _principal_from(claims), float(claims["exp"])


def _principal_from(claims: dict[str, Any]) -> Principal:
    raw_roles = claims.get("roles")
    if not isinstance(raw_roles, list):
        raise Unauthorized("The token's roles claim is not a list")
    try:
        staff_id = uuid.UUID(str(claims["staff_id"])) if claims.get("staff_id") else None
    except (ValueError, TypeError) as exc:
        raise Unauthorized("The token's staff_id is not a uuid") from exc
    # An identity provider's token may carry roles of other systems: those grant nothing here.
    roles = frozenset(Role(r) for r in raw_roles if isinstance(r, str) and r in KNOWN_ROLES)
    if not roles:
        raise Forbidden("The token grants no role in the KPI system (hr_admin, manager or staff)")
    if roles == {Role.STAFF} and staff_id is None:
        raise Unauthorized("A staff token must carry staff_id")
    return Principal(sub=str(claims["sub"]), roles=roles, staff_id=staff_id)


def bearer_token(request: Request[Any, Any, Any]) -> str:
    """The bearer token of a request, or Unauthorized."""
    # Read from the raw ASGI headers: `request.headers` builds a multi-dict of all of them first.
    header = next(
        (value for name, value in request.scope["headers"] if name == b"authorization"), b""
    ).decode("latin-1")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Send Authorization: Bearer <token>")
    return token.strip()


def _provide_principal(request: Request[Any, Any, Any], runtime: NamedDependency[Any]) -> Principal:
    # Depending on `runtime` (not used here) puts the two dependencies every route has in two
    # batches of one: Litestar resolves a batch of several in an anyio task group, which cost
    # two tasks per request.
    return caller_of(request)


def caller_of(request: Request[Any, Any, Any]) -> Principal:
    """The verified caller of a request, or Unauthorized / Forbidden."""
    settings: Settings = request.app.state.settings
    return decode_token_with(settings.jwt_secrets, bearer_token(request))


Caller = NamedDependency[Principal]
"""Annotation of a route's `principal` parameter: the verified caller."""

# Routes that declare a `principal` parameter get the verified caller; others stay public.
principal_dependency = Provide(_provide_principal, sync_to_thread=False)


ACCESS = "kpi_access"


class Access(msgspec.Struct, frozen=True):
    """Who may call a route: the roles (hr_admin holds all), and whether staff may act only on
    the person the path names (`staff_id`)."""

    roles: tuple[Role, ...]
    own_person: bool = False


def allow(*roles: Role, own_person: bool = False) -> dict[str, Access]:
    """A route's `opt`: who may call it. Checked before the body is read (`authorize`)."""
    return {ACCESS: Access(roles, own_person)}


async def authorize(request: Request[Any, Any, Any]) -> None:
    """Before a route reads its body: 401 without a valid token, 403 without the right.

    Interfaces §2 answers the caller first: a request without a token is a 401 and one without
    the right a 403, whatever its body, which would otherwise be decoded and judged first.
    Async though it awaits nothing: Litestar runs a sync hook in a worker thread, which doubled
    the CPU of a GET.
    """
    access: Access | None = request.route_handler.opt.get(ACCESS)
    if access is None:
        return
    principal = caller_of(request)
    principal.require(*access.roles)
    if access.own_person:
        principal.require_person(request.path_params["staff_id"])


class DevTokenRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Which role (and staff id) a developer wants a token for."""

    role: Role
    staff_id: uuid.UUID | None = None


class DevToken(msgspec.Struct, frozen=True, kw_only=True):
    """A signed dev token."""

    token: str
    expires_at: datetime


# Outside /api/v1, whose every route needs a bearer token (interfaces §2): this one hands them out.
@post("/dev/token", tags=["dev"], summary="Sign a token for a role (KPI_ENV=dev only)")
async def dev_token(data: JSONBody[DevTokenRequest], request: Request[Any, Any, Any]) -> DevToken:
    """Sign a development token; this route is not mounted when KPI_ENV=prod."""
    settings: Settings = request.app.state.settings
    if data.role == Role.STAFF and data.staff_id is None:
        raise BadRequest("A staff token needs a staff_id")
    sub = f"dev-{data.role.value}" + (f"-{data.staff_id}" if data.staff_id else "")
    token, expires = issue_token(
        settings.jwt_secret, sub=sub, roles=[data.role.value], staff_id=data.staff_id
    )
    return DevToken(token=token, expires_at=expires)
