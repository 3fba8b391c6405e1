"""The command line: the only part of the orchestrator that prints or exits.

`app.main` is the `stackyard` console script; `formats` renders diagnostics for `validate`.
Imports here stay lazy (see `app`): `stackyard validate` is benchmarked as a whole process.
"""
