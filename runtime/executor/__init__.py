"""The executor: container config → OCI runtime spec (spec.py, pure), and what runs that spec.

Callers: the container manager (runtime/containers) calls `spec.build_spec(create, SpecContext)`;
the supervisor (runtime/supervisor) holds one executor and calls start/exec/kill/pause/resume/
stats/top/oom_killed/cleanup/adopt on it. Two executors with the same methods:

- `native.NativeExecutor` (default): forks from the calling process (small, single-threaded,
  a subreaper) and sets the container up itself with Python + ctypes (child.INIT_STEPS).
- `oci_runtime.OciRuntimeExecutor("crun"|"runc")`: hands the same spec to an installed runtime.

Modules: spec/spec_mounts/seccomp_profile/user/caps (pure), plan (spec → what the child does),
child (the steps, through syscalls.LinuxSyscalls only), cgroups (v1/hybrid/v2), seccomp (BPF
compile + cache). Importing the package imports neither pyseccomp nor the ctypes layer.
"""
