import pytest

from payments.domain.statuses import PaymentStatus, ProviderReport
from payments.domain.transitions import (
    Transition,
    classify_transition,
    notification_type,
    status_for_report,
)

FINAL = [PaymentStatus.FINISHED, PaymentStatus.FAILED, PaymentStatus.EXPIRED]


@pytest.mark.parametrize("target", FINAL)
def test_pending_may_reach_every_final_status(target):
    assert classify_transition(PaymentStatus.PENDING, target) is Transition.APPLY


@pytest.mark.parametrize("status", FINAL)
def test_same_final_status_again_is_already_done(status):
    assert classify_transition(status, status) is Transition.ALREADY_DONE


@pytest.mark.parametrize("current", FINAL)
@pytest.mark.parametrize("target", FINAL)
def test_a_final_status_never_changes(current, target):
    if current is not target:
        assert classify_transition(current, target) is Transition.CONFLICT


def test_pending_is_not_a_target():
    with pytest.raises(ValueError, match="not a final status"):
        classify_transition(PaymentStatus.PENDING, PaymentStatus.PENDING)


def test_reports_and_notification_types():
    assert status_for_report(ProviderReport("finished")) is PaymentStatus.FINISHED
    assert status_for_report(ProviderReport("expired")) is PaymentStatus.EXPIRED
    assert notification_type(PaymentStatus.FAILED) == "payment.failed"
    with pytest.raises(ValueError, match="processing"):
        ProviderReport("processing")
