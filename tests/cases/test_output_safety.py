"""No user file is ever removed: output folders carry a manifest and only what it lists is
replaced; --restart, .partial folders and `plot` refuse what is not theirs. Serially and on 2
ranks (in-process ``main``, one shared folder)."""

from __future__ import annotations

import json
import os

from mpi4py import MPI

import pytest

from batteryfx.cli import main
from batteryfx.output import MANIFEST
from tests.helpers import expect_one_error

comm = MPI.COMM_WORLD
FAST = ["--no-figures", "-q", "--set", 'time.end="20 us"', "--set",
        'outputs.field_times=["1 us"]', "--set", 'figures.times=["1 us"]']


def on0(fn, *args):
    """Run a file-system step on rank 0 once every rank got here (a rank may still be reading
    what the step changes), then synchronise."""
    comm.Barrier()
    if comm.rank == 0:
        fn(*args)
    comm.Barrier()


def write(path, text="precious"):
    def go():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    on0(go)


def tree(folder):
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*"))


@pytest.mark.mpi
def test_project_folder_with_a_resolved_case_is_never_replaced(reduced_coupon, shared_tmp,
                                                               capfd, monkeypatch):
    """Reproducer: `cd proj; batteryfx run case.resolved.toml --out .` deleted proj/thesis.tex
    and proj/data/. Now: refused (cwd, folder of the case, no manifest), nothing touched."""
    proj = shared_tmp / "proj"
    write(proj / "case.resolved.toml", reduced_coupon.read_text())
    write(proj / "thesis.tex")
    write(proj / "data" / "x.csv")
    before = tree(proj)
    monkeypatch.chdir(proj)
    expect_one_error(capfd, ["run", "case.resolved.toml", "--out", ".", *FAST], "current folder")
    monkeypatch.chdir(shared_tmp)
    expect_one_error(capfd, ["run", str(proj / "case.resolved.toml"), "--out", str(proj), *FAST],
                     "holds the case file")
    # a folder with a case.resolved.toml (an old-style output, or a project) is not ours
    expect_one_error(capfd, ["run", str(reduced_coupon), "--out", str(proj), *FAST],
                     "not a batteryfx output folder")
    assert tree(proj) == before and (proj / "thesis.tex").read_text() == "precious"
    assert not (shared_tmp / "proj.partial").exists() and not (shared_tmp.parent /
                                                                "proj.partial").exists()


@pytest.mark.mpi
def test_restart_never_deletes_a_user_folder(reduced_coupon, shared_tmp, capfd):
    """Reproducer: stop a run, `mkdir OUT; echo x > OUT/mine.txt; run --restart OUT` deleted
    mine.txt. Now refused; the stopped run stays restartable."""
    out = shared_tmp / "r"
    assert main(["run", str(reduced_coupon), "--out", str(out), "--stop-after-steps", "2",
                 *FAST]) == 0  # a requested stop is not an error
    write(out / "mine.txt", "x")
    expect_one_error(capfd, ["run", str(reduced_coupon), "--restart", str(out), *FAST],
                     "--restart", "not a batteryfx output folder")
    assert (out / "mine.txt").read_text() == "x"
    assert (shared_tmp / "r.partial" / "checkpoint" / "state.npz").exists()
    on0((out / "mine.txt").unlink)
    on0(out.rmdir)
    assert main(["run", str(reduced_coupon), "--restart", str(out), *FAST]) == 0
    assert (out / MANIFEST).exists() and not (shared_tmp / "r.partial").exists()


