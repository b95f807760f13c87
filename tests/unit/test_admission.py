"""One admission rule for all work (app/jobs/admission.py), against real Redis with no broker
consumer: a queue takes a job while fewer than `max_waiting` wait in it, counting the jobs on
their way in; past that the refusal says how many wait and when to try again."""

import pytest

from app.errors import Busy
from app.jobs.admission import Admission
from app.jobs.queue_depth import PRIORITY_SEPARATOR

QUEUE = "greenbar.runs"
RETRY_AFTER = 7


def waiting(store, count: int, queue: str = QUEUE) -> None:
    """Puts `count` messages in the queue's list, as kombu's Redis transport keeps them."""
    for n in range(count):
        store.rpush(queue, f"message {n}")


def test_a_job_is_admitted_while_fewer_than_the_maximum_wait(store):
    waiting(store, 2)
    with Admission(store, max_waiting=3, retry_after=RETRY_AFTER).admitted(QUEUE):
        assert int(store.get(f"greenbar:admitting:{QUEUE}")) == 1, "its place is reserved"


def test_at_the_maximum_a_job_is_refused_naming_the_queue_and_when_to_try_again(store):
    waiting(store, 3)
    with (
        pytest.raises(Busy, match=f"3 runs are waiting in {QUEUE}") as refused,
        Admission(store, max_waiting=3, retry_after=RETRY_AFTER).admitted(QUEUE, "runs"),
    ):
        pytest.fail("admitted past the maximum")
    assert refused.value.retry_after == RETRY_AFTER


def test_a_job_on_its_way_into_the_queue_holds_its_place(store):
    admission = Admission(store, max_waiting=2, retry_after=RETRY_AFTER)
    waiting(store, 1)
    with admission.admitted(QUEUE), pytest.raises(Busy), admission.admitted(QUEUE):
        pytest.fail("two places given when one was left")


def test_the_place_is_given_back_once_the_job_is_sent_or_failed_to_be(store):
    admission = Admission(store, max_waiting=1, retry_after=RETRY_AFTER)
    with admission.admitted(QUEUE):
        pass
    with pytest.raises(RuntimeError), admission.admitted(QUEUE):
        raise RuntimeError("the send failed")
    with admission.admitted(QUEUE):
        pass
    assert int(store.get(f"greenbar:admitting:{QUEUE}")) == 0


def test_messages_of_every_priority_count_as_waiting(store):
    waiting(store, 1)
    waiting(store, 1, f"{QUEUE}{PRIORITY_SEPARATOR}9")
    with (
        pytest.raises(Busy, match="2 jobs"),
        Admission(store, max_waiting=2, retry_after=RETRY_AFTER).admitted(QUEUE),
    ):
        pytest.fail("a priority list was not counted")


def test_other_queues_do_not_count(store):
    waiting(store, 5, "greenbar.colours")
    with Admission(store, max_waiting=1, retry_after=RETRY_AFTER).admitted(QUEUE):
        pass


def test_a_maximum_of_zero_admits_without_counting(store):
    waiting(store, 1000)
    with Admission(store, max_waiting=0, retry_after=RETRY_AFTER).admitted(QUEUE):
        pass
    assert store.get(f"greenbar:admitting:{QUEUE}") is None
