"""The retry schedule: each step with ±10 % jitter, then none (the delivery has failed)."""

from datetime import timedelta

from supplychain.outbound.worker import retry_delay

SCHEDULE = (10, 60, 300)


def test_each_step_with_jitter_then_none():
    for attempts, base in enumerate(SCHEDULE, start=1):
        for _ in range(50):
            delay = retry_delay(SCHEDULE, attempts)
            assert delay is not None
            assert timedelta(seconds=base * 0.9) <= delay <= timedelta(seconds=base * 1.1)
    assert retry_delay(SCHEDULE, len(SCHEDULE) + 1) is None


def test_jitter_spreads_the_retries():
    delays = {retry_delay(SCHEDULE, 2) for _ in range(20)}
    assert len(delays) > 10