@pytest.mark.mpi
def test_rerun_keeps_user_files_and_replaces_only_the_manifest(reduced_coupon, shared_tmp,
                                                               capfd):
    out = shared_tmp / "o"
    assert main(["run", str(reduced_coupon), "--out", str(out), *FAST]) == 0
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["state"] == "complete" and "fields/fields.vtkhdf" in manifest["files"]
    write(out / "notes.txt")
    write(out / "analysis" / "fit.py")
    # no fields this time: the old field file goes (it is in the manifest), user files stay
    assert main(["run", str(reduced_coupon), "--out", str(out), *FAST,
                 "--set", "outputs.fields=false"]) == 0
    assert (out / "notes.txt").read_text() == "precious"
    assert (out / "analysis" / "fit.py").read_text() == "precious"
    assert not (out / "fields" / "fields.vtkhdf").exists()
    files = json.loads((out / MANIFEST).read_text())["files"]
    assert "notes.txt" not in files and "fields/fields.vtkhdf" not in files
    assert main(["run", str(reduced_coupon), "--out", str(out), *FAST]) == 0
    assert (out / "fields" / "fields.vtkhdf").exists()
    # a user file where batteryfx writes: refused before anything is written
    write(out / "figures" / "probes.png")
    expect_one_error(capfd, ["run", str(reduced_coupon), "--out", str(out), *FAST],
                     "figures/probes.png")
    assert (out / "figures" / "probes.png").read_text() == "precious"
    assert not (shared_tmp / "o.partial").exists()
    on0((out / "figures" / "probes.png").unlink)
    # ... and a user's file beside the figures is kept (and not called a figure)
    write(out / "figures" / "mine.png")
    capfd.readouterr()
    assert main(["run", str(reduced_coupon), "--out", str(out), "-q"]) == 0
    assert "mine.png" not in capfd.readouterr().out
    assert (out / "figures" / "mine.png").read_text() == "precious"


@pytest.mark.mpi
def test_partial_without_checkpoint_is_taken_over(reduced_coupon, shared_tmp, capfd):
    """A run killed before its first checkpoint: a fresh run takes the .partial over and says
    so; with a checkpoint it must be continued (or deleted) instead."""
    out = shared_tmp / "p"
    partial = shared_tmp / "p.partial"
    assert main(["run", str(reduced_coupon), "--out", str(out), "--stop-after-steps", "2",
                 *FAST]) == 0
    expect_one_error(capfd, ["run", str(reduced_coupon), "--out", str(out), *FAST],
                     "--restart", "checkpoint at step 2")
    on0((partial / "checkpoint" / "state.npz").unlink)
    expect_one_error(capfd, ["run", str(reduced_coupon), "--restart", str(out), *FAST],
                     "no checkpoint")
    assert main(["run", str(reduced_coupon), "--out", str(out), *FAST]) == 0
    assert (out / MANIFEST).exists() and not partial.exists()
    if comm.rank == 0:
        assert "no checkpoint; starting afresh" in (out / "log.txt").read_text()
    # an empty .partial (killed right after mkdir) is taken over too
    on0(partial.mkdir)
    assert main(["run", str(reduced_coupon), "--out", str(out), *FAST]) == 0
    assert not partial.exists()


@pytest.mark.mpi
def test_foreign_partial_folders_are_refused(reduced_coupon, shared_tmp, capfd):
    out = shared_tmp / "f"
    write(shared_tmp / "f.partial" / "thesis.tex")
    for args in (["--out", str(out)], ["--restart", str(out)]):
        expect_one_error(capfd, ["run", str(reduced_coupon), *args, *FAST],
                         "f.partial", "not a batteryfx folder")
    # ours, but a user put a file in it
    write(shared_tmp / "f.partial" / MANIFEST, json.dumps({"tool": "batteryfx", "files": []}))
    expect_one_error(capfd, ["run", str(reduced_coupon), "--out", str(out), *FAST], "thesis.tex")
    assert (shared_tmp / "f.partial" / "thesis.tex").read_text() == "precious"


@pytest.mark.mpi
def test_restart_says_what_it_found(reduced_coupon, shared_tmp, capfd):
    out = shared_tmp / "s"
    assert main(["run", str(reduced_coupon), "--out", str(out), "--stop-after-steps", "3",
                 *FAST]) == 0
    assert main(["run", str(reduced_coupon), "--restart", str(out), *FAST]) == 0
    if comm.rank == 0:
        log = (out / "log.txt").read_text()
        assert "found s.partial: a checkpoint at step 3" in log, log


