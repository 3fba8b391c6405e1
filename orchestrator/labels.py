"""Label names stackyard puts on the engine objects it creates, and reads back in `observe`.

Used by `engine_spec` (to write them), `observe` (to filter and rebuild observed state) and the
planner (through `observed`). Compose's names are used wherever a label means the same thing,
so tools that read Compose labels see our stacks; our own config hash carries its algorithm
version (`v1:<sha256>`), so an upgrade never recreates containers by itself.
"""

PROJECT = "com.docker.compose.project"
SERVICE = "com.docker.compose.service"
CONTAINER_NUMBER = "com.docker.compose.container-number"
ONEOFF = "com.docker.compose.oneoff"
WORKING_DIR = "com.docker.compose.project.working_dir"
CONFIG_FILES = "com.docker.compose.project.config_files"
NETWORK = "com.docker.compose.network"
VOLUME = "com.docker.compose.volume"
DEPENDS_ON = "com.docker.compose.depends_on"
CONFIG_HASH = "io.stackyard.config-hash"
# The hashed configuration document itself (JSON), so the planner can say what changed.
CONFIG_DOC = "io.stackyard.config"
VERSION = "io.stackyard.version"


def project_filter(stack: str) -> dict[str, list[str]]:
    """Engine API `filters` selecting everything of one stack."""
    return {"label": [f"{PROJECT}={stack}"]}


def container_name(stack: str, service: str, number: int) -> str:
    """`<stack>-<service>-<n>`, the name of replica n of a service."""
    return f"{stack}-{service}-{number}"
