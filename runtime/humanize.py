"""Ages as Docker words them ("Up 5 minutes", "2 hours ago"): go-units' HumanDuration.

Used by the daemon's container status (`runtime.containers.state`) and by `stackyard ps`
(`orchestrator.cli.ps_format`), which must read the same on every engine. Pure, stdlib only,
like `runtime.errdefs`, so the CLI may import it without the runtime's weight.
"""

from __future__ import annotations


def human_duration(seconds: float) -> str:
    """Docker's go-units HumanDuration."""
    if seconds < 1:
        return "Less than a second"
    if seconds < 2:
        return "1 second"
    if seconds < 60:
        return f"{int(seconds)} seconds"
    minutes = int(seconds / 60)
    if minutes == 1:
        return "About a minute"
    if minutes < 60:
        return f"{minutes} minutes"
    hours = int(seconds / 3600 + 0.5)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{int(hours / 24 / 365)} years"
