"""Server-side prepared statements (payments/prepared.py) on the real PostgreSQL: a marked
statement is prepared once per connection, answers as the plain statement does, and survives
what a connection goes through (rollbacks, failed statements, a replaced connection)."""

import pytest
from sqlalchemy import bindparam, literal, select, text
from sqlalchemy.exc import IntegrityError

from payments.database import statement_by_statement
from payments.extensions import db
from payments.models import Payment
from payments.prepared import prepared, translate
from tests.conftest import TEST_WEBHOOK_SECRET
from tests.support.factories import make_payment
from tests.support.reports import post_report

_PAYMENTS = Payment.__table__
_BY_ID = select(_PAYMENTS.c.id, _PAYMENTS.c.order_id, _PAYMENTS.c.amount).where(
    _PAYMENTS.c.id == bindparam("payment_id")
)
_PREPARED_BY_ID = prepared(_BY_ID, "test_by_id")


def _prepared_here(connection) -> list[str]:
    return (
        connection.execute(
            text("SELECT name FROM pg_prepared_statements WHERE name LIKE 'payments_test%'")
        )
        .scalars()
        .all()
    )


def test_the_translation_numbers_each_parameter_once_in_order_of_appearance():
    sql = "SELECT %(b)s::BIGINT, %(a)s, %(b)s, '50%%' WHERE x LIKE 'a%%'"
    translation = translate("unit", sql)
    assert translation.prepare == (
        f"PREPARE {translation.name} AS SELECT $1::BIGINT, $2, $1, '50%' WHERE x LIKE 'a%'"
    )
    assert translation.execute == f"EXECUTE {translation.name}(%(b)s, %(a)s)"
    no_values = translate("unit", "SELECT 1")
    assert no_values.execute == f"EXECUTE {no_values.name}"
    assert no_values.name != translate("unit", "SELECT 2").name  # one name per SQL text


@pytest.mark.parametrize("name", ["", "Upper", "semi;colon", "x" * 41])
def test_a_prepared_statement_name_is_plain_lowercase(name):
    with pytest.raises(ValueError, match="lowercase letters"):
        prepared(_BY_ID, name)


def test_a_marked_statement_is_prepared_once_per_connection_and_answers_as_the_plain_one(app, demo):
    with app.app_context():
        ids = [make_payment(demo.merchants[0].id, order, amount="12.34").id for order in (1, 2)]
        with statement_by_statement(db.engine) as connection:
            plain = [connection.execute(_BY_ID, {"payment_id": i}).one() for i in ids]
            first = [connection.execute(_PREPARED_BY_ID, {"payment_id": i}).one() for i in ids]
            again = [connection.execute(_PREPARED_BY_ID, {"payment_id": i}).one() for i in ids]
            names = _prepared_here(connection)
    assert first == plain
    assert again == plain
    assert plain[0].order_id == 1
    assert str(plain[0].amount) == "12.34000000"
    assert len(names) == 1
    assert names[0].startswith("payments_test_by_id_")


def test_a_literal_percent_sign_reaches_postgresql_as_one(app):
    statement = prepared(select(literal("50%"), text("'a%b' LIKE 'a%%'")), "test_percent")
    # literal() is a parameter; the LIKE's '%%' is psycopg2's escape of one percent sign.
    with app.app_context(), statement_by_statement(db.engine) as connection:
        row = connection.execute(statement).one()
    assert tuple(row) == ("50%", True)


def test_the_prepared_statement_outlives_a_rollback_and_a_failed_statement(app, demo):
    with app.app_context():
        payment = make_payment(demo.merchants[0].id, 7)
        payment_id = payment.id
        second_open_payment = _PAYMENTS.insert().values(  # of order 7: the unique index refuses
            merchant_id=payment.merchant_id,
            user_subscription_id=payment.user_subscription_id,
            provider_id=payment.provider_id,
            order_id=7,
            amount=1,
            price=1,
            currency="USD",
            status="PAYMENT_PENDING",
        )
        db.session.rollback()
        with db.engine.connect() as connection:
            with connection.begin() as transaction:  # prepared inside a transaction ...
                assert connection.execute(_PREPARED_BY_ID, {"payment_id": payment_id}).one()
                transaction.rollback()  # ... that rolls back: PREPARE is not transactional
            with connection.begin():  # a transaction that fails after the prepared statement
                connection.execute(_PREPARED_BY_ID, {"payment_id": payment_id}).one()
                with pytest.raises(IntegrityError):
                    connection.execute(second_open_payment)
            with connection.begin():
                row = connection.execute(_PREPARED_BY_ID, {"payment_id": payment_id}).one()
                names = _prepared_here(connection)
    assert row.order_id == 7
    assert len(names) == 1


def test_a_replaced_connection_prepares_the_statement_again(app, demo):
    with app.app_context():
        payment_id = make_payment(demo.merchants[0].id, 9).id
        with statement_by_statement(db.engine) as connection:
            connection.execute(_PREPARED_BY_ID, {"payment_id": payment_id}).one()
            first_backend = connection.execute(text("SELECT pg_backend_pid()")).scalar()
            connection.invalidate()  # as after a dropped connection: the next one is new
        with statement_by_statement(db.engine) as connection:
            row = connection.execute(_PREPARED_BY_ID, {"payment_id": payment_id}).one()
            backend = connection.execute(text("SELECT pg_backend_pid()")).scalar()
            names = _prepared_here(connection)
    assert backend != first_backend
    assert row.order_id == 9
    assert len(names) == 1


def test_the_provider_report_runs_its_two_statements_prepared(app, demo, client):
    """The webhook's read and write are marked: the connection that served the report holds
    both (the plan tests pin their generic plans to the primary key)."""
    with app.app_context():
        payment_id = make_payment(demo.merchants[0].id, 11).id
        db.session.remove()
        db.engine.dispose()  # from here on the pool holds the connection the report used
    assert post_report(client, TEST_WEBHOOK_SECRET, payment_id, "finished").status_code == 200
    with app.app_context(), db.engine.connect() as connection:
        names = connection.execute(text("SELECT name FROM pg_prepared_statements")).scalars()
        labels = sorted(name.rsplit("_", 1)[0] for name in names)
    assert labels == ["payments_report_read", "payments_report_write"]


def test_db_prepared_statements_false_sends_marked_statements_as_plain_text(settings_env, demo):
    """The switch for a pooler that does not keep a session's prepared statements."""
    from payments import create_app
    from payments.config import load_settings

    plain_app = create_app(
        load_settings(env_file=None, **settings_env, DB_PREPARED_STATEMENTS="false")
    )
    with plain_app.app_context():
        try:
            payment_id = make_payment(demo.merchants[0].id, 13).id
            with statement_by_statement(db.engine) as connection:
                row = connection.execute(_PREPARED_BY_ID, {"payment_id": payment_id}).one()
                names = _prepared_here(connection)
        finally:
            db.session.remove()
            db.engine.dispose()
    assert row.order_id == 13
    assert names == []
