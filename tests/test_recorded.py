"""Generated tables of recorded figures: they show exactly what the model cards and run_times.json hold."""

import pytest

from l2o_lib import pretrained, recorded


def test_headline_table_shows_the_cards_figures():
    table = recorded.headline_table(["ch2_supervised_dc3_qp", "ch4_dc3_qp"])
    lines = table.splitlines()
    assert lines[0].startswith("| model | method | n | gap %")
    sup = pretrained.card("ch2_supervised_dc3_qp").headline
    row = next(line for line in lines if "`ch2_supervised_dc3_qp`" in line)
    assert f"{sup['gap_mean']:.3g} / {sup['gap_max']:.3g}" in row and "| 1000 |" in row
    # a card recording several rows (the best pipeline and the paper's variant) gives one line each
    rows = recorded.headline_rows("ch4_dc3_qp")
    assert sum("`ch4_dc3_qp`" in line for line in lines) == len(rows) == 2
    assert rows[0]["gap_mean"] < rows[1]["gap_mean"] and "paper" in rows[1]["method"]


def test_recorded_run_reads_run_times():
    run = recorded.recorded_run("02_supervised_vs_self_supervised.ipynb", "full")
    assert run is not None and run["seconds"] > 0 and run["date"].startswith("20")
    assert recorded.recorded_run("no_such_notebook.ipynb") is None


def test_unknown_model_is_refused():
    with pytest.raises(KeyError):
        recorded.headline_table(["no_such_model"])
