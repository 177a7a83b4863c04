"""Password hashing (scrypt), signed access tokens (JWT HS256) and API keys."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

import jwt

__all__ = [
    "Principal",
    "decode_stream_token",
    "decode_token",
    "hash_api_key",
    "hash_password",
    "issue_stream_token",
    "issue_token",
    "load_or_create_secret",
    "new_api_key",
    "verify_password",
]

_SCRYPT = {"n": 2**14, "r": 8, "p": 1, "dklen": 32}
_ALGORITHM = "HS256"
API_KEY_PREFIX = "slp_"


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who is calling: a user's id, permission role, team and (for field workers) worker id."""

    user_id: str
    role: str
    team_id: str | None = None
    worker_id: str | None = None
    via: str = "token"
    token_version: int = 0

    @property
    def is_manager(self) -> bool:
        return self.role == "manager"

    @property
    def is_dispatcher(self) -> bool:
        return self.role == "dispatcher"

    @property
    def is_field_worker(self) -> bool:
        return self.role == "field_worker"


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, **_SCRYPT)
    return "scrypt$" + base64.b64encode(salt).decode() + "$" + base64.b64encode(digest).decode()


def verify_password(password: str, stored: str) -> bool:
    try:
        scheme, salt_b64, digest_b64 = stored.split("$")
    except ValueError:
        return False
    if scheme != "scrypt":
        return False
    digest = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt_b64), **_SCRYPT)
    return hmac.compare_digest(digest, base64.b64decode(digest_b64))


def issue_token(principal: Principal, *, secret: str, ttl_s: int) -> str:
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": principal.user_id,
        "role": principal.role,
        "team": principal.team_id,
        "worker": principal.worker_id,
        "ver": principal.token_version,
        "iat": now,
        "exp": now + dt.timedelta(seconds=ttl_s),
    }
    return jwt.encode(claims, secret, algorithm=_ALGORITHM)


def decode_token(token: str, *, secret: str) -> dict[str, object]:
    """Claims of a valid token; raises ``jwt.InvalidTokenError`` otherwise."""
    return jwt.decode(token, secret, algorithms=[_ALGORITHM], options={"require": ["sub", "exp"]})


#: What a job-events token is for; it is signed with a key derived from the service's secret for this purpose
#: alone, so it can never pass as an access token (nor an access token as it).
STREAM_AUDIENCE = "salpimi:job-events"
STREAM_TOKEN_TTL_S = 60


def _stream_key(secret: str) -> str:
    return hmac.new(secret.encode(), STREAM_AUDIENCE.encode(), hashlib.sha256).hexdigest()


def issue_stream_token(principal: Principal, job_id: str, *, secret: str, ttl_s: int = STREAM_TOKEN_TTL_S) -> str:
    """A short-lived token that opens one job's event stream for one user (browsers' EventSource
    cannot send headers, so it travels in the query string; never the long-lived credential)."""
    now = dt.datetime.now(dt.UTC)
    claims = {
        "sub": principal.user_id, "ver": principal.token_version, "job": job_id, "aud": STREAM_AUDIENCE,
        "iat": now, "exp": now + dt.timedelta(seconds=ttl_s),
    }
    return jwt.encode(claims, _stream_key(secret), algorithm=_ALGORITHM)


def decode_stream_token(token: str, *, job_id: str, secret: str) -> dict[str, object]:
    """Claims of a valid job-events token for ``job_id``; raises ``jwt.InvalidTokenError`` otherwise
    (expired, another job's, an access token, forged)."""
    claims: dict[str, object] = jwt.decode(
        token, _stream_key(secret), algorithms=[_ALGORITHM], audience=STREAM_AUDIENCE,
        options={"require": ["sub", "exp", "job", "aud"]},
    )
    if claims.get("job") != job_id:
        raise jwt.InvalidTokenError("the token belongs to another job")
    return claims


def new_api_key() -> str:
    return API_KEY_PREFIX + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def load_or_create_secret(data_dir: Path) -> str:
    """The signing key kept in ``data_dir/secret.key`` (created with mode 0600)."""
    path = data_dir / "secret.key"
    if path.is_file():
        return path.read_text(encoding="ascii").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key, encoding="ascii")
    return key
