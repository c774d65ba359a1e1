"""Which events of a batch to apply: new to the inbox, and only their first copy in the batch."""

import uuid

from kpi_kit.consuming import first_copies


def test_only_the_first_copy_of_a_new_event_is_applied() -> None:
    new, seen = uuid.uuid4(), uuid.uuid4()
    assert first_copies([new, seen, new], {new}) == [True, False, False]
