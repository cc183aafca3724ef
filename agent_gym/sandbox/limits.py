"""The sandbox's records: `SandboxLimits` (what a call may use) and `SandboxResult` (what it gave)."""

from __future__ import annotations

from dataclasses import dataclass, field

from agent_gym.errors import ConfigError
from agent_gym.sandbox.bwrap import Rlimits


@dataclass(frozen=True)
class SandboxLimits:
    """Resource limits of every sandboxed run (per process tree, per call; `disk_mb` and `max_files` per job)."""

    timeout: float = 10.0
    """Wall-clock seconds per call; then the whole process tree is killed."""
    cpu_seconds: int = 10
    """CPU seconds per process (RLIMIT_CPU). A Python session's budget is `session_cpu_seconds`."""
    memory_mb: int = 1024
    """Address space per process in MiB (RLIMIT_AS)."""
    file_size_mb: int = 64
    """Largest file a process may write, in MiB (RLIMIT_FSIZE)."""
    open_files: int = 256
    """Open file descriptors per process (RLIMIT_NOFILE)."""
    max_processes: int = 64
    """Processes and threads of the job's uid at once (RLIMIT_NPROC): stops fork bombs."""
    max_output_bytes: int = 16_000
    """Bytes of stdout (and of stderr) kept per call; the middle of longer output is cut with a marker."""
    output_kill_bytes: int = 8_000_000
    """A call that prints more than this is killed (endless output), its kept output returned."""
    tmp_mb: int = 64
    """Size of the private /tmp (a tmpfs) in MiB."""
    disk_mb: int = 256
    """Job directory size in MiB: the allocated blocks of every file and directory in it. Checked during
    and after each call; above it the call is stopped and the directory emptied."""
    max_files: int = 10_000
    """Files, directories and links the job directory may hold (and files the private /tmp may hold);
    checked like `disk_mb`, with the same consequence. It also bounds what each check costs."""
    session_cpu_seconds: int = 300
    """Total CPU seconds of one persistent Python session (each call also gets `cpu_seconds`)."""

    def __post_init__(self) -> None:
        for name in ("timeout", "cpu_seconds", "memory_mb", "file_size_mb", "open_files", "max_processes",
                     "max_output_bytes", "output_kill_bytes", "tmp_mb", "disk_mb", "max_files", "session_cpu_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"SandboxLimits.{name} must be positive, got {getattr(self, name)!r}.")
        if self.memory_mb < 64:
            raise ConfigError(
                f"SandboxLimits.memory_mb={self.memory_mb} is too small for a shell or Python; use >= 64."
            )
        if self.output_kill_bytes < self.max_output_bytes:
            raise ConfigError("SandboxLimits.output_kill_bytes must be at least max_output_bytes.")

    def rlimits(self, cpu_seconds: int | None = None, processes: int | None = None) -> Rlimits:
        """The rlimits of one process tree."""
        return Rlimits(cpu_seconds or self.cpu_seconds, self.memory_mb << 20, self.file_size_mb << 20,
                       self.open_files, processes)


@dataclass(frozen=True)
class SandboxResult:
    """What one sandboxed call produced."""

    stdout: str
    """Standard output (possibly cut in the middle, with a marker)."""
    stderr: str
    """Standard error (same bound)."""
    exit_code: int
    """The exit status (128 + N for a process killed by signal N)."""
    timed_out: bool = False
    """Killed at the wall-clock deadline."""
    truncated: bool = False
    """Some output was cut."""
    killed: str | None = None
    """Why the process ended abnormally, in words (timeout, output limit, a signal), else None."""
    seconds: float = 0.0
    """Wall time of the call."""
    notes: tuple[str, ...] = field(default=())
    """Other things the model should know (a restarted session, an emptied job directory)."""

    @property
    def ok(self) -> bool:
        """Exit status 0 and not killed."""
        return self.exit_code == 0 and self.killed is None

    def text(self) -> str:
        """Everything in one string for a tool message: output, stderr, then the exit status."""
        parts = [self.stdout.rstrip("\n")] if self.stdout else []
        if self.stderr:
            parts.append("[stderr]\n" + self.stderr.rstrip("\n"))
        if self.killed:
            parts.append(f"[{self.killed}]")
        elif self.exit_code:
            parts.append(f"[exit code {self.exit_code}]")
        parts += [f"[{note}]" for note in self.notes]
        return "\n".join(parts) if parts else "(no output)"
