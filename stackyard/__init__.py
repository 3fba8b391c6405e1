"""The `stackyard` console script: a dispatcher above both halves of the project.

It exists so that the orchestrator never imports the runtime (see ARCHITECTURE.md, layering):
runtime verbs (`image`, `login`, `logout`, later `daemon`) go to `runtime.cli`, everything
else to `orchestrator.cli`.
"""
