"""The public API: every name in agent_gym.__all__ resolves (lazy ones included)."""

import agent_gym


def test_every_public_name_resolves():
    missing = [name for name in agent_gym.__all__ if getattr(agent_gym, name, None) is None]
    assert missing == []


def test_unknown_attribute_is_an_attribute_error():
    try:
        agent_gym.no_such_thing  # noqa: B018
    except AttributeError as exc:
        assert "no_such_thing" in str(exc)
    else:
        raise AssertionError("expected AttributeError")
