"""The chapter tooling (scripts/chapters_lib.py, book_pages.py, run_chapters.py, regenerate_data.py) on tiny
generated notebooks: one passes, one fails; times are recorded and merged; pages are generated from the records
and the workshop plan; bad input fails clearly and changes nothing."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "scripts"))
import book_pages as bp  # noqa: E402
import chapters_lib as cl  # noqa: E402
import regenerate_data  # noqa: E402
import run_chapters as rc  # noqa: E402


def _notebook(path: Path, *cells: str, title: str = "# Tiny", ids: str = "") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell(title)] + [nbformat.v4.new_code_cell(c) for c in cells]
    for i, cell in enumerate(nb.cells):
        cell.id = f"{ids or path.stem.replace('_', '-')}-{i}"
        if ids and i == 2:
            cell.metadata["tags"] = [cl.LIVE_TAG]
    nbformat.write(nb, path)
    return path


@pytest.fixture
def folder(tmp_path):
    _notebook(tmp_path / "01_ok.ipynb", "import os\nassert os.environ['L2O_QUICK'] == '1'", "x = 2 + 2", ids="ok",
              title="# 1. Passing\n\n**Prerequisites:** none. More text.\n\n```{exercise} Add\n:label: ch1-ex1\n"
                    "**Recommended in the workshop** · 5 min · easy\n\nAdd.\n```\n"
                    "```{solution} ch1-ex1\n:class: dropdown\n4\n```")
    _notebook(tmp_path / "02_bad.ipynb", "y = 1", "raise RuntimeError('boom in cell two')", "z = 3", title="# 2. Failing")
    return tmp_path


def test_runs_records_merges_and_reports(folder, tmp_path, capsys):
    js = tmp_path / "times.json"
    other = {"schema": cl.SCHEMA, "runs": {"full/gpu": {"mode": "full", "kind": "gpu", "device": {"kind": "gpu"},
                                                        "notebooks": {"01_ok.ipynb": {"ok": True, "seconds": 9.0}}}}}
    js.write_text(json.dumps(other))
    report = tmp_path / "report.md"
    code = rc.main(["--quick", "--folder", str(folder), "--json", str(js), "--report", str(report), "--timeout", "60"])
    assert code == 1  # a notebook failed: non-zero exit, as the weekly workflow expects

    data = json.loads(js.read_text())
    assert data["runs"]["full/gpu"]["notebooks"]["01_ok.ipynb"]["seconds"] == 9.0  # the other mode/device is kept
    key = f"quick/{cl.describe_device()['kind']}"
    run = data["runs"][key]
    ok, bad = run["notebooks"]["01_ok.ipynb"], run["notebooks"]["02_bad.ipynb"]
    assert ok["ok"] and ok["error"] is None and 0 < ok["seconds"] < 60
    assert ok["slowest_cell"]["cell"] in (1, 2)
    assert not bad["ok"] and bad["cell"] == 2 and "RuntimeError: boom in cell two" in bad["error"]
    assert run["device"]["cpu_count"] >= 1 and run["device"]["cpu"] and run["device"]["python"]

    text = report.read_text()
    assert "1 of 2 notebooks failed: 02_bad.ipynb" in text and "boom in cell two" in text

    # a second run of only the passing notebook keeps the failing notebook's record
    assert rc.main(["--quick", "01", "--folder", str(folder), "--json", str(js), "--timeout", "60"]) == 0
    again = json.loads(js.read_text())["runs"][key]["notebooks"]
    assert set(again) == {"01_ok.ipynb", "02_bad.ipynb"} and not again["02_bad.ipynb"]["ok"]


PLAN = """
reading_words_per_minute: 200
live_cell_minutes: 3
install_minutes: 2
plans:
  - id: short
    title: A short session
    length: 40
    summary: Two chapters and one to come.
    slots:
      - {activity: Welcome, minutes: 5}
      - {chapter: "01", minutes: 20, exercises: 5, format: hands-on}
      - {chapter: "02", minutes: 10, format: demo}
      - {chapter: "03", title: Future chapter, minutes: 5, format: demo}
chapters:
  "01":
    live:
      - {cell: ok-2, say: "Four, as promised."}
    questions: ["Why four?", "Why not five?"]
