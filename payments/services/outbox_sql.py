"""The outbox's SQL, built once at import: each statement is compiled once and cached, and
executed on a plain connection (no ORM unit of work, no statement built per call)."""

from __future__ import annotations

from sqlalchemy import (
    ColumnElement,
    and_,
    bindparam,
    case,
    insert,
    literal_column,
    or_,
    select,
    update,
)

from payments.domain.statuses import ACTIVE_LOG_STATUSES, EventType, LogStatus
from payments.models import Merchant, Payment, PaymentLog
from payments.prepared import prepared

NOTIFICATION = EventType.MERCHANT_NOTIFICATION

# The delivery loop's statements, built once, run on a connection of their own rather than
# through the ORM session, whose bookkeeping they do not need: each attempt is one
# UPDATE ... RETURNING to take the lease (with what the HTTP call needs) and one UPDATE to write
# the outcome, on the table directly (no ORM unit of work, no statement built per call). Each is
# atomic by itself, so both run in autocommit (database.statement_by_statement): one round trip
# each, no BEGIN/COMMIT around them.
LOGS = PaymentLog.__table__
_PAYMENTS = Payment.__table__
_MERCHANTS = Merchant.__table__


def _merchant_column(name: str, expression: str | None = None) -> ColumnElement:
    """A merchant column of the row's payment (`expression` over the merchant `m`, by default
    the column itself), as a correlated subquery in RETURNING: the lease's form for SQLite,
    which cannot return columns of an UPDATE's FROM tables (PostgreSQL joins them instead, see
    _lease_statement). Written out because SQLAlchemy's SQLite compiler drops table names
    inside RETURNING, which makes the subquery's `id` ambiguous."""
    # Built at import from this module's own constants: no input reaches it.
    sql = (
        f"(SELECT {expression or 'm.' + name}"  # noqa: S608
        " FROM payments AS p JOIN merchants AS m ON m.id = p.merchant_id"
        " WHERE p.id = payment_logs.payment_id)"
    )
    return literal_column(sql, _MERCHANTS.c[name].type).label(name)


_CALLBACK_URL = _merchant_column("callback_url")
_WEBHOOK_SECRET = _merchant_column("webhook_secret")
# The secret a rotation replaced, while it still signs (NULL after). The UPDATE sets the row's
# updated_at to now, and RETURNING reads the updated row: so this compares with now, on both
# backends, without a clock function of either.
_PREVIOUS_WEBHOOK_SECRET = _merchant_column(
    "previous_webhook_secret",
    "CASE WHEN m.previous_webhook_secret_until > payment_logs.updated_at"
    " THEN m.previous_webhook_secret END",
)


def _lease_statement(ours_to_take: ColumnElement[bool], joined: bool = False):
    """The lease's UPDATE ... RETURNING, with what the HTTP call needs. `joined` (PostgreSQL):
    the merchant's columns come from one join in UPDATE ... FROM instead of a correlated
    subquery per column, one lookup of the payment and its merchant where there were three."""
    # By primary key only. Naming event_type too would add nothing (only notification rows ever
    # hold the outbox statuses, PENDING, RETRYING and PROCESSING) but would match the partial
    # index ix_payment_logs_due's predicate, and a planner with stale statistics (a backlog
    # grown since the last ANALYZE) then walks that whole index instead of the primary key:
    # a cost growing with the backlog on every single lease.
    conditions = [LOGS.c.id == bindparam("log_id"), ours_to_take]
    merchant_columns = [_CALLBACK_URL, _WEBHOOK_SECRET, _PREVIOUS_WEBHOOK_SECRET]
    if joined:
        conditions += [
            _PAYMENTS.c.id == LOGS.c.payment_id,
            _MERCHANTS.c.id == _PAYMENTS.c.merchant_id,
        ]
        # RETURNING reads the updated row, so updated_at is now (see _PREVIOUS_WEBHOOK_SECRET).
        merchant_columns = [
            _MERCHANTS.c.callback_url,
            _MERCHANTS.c.webhook_secret,
            case(
                (
                    _MERCHANTS.c.previous_webhook_secret_until > LOGS.c.updated_at,
                    _MERCHANTS.c.previous_webhook_secret,
                )
            ).label("previous_webhook_secret"),
        ]
    return (
        update(LOGS)
        .where(*conditions)
        .values(
            status=LogStatus.PROCESSING,
            lease_token=bindparam("token"),
            lease_expires_at=bindparam("lease_end"),
            next_retry_at=bindparam("lease_end"),
            attempts=LOGS.c.attempts + 1,
            updated_at=bindparam("now"),
        )
        .returning(
            LOGS.c.id,
            LOGS.c.payment_id,
            LOGS.c.attempts,
            LOGS.c.webhook_id,
            LOGS.c.request_id,
            LOGS.c.payload,
            *merchant_columns,
        )
    )


