"""A one-node Slurm cluster on this machine, for the cluster test (tests/test_slurm.py).

Everything lives in one folder: munge's key and socket, slurm.conf, and the daemons' state, spool,
pid and log files. The daemons run in the foreground as children of this process, so they are
stopped by PID; nothing is installed as a service. One system file is touched: /etc/slurm/slurm.conf
becomes a symbolic link to the folder's slurm.conf while the cluster runs, because the Slurm
executor plugin's job steps drop SLURM_CONF from the environment of their `srun`; it is removed
on stop, and a link left by a killed run is removed at the start of the next test session
(`remove_stale_link`). An existing /etc/slurm/slurm.conf that is not such a link is never
touched: `start` refuses.
The Debian packages (PACKAGES) are installed by .ci/run where it can.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from datetime import datetime
from pathlib import Path

SYSTEM_CONF = Path("/etc/slurm/slurm.conf")
CONTROLLER_PORT = 16817
CLUSTER_NAME = "daydream-test"
PACKAGES = ["slurmctld", "slurmd", "slurm-client", "munge"]
BINARIES = ["munged", "mungekey", "slurmctld", "slurmd", "sbatch", "squeue", "sinfo", "srun"]


def missing_binaries() -> list[str]:
    """The programs of PACKAGES that are not installed here."""
    return [name for name in BINARIES if shutil.which(name) is None and not Path("/usr/sbin", name).exists()]


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def remove_stale_link() -> None:
    """The link a killed test or benchmark left at SYSTEM_CONF, when no controller runs: with it,
    every Snakemake start waits ~9 s (the Slurm plugin asks `scontrol show config` at import, which
    waits for the controller). Called at the start of every test session."""
    if not SYSTEM_CONF.is_symlink() or not port_free(CONTROLLER_PORT):
        return
    target = SYSTEM_CONF.readlink()
    try:
        ours = f"ClusterName={CLUSTER_NAME}\n" in target.read_text(encoding="utf-8")
    except OSError:  # dangling: ours when it pointed into the temp folder, where this helper works
        ours = target.is_relative_to(tempfile.gettempdir())
    if ours:
        SYSTEM_CONF.unlink()


def most_running_at_once(jobs: list[dict[str, str]]) -> int:
    """The most of these jobs (SlurmCluster.jobs rows) running at one moment; times are to the
    second, and a job ending in the second another starts does not overlap it."""
    moments = [(datetime.fromisoformat(job["start"]), 1) for job in jobs]
    moments += [(datetime.fromisoformat(job["end"]), -1) for job in jobs]
    running = peak = 0
    for _, step in sorted(moments):  # at one second, -1 sorts before +1
        running += step
        peak = max(peak, running)
    return peak


def sbin(name: str) -> str:
    return shutil.which(name) or str(Path("/usr/sbin", name))


class SlurmCluster:
    """One node named localhost, one partition `debug`. The node claims `cpus` CPUs and `memory_mb`
    of memory whatever the machine has (config_overrides), so that Slurm's own limits do not hide
    what the workflow asks of it (jobs held back by a cap, not by a full node)."""

    def __init__(self, root: Path, cpus: int = 8, memory_mb: int = 16000, min_job_age_s: int = 600):
        self.root = Path(root)
        self.cpus = cpus
        self.memory_mb = memory_mb
        self.min_job_age_s = min_job_age_s
        self.conf = self.root / "slurm.conf"
        self.munge_socket = self.root / "munge" / "munge.socket"
        self.processes: dict[str, subprocess.Popen] = {}

    def environment(self) -> dict[str, str]:
        """What a client (sbatch, squeue, srun, and snakemake running them) needs to reach this cluster."""
        return {**os.environ, "SLURM_CONF": str(self.conf)}

    def start(self, timeout_s: float = 60) -> None:
        if not port_free(CONTROLLER_PORT):
            raise RuntimeError(
                f"port {CONTROLLER_PORT} is in use: another Slurm controller (or test cluster) is running"
            )
        self._write_files()
        remove_stale_link()
        if SYSTEM_CONF.exists() or SYSTEM_CONF.is_symlink():
            raise RuntimeError(f"{SYSTEM_CONF} exists and is not a link left by this helper: not touching it")
        SYSTEM_CONF.parent.mkdir(parents=True, exist_ok=True)
        SYSTEM_CONF.symlink_to(self.conf)
        self._spawn("munged", [sbin("munged"), "--foreground", "--force", *self._munge_args()])
        self._wait_for(lambda: self.munge_socket.exists(), "munged's socket", timeout_s)
        self._spawn("slurmctld", [sbin("slurmctld"), "-D", "-f", str(self.conf)])
        self._spawn("slurmd", [sbin("slurmd"), "-D", "-N", "localhost", "-f", str(self.conf)])
        self._wait_for(self._node_idle, "the node to be idle in sinfo", timeout_s)

    def stop(self) -> None:
        """Cancel what is still queued or running (a test that failed half-way), then stop the
        daemons, the node's first."""
        if self.processes.get("slurmctld") and self.processes["slurmctld"].poll() is None:
            subprocess.run(
                ["scancel", "--full", "--user", str(os.geteuid())], env=self.environment(), capture_output=True
            )
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and any(
                j["state"] in ("RUNNING", "PENDING", "COMPLETING") for j in self._jobs_or_none()
            ):
                time.sleep(0.5)
        for name in ["slurmd", "slurmctld", "munged"]:
            process = self.processes.pop(name, None)
            if process is None or process.poll() is not None:
                continue
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if SYSTEM_CONF.is_symlink() and SYSTEM_CONF.readlink() == self.conf:
            SYSTEM_CONF.unlink()

    def __enter__(self) -> SlurmCluster:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def jobs(self) -> list[dict[str, str]]:
        """Every job the controller still remembers (finished ones for MinJobAge seconds): id,
        state, cpus, start and end (ISO times, to the second) and comment."""
        fields = ["id", "state", "cpus", "start", "end", "comment"]
        done = subprocess.run(
            ["squeue", "--all", "--states=all", "--noheader", "--format=%i|%T|%C|%S|%e|%k"],
            env=self.environment(),
            capture_output=True,
            text=True,
            check=True,
        )
        return [dict(zip(fields, line.split("|"), strict=True)) for line in done.stdout.splitlines() if line.strip()]

    def _jobs_or_none(self) -> list[dict[str, str]]:
        try:
            return self.jobs()
        except subprocess.CalledProcessError:
            return []

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}" for path in sorted(self.root.glob("*.log"))
        )

    # ---- internals

    def _munge_args(self) -> list[str]:
        munge = self.root / "munge"
        return [
            f"--socket={self.munge_socket}",
            f"--key-file={munge / 'munge.key'}",
            f"--pid-file={munge / 'munged.pid'}",
            f"--log-file={self.root / 'munged.log'}",
            f"--seed-file={munge / 'munged.seed'}",
        ]

    def _write_files(self) -> None:
        munge = self.root / "munge"
        munge.mkdir(parents=True, exist_ok=True)
        munge.chmod(0o700)
        key = munge / "munge.key"
        if not key.exists():
            subprocess.run([sbin("mungekey"), "--create", f"--keyfile={key}"], check=True, capture_output=True)
        for folder in ["state", "spool"]:
            (self.root / folder).mkdir(exist_ok=True)
        settings = {
            "ClusterName": CLUSTER_NAME,
            "SlurmctldHost": "localhost",
            "SlurmctldPort": str(CONTROLLER_PORT),
            "SlurmdPort": "16818",
            "SlurmUser": "root",
            "SlurmdUser": "root",
            "AuthType": "auth/munge",
            "CredType": "cred/munge",
            "AuthInfo": f"socket={self.munge_socket}",
            "ProctrackType": "proctrack/linuxproc",
            "TaskPlugin": "task/none",
            "SelectType": "select/cons_tres",
            "SelectTypeParameters": "CR_Core_Memory",
            "AccountingStorageType": "accounting_storage/none",
            "JobAcctGatherType": "jobacct_gather/none",
            "JobCompType": "jobcomp/none",
            "MpiDefault": "none",
            "ReturnToService": "2",
            "SlurmdParameters": "config_overrides",
            "MinJobAge": str(self.min_job_age_s),
            "StateSaveLocation": str(self.root / "state"),
            "SlurmdSpoolDir": str(self.root / "spool"),
            "SlurmctldPidFile": str(self.root / "slurmctld.pid"),
            "SlurmdPidFile": str(self.root / "slurmd.pid"),
            "SlurmctldLogFile": str(self.root / "slurmctld.log"),
            "SlurmdLogFile": str(self.root / "slurmd.log"),
        }
        lines = [f"{key}={value}" for key, value in settings.items()]
        lines.append(
            f"NodeName=localhost NodeAddr=127.0.0.1 CPUs={self.cpus} RealMemory={self.memory_mb} State=UNKNOWN"
        )
        lines.append("PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP")
        self.conf.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def _spawn(self, name: str, command: list[str]) -> None:
        output = open(self.root / f"{name}.out", "wb")
        self.processes[name] = subprocess.Popen(
            command, env=self.environment(), stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        output.close()

    def _node_idle(self) -> bool:
        for name, process in self.processes.items():
            if process.poll() is not None:
                out = (self.root / f"{name}.out").read_text(errors="replace")
                raise RuntimeError(f"{name} exited with {process.returncode}: {out[-1000:]}\n{self.logs()}")
        done = subprocess.run(
            ["sinfo", "--noheader", "--format=%T"], env=self.environment(), capture_output=True, text=True
        )
        return done.returncode == 0 and done.stdout.strip() == "idle"

    def _wait_for(self, condition, what: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while not condition():
            if time.monotonic() > deadline:
                raise RuntimeError(f"timed out after {timeout_s:.0f} s waiting for {what}\n{self.logs()}")
            time.sleep(0.2)