@pytest.mark.mpi
def test_plot_refuses_what_it_cannot_draw_honestly(reduced_coupon, shared_tmp, capfd):
    out = shared_tmp / "q"
    assert main(["run", str(reduced_coupon), "--out", str(out), "--stop-after-steps", "3",
                 *FAST]) == 0
    partial = shared_tmp / "q.partial"
    expect_one_error(capfd, ["plot", str(partial)], "unfinished run", "--partial")
    capfd.readouterr()
    assert main(["plot", str(partial), "--partial"]) == 0
    err = capfd.readouterr().err
    assert "unfinished run" in err or comm.rank
    assert (partial / "figures" / "probes.png").exists()
    assert main(["run", str(reduced_coupon), "--restart", str(out), *FAST]) == 0
    assert main(["plot", str(out)]) == 0
    capfd.readouterr()
    case = (out / "case.resolved.toml").read_text()
    for garbage in ("garbage = 1\n", "", "title = [\n"):
        write(out / "case.resolved.toml", garbage)
        expect_one_error(capfd, ["plot", str(out)], "case.resolved.toml")
    write(out / "case.resolved.toml", case)
    on0((out / "summary.json").unlink)
    expect_one_error(capfd, ["plot", str(out)], "summary.json")
    expect_one_error(capfd, ["plot", str(shared_tmp)], "not a batteryfx output folder")
    expect_one_error(capfd, ["plot", str(shared_tmp / "nope")], "no such output folder")


def test_out_is_an_existing_file(reduced_coupon, tmp_path, capfd):
    target = tmp_path / "file.txt"
    target.write_text("precious")
    assert main(["run", str(reduced_coupon), "--out", str(target), *FAST]) == 2
    assert "not a folder" in capfd.readouterr().err
    assert target.read_text() == "precious"
    assert not (tmp_path / "file.txt.partial").exists()


def test_a_hand_edited_manifest_cannot_reach_outside(reduced_coupon, tmp_path, capfd):
    """A manifest naming '../x', an absolute path or a non-output file is not trusted (the
    folder is then not a batteryfx output), and a linked fields/ folder is refused: no file
    outside OUT is removed or written."""
    out = tmp_path / "o"
    assert main(["run", str(reduced_coupon), "--out", str(out), *FAST]) == 0
    victim = tmp_path / "victim.txt"
    victim.write_text("precious")
    manifest = json.loads((out / MANIFEST).read_text())
    good = dict(manifest)
    for bad in ("../victim.txt", str(victim), "fields/../../victim.txt", "notes.txt"):
        (out / MANIFEST).write_text(json.dumps({**manifest, "files": manifest["files"] + [bad]}))
        expect_one_error(capfd, ["run", str(reduced_coupon), "--out", str(out), *FAST],
                         "not a batteryfx output folder")
        assert victim.read_text() == "precious"
    (out / MANIFEST).write_text(json.dumps(good))
    elsewhere = tmp_path / "data"
    elsewhere.mkdir()
    (elsewhere / "fields_0000.vtkhdf").write_text("precious")
    import shutil

    shutil.rmtree(out / "fields")
    (out / "fields").symlink_to(elsewhere, target_is_directory=True)
    expect_one_error(capfd, ["run", str(reduced_coupon), "--out", str(out), *FAST],
                     "fields is a link")
    assert (elsewhere / "fields_0000.vtkhdf").read_text() == "precious"
    assert sorted(p.name for p in elsewhere.iterdir()) == ["fields_0000.vtkhdf"]


