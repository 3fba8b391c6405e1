"""System part of the façade: version, info, disk usage, registry login, the engine id.

Mixed into `runtime.services.Services`; called by the system routes.
"""

from __future__ import annotations

import asyncio
import os
import platform
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from runtime import errdefs
from runtime.config import DaemonConfig
from runtime.events import EventBus
from runtime.executor.runtimes import available_runtimes

VERSION = "0.1.0"

_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386", "ppc64le": "ppc64le",
         "s390x": "s390x", "riscv64": "riscv64"}


def go_arch(machine: str | None = None) -> str:
    machine = machine or platform.machine()
    return _ARCH.get(machine, machine)


def _mem_total() -> int:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return "Linux"


def tree_size(path: str) -> int:
    """Bytes used by the regular files under path (hard links counted once); 0 when absent."""
    total, seen = 0, set()
    for directory, _, files in os.walk(path):
        for name in files:
            try:
                stat = os.lstat(os.path.join(directory, name))
            except OSError:
                continue  # removed while we walked
            if stat.st_nlink > 1:
                if (stat.st_dev, stat.st_ino) in seen:
                    continue
                seen.add((stat.st_dev, stat.st_ino))
            total += stat.st_blocks * 512 if stat.st_blocks else stat.st_size
    return total


def cgroup_version() -> str:
    return "2" if Path("/sys/fs/cgroup/cgroup.controllers").exists() else "1"


class SystemPart:
    config: DaemonConfig
    events: EventBus

    def _daemon_id(self) -> str:
        path = Path(self.config.root) / "engine-id"
        try:
            return path.read_text().strip()
        except FileNotFoundError:
            value = str(uuid.uuid4()).upper()
            tmp = path.with_suffix(".tmp")
            tmp.write_text(value + "\n")
            os.replace(tmp, path)
            return value

    # --- system ---------------------------------------------------------------------------
    def version(self, api_version: str, min_api_version: str) -> dict[str, Any]:
        kernel = platform.release()
        details = {"ApiVersion": api_version, "MinAPIVersion": min_api_version, "GitCommit": "",
                   "GoVersion": f"python{platform.python_version()}", "Os": "linux",
                   "Arch": go_arch(), "KernelVersion": kernel, "Experimental": "false",
                   "BuildTime": ""}
        return {
            "Platform": {"Name": "stackyard"},
            "Components": [{"Name": "Engine", "Version": VERSION, "Details": details}],
            "Version": VERSION, "ApiVersion": api_version, "MinAPIVersion": min_api_version,
            "GitCommit": "", "GoVersion": details["GoVersion"], "Os": "linux", "Arch": go_arch(),
            "KernelVersion": kernel, "BuildTime": "",
        }

    def counts(self) -> dict[str, int]:
        return {"Containers": 0, "ContainersRunning": 0, "ContainersPaused": 0,
                "ContainersStopped": 0, "Images": 0}

    def info(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "ID": self.daemon_id,
            **counts,
            "Driver": "overlay2",
            "DriverStatus": [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]],
            "Plugins": {"Volume": ["local"], "Network": ["bridge", "host", "null"],
                        "Authorization": [], "Log": ["json-file"]},
            "MemoryLimit": True, "SwapLimit": True, "CpuCfsPeriod": True, "CpuCfsQuota": True,
            "CPUShares": True, "CPUSet": True, "PidsLimit": True, "IPv4Forwarding": True,
            "BridgeNfIptables": False, "BridgeNfIp6tables": False, "Debug": False,
            "NFd": len(os.listdir("/proc/self/fd")), "OomKillDisable": False,
            "NGoroutines": 0, "SystemTime": time.strftime("%Y-%m-%dT%H:%M:%S.000000000Z", time.gmtime()),
            "LoggingDriver": "json-file", "CgroupDriver": "cgroupfs", "CgroupVersion": cgroup_version(),
            "NEventsListener": len(self.events.subscribers), "KernelVersion": platform.release(),
            "OperatingSystem": _os_name(), "OSVersion": "", "OSType": "linux",
            "Architecture": platform.machine(), "IndexServerAddress": "https://index.docker.io/v1/",
            "RegistryConfig": {
                "AllowNondistributableArtifactsCIDRs": [], "AllowNondistributableArtifactsHostnames": [],
                "InsecureRegistryCIDRs": ["127.0.0.0/8"], "IndexConfigs": {},
                "Mirrors": list(self.config.registry_mirrors),
            },
            "NCPU": os.cpu_count() or 1, "MemTotal": _mem_total(),
            "DockerRootDir": self.config.root, "HttpProxy": "", "HttpsProxy": "", "NoProxy": "",
            "Name": socket.gethostname(), "Labels": [], "ExperimentalBuild": False,
            "ServerVersion": VERSION,
            "Runtimes": {name: {"path": path} for name, path in available_runtimes().items()},
            "DefaultRuntime": self.config.default_runtime,
            "Swarm": {"LocalNodeState": "inactive", "NodeID": "", "NodeAddr": "",
                      "ControlAvailable": False, "Error": "", "RemoteManagers": None},
            "LiveRestoreEnabled": True, "InitBinary": "tini",
            "ContainerdCommit": {"ID": "", "Expected": ""}, "RuncCommit": {"ID": "", "Expected": ""},
            "InitCommit": {"ID": "", "Expected": ""},
            "SecurityOptions": ["name=seccomp,profile=default"],
            "Warnings": [],
        }

    def disk_usage(self) -> dict[str, Any]:
        """GET /system/df: images, containers (with sizes) and volumes (with UsageData)."""
        images = self.image_list({}, False) if self._has_image_store() else []
        containers = self.container_list(True, -1, True, {})
        in_use: dict[str, int] = {}
        for container in containers:
            for mount in container.get("Mounts") or []:
                if mount.get("Type") == "volume" and mount.get("Name"):
                    in_use[mount["Name"]] = in_use.get(mount["Name"], 0) + 1
        volumes = []
        for volume in self.volume_list({}):
            volume = dict(volume)
            volume["UsageData"] = {"Size": tree_size(volume.get("Mountpoint") or ""),
                                   "RefCount": in_use.get(volume["Name"], 0)}
            volumes.append(volume)
        # Unique image contents: the store's layers directory when it exists, else the images' sizes.
        layers = tree_size(os.path.join(self.config.root, "overlay"))
        if not layers:
            layers = sum(image.get("Size", 0) for image in images)
        return {"LayersSize": layers, "Images": images, "Containers": containers, "Volumes": volumes,
                "BuildCache": []}

    def _has_image_store(self) -> bool:
        return os.path.exists(os.path.join(self.config.root, "images.db"))

    async def check_auth(self, body: dict[str, Any]) -> dict[str, Any]:
        server = body.get("serveraddress") or "docker.io"
        username, password = body.get("username"), body.get("password")
        if not username or not password:
            raise errdefs.InvalidArgument("username and password are required")
        host = server.split("://", 1)[-1].split("/", 1)[0]
        if host in ("index.docker.io", "registry-1.docker.io"):
            host = "docker.io"
        try:
            from runtime.registry import RegistryClient  # the registry client (issue 4)
        except ImportError:
            raise errdefs.Unsupported("registry authentication is not available yet") from None
        client = RegistryClient()
        try:
            await asyncio.to_thread(client.check_login, host, username, password)
        finally:
            client.close()
        return {"Status": "Login Succeeded", "IdentityToken": ""}
