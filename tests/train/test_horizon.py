import pytest

from agent_gym.errors import ConfigError
from agent_gym.train.horizon import AdaptiveHorizon, FixedHorizon, StepwiseHorizon, as_schedule


def test_fixed():
    assert [FixedHorizon(5).max_turns(s) for s in (0, 100)] == [5, 5]


def test_stepwise_is_the_scaling_inter_rl_schedule():
    schedule = StepwiseHorizon([10, 20, 30], every=100)
    assert [schedule.max_turns(s) for s in (0, 99, 100, 199, 200, 10_000)] == [10, 10, 20, 20, 30, 30]


def test_adaptive_grows_after_a_window_of_success():
    schedule = AdaptiveHorizon(start=2, step=2, maximum=5, threshold=0.5, window=2)
    seen = []
    for step, success in enumerate([0.0, 0.4, 0.6, 0.6, 0.9, 1.0, 1.0, 1.0]):
        seen.append(schedule.max_turns(step))
        schedule.observe(step, success)
    assert seen == [2, 2, 2, 4, 4, 5, 5, 5]


def test_as_schedule_and_validation():
    assert isinstance(as_schedule(4), FixedHorizon) and as_schedule([1, 2], every=3).max_turns(3) == 2
    assert as_schedule(None).max_turns(0) == 10
    for bad in (lambda: FixedHorizon(0), lambda: StepwiseHorizon([], 1), lambda: StepwiseHorizon([1], 0),
                lambda: AdaptiveHorizon(5, 1, 3), lambda: AdaptiveHorizon(1, 1, 3, threshold=2), lambda: as_schedule("x")):
        with pytest.raises(ConfigError):
            bad()
