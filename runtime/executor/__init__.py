"""The executor: container config → OCI runtime spec (spec.py, pure), and what runs that spec.

NativeExecutor (native.py) forks containers itself with Python + ctypes; OciRuntimeExecutor
(oci_runtime.py) hands the same spec to crun or runc. The supervisor (runtime/supervisor) is the
caller of both; the container manager calls build_spec. Kept import-light: importing the package
does not import pyseccomp or the ctypes layer.
"""
