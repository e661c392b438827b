"""A container's lifecycle: explicit states, legal transitions, and the record on disk.

The record (state.json in the instance directory) is what lets a restarted
agent re-adopt a running container: its PID 1 (pid plus start time), its
cgroup name, its network and its labels.
"""

import json
import os
import time
from dataclasses import asdict, dataclass, field
from enum import Enum
from pathlib import Path

from .errors import StateError


class State(str, Enum):
    CREATED = "created"    # host side prepared (cgroup, network, files); nothing runs
    RUNNING = "running"    # PID 1 started
    STOPPED = "stopped"    # PID 1 gone; exit code known
    REMOVED = "removed"    # cgroup, network and files released


TRANSITIONS = {
    State.CREATED: {State.RUNNING, State.STOPPED, State.REMOVED},
    State.RUNNING: {State.STOPPED},
    State.STOPPED: {State.REMOVED},
    State.REMOVED: set(),
}


@dataclass
class Record:
    id: str
    state: State = State.CREATED
    labels: dict = field(default_factory=dict)
    network: dict = field(default_factory=dict)
    pid: int = 0
    pid_start: int = 0
    exit_code: int | None = None
    oom_killed: bool = False
    error: str = ""
    created_at: float = field(default_factory=time.time)
    started_at: float = 0.0
    finished_at: float = 0.0
    stop_grace: float | None = None
    port: int | None = None

    def move(self, new: State) -> None:
        """Change state, refusing transitions the lifecycle does not allow."""
        if new not in TRANSITIONS[self.state]:
            raise StateError(f"container {self.id} cannot go from {self.state.value} to {new.value}")
        self.state = new

    def save(self, directory: Path) -> None:
        data = asdict(self)
        data["state"] = self.state.value
        tmp = directory / f"state.json.{os.getpid()}.tmp"
        tmp.write_text(json.dumps(data, sort_keys=True))
        os.replace(tmp, directory / "state.json")  # readers never see a half-written record

    @classmethod
    def load(cls, directory: Path) -> "Record":
        data = json.loads((directory / "state.json").read_text())
        data["state"] = State(data["state"])
        return cls(**data)