"""


def _with_plan(folder: Path, text: str = PLAN) -> Path:
    (folder / "workshop_plan.yml").write_text(text)
    return folder / "workshop_plan.yml"


def test_pages_are_generated_from_the_records(folder, tmp_path):
    plan = _with_plan(folder)
    records = cl.merge(cl.empty_records(), "quick", {"kind": "cpu", "cpu": "Test CPU", "cores": 2},
                       {"01_ok.ipynb": {"ok": True, "seconds": 12.3, "cell": None, "error": None,
                                        "slowest_cell": {"cell": 1, "seconds": 70.0, "source": "import os"}}})
    out = tmp_path / "gen"
    bp.write_pages(records, folder, out, plan)
    times = (out / "run_times.md").read_text()
    assert "| {doc}`1. Passing </chapters/01_ok>` | none | 12 s |" in times and "Test CPU, 2 cores" in times
    assert "not measured" in times  # 02_bad has no record
    assert "Not recorded yet: CPU full mode, GPU." in times and "GPU (" not in times.split("\n")[1]
    cl.merge(records, "full", {"kind": "gpu", "cuda": "Test GPU", "cpu": "Host", "cpu_count": 8},
             {"01_ok.ipynb": {"ok": True, "seconds": 4.0}})
    bp.write_pages(records, folder, out, plan)
    times = (out / "run_times.md").read_text()
    assert "| CPU, quick mode | GPU (full mode) |" in times and "| 12 s | 4 s |" in times
    assert "Test GPU (host: Host, 8 cores)" in times
    ex = (out / "exercises.md").read_text()
    assert "`ch1-ex1`" in ex and "dropdown below {ref}`ch1-ex1`" in ex

    words = cl.notebook_info(folder / "01_ok.ipynb")["words"]
    assert words == cl.prose_words([nbformat.read(folder / "01_ok.ipynb", 4).cells[0].source]) > 0
    short = (out / "workshop_short.md").read_text()
    assert "| 0:00–0:05 | 5 | Welcome | – | – | – | – | – |" in short
    assert ("| 0:05–0:25 | 20 | {doc}`1. Passing </chapters/01_ok>` | hands-on: 10 + 3 ({ref}`1 <presenter-01-ok>` × 3) "
            "+ 5 + 2 | {ref}`Exercise 1.1 <ch1-ex1>` (5 min, easy) "
            '| <a href="../downloads/slides/short-01.html">slides</a> | 1 min | 12 s |') in short
    assert ("| 0:25–0:35 | 10 | {doc}`2. Failing </chapters/02_bad>` | demo: 10 + 0 (**0** × 3) + 0 + 0 | – | – | 1 min "
            "| not measured |") in short
    assert "| 0:35–0:40 | 5 | 3. Future chapter (not in the book yet) |" in short
    assert "Planned, not in the book yet: chapter 3 (Future chapter)." in short
    assert ("**Minutes:** 30 min talk + 3 min live cells (1 × 3 min) + 5 min exercises + 2 min Colab installs "
            "(1 notebook × 2 min) + 0 min breaks = **40 min** of 40. Every slot fits.") in short
    assert "Every chapter's prose can be read within its slot's talk and live cells." in short

    presenter = (out / "presenter.md").read_text()
    assert "(presenter-01-ok)=\n## 1. Passing" in presenter and "warning" not in presenter
    assert "1. **cell 2** `x = 2 + 2` — Four, as promised." in presenter
    assert "- Why four?\n- Why not five?" in presenter and "- A short session: 0:05–0:25, hands-on (5 min exercises)" in presenter
    assert "*No live cells tagged in this notebook yet.*" in presenter.split("## 2. Failing")[1]
    assert "*Slowest cell in the recorded quick-mode run: cell 1 (`import os`): 70 s.*" in presenter


def test_a_chapter_that_takes_longer_to_read_than_its_talk_is_named(folder):
    text = PLAN.replace("reading_words_per_minute: 200", "reading_words_per_minute: 1").replace("exercises: 5", "exercises: 19")
    agenda = bp.load_plan(_with_plan(folder, text))
    infos = [cl.notebook_info(p) for p in cl.notebooks(folder)]
    words = infos[0]["words"]
    assert words > 1  # chapter 1's prose at one word a minute outlasts its 1 min of talk; chapter 2 has two words
    page = bp.plan_table(agenda["plans"][0], agenda, cl.empty_records(), infos)
    assert f"| {words} min |" in page and "| 2 min |" in page
    assert "The prose of chapter 1 takes longer to read than its slot's talk" in page


def test_a_plan_that_does_not_fit_says_where(folder):
    tight = PLAN.replace("{chapter: \"01\", minutes: 20, exercises: 5", "{chapter: \"01\", minutes: 9, exercises: 5") \
        .replace("{activity: Welcome, minutes: 5}", "{activity: Welcome, minutes: 16}")
    agenda = bp.load_plan(_with_plan(folder, tight))
    infos = [cl.notebook_info(p) for p in cl.notebooks(folder)]
    totals, problems = bp.plan_budget(agenda["plans"][0], agenda, infos)
    assert problems == ["chapter 1: 1 live cells (3 min), 5 min of exercises and 2 min of install exceed the slot's 9 min"]
    assert totals["talk"] == 16 - 1 + 10 + 5 and totals["total"] == 40
    slow = PLAN.replace("· 5 min · easy", "· 8 min · easy")
    _notebook(folder / "01_ok.ipynb", "x = 1", "x = 2 + 2", ids="ok",
              title="# 1. Passing\n\n```{exercise} Add\n:label: ch1-ex1\n**Recommended in the workshop** · 8 min · hard\n\n"
                    "Add.\n```\n```{solution} ch1-ex1\n:class: dropdown\n4\n```")
    infos = [cl.notebook_info(p) for p in cl.notebooks(folder)]
    assert infos[0]["exercises"][0]["recommended"] == {"minutes": 8, "difficulty": "hard"}
    agenda = bp.load_plan(_with_plan(folder, slow))
    assert bp.plan_budget(agenda["plans"][0], agenda, infos)[1] == ["chapter 1: Exercise 1.1 needs 8 min, the slot gives 5"]
    agenda["plans"][0]["slots"][2]["format"] = "hands-on"  # chapter 2 has no recommended exercise
    assert "chapter 2: hands-on, but no exercise is marked recommended" in bp.plan_budget(agenda["plans"][0], agenda, infos)[1]


def test_the_book_plans_fit_and_the_control_plan_reaches_chapters_8_and_9():
    agenda = bp.load_plan()
    infos = [cl.notebook_info(p) for p in cl.notebooks()]
    for plan in agenda["plans"]:
        totals, problems = bp.plan_budget(plan, agenda, infos)
        assert problems == [], f"plan {plan['id']}: {problems}"
        assert totals["total"] == plan["length"] and totals["installs"] == totals["notebooks"] * agenda["install_minutes"]
        for slot in plan["slots"]:
            if slot.get("format") == "hands-on":
                assert slot["exercises"] >= 10, f"plan {plan['id']}, chapter {slot['chapter']}: too few exercise minutes"
    control = next(p for p in agenda["plans"] if p["id"] == "control")
    order = [s.get("chapter") or s.get("page") for s in control["slots"]]
    assert control["length"] == 180 and order.index("kkt_primer") < order.index("08") < order.index("09")
    assert {s["chapter"] for s in control["slots"] if s.get("format") == "hands-on"} == {"01", "02", "04", "08", "09"}
    for slot in control["slots"]:
        page = slot.get("page")
        assert page is None or (cl.CHAPTERS / f"{page}.md").is_file(), f"the control plan names a missing page {page}"


def test_the_landing_page_lists_every_chapter_from_the_notebooks(folder, tmp_path):
    _notebook(folder / "11_new.ipynb", "pass", title="# 11. A new chapter\n\n**Promise.** It does a new thing. Well.")
    page = bp.chapter_list([cl.notebook_info(p) for p in cl.notebooks(folder)])
    assert page.splitlines()[-1] == "- {doc}`11. A new chapter </chapters/11_new>` — It does a new thing. Well."
    book = (bp.GENERATED / "chapters.md").read_text()
    for path in cl.notebooks(chapters_only=True):
        assert f"</chapters/{path.stem}>`" in book, f"the landing page's list lacks {path.name}"
    assert "{include} _generated/chapters.md" in (cl.CHAPTERS / "index.md").read_text()
    prereq = cl.notebook_info(cl.CHAPTERS / "09_closed_loop_mpc.ipynb")["prerequisites"]
    assert prereq.count("(") == prereq.count(")"), f"the prerequisites are cut inside parentheses: {prereq!r}"


def test_live_outputs_are_recorded_and_a_changed_cell_is_stale(folder, tmp_path):
    agenda = bp.load_plan(_with_plan(folder))
    path = folder / "01_ok.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells[2].source = "print(2 + 2)"
    nbformat.write(nb, path)
    js, live = tmp_path / "times.json", tmp_path / "live.json"
    assert rc.main(["--quick", "01", "--folder", str(folder), "--json", str(js), "--live-json", str(live),
                    "--timeout", "60"]) == 0
    outputs = cl.load_live(live)
    rec = outputs["notebooks"]["01_ok.ipynb"]["cells"]["ok-2"]
    assert rec["text"] == ["4"] and rec["figures"] == 0
    infos = [cl.notebook_info(p) for p in cl.notebooks(folder)]
    assert bp.live_output_problems(infos, outputs, agenda) == []
    view = bp.presenter_view(agenda, cl.empty_records(), infos, {}, outputs)
    assert "*Expected in quick mode:* no figure; it prints:" in view and "   4" in view
    nb.cells[2].source = "print(2 + 3)"
    nbformat.write(nb, path)
    infos = [cl.notebook_info(p) for p in cl.notebooks(folder)]
    assert bp.live_output_problems(infos, outputs, agenda) == ["01_ok.ipynb: cell ok-2 changed since its output was recorded"]
    assert "is stale" in bp.presenter_view(agenda, cl.empty_records(), infos, {}, outputs)
    before = js.read_text()
    assert rc.main(["--quick", "01", "--keep-times", "--folder", str(folder), "--json", str(js), "--live-json",
                    str(live), "--timeout", "60"]) == 0
    assert js.read_text() == before and cl.load_live(live)["notebooks"]["01_ok.ipynb"]["cells"]["ok-2"]["text"] == ["5"]


def test_the_book_records_the_output_of_every_live_cell():
    agenda = bp.load_plan()
    infos = [cl.notebook_info(p) for p in cl.notebooks()]
    problems = bp.live_output_problems(infos, cl.load_live(), agenda)
    assert problems == [], f"{problems}: run python scripts/run_chapters.py --quick (--keep-times on a busy machine)"


def test_plan_and_tags_that_disagree_are_reported(folder, tmp_path):
    plan = bp.load_plan(_with_plan(folder, PLAN.replace("cell: ok-2", "cell: ok-1")))
    infos = [cl.notebook_info(p) for p in cl.notebooks(folder)]
    assert bp.live_cell_problems(plan, infos) == [
        "01_ok.ipynb: cell ok-1 is planned live but not tagged",
        "01_ok.ipynb: cell ok-2 is tagged workshop-live but has nothing to say in the plan"]
    assert "```{warning}" in bp.presenter_view(plan, cl.empty_records(), infos, {})


@pytest.mark.parametrize("change,message", [
    (("length: 40", "length: 45"), "add up to 40 minutes, the plan's length is 45"),
    (("exercises: 5", "exercises: 20"), "'exercises' must be whole minutes below the slot's 20"),
    (("format: demo}", "format: lecture}"), "'format' must be one of"),
    (("{activity: Welcome,", "{activity: Welcome, chapter: '01',"), "exactly one of 'chapter' or 'activity'"),
    (("minutes: 5}", "minutes: five}"), "'minutes' must be a positive whole number"),
    (("reading_words_per_minute: 200", "reading_words_per_minute: 0"), "reading_words_per_minute must be"),
    (('{cell: ok-2, say: "Four, as promised."}', "{cell: ok-2}"), "non-empty 'say'"),
    (("plans:", "plans: ["), "not valid YAML"),
])
def test_bad_plans_are_refused_with_the_reason(folder, change, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace("'", "'")):
        bp.load_plan(_with_plan(folder, PLAN.replace(*change, 1)))
    with pytest.raises(FileNotFoundError, match="workshop plan"):
        bp.load_plan(folder / "nothing.yml")


def test_pages_only_with_a_missing_or_bad_json_fails_and_writes_nothing(folder, tmp_path, capsys):
    _with_plan(folder)
    gen = folder / "_generated"
    gen.mkdir()
    (gen / "run_times.md").write_text("the recorded table\n")
    assert rc.main(["--pages-only", "--folder", str(folder), "--json", "/nonexistent/x.json"]) == 2
    assert "run-times file /nonexistent/x.json does not exist" in capsys.readouterr().err
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert rc.main(["--pages-only", "--folder", str(folder), "--json", str(bad)]) == 2
    assert "bad.json: not valid JSON" in capsys.readouterr().err
    bad.write_text(json.dumps({"schema": "other/1", "runs": {}}))
    assert rc.main(["--pages-only", "--folder", str(folder), "--json", str(bad)]) == 2
    assert "schema 'other/1'" in capsys.readouterr().err
    assert [p.name for p in gen.iterdir()] == ["run_times.md"] and (gen / "run_times.md").read_text() == "the recorded table\n"
    good = tmp_path / "good.json"
    cl.save_records(cl.empty_records(), good)
    assert rc.main(["--pages-only", "--folder", str(folder), "--json", str(good)]) == 0
    assert "No run recorded yet" in (gen / "run_times.md").read_text()


def test_an_empty_prefix_selects_nothing(capsys):
    assert regenerate_data.main([""]) == 2
    assert "empty notebook prefix ''" in capsys.readouterr().err
    assert regenerate_data.main(["02", " "]) == 2
    assert rc.main(["--quick", "", "--no-record"]) == 2
    with pytest.raises(ValueError, match="no chapter in .* matches"):
        cl.notebooks(ROOT / "chapters", ["scorecard"], chapters_only=True)
    assert regenerate_data.main(["--list", "07"]) == 0
    assert capsys.readouterr().out.startswith("07_huanet.ipynb: ch7_huanet_entropy, ch7_huanet_qp")


def test_discovery_finds_new_chapters_by_file_name(folder):
    _notebook(folder / "08_new.ipynb", "pass", title="# 8. A new chapter")
    _notebook(folder / "scorecard.ipynb", "pass", title="# Scorecard")
    (folder / "notes.ipynb").write_text((folder / "08_new.ipynb").read_text())
    assert [p.name for p in cl.notebooks(folder)] == ["01_ok.ipynb", "02_bad.ipynb", "08_new.ipynb", "scorecard.ipynb"]
    assert [p.name for p in cl.notebooks(folder, chapters_only=True)][-1] == "08_new.ipynb"
    assert [p.name for p in cl.notebooks(folder, ["08", "02"])] == ["02_bad.ipynb", "08_new.ipynb"]


def test_sync_live_tags_changes_only_the_tags(folder):
    path = folder / "01_ok.ipynb"
    nb = nbformat.read(path, 4)
    nb.cells[1].metadata["tags"] = ["remove-output", cl.LIVE_TAG]
    nbformat.write(nb, path)
    before = nbformat.read(path, 4)
    plan = bp.load_plan(_with_plan(folder))
    assert cl.sync_live_tags(plan, folder) == [path]
    after = nbformat.read(path, 4)
    assert after.cells[1].metadata["tags"] == ["remove-output"] and after.cells[2].metadata["tags"] == [cl.LIVE_TAG]
    assert [c.source for c in after.cells] == [c.source for c in before.cells]
    assert cl.sync_live_tags(plan, folder) == []  # idempotent
    with pytest.raises(ValueError, match=r"01_ok.ipynb: the workshop plan names cells \['ok-9'\]"):
        cl.sync_live_tags(bp.load_plan(_with_plan(folder, PLAN.replace("ok-2", "ok-9"))), folder)


def test_the_book_plan_agrees_with_the_notebooks_and_the_pages_are_current(tmp_path):
    plan = bp.load_plan()
    infos = [cl.notebook_info(p) for p in cl.notebooks()]
    assert bp.live_cell_problems(plan, infos) == []
    for prefix, entry in plan["chapters"].items():
        assert 3 <= len(entry["live"]) <= 5, f"chapter {prefix}: {len(entry['live'])} live cells"
        assert 2 <= len(entry["questions"]) <= 3, f"chapter {prefix}: {len(entry['questions'])} questions"
    three = next(p for p in plan["plans"] if p["id"] == "three-hour")
    core = [s for s in three["slots"] if s.get("format") == "hands-on"]
    assert three["length"] == 180 and len(core) >= 4 and all(s["exercises"] == 10 for s in core)
    assert {"08", "09"} <= {s.get("chapter") for p in plan["plans"] for s in p["slots"]}
    out = tmp_path / "gen"
    bp.write_pages(cl.load_records(must_exist=True), out=out)
    stale = [p.name for p in sorted(out.iterdir()) if p.read_text() != (bp.GENERATED / p.name).read_text()]
    assert not stale, f"chapters/_generated/{stale} are stale: run python scripts/run_chapters.py --pages-only"


def test_describe_device_builds_on_the_scorecard_environment():
    from l2o_lib.scorecard import environment

    dev = cl.describe_device()
    assert set(environment()) <= set(dev) and dev["kind"] in ("cpu", "gpu") and dev["cpu"]
    assert cl.device_line(dev).endswith(f"{dev['cpu_count']} cores" + (")" if dev["kind"] == "gpu" else ""))


def test_bad_input():
    with pytest.raises(ValueError, match="mode must be"):
        cl.merge(cl.empty_records(), "fast", {"kind": "cpu"}, {})
    with pytest.raises(ValueError, match="no notebook"):
        cl.notebooks(ROOT / "chapters", ["99_nothing"])
