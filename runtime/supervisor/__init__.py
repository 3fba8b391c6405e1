"""The supervisor: a small single-threaded process that parents every container.

It forks containers through the executor, is their subreaper, pumps their output into
json-file logs, records exit codes, applies restart policies, runs healthchecks and execs,
and answers the container manager over a Unix socket (protocol.py). Started as
`python3 -m runtime.supervisor --root R --run-root RR`; see server.py for the design.
Keep its imports minimal: fork cost grows with this process's memory (RUNTIME-NOTES).
"""
