"""A private PulseAudio daemon with a null sink, the sound card of the device tests.

What plays into the sink ``daq`` comes back from its monitor ``daq.monitor``, which is the
default capture device: through PortAudio (sounddevice, ALSA's pulse plugin) and through
SoapySDR's audio driver (``driver=audio``). The daemon runs in its own runtime directory, so
it never touches a desktop's sound server, and is stopped when the session ends.

Needs Debian's pulseaudio, pulseaudio-utils, libasound2-plugins and libportaudio2 (the
README's test command installs them); a missing one fails the test that asked, naming it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

SINK = "daq"
PACKAGES = "pulseaudio pulseaudio-utils libasound2-plugins libportaudio2"


@dataclass(frozen=True)
class SoundServer:
    """The running daemon: its runtime directory and the names of its devices."""

    runtime_dir: Path
    sink: str = SINK
    monitor: str = f"{SINK}.monitor"

    def pactl(self, *args: str) -> str:
        done = subprocess.run(["pactl", *args], capture_output=True, text=True, timeout=20,
                              env=self.env, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"pactl {' '.join(args)} failed: {done.stderr.strip()}")
        return done.stdout

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, "XDG_RUNTIME_DIR": str(self.runtime_dir)}


def start() -> tuple[SoundServer, subprocess.Popen[bytes]]:
    """Start the daemon in the foreground of a child process; set this process's
    XDG_RUNTIME_DIR so every client here (and every child) finds it."""
    for program in ("pulseaudio", "pactl"):
        if shutil.which(program) is None:
            raise RuntimeError(f"the sound tests need '{program}': apt-get install -y {PACKAGES}")
    runtime_dir = Path(tempfile.mkdtemp(prefix="daqflow-pulse-"))
    runtime_dir.chmod(0o700)
    os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    os.environ.pop("PULSE_SERVER", None)
    server = SoundServer(runtime_dir)
    daemon = subprocess.Popen(
        ["pulseaudio", "-n", "--daemonize=no", "--exit-idle-time=-1", "--disallow-exit",
         "--log-target=stderr", "--log-level=error",
         "--load=module-native-protocol-unix",
         f"--load=module-null-sink sink_name={SINK} rate=48000 channels=2"],
        env=server.env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 20
    while True:
        try:
            server.pactl("info")
            break
        except RuntimeError:
            if daemon.poll() is not None or time.monotonic() > deadline:
                daemon.kill()
                err = daemon.stderr.read().decode(errors="replace") if daemon.stderr else ""
                raise RuntimeError(f"pulseaudio did not start: {err.strip()}") from None
            time.sleep(0.1)
    server.pactl("set-default-sink", SINK)
    server.pactl("set-default-source", server.monitor)
    return server, daemon


def stop(server: SoundServer, daemon: subprocess.Popen[bytes]) -> None:
    daemon.terminate()
    try:
        daemon.wait(timeout=10)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
    if daemon.stderr is not None:
        daemon.stderr.close()
    shutil.rmtree(server.runtime_dir, ignore_errors=True)
