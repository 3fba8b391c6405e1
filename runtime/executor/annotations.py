"""Annotation keys that carry what the OCI runtime spec has no field for (pure constants).

Written by spec.py, read by the executors. Values are strings (OCI requires it); lists and
objects are JSON.
"""

ROOTFS_MOUNTS = "io.stackyard.rootfs-mounts"      # JSON list of snapshot mounts for root.path
STOP_SIGNAL = "io.stackyard.stop-signal"          # e.g. "SIGTERM"
INIT = "io.stackyard.init"                        # "tini" (args already wrapped) | "builtin"
USER = "io.stackyard.user"                        # raw User when it must be resolved in the rootfs
GROUP_ADD = "io.stackyard.group-add"              # JSON list, with USER
MKDIR_HOST = "io.stackyard.mkdir-host"            # JSON list of bind sources to create (create_host_path)
VOLUME_COPYUP = "io.stackyard.volume-copyup"      # JSON list of {"source","destination"} to populate
DEVICES = "io.stackyard.devices"                  # JSON list of {"host","container","permissions"}
CONTAINER_ID = "io.stackyard.container-id"
CGROUP_PARENT = "io.stackyard.cgroup-parent"
NONROOT_CAPS = "io.stackyard.nonroot-drops-caps"  # "true": uid != 0 gets no effective/permitted caps
RUNTIME = "io.stackyard.runtime"                # HostConfig.Runtime: "" (native) | "crun" | "runc"
PRIVILEGED = "io.stackyard.privileged"          # "true": all devices, no device cgroup rules
IPC_CONTAINER = "io.stackyard.ipc-container"      # IpcMode container:x → x's id (the supervisor re-resolves its pid at start)
IPC_MODE = "io.stackyard.ipc-mode"                # "shareable" | "host": others may join (the supervisor shares /dev/shm)
PID_CONTAINER = "io.stackyard.pid-container"      # PidMode container:x → x's id, likewise
CRUN_BPF = "run.oci.seccomp_bpf_data"             # crun: precompiled BPF, base64
