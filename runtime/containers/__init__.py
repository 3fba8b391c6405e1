"""The container lifecycle: state model, persistence, json-file logs, restart and health
decisions (pure), and `ContainerManager`, the façade the daemon calls (runtime/services.py).

The processes themselves live in the supervisor (runtime/supervisor); this package is its
client plus the records on disk.
"""
