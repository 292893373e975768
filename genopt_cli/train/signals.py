"""Stop at the end of the current step on Ctrl-C (SIGINT) or SIGTERM, so the run can save."""

import logging
import signal
import threading

log = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class StopSignals:
    """While active, the first SIGINT or SIGTERM sets `requested` to the signal's name.

    Any signal after a first SIGINT raises KeyboardInterrupt at once, for a user who does not
    want to wait for the step and the save. Repeats after a first SIGTERM are ignored.
    Outside the main thread, where Python cannot install handlers, the signals keep their usual
    effect.
    """

    def __init__(self) -> None:
        self.requested: str | None = None
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        if self.requested == "SIGINT":
            # A second Ctrl-C. Under torchrun, which sends the second one on as SIGTERM, too.
            raise KeyboardInterrupt
        if self.requested is not None:
            # A stop is already on its way (SLURM, for one, may send SIGTERM more than once).
            return
        self.requested = signal.Signals(signum).name
        log.warning(
            "%s received: stopping after this step and saving a checkpoint "
            "(Ctrl-C again stops at once, without saving)",
            self.requested,
        )

    def __enter__(self) -> "StopSignals":
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in STOP_SIGNALS}
        return self

    def __exit__(self, *exc) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous = {}
