"""Queues whose calls cost what they return (moto_server.py, point 5)."""

from moto.sqs import models as sqs_models
from moto.sqs.models import Queue

from .counters import STATS


# --- queues --------------------------------------------------------------------
# A message is visible once now > visible_at, and delayed while now < delayed_until
# (moto's Message.visible and Message.delayed, read with one clock reading).
# moto reads the clock through its module's `unix_time_millis`, so counting
# there counts its readings and these alike.

_unix_time_millis = sqs_models.unix_time_millis


def _counted_clock(*args, **kwargs):
    STATS["sqs_clock_readings"] += 1
    return _unix_time_millis(*args, **kwargs)


sqs_models.unix_time_millis = _counted_clock


def _ready(self):
    now = sqs_models.unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _count_ready(self):
    return len(_ready(self))


def _count_not_visible(self):
    now = sqs_models.unix_time_millis()
    return sum(1 for m in self._messages if not now > m.visible_at)


def _count_delayed(self):
    now = sqs_models.unix_time_millis()
    return sum(1 for m in self._messages if now < m.delayed_until)


Queue.messages = property(_ready)
Queue.approximate_number_of_messages = property(_count_ready)
Queue.approximate_number_of_messages_not_visible = property(_count_not_visible)
Queue.approximate_number_of_messages_delayed = property(_count_delayed)