# A sweep's token must still be the row's; the fast path may take a pending row, a retry that
# is due, or a row whose lease ran out.
_STILL_OURS = and_(LOGS.c.status == LogStatus.PROCESSING, LOGS.c.lease_token == bindparam("token"))
_TAKEABLE = or_(
    LOGS.c.status == LogStatus.PENDING,
    and_(LOGS.c.status == LogStatus.RETRYING, LOGS.c.next_retry_at <= bindparam("now")),
    and_(LOGS.c.status == LogStatus.PROCESSING, LOGS.c.lease_expires_at <= bindparam("now")),
)
RENEW_LEASE = _lease_statement(_STILL_OURS)
TAKE_DUE = _lease_statement(_TAKEABLE)
# The joined forms are PostgreSQL's, run on every delivery: prepared (payments/prepared.py).
RENEW_LEASE_JOINED = prepared(_lease_statement(_STILL_OURS, joined=True), "lease_renew")
TAKE_DUE_JOINED = prepared(_lease_statement(_TAKEABLE, joined=True), "lease_take")


def lease_statement(renew: bool, postgresql: bool):
    """The lease of one attempt: RENEW_LEASE (a sweep's token) or TAKE_DUE (the fast path), in
    the joined form where the backend can return columns of an UPDATE's FROM tables."""
    if postgresql:
        return RENEW_LEASE_JOINED if renew else TAKE_DUE_JOINED
    return RENEW_LEASE if renew else TAKE_DUE


DUE = (
    select(LOGS.c.id)
    .where(
        LOGS.c.event_type == NOTIFICATION,
        LOGS.c.status.in_(ACTIVE_LOG_STATUSES),
        LOGS.c.next_retry_at <= bindparam("now"),
    )
    .order_by(LOGS.c.next_retry_at)
    .limit(bindparam("limit"))
    .with_for_update(skip_locked=True)
)
LEASE = (
    update(LOGS)
    .where(LOGS.c.id.in_(bindparam("ids", expanding=True)))
    .values(
        status=LogStatus.PROCESSING,
        lease_token=bindparam("token"),
        lease_expires_at=bindparam("lease_end"),
        next_retry_at=bindparam("lease_end"),
        updated_at=bindparam("now"),
    )
)
DUE_NOW = (
    update(LOGS)
    .where(LOGS.c.id == bindparam("log_id"), LOGS.c.status == LogStatus.PENDING)
    .values(next_retry_at=bindparam("now"))
)
# Executed with a list of rows: SQLAlchemy's "insertmanyvalues" sends them as one statement.
# (A literal multi-row .values([...]) would be compiled afresh on every call: not cacheable.)
INSERT_LOGS = insert(LOGS).returning(LOGS.c.id, sort_by_parameter_order=True)
FINISH = prepared(
    update(LOGS)
    .where(
        LOGS.c.id == bindparam("log_id"),
        LOGS.c.status == LogStatus.PROCESSING,
        LOGS.c.lease_token == bindparam("token"),
    )
    .values(
        status=bindparam("status"),
        message=bindparam("message"),
        last_response_code=bindparam("response_code"),
        last_error=bindparam("error"),
        next_retry_at=bindparam("next_retry_at"),
        lease_token=None,
        lease_expires_at=None,
        updated_at=bindparam("now"),
    ),
    "attempt_outcome",
)
