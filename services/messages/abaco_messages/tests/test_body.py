import pytest

from abaco_messages.body import check_rendered_size
from abaco_shared.errors import PayloadTooLarge


def test_json_messages_must_fit_the_environment_once_rendered():
    compact = [1] * 40_000  # about 80 KB as compact JSON, about 120 KB once rendered with spaces
    check_rendered_size(compact, "application/json", 130_000)
    with pytest.raises(PayloadTooLarge, match="renders to"):
        check_rendered_size(compact, "application/json", 100_000)
    check_rendered_size("x" * 200_000, "str", 100_000)  # strings are limited by the body size alone
