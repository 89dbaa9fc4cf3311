"""Every case of ``tests/bad_input_cases.py`` is handled: the named error with a message naming the problem, or
the right answer where a wrong one used to come back silently (``scripts/replay_bad_inputs.py`` counts them)."""

import pytest
from bad_input_cases import CASES, outcome
from control_bad_inputs import CONTROL_CASES

pytest.importorskip("torch")


@pytest.mark.parametrize("case", CASES + CONTROL_CASES, ids=[c.id for c in CASES + CONTROL_CASES])
def test_case_is_handled(case, tmp_path):
    ok, what = outcome(case, tmp_path)
    assert ok, f"{case.id}: {what}"
