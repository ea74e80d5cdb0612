"""All of the portal's SQL: users, sign-in links, sessions, sign-in requests and the audit log."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from services.portal.domain import NewUser, Role, User
from shared.db import Connection


def _user(row: Any) -> User:
    return User(row["user_id"], row["email"], Role(row["role"]), row["provider_id"])


async def add_user(conn: Connection, new: NewUser, invited_by: uuid.UUID | None) -> User | None:
    """A new user; None when a live user has this address already."""
    row = await conn.fetchrow(
        """
        INSERT INTO portal.users (user_id, email, role, provider_id, invited_by)
        VALUES ($1, $2, $3, $4, $5)
        ON CONFLICT (lower(email)) WHERE removed_at IS NULL DO NOTHING
        RETURNING user_id, email, role, provider_id
        """,
        uuid.uuid4(),
        new.email,
        new.role.value,
        new.provider_id,
        invited_by,
    )
    return None if row is None else _user(row)


async def live_user_by_email(conn: Connection, email: str) -> User | None:
    row = await conn.fetchrow(
        "SELECT user_id, email, role, provider_id FROM portal.users"
        " WHERE lower(email) = lower($1) AND removed_at IS NULL",
        email.strip(),
    )
    return None if row is None else _user(row)


async def live_users(conn: Connection) -> list[dict[str, Any]]:
    rows = await conn.fetch(
        "SELECT user_id, email, role, provider_id, created_at FROM portal.users"
        " WHERE removed_at IS NULL ORDER BY role, lower(email)"
    )
    return [dict(r) for r in rows]


async def remove_user(conn: Connection, user_id: uuid.UUID) -> User | None:
    """Remove a user: their sessions end and their unused links stop working at once."""
    row = await conn.fetchrow(
        "UPDATE portal.users SET removed_at = now() WHERE user_id = $1 AND removed_at IS NULL"
        " RETURNING user_id, email, role, provider_id",
        user_id,
    )
    if row is None:
        return None
    await conn.execute(
        "UPDATE portal.sessions SET ended_at = now() WHERE user_id = $1 AND ended_at IS NULL", user_id
    )
    await conn.execute(
        "UPDATE portal.signin_links SET used_at = now() WHERE user_id = $1 AND used_at IS NULL", user_id
    )
    return _user(row)


# --- sign-in links ------------------------------------------------------------------------


async def add_signin_link(conn: Connection, user_id: uuid.UUID, token_hash: str, valid: timedelta) -> None:
    await conn.execute(
        "INSERT INTO portal.signin_links (token_hash, user_id, expires_at)"
        " VALUES ($1, $2, now() + $3::interval)",
        token_hash,
        user_id,
        valid,
    )


async def use_signin_link(conn: Connection, token_hash: str) -> User | None:
    """The link's user, if the link is unused, unexpired and its user not removed; it is used now."""
    row = await conn.fetchrow(
        """
        UPDATE portal.signin_links l SET used_at = now()
        FROM portal.users u
        WHERE l.token_hash = $1 AND l.used_at IS NULL AND l.expires_at > now()
          AND u.user_id = l.user_id AND u.removed_at IS NULL
        RETURNING u.user_id, u.email, u.role, u.provider_id
        """,
        token_hash,
    )
    return None if row is None else _user(row)


async def signin_link_usable(conn: Connection, token_hash: str) -> bool:
    found = await conn.fetchval(
        "SELECT 1 FROM portal.signin_links WHERE token_hash = $1 AND used_at IS NULL AND expires_at > now()",
        token_hash,
    )
    return found is not None


async def count_recent_requests(conn: Connection, requester_hash: str, since: timedelta) -> int:
    count: int = await conn.fetchval(
        "SELECT count(*) FROM portal.signin_requests"
        " WHERE requester_hash = $1 AND requested_at > now() - $2::interval",
        requester_hash,
        since,
    )
    return count


async def record_request(conn: Connection, requester_hashes: list[str]) -> None:
    await conn.execute(
        "INSERT INTO portal.signin_requests (requester_hash) SELECT unnest($1::text[])", requester_hashes
    )
    # The table only serves the last hour: forget older requests as we go.
    await conn.execute("DELETE FROM portal.signin_requests WHERE requested_at < now() - interval '1 day'")


# --- sessions -------------------------------------------------------------------------------


async def add_session(conn: Connection, session_hash: str, user_id: uuid.UUID, valid: timedelta) -> datetime:
    expires_at: datetime = await conn.fetchval(
        "INSERT INTO portal.sessions (session_hash, user_id, expires_at)"
        " VALUES ($1, $2, now() + $3::interval) RETURNING expires_at",
        session_hash,
        user_id,
        valid,
    )
    return expires_at


async def session_user(conn: Connection, session_hash: str) -> User | None:
    """The session's user while the session is live and the user not removed."""
    row = await conn.fetchrow(
        """
        SELECT u.user_id, u.email, u.role, u.provider_id
        FROM portal.sessions s JOIN portal.users u USING (user_id)
        WHERE s.session_hash = $1 AND s.ended_at IS NULL AND s.expires_at > now() AND u.removed_at IS NULL
        """,
        session_hash,
    )
    return None if row is None else _user(row)


async def end_session(conn: Connection, session_hash: str) -> uuid.UUID | None:
    user_id: uuid.UUID | None = await conn.fetchval(
        "UPDATE portal.sessions SET ended_at = now() WHERE session_hash = $1 AND ended_at IS NULL"
        " RETURNING user_id",
        session_hash,
    )
    return user_id


# --- audit log ------------------------------------------------------------------------------


async def audit(
    conn: Connection,
    user_id: uuid.UUID | None,
    action: str,
    subject: str = "",
    details: dict[str, Any] | None = None,
) -> None:
    await conn.execute(
        "INSERT INTO portal.audit_log (user_id, action, subject, details) VALUES ($1, $2, $3, $4)",
        user_id,
        action,
        subject,
        details or {},
    )


async def audit_entries(
    conn: Connection, limit: int = 200, before: int | None = None
) -> list[dict[str, Any]]:
    """The newest entries first, with the actor's address and role."""
    rows = await conn.fetch(
        """
        SELECT a.entry_id, a.at, a.action, a.subject, a.details, u.email, u.role, u.provider_id
        FROM portal.audit_log a LEFT JOIN portal.users u USING (user_id)
        WHERE $2::bigint IS NULL OR a.entry_id < $2
        ORDER BY a.entry_id DESC LIMIT $1
        """,
        limit,
        before,
    )
    return [dict(r) for r in rows]
