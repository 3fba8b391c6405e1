"""Archive part of the façade: `docker cp` (HEAD/GET/PUT /containers/{id}/archive).

Mixed into `runtime.services.Services`; called by the container routes.
"""

from __future__ import annotations

from typing import Any

from runtime import errdefs


class ArchivePart:
    def container_path_stat(self, ident: str, path: str) -> dict[str, Any]:
        raise errdefs.Unsupported("copying files from and to containers is not supported yet")

    def container_archive(self, ident: str, path: str) -> bytes:
        raise errdefs.Unsupported("copying files from and to containers is not supported yet")

    def container_extract(self, ident: str, path: str, stream: Any, no_overwrite: bool, copy_uid: bool) -> None:
        raise errdefs.Unsupported("copying files from and to containers is not supported yet")
