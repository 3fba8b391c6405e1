"""The supervisor's event loop (runtime/supervisor/loop.py): timers and the error boundary."""

import os

from runtime.supervisor.loop import Loop


def test_timers_run_in_order_and_cancelled_ones_do_not():
    loop = Loop()
    seen = []
    loop.call_later(0.03, lambda: seen.append("late"))
    loop.call_later(0.01, lambda: seen.append("early"))
    loop.call_later(0.02, lambda: seen.append("never")).cancel()
    loop.call_later(0.05, lambda: setattr(loop, "stopping", True))
    loop.run()
    loop.close()
    assert seen == ["early", "late"]


def test_a_failing_callback_is_reported_and_the_loop_goes_on():
    errors = []
    loop = Loop(on_error=errors.append)
    r, w = os.pipe()
    got = []

    def on_read():
        got.append(os.read(r, 10))
        loop.stopping = True

    loop.call_later(0, lambda: 1 / 0)
    loop.call_later(0.01, lambda: os.write(w, b"x"))
    loop.add_reader(r, on_read)
    loop.run()
    loop.close()
    os.close(r)
    os.close(w)
    assert got == [b"x"] and isinstance(errors[0], ZeroDivisionError)
