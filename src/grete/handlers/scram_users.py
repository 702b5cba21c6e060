"""DescribeUserScramCredentials (v0) and AlterUserScramCredentials (v0), KIP-554.

Describe answers mechanisms and iteration counts, never salts or keys. Alter takes salted
passwords (the client ran PBKDF2) and stores Kafka's stored/server keys; each user's
changes are one write, so a user named in two operations for the same mechanism is
refused (DUPLICATE_RESOURCE), as in Kafka. Errors and messages follow Kafka's.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from grete.handlers.context import RequestContext
from grete.handlers.errors import error_code_for
from grete.handlers.registry import handles
from grete.protocol import ApiKey, ErrorCode
from grete.security.sasl.credentials import (
    MAX_ITERATIONS,
    MIN_ITERATIONS,
    MIN_SALT_BYTES,
    ScramCredential,
    ScramMechanism,
)
from grete.security.sasl.store import ScramCredentialStore


@handles(ApiKey.DESCRIBE_USER_SCRAM_CREDENTIALS, 0, 0)
async def handle_describe_user_scram_credentials(ctx: RequestContext, request: Any) -> Any:
    make = ctx.schema.make
    store = _store(ctx)
    names = [u.name for u in request.users] if request.users else None
    results = []
    if names is not None:
        counts: dict[str, int] = defaultdict(int)
        for name in names:
            counts[name] += 1
        found = await store.describe(sorted(set(names)))
        for name in dict.fromkeys(names):
            if counts[name] > 1:
                error, message = (
                    ErrorCode.duplicate_resource,
                    f"Cannot describe SCRAM credentials for the same user twice in a single request: {name}",
                )
            elif name not in found:
                error, message = (
                    ErrorCode.resource_not_found,
                    f"Attempt to describe a user credential that does not exist: {name}",
                )
            else:
                error, message = ErrorCode.none, None
            results.append(_described(make, name, found.get(name, {}), error, message))
    else:
        for name, creds in (await store.describe(None)).items():
            results.append(_described(make, name, creds, ErrorCode.none, None))
    return ctx.schema.response(
        throttle_time=0, error_code=ErrorCode.none, error_message=None, results=results
    )


def _described(
    make: Any,
    name: str,
    creds: dict[ScramMechanism, ScramCredential],
    error: ErrorCode,
    message: str | None,
) -> Any:
    infos = [
        make("CredentialInfo", mechanism=int(m), iterations=c.iterations)
        for m, c in sorted(creds.items())
    ]
    return make(
        "DescribeUserScramCredentialsResult",
        user=name,
        error_code=error,
        error_message=message,
        credential_infos=infos,
    )


@handles(ApiKey.ALTER_USER_SCRAM_CREDENTIALS, 0, 0)
async def handle_alter_user_scram_credentials(ctx: RequestContext, request: Any) -> Any:
    store = _store(ctx)
    errors: dict[str, tuple[ErrorCode, str]] = {}
    upserts: dict[str, dict[ScramMechanism, ScramCredential]] = defaultdict(dict)
    deletes: dict[str, set[ScramMechanism]] = defaultdict(set)
    seen: dict[str, set[ScramMechanism]] = defaultdict(set)
    order: list[str] = []
    for op in [*request.deletions, *request.upsertions]:
        name, mechanism = (
            op.name,
            ScramMechanism(op.mechanism) if op.mechanism in (1, 2) else ScramMechanism.UNKNOWN,
        )
        if name not in order:
            order.append(name)
        if name in errors:
            continue
        problem = _check(op, mechanism, seen[name])
        seen[name].add(mechanism)
        if problem is not None:
            errors[name] = problem
        elif hasattr(op, "salted_password"):
            upserts[name][mechanism] = ScramCredential.from_salted_password(
                mechanism, bytes(op.salt), bytes(op.salted_password), op.iterations
            )
        else:
            deletes[name].add(mechanism)
    for name in order:
        if name in errors:
            continue
        if deletes[name]:
            existing = (await store.describe([name])).get(name, {})
            missing = [m for m in deletes[name] if m not in existing]
            if missing:
                errors[name] = (
                    ErrorCode.resource_not_found,
                    "Attempt to delete a user credential that does not exist",
                )
                continue
        try:
            await store.alter(name, upserts[name], deletes[name])
        except Exception as exc:  # noqa: BLE001 - a ZooKeeper or disk failure fails this user only
            errors[name] = (error_code_for(exc), str(exc))
    make = ctx.schema.make
    results = [
        make(
            "AlterUserScramCredentialsResult",
            user=name,
            error_code=errors.get(name, (ErrorCode.none, None))[0],
            error_message=errors.get(name, (ErrorCode.none, None))[1],
        )
        for name in order
    ]
    return ctx.schema.response(throttle_time=0, results=results)


def _check(
    op: Any, mechanism: ScramMechanism, seen: set[ScramMechanism]
) -> tuple[ErrorCode, str] | None:
    if not op.name:
        return ErrorCode.unacceptable_credential, "Username must not be empty"
    if mechanism is ScramMechanism.UNKNOWN:
        return ErrorCode.unsupported_sasl_mechanism, "Unknown SCRAM mechanism"
    if mechanism in seen:
        return (
            ErrorCode.duplicate_resource,
            "A user credential cannot be altered twice in the same request",
        )
    if hasattr(op, "salted_password"):
        if not (MIN_ITERATIONS <= op.iterations <= MAX_ITERATIONS):
            return (
                ErrorCode.unacceptable_credential,
                f"Iterations {op.iterations} must be between {MIN_ITERATIONS} and {MAX_ITERATIONS}",
            )
        if len(op.salt) < MIN_SALT_BYTES:
            return ErrorCode.unacceptable_credential, "Salt must not be empty"
        if not op.salted_password:
            return ErrorCode.unacceptable_credential, "Salted password must not be empty"
    return None


def _store(ctx: RequestContext) -> ScramCredentialStore:
    store = ctx.services.scram_credentials
    if store is None:
        raise RuntimeError("the broker has no SCRAM credential store")
    return store
