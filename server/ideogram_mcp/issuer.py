"""OAuth 2.1 access tokens (JWTs) checked against the keys their issuer publishes (JWKS), found through its metadata
(RFC 8414, else OpenID Connect discovery), and the owner each token stands for."""

from __future__ import annotations

import functools
import hashlib
import json
from typing import Any, cast

import anyio
import httpx2
import jwt
from mcp.server.auth.provider import AccessToken, TokenVerifier

from ideogram_mcp import logs
from ideogram_mcp.clock import Clock, SystemClock
from ideogram_mcp.errors import IssuerError

logger = logs.logger(__name__)

JWKS_TTL = 600.0
"""Seconds the issuer's keys are kept before they are fetched again (sooner when a token names an unknown key)."""
JWKS_REFETCH = 10.0
"""Seconds at the least between two fetches of the keys for tokens naming a key the server does not hold."""
JWKS_WAIT = 3.0
"""Seconds a fetch of the issuer's keys may take: a token check never waits longer (clients give up near 10 s)."""
JWKS_FAILURE_TTL = 30.0
"""Seconds a failed fetch of the keys stands as the answer, so that an unreachable issuer is not asked per token."""
_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA"]
ISSUER_MOST = 1024 * 1024
"""Bytes an issuer's metadata or key set may have (a few kilobytes is usual); more is a failed fetch."""


def owner_of(subject: str) -> str:
    """A short, stable, file-name-safe id for whoever a token stands for."""
    return hashlib.sha256(subject.encode()).hexdigest()[:16]


CLOCK_SKEW = 30.0
"""Seconds an issuer's clock may run ahead of this server's for a token's not-before and issued-at times (its expiry
is checked again by the SDK, without any)."""


