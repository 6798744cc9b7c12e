"""Time limits on the engine, and Ctrl-C / SIGTERM honoured while it runs.

An engine call is native code: while it runs, Python's signal handlers wait for it to
return, so a model that never finishes (an ONNX ``Loop`` with a huge trip count) could
neither be stopped by a time limit nor by the user. The watchdog is one background thread
per run that sleeps until the deadline of the phase in progress or until a signal arrives
(``signal.set_wakeup_fd`` wakes it even while the main thread is inside the engine); it
then asks the engine to stop the call in progress (``Engine.abort``). An engine that has
no such call (it returns to Python between operations, like an exported torch program) is
interrupted in the main thread instead (a SIGALRM handler that raises only while the phase
is armed, so a deadline that passes as the phase ends never interrupts what follows).

Rules enforced here:
- nothing is added to the timed loop: a phase (the quality pass, a warm-up, a window) is
  armed and disarmed once, never per query;
- a phase that passes its limit raises ``EngineTimeLimit`` naming the model, the phase and
  the limit (exit 3); SIGINT or SIGTERM raises KeyboardInterrupt (exit 130): no record is
  written for the run;
- a failure the engine's own library raises during a phase becomes one line naming the
  model: ``EngineOutOfMemory`` (exit 4) for an allocation failure, ``EngineRunError``
  (exit 3) otherwise;
- SIGTERM ends a run like Ctrl-C when nothing else handles it; handlers and the wakeup
  descriptor are restored when the run ends. Signals can only be handled in the main
  thread: elsewhere only the time limits apply.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import threading
import time
from pathlib import Path
from types import TracebackType
from typing import Any

from ecoscore.errors import MeasurementError, one_line
from ecoscore.runners.engines.base import Engine, EngineError

_STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_ALLOC_WORDS = ("out of memory", "failed to allocate", "bad_alloc", "allocation")


class EngineTimeLimit(EngineError):
    """The model did not finish a phase of the run within its time limit."""


class EngineRunError(EngineError):
    """The engine's library failed while running the model."""


class EngineOutOfMemory(MeasurementError):
    """The engine could not allocate the memory the model needs."""


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


class _Phase:
    """What ``Watchdog.phase`` returns (a class, not a generator: an interrupt that lands
    while the phase ends is raised, never lost)."""

    def __init__(self, dog: Watchdog, what: str, limit_s: float | None, option: str) -> None:
        self.dog, self.what, self.limit_s, self.option = dog, what, limit_s, option

    def __enter__(self) -> None:
        self.dog._arm(self.what, self.limit_s)

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.dog._disarm()
        if exc is not None:
            translated = self.dog._translate(exc, self.what, self.option)
            if translated is not exc:
                raise translated from None


def _is_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


class Watchdog:
    """``with Watchdog(engine, model_path) as dog:`` then ``with dog.phase(what, limit_s):``
    around each phase that runs the engine."""

    def __init__(self, engine: Engine, model: Path | str) -> None:
        self.engine = engine
        self.model = str(model)
        self._lock = threading.Lock()
        self._armed: str | None = None
        self._deadline: float | None = None
        self._limit: float | None = None
        self._expired = False
        self._interrupted = False
        self._aborted = False
        self._stop = False
        self._thread: threading.Thread | None = None
        self._reader, self._writer = socket.socketpair()
        self._reader.setblocking(False)
        self._writer.setblocking(False)
        self._restore: list[Any] = []
        self._main = _is_main_thread()
        self._can_alarm = False

    # -- life cycle -----------------------------------------------------------------------

    def __enter__(self) -> Watchdog:
        if self._main:
            self._install_signals()
        self._thread = threading.Thread(target=self._watch, name="ecoscore-watchdog", daemon=True)
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        with self._lock:
            self._stop = True
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
        for undo in reversed(self._restore):
            undo()
        self._restore.clear()
        self._reader.close()
        self._writer.close()

    def _install_signals(self) -> None:
        old_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._restore.append(lambda: signal.set_wakeup_fd(old_fd))
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
            signal.signal(signal.SIGTERM, _interrupt)
            self._restore.append(lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
        if hasattr(signal, "SIGALRM") and hasattr(signal, "pthread_kill"):  # not on Windows
            old_alarm = signal.signal(signal.SIGALRM, self._on_alarm)
            self._restore.append(lambda: signal.signal(signal.SIGALRM, old_alarm))
            self._can_alarm = True

    # -- phases ---------------------------------------------------------------------------

    def phase(self, what: str, limit_s: float | None, option: str = "") -> _Phase:
        """A context in which the engine runs ``what`` under ``limit_s`` seconds (None: no
        limit; signals are still honoured). ``option`` names how to change the limit."""
        return _Phase(self, what, limit_s, option)

    def _arm(self, what: str, limit_s: float | None) -> None:
        with self._lock:
            if self._aborted and self.engine.can_abort:
                self.engine.resume()
            self._aborted = False
            self._armed, self._limit = what, limit_s
            self._deadline = time.monotonic() + limit_s if limit_s is not None else None
            self._expired = self._interrupted = False
        self._wake()

    def _disarm(self) -> None:
        with self._lock:
            self._armed = None
            self._deadline = None

    def _translate(self, e: BaseException, what: str, option: str) -> BaseException:
        if self._expired:
            how = f": raise it with {option}" if option else ""
            return EngineTimeLimit(
                f"{self.model}: {what} did not finish within its time limit of "
                f"{self._limit:g} s; no record was written (a model that never finishes, or "
                f"one slower than the limit{how})"
            )
        if self._interrupted or isinstance(e, KeyboardInterrupt):
            return e if isinstance(e, KeyboardInterrupt) else KeyboardInterrupt("signal")
        if not isinstance(e, Exception) or isinstance(e, EngineError | MeasurementError):
            return e
        if isinstance(e, MemoryError) or (
            self._from_engine(e) and any(w in str(e).lower() for w in _ALLOC_WORDS)
        ):
            return EngineOutOfMemory(
                f"{self.model}: the engine ran out of memory during {what}: {one_line(e)}"
            )
        if self._from_engine(e):
            return EngineRunError(f"{self.model}: the engine failed during {what}: {one_line(e)}")
        return e

    def _from_engine(self, e: BaseException) -> bool:
        return self.engine.owns(e)

    # -- the thread -----------------------------------------------------------------------

    def _wake(self) -> None:
        with contextlib.suppress(OSError):
            self._writer.send(b"\0")

    def _watch(self) -> None:
        import select

        while True:
            with self._lock:
                if self._stop:
                    return
                deadline = self._deadline
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([self._reader], [], [], timeout)
            signums = b""
            if ready:
                with contextlib.suppress(OSError):
                    signums = self._reader.recv(4096)
            with self._lock:
                if self._stop:
                    return
                if self._armed is None:
                    continue
                if any(s in signums for s in _STOP_SIGNALS):
                    self._interrupted = True
                    self._abort()
                elif self._deadline is not None and time.monotonic() >= self._deadline:
                    self._expired = True
                    self._deadline = None
                    self._abort()

    def _abort(self) -> None:
        """Called with the lock held: stop the engine's call in progress."""
        self._aborted = True
        if self.engine.can_abort:
            self.engine.abort()
        elif self._can_alarm and self._expired:
            signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGALRM)

    def _on_alarm(self, signum: int, frame: object) -> None:
        """In the main thread: raise only while the expired phase is still armed."""
        with self._lock:
            expired = self._armed is not None and self._expired
        if expired:
            raise KeyboardInterrupt("time limit")  # translated by phase()