def test_links_and_folders_where_batteryfx_writes_are_refused(reduced_coupon, tmp_path, capfd):
    """From review: a link in OUT.partial (log.txt -> a user's file) made --restart append to
    that file; a folder named summary.json failed after the whole run; a user's file in
    OUT.partial/fields was deleted by a take-over. All refused up front now."""
    user = tmp_path / "user.txt"
    user.write_text("precious")
    out = tmp_path / "o"
    partial = tmp_path / "o.partial"
    assert main(["run", str(reduced_coupon), "--out", str(out), "--stop-after-steps", "2",
                 *FAST]) == 0
    (partial / "log.txt").unlink()
    (partial / "log.txt").symlink_to(user)
    expect_one_error(capfd, ["run", str(reduced_coupon), "--restart", str(out), *FAST], "log.txt")
    assert user.read_text() == "precious"
    (partial / "log.txt").unlink()
    (partial / "checkpoint" / "state.npz").unlink()
    (partial / "fields" / "my_notes.txt").write_text("precious")
    expect_one_error(capfd, ["run", str(reduced_coupon), "--out", str(out), *FAST],
                     "fields/my_notes.txt")
    assert (partial / "fields" / "my_notes.txt").read_text() == "precious"
    (partial / "fields" / "my_notes.txt").unlink()
    assert main(["run", str(reduced_coupon), "--out", str(out), *FAST]) == 0
    (out / "summary.json").unlink()
    (out / "summary.json").mkdir()
    (out / "summary.json" / "notes.txt").write_text("precious")
    expect_one_error(capfd, ["run", str(reduced_coupon), "--out", str(out), *FAST], "summary.json")
    assert (out / "summary.json" / "notes.txt").read_text() == "precious"


def test_plot_never_draws_over_a_users_file(reduced_coupon, tmp_path, capfd):
    out = tmp_path / "o"
    assert main(["run", str(reduced_coupon), "--out", str(out), *FAST]) == 0
    (out / "figures").mkdir(exist_ok=True)
    (out / "figures" / "probes.png").write_text("precious")  # not in the manifest
    expect_one_error(capfd, ["plot", str(out)], "figures/probes.png")
    assert (out / "figures" / "probes.png").read_text() == "precious"
    (out / "figures" / "probes.png").unlink()
    user = tmp_path / "mine.png"
    user.write_text("precious")
    (out / "figures" / "probes.png").symlink_to(user)
    expect_one_error(capfd, ["plot", str(out)], "figures/probes.png")
    assert user.read_text() == "precious"
    (out / "figures" / "probes.png").unlink()
    (out / "figures" / "my_plot.png").write_text("precious")  # not an output name: kept
    assert main(["plot", str(out)]) == 0
    assert (out / "figures" / "my_plot.png").read_text() == "precious"