class JWTVerifier(TokenVerifier):
    """OAuth 2.1 access tokens as JWTs from one issuer, checked against the keys it publishes (JWKS)."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        *,
        transport: httpx2.AsyncBaseTransport | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.issuer = issuer.rstrip("/")
        self._clock = clock or SystemClock()
        self.audience = audience
        self._audiences = _written(audience)
        self._http = httpx2.AsyncClient(transport=transport, timeout=JWKS_WAIT, follow_redirects=True)
        self._keys: jwt.PyJWKSet | None = None
        self._fetched = 0.0
        self._fetching = anyio.Lock()
        """One fetch of the keys at a time: the tokens that arrive meanwhile wait for it, and use what it got."""
        self._failed_until = 0.0
        """Until when a failed fetch stands as the answer (monotonic): an unreachable issuer is not asked per token."""

    async def verify_token(self, token: str) -> AccessToken | None:
        token = token.lstrip(" ")  # "Bearer  <token>": RFC 6750 allows more than one space, the SDK cuts one
        try:
            header = jwt.get_unverified_header(token)
            key = await self._key(str(header.get("kid") or ""))
            if key is None:
                return None
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=_ALGORITHMS,
                audience=self._audiences,  # the URL as written, or as a URL parser writes it
                options={"require": ["exp", "iss", "aud", "sub"], "verify_iss": False},  # checked below
                leeway=CLOCK_SKEW,
            )
        except (jwt.PyJWTError, httpx2.HTTPError, ValueError, IssuerError) as exc:
            logger.info("refused a bearer token: %s", type(exc).__name__)
            return None
        # The issuer as the setting writes it or in another spelling of the same URL (its metadata's, which its tokens
        # carry: a host in capitals, the default port, a "/" at its end)
        if not isinstance(claims["iss"], str) or _url_form(claims["iss"]) != _url_form(self.issuer):
            logger.info("refused a bearer token: InvalidIssuerError")
            return None
        if not str(claims["sub"]).strip():  # every such token would be one owner, its images and budget shared
            logger.info("refused a bearer token: its subject is empty")
            return None
        scopes = str(claims.get("scope") or "").split()
        return AccessToken(
            token=token,
            client_id=owner_of(f"{self.issuer}|{claims['sub']}"),
            scopes=scopes,
            expires_at=int(claims["exp"]),
            resource=self.audience,
            subject=str(claims["sub"]),
            claims={"iss": claims.get("iss")},
        )

    async def _key(self, kid: str) -> jwt.PyJWK | None:
        """The issuer's key with this id, fetching the key set when it is old or does not have it."""
        if self._fresh(kid):
            return self._find(kid)
        async with self._fetching:
            if self._fresh(kid):  # fetched (or failed) while this token waited
                return self._find(kid)
            if self._clock.monotonic() < self._failed_until:  # the keys held, if any, answer meanwhile
                if self._keys is None:
                    raise IssuerError(f"the issuer {self.issuer} could not be asked for its keys a moment ago")
                return self._find(kid)
            try:
                with self._clock.deadline(self._clock.monotonic() + JWKS_WAIT) as bounded:
                    self._keys = jwt.PyJWKSet.from_dict(await self._fetch_jwks())
                if bounded.cancelled_caught:
                    raise TimeoutError
            except (httpx2.HTTPError, ValueError, IssuerError, TimeoutError, jwt.PyJWTError) as exc:
                logger.warning("the OAuth issuer's keys could not be fetched (%s)", type(exc).__name__)
                # A failure stands for a while, keys held or not: each token of an unknown kid had asked again (20 at
                # once asked 40 times), and a valid one waited behind each fetch of an issuer that hung. With keys
                # held, as long as an unknown kid waits anyway: a key rotated in meanwhile is taken as soon.
                held = self._keys is not None
                self._failed_until = self._clock.monotonic() + (JWKS_REFETCH if held else JWKS_FAILURE_TTL)
                if self._keys is None:
                    raise IssuerError(f"the issuer {self.issuer} did not give its keys") from exc
                # The keys held still check tokens while the issuer cannot be asked: they are asked for again later.
                self._fetched = self._clock.monotonic() - JWKS_TTL + JWKS_FAILURE_TTL
                return self._find(kid)
            self._fetched = self._clock.monotonic()
        return self._find(kid)

    def _fresh(self, kid: str) -> bool:
        """Whether the keys held answer for ``kid`` without a fetch: young enough and holding it, or fetched in the
        last seconds (an unknown kid does not make the server fetch more often than that)."""
        if self._keys is None:
            return False
        age = self._clock.monotonic() - self._fetched
        return age <= JWKS_TTL and (self._find(kid) is not None or age < JWKS_REFETCH)

    def _find(self, kid: str) -> jwt.PyJWK | None:
        keys = self._keys.keys if self._keys is not None else []
        if not kid and len(keys) == 1:
            return keys[0]
        return next((k for k in keys if k.key_id == kid), None)

    async def _fetch_jwks(self) -> dict[str, Any]:
        """The issuer's JWKS, found through its metadata (RFC 8414, else OpenID Connect discovery) at the first of
        its places (``_metadata_places``) that answers a JSON object naming a ``jwks_uri``, and this issuer as its
        ``issuer`` (RFC 8414 has them identical) where it names one; a key set that is no JSON object is a failed
        fetch (``IssuerError``)."""
        for place in _metadata_places(self.issuer):
            status, body = await self._document(place)
            if status == 200:
                try:
                    metadata: object = json.loads(body)
                except ValueError:  # a web page where no metadata is (a site at the host's root): the next place
                    continue
                if not isinstance(metadata, dict):
                    continue
                fields = cast(dict[str, object], metadata)
                named = fields.get("issuer")
                if isinstance(named, str) and _url_form(named) != _url_form(self.issuer):
                    # another issuer's (a host's own, answering every path under its well-known place)
                    logger.warning("the metadata at %s is issuer %.200s's, not this one's: passed over", place, named)
                    continue
                jwks_uri = fields.get("jwks_uri")
                if isinstance(jwks_uri, str):
                    status, body = await self._document(jwks_uri)
                    if status != 200:
                        raise IssuerError(f"the issuer {self.issuer}'s key set answered HTTP {status}")
                    found: object = json.loads(body)
                    if not isinstance(found, dict):
                        raise IssuerError(f"the issuer {self.issuer} published a key set that is no JSON object")
                    return cast(dict[str, Any], found)
        raise IssuerError(f"the issuer {self.issuer} publishes no jwks_uri")

    async def _document(self, url: str) -> tuple[int, bytes]:
        """A document of the issuer's, read up to ``ISSUER_MOST`` bytes (an issuer's answer is a few kilobytes: a
        larger one is refused rather than held in memory)."""
        async with self._http.stream("GET", url) as response:
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > ISSUER_MOST:
                    raise IssuerError(f"the issuer {self.issuer} answered {url[:200]} with over {ISSUER_MOST} bytes")
            return response.status_code, bytes(body)


def _written(audience: str) -> list[str]:
    """The ways a token's audience may write the server's public URL: as the setting does, and as the resource
    metadata publishes it (``_url_form``), each with a trailing slash or none. Clients ask their issuer for the
    published form; it had been refused."""
    return list(dict.fromkeys(form for url in (audience.rstrip("/"), _url_form(audience)) for form in (url, url + "/")))


@functools.lru_cache(maxsize=64)
def _url_form(url: str) -> str:
    """A URL as a parser writes it (the host in lower case and IDNA, no default port), with no ``/`` at its end:
    two spellings of one issuer compare equal."""
    from pydantic import AnyHttpUrl, ValidationError

    try:
        return str(AnyHttpUrl(url)).rstrip("/")
    except ValidationError:
        return url.rstrip("/")


def _metadata_places(issuer: str) -> list[str]:
    """Where an issuer's metadata may be: for one with a path (``https://as/tenant1``), RFC 8414's place, the
    well-known segment before the path, and OpenID Connect's places, as the MCP authorization spec has clients look;
    the segment after the path too, where some issuers put it."""
    parts = httpx2.URL(issuer)
    path = parts.path.rstrip("/")
    if not path:
        return [issuer + "/.well-known/oauth-authorization-server", issuer + "/.well-known/openid-configuration"]
    root = str(parts.copy_with(path="/", query=None, fragment=None)).rstrip("/")
    return [
        f"{root}/.well-known/oauth-authorization-server{path}",
        f"{root}/.well-known/openid-configuration{path}",
        issuer + "/.well-known/openid-configuration",
        issuer + "/.well-known/oauth-authorization-server",
    ]
