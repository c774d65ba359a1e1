"""The broker every service makes."""

from __future__ import annotations

from kpi_kit.broker import make_broker
from kpi_kit.settings import Settings


def test_the_broker_injects_nothing_per_message() -> None:
    # Subscribers take the message itself (kpi_kit.consuming); FastDepends would only cost CPU.
    broker = make_broker(Settings(service="probe"))
    assert broker.config.fd_config.use_fastdepends is False
