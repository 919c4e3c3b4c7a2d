"""Apply progress as Terraform prints it, in plan order whatever the timing.

Operations run concurrently; their lines are released in plan order (an operation's
"Creating..." and "Creation complete after 0.4s [id=…]" are printed once every earlier
operation has been printed), so two runs of the same apply read the same. On a TTY a
transient status line shows what is in flight meanwhile.
"""

from __future__ import annotations

import time

from polyctl.render.lines import Line

from polyctl.engine.hooks import ApplyHooks, Operation, OpKind, Outcome

_VERBS = {
    OpKind.CREATE: ("Creating...", "Creation complete", "Creation failed"),
    OpKind.UPDATE: ("Modifying...", "Modifications complete", "Modification failed"),
    OpKind.DELETE: ("Destroying...", "Destruction complete", "Destruction failed"),
    OpKind.STATE_ONLY: ("Updating state (no API call)...", "State updated", "State update failed"),
}


def _elapsed(seconds: float) -> str:
    return f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"


class ProgressPrinter(ApplyHooks):
    def __init__(self, output, *, live: bool = False) -> None:
        self.output = output
        self.done: dict[int, list[Line]] = {}
        self.next_index = 1
        self.running: dict[int, tuple[Operation, float]] = {}
        self.status = None
        if live:
            self.status = output.out.status("Applying...", spinner="dots")
            self.status.start()

    def _label(self, op: Operation) -> str:
        return f"{op.address} (deposed object {op.id[:8]})" if op.deposed and op.id else op.address

    def operation_started(self, op: Operation) -> None:
        self.running[op.index] = (op, time.monotonic())
        self._update_status()

    def operation_finished(self, op: Operation, outcome: Outcome) -> None:
        self.running.pop(op.index, None)
        start, ok_text, fail_text = _VERBS[op.kind]
        label = self._label(op)
        id_note = f" [id={op.id}]" if op.id and op.kind is not OpKind.CREATE else ""
        if outcome.skipped:
            lines = [Line(f"{label}: Not started ({outcome.error or 'skipped'})", style="dim")]
        elif outcome.ok:
            result_id = f" [id={outcome.id}]" if outcome.id else ""
            lines = [Line(f"{label}: {start}{id_note}"),
                     Line(f"{label}: {ok_text} after {_elapsed(outcome.elapsed)}{result_id}",
                          style="green" if op.kind is not OpKind.DELETE else "")]
        else:
            lines = [Line(f"{label}: {start}{id_note}"),
                     Line(f"{label}: {fail_text} after {_elapsed(outcome.elapsed)}", style="red")]
        self.done[op.index] = lines
        self._flush()

    def _flush(self) -> None:
        while self.next_index in self.done:
            lines = self.done.pop(self.next_index)
            if self.status is not None:
                self.status.console.print(*(line.to_text() for line in lines), sep="\n",
                                          soft_wrap=True)
            else:
                self.output.print(*lines)
            self.next_index += 1
        self._update_status()

    def _update_status(self) -> None:
        if self.status is None:
            return
        if not self.running:
            self.status.update("Applying...")
            return
        op, since = min(self.running.values(), key=lambda pair: pair[0].index)
        more = f" and {len(self.running) - 1} more" if len(self.running) > 1 else ""
        self.status.update(f"{self._label(op)}: {_VERBS[op.kind][0]} "
                           f"[{_elapsed(time.monotonic() - since)} elapsed]{more}")

    def interrupted(self) -> None:
        self.output.print(Line("Interrupt received: no new operations will start; waiting for "
                               "running ones to finish and saving the state. Press Ctrl-C "
                               "again to exit at once.", style="yellow"), err=True)

    def close(self) -> None:
        for index in sorted(self.done):
            self.next_index = index
            self._flush()
        if self.status is not None:
            self.status.stop()
            self.status = None
