"""docker-py's `docker.errors` names, mapped onto `runtime.errdefs` categories.

For ported code that catches `docker.errors.NotFound` and friends: `from orchestrator.engine
import errors`. The classes are the errdefs categories themselves (no second hierarchy).
"""

from orchestrator.engine.highlevel import ContainerError
from runtime import errdefs

DockerException = errdefs.StackyardError
APIError = errdefs.StackyardError
NotFound = errdefs.NotFound
ImageNotFound = errdefs.NotFound
InvalidArgument = errdefs.InvalidArgument

__all__ = ["DockerException", "APIError", "NotFound", "ImageNotFound", "InvalidArgument", "ContainerError"]