def test_folder_names_and_missing_parents(reduced_coupon, tmp_path, capfd, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for bad in ("/", "res.partial", ".partial", ".hidden"):
        expect_one_error(capfd, ["run", str(reduced_coupon), "--out", bad, *FAST], "--out")
    # the default out/NAME and a deeper --out are created with their parents
    assert main(["run", str(reduced_coupon), *FAST]) == 0
    assert (tmp_path / "out" / "coupon_reduced" / MANIFEST).exists()
    assert main(["run", str(reduced_coupon), "--out", "a/b/OUT", *FAST]) == 0
    assert (tmp_path / "a" / "b" / "OUT" / MANIFEST).exists()
    # an output folder left with state "partial" (killed right after the final rename) is
    # recognised: plot refuses it, a new run replaces it
    out = tmp_path / "a" / "b" / "OUT"
    manifest = json.loads((out / MANIFEST).read_text())
    (out / MANIFEST).write_text(json.dumps({**manifest, "state": "partial"}))
    expect_one_error(capfd, ["plot", str(out)], "incomplete output folder")
    assert main(["run", str(reduced_coupon), "--out", "a/b/OUT", *FAST]) == 0
    assert json.loads((out / MANIFEST).read_text())["state"] == "complete"


def test_second_review_links_fifos_and_hard_links(reduced_coupon, tmp_path, capfd):
    """From the second review: plot through a linked figures/ folder, the final move through a
    folder linked away during the run, a hard-linked lock or log appended to in place, and a
    FIFO as the lock: all refused (one line, exit 2), nothing outside OUT changes."""
    from mpi4py import MPI

    from batteryfx.errors import BatteryfxError
    from batteryfx.output import OutputDir

    ext = tmp_path / "ext"
    ext.mkdir()
    (ext / "probes.png").write_text("precious")
    (ext / "fields_0000.vtkhdf").write_text("precious")
    out = tmp_path / "o"
    assert main(["run", str(reduced_coupon), "--out", str(out), *FAST]) == 0
    import shutil

    shutil.rmtree(out / "figures", ignore_errors=True)
    (out / "figures").symlink_to(ext, target_is_directory=True)
    expect_one_error(capfd, ["plot", str(out)], "figures is a link")
    (out / "figures").unlink()
    # the final move: fields/ linked away after the checks of a --restart
    assert main(["run", str(reduced_coupon), "--out", str(out), "--stop-after-steps", "2",
                 *FAST]) == 0
    outdir = OutputDir(out, MPI.COMM_SELF, restart=True)
    shutil.rmtree(out / "fields")
    (out / "fields").symlink_to(ext, target_is_directory=True)
    with pytest.raises(BatteryfxError, match="fields is a link"):
        outdir.finalize()
    outdir.release()
    assert sorted(p.read_text() for p in ext.iterdir()) == ["precious", "precious"]
    (out / "fields").unlink()
    # hard links into the .partial (a `cp -al` snapshot): the restart would append in place
    partial = tmp_path / "o.partial"
    snap = tmp_path / "snap"
    snap.mkdir()
    os.link(partial / "log.txt", snap / "log.txt")
    before = (snap / "log.txt").read_text()
    expect_one_error(capfd, ["run", str(reduced_coupon), "--restart", str(out), *FAST], "log.txt")
    assert (snap / "log.txt").read_text() == before
    (snap / "log.txt").unlink()
    (partial / "batteryfx.lock").unlink(missing_ok=True)
    os.mkfifo(partial / "batteryfx.lock")
    expect_one_error(capfd, ["run", str(reduced_coupon), "--restart", str(out), *FAST],
                     "batteryfx.lock")
    (partial / "batteryfx.lock").unlink()
    assert main(["run", str(reduced_coupon), "--restart", str(out), *FAST]) == 0


def test_restart_after_a_kill_inside_a_field_write(reduced_coupon, tmp_path, capfd):
    """A kill while a step is appended to fields/fields.vtkhdf can leave it unreadable: the
    restart says so, starts the field file again at the checkpoint and finishes the run (no
    dead end); probes.csv equals the uninterrupted run's."""
    from batteryfx.fields import read_series
    from batteryfx.post.probes import read_probes

    whole, out = tmp_path / "whole", tmp_path / "o"
    assert main(["run", str(reduced_coupon), "--out", str(whole), *FAST]) == 0
    assert main(["run", str(reduced_coupon), "--out", str(out), "--stop-after-steps", "30",
                 *FAST]) == 0
    (tmp_path / "o.partial" / "fields" / "fields.vtkhdf").write_bytes(b"\x89HDF torn")
    capfd.readouterr()
    assert main(["run", str(reduced_coupon), "--restart", str(out), *FAST]) == 0
    assert "starts again" in capfd.readouterr().err
    times = [t for _, t in read_series(out / "fields")]
    assert times[0] > 0 and times[-1] == pytest.approx(20e-6)
    t1, p1 = read_probes(whole / "probes.csv")
    t2, p2 = read_probes(out / "probes.csv")
    assert (t1 == t2).all() and all(abs(p1[k] - p2[k]).max() < 1e-9 for k in p1)
