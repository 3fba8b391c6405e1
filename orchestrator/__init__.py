"""The stackyard orchestrator: stack files in, Engine API calls out.

`loader` turns compose files into the typed `model.Stack`; `cli` is the only place that prints or
exits. Nothing here touches the kernel.
"""
