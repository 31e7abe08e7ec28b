"""calls: the placement's gate, one function that locks the paying wallet, counts and holds

``commbase_place_call_gate`` (PostgreSQL only) runs inside the one statement that
stores a placed phone call (``calls.gate``): it locks the paying wallet's row (of the
organization placing the call; five seconds at most), then counts an agent session's
calls of the last hour and the credential's calls in progress with snapshots taken
once the lock is held -- each query of a VOLATILE
function takes its own, so it sees every call earlier placements on the wallet
committed -- and takes the hold. A refusal raises (``commbase:<reason>``), undoing the
whole statement: the call's INSERT and its outbox rows with it. The statement commits
on its own, so the wallet stays locked for the statement's run, not for the client's
round trips and the request's Python in between.

Revision ID: 0062
Revises: 0061
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0062"
down_revision: str | None = "0061"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_GATE = """
CREATE OR REPLACE FUNCTION commbase_place_call_gate(
    p_wallet_id text,
    p_wallet_status text,
    p_amount bigint,
    p_package integer,
    p_now timestamptz,
    p_org_id text,
    p_statuses text[],
    p_owner text,
    p_owner_id text,
    p_limit integer,
    p_call_id text,
    p_agent_session_id text,
    p_calls_per_hour integer,
    p_hour_ago timestamptz
)
RETURNS TABLE (
    amount bigint,
    balance bigint,
    held bigint,
    balance_minutes integer,
    held_minutes integer,
    updated_at timestamptz
)
LANGUAGE plpgsql VOLATILE
-- A wallet busy this long answers "retry" (lock_not_available) rather than queueing on.
SET lock_timeout = '5s'
AS $$
#variable_conflict use_column
DECLARE
    w_balance bigint;
    w_held bigint;
    w_minutes integer;
    w_held_minutes integer;
    w_status text;
    found_calls bigint;
BEGIN
    SELECT w.balance, w.held, w.balance_minutes, w.held_minutes, w.status
      INTO w_balance, w_held, w_minutes, w_held_minutes, w_status
      FROM wallets AS w WHERE w.id = p_wallet_id AND w.org_id = p_org_id
      FOR NO KEY UPDATE;
    IF NOT FOUND OR w_status <> p_wallet_status THEN
        RAISE EXCEPTION 'commbase:wallet_inactive';
    END IF;
    -- Each query below sees what committed before the lock was granted.
    IF p_calls_per_hour IS NOT NULL THEN
        SELECT count(*) INTO found_calls FROM calls AS c
         WHERE c.org_id = p_org_id AND c.agent_session_id = p_agent_session_id
           AND c.created_at >= p_hour_ago AND c.id <> p_call_id;
        IF found_calls >= p_calls_per_hour THEN
            RAISE EXCEPTION 'commbase:call_rate' USING DETAIL = found_calls::text;
        END IF;
    END IF;
    IF p_owner = 'api_key_id' THEN
        SELECT count(*) INTO found_calls FROM calls AS c
         WHERE c.org_id = p_org_id AND c.status = ANY (p_statuses)
           AND c.api_key_id = p_owner_id AND c.id <> p_call_id;
    ELSIF p_owner = 'agent_session_id' THEN
        SELECT count(*) INTO found_calls FROM calls AS c
         WHERE c.org_id = p_org_id AND c.status = ANY (p_statuses)
           AND c.agent_session_id = p_owner_id AND c.id <> p_call_id;
    ELSIF p_owner = 'user_id' THEN
        SELECT count(*) INTO found_calls FROM calls AS c
         WHERE c.org_id = p_org_id AND c.status = ANY (p_statuses)
           AND c.user_id = p_owner_id AND c.id <> p_call_id;
    ELSE
        RAISE EXCEPTION 'commbase:unknown_owner %', p_owner;
    END IF;
    IF found_calls >= p_limit THEN
        RAISE EXCEPTION 'commbase:calls_in_progress' USING DETAIL = found_calls::text;
    END IF;
    IF w_balance - w_held < p_amount OR w_minutes - w_held_minutes < p_package THEN
        -- Worked out from an earlier read: the caller works it out again from these.
        RAISE EXCEPTION 'commbase:wallet_moved'
            USING DETAIL = concat_ws(' ', w_balance, w_held, w_minutes, w_held_minutes);
    END IF;
    RETURN QUERY
    UPDATE wallets AS w
       SET held = w.held + p_amount, held_minutes = w.held_minutes + p_package,
           updated_at = p_now
     WHERE w.id = p_wallet_id AND w.org_id = p_org_id
    RETURNING p_amount, w.balance, w.held, w.balance_minutes, w.held_minutes, w.updated_at;
END
$$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(_GATE)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "DROP FUNCTION IF EXISTS commbase_place_call_gate("
            "text, text, bigint, integer, timestamptz, text, text[], text, text, integer, "
            "text, text, integer, timestamptz)"
        )
