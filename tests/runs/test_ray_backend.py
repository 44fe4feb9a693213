"""The Ray backend (:mod:`humelabel.runs.ray_backend`) on a real local cluster: the same
labels as ``--jobs 1``, runs written and resumed as with the local pool, and a worker killed
mid-run is retried and the command still finishes with the same result."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from humelabel.cli import main
from humelabel.runs.multiseed import fit_seeds
from humelabel.runs.scoring import ScoreOptions

ray = pytest.importorskip("ray", reason="ray is not installed (pip install 'humelabel[ray]')")

N, D1, D2, K = 90, 8, 12, 3
TINY = {"iterations": 3, "inner_steps": 3, "num_subsets": 2, "subset_size": 50}
#: Slow enough (a few seconds a run on one thread) to kill a worker while it works.
SLOW = {"iterations": 120, "inner_steps": 10, "num_subsets": 2, "subset_size": 60}
SRC = Path(__file__).resolve().parents[2] / "src"
RAY = Path(sys.executable).with_name("ray")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A Ray head on 127.0.0.1 with 2 CPUs (``ray start``), stopped at the end; its address.

    Its workers import this checkout's humelabel (PYTHONPATH) with one thread each.
    """
    if not RAY.exists():
        pytest.skip(f"no ray command next to {sys.executable}")
    port = _free_port()
    temp = tempfile.mkdtemp(prefix="hl-ray-", dir="/tmp")  # short: unix socket paths
    saved = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"  # a test cluster on 127.0.0.1: no token files
    env = {**os.environ, "OMP_NUM_THREADS": "1", "RAY_USAGE_STATS_ENABLED": "0",
           "PYTHONPATH": os.pathsep.join([str(SRC), *filter(None, [
               os.environ.get("PYTHONPATH")])])}
    start = [str(RAY), "start", "--head", "--node-ip-address", "127.0.0.1", "--port",
             str(port), "--num-cpus", "2", "--include-dashboard=false", "--temp-dir", temp,
             "--disable-usage-stats"]
    done = subprocess.run(start, env=env, capture_output=True, text=True, timeout=120)
    try:
        assert done.returncode == 0, done.stdout + done.stderr
        yield f"127.0.0.1:{port}"
    finally:
        subprocess.run([str(RAY), "stop", "--force"], env=env, capture_output=True,
                       timeout=120)
        shutil.rmtree(temp, ignore_errors=True)
        if saved is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = saved


@pytest.fixture(scope="module")
def arrays() -> tuple[np.ndarray, np.ndarray]:
    """Tiny clustered two-view data, 90 rows, 3 classes."""
    rng = np.random.default_rng(0)
    c1, c2 = rng.normal(size=(K, D1)) * 3, rng.normal(size=(K, D2)) * 3
    y = np.repeat(np.arange(K), N // K)
    return ((c1[y] + rng.normal(size=(N, D1))).astype(np.float32),
            (c2[y] + rng.normal(size=(N, D2))).astype(np.float32))


def _argv(paths: dict[str, Path], out: Path, *extra: str) -> list[str]:
    tiny = [x for name, value in TINY.items()
            for x in (f"--{name.replace('_', '-')}", str(value))]
    return ["fit", "--phi1", str(paths["phi1"]), "--phi2", str(paths["phi2"]), "--k", str(K),
            "--out", str(out), "--seeds", "0-3", "--score-folds", "3", *tiny, *extra]


def test_cli_ray_equals_jobs_1_and_resumes(
    cluster: str, arrays: tuple[np.ndarray, np.ndarray], tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    paths = {}
    for name, arr in zip(("phi1", "phi2"), arrays, strict=True):
        paths[name] = tmp_path / f"{name}.npy"
        np.save(paths[name], arr)
    local, remote = tmp_path / "local", tmp_path / "ray"
    assert main(_argv(paths, local, "--quiet")) == 0
    assert main(_argv(paths, remote, "--backend", "ray", "--address", cluster)) == 0
    err = capsys.readouterr().err
    assert f"4 to fit, on Ray ({cluster})" in err
    for name in ("labels.npy", "agreement.npy", "runs.csv", "alignment.json"):
        assert (local / name).read_bytes() == (remote / name).read_bytes(), name
    for seed in range(4):  # every run directory complete, written by this process
        for name in ("labels.npy", "model.safetensors", "score.json"):
            assert ((local / "runs" / str(seed) / name).read_bytes()
                    == (remote / "runs" / str(seed) / name).read_bytes()), (seed, name)
    # Resume as with the local pool: a missing run is fitted again, the others reused.
    shutil.rmtree(remote / "runs" / "2")
    before = (remote / "labels.npy").read_bytes()
    assert main(_argv(paths, remote, "--backend", "ray", "--address", cluster)) == 0
    assert "3 finished earlier, 1 to fit" in capsys.readouterr().err
    assert (remote / "labels.npy").read_bytes() == before


def _task_workers() -> list[int]:
    """Pids of Ray worker processes running a task of ours (process title ``ray::_run``)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                title = (entry / "cmdline").read_bytes().split(b"\0")[0]
            except OSError:
                continue
            if title.startswith(b"ray::_run"):
                found.append(int(entry.name))
    return found


def test_killed_worker_is_retried_with_the_same_result(
    cluster: str, arrays: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    phi1, phi2 = arrays
    options = {"overrides": SLOW, "score": ScoreOptions(n_folds=3)}
    killed: list[int] = []
    stop = threading.Event()

    def kill_one() -> None:  # SIGKILL the first worker seen running a task, after 0.3 s
        while not stop.is_set():
            workers = _task_workers()
            if workers:
                time.sleep(0.3)
                if workers[0] in _task_workers():
                    os.kill(workers[0], signal.SIGKILL)
                    killed.append(workers[0])
                    return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one, daemon=True)
    killer.start()
    start = time.perf_counter()
    try:
        result = fit_seeds(phi1, phi2, K, [0, 1, 2, 3], out=tmp_path / "ray", backend="ray",
                           address=cluster, **options)
    finally:
        stop.set()
        killer.join()
    seconds = time.perf_counter() - start
    assert killed, f"no worker was running a task to kill ({seconds:.1f} s)"
    reference = fit_seeds(phi1, phi2, K, [0, 1, 2, 3], jobs=1, **options)
    np.testing.assert_array_equal(result.labels_, reference.labels_)
    for got, want in zip(result.runs, reference.runs, strict=True):
        np.testing.assert_array_equal(got.labels, want.labels)
        assert got.score == want.score
        assert (tmp_path / "ray" / got.name / "labels.npy").is_file()
