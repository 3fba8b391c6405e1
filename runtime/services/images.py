"""Images part of the façade: the image store (runtime.images) in Docker's JSON shapes, with events.

Mixed into `runtime.services.Services`; called by the image routes. The store lives at
<root> (content/, overlay/, images.db); the registry client follows the daemon config (insecure registries, mirrors).
"""

from __future__ import annotations

import os
from functools import cached_property
from typing import Any, BinaryIO, Callable, Optional

from runtime import errdefs
from runtime.config import DaemonConfig
from runtime.events import EventBus

Progress = Optional[Callable[[dict], None]]


def image_summary(image: Any, users: int) -> dict[str, Any]:
    """One entry of GET /images/json."""
    return {
        "Id": image.id, "ParentId": "", "RepoTags": image.repo_tags or ["<none>:<none>"],
        "RepoDigests": image.repo_digests or (["<none>@<none>"] if not image.repo_tags else []),
        "Created": image.created_unix, "Size": image.size, "SharedSize": -1,
        "VirtualSize": image.size, "Labels": (image.config.get("config") or {}).get("Labels") or {},
        "Containers": users,
    }


class ImagesPart:
    config: DaemonConfig
    events: EventBus

    def image_users(self, image_id: str) -> list[str]:  # answered by the containers part
        raise NotImplementedError

    @cached_property
    def images(self):
        from runtime.images import ImageService
        from runtime.registry.config import RegistryConfig
        config = RegistryConfig(insecure_registries=list(self.config.insecure_registries),
                                mirrors=list(self.config.registry_mirrors))
        # The store lives at the root itself (content/, overlay/, images.db), where the in-process
        # `stackyard image` verbs put it too, so both see the same images. The registry client
        # (httpx) is made on the first pull or push: an idle daemon does not carry it.
        return ImageService(self.config.root, registry_config=config)

    def images_close(self) -> None:
        if "images" in self.__dict__:
            self.images.close()

    def image_count(self) -> int:
        if not os.path.exists(os.path.join(self.config.root, "images.db")):
            return 0
        return len(self.images.list())

    def _in_use(self, image_id: str) -> bool:
        return bool(self.image_users(image_id))

    def image_parse_reference(self, ref: str) -> None:
        from runtime.images.reference import parse_reference
        parse_reference(ref)

    def image_pull(self, ref: str, *, platform: Optional[str], auth: Optional[dict], progress: Progress) -> None:
        self.images.pull(ref, platform=platform, auth=auth, progress=progress)
        self.events.emit("image", "pull", ref, {"name": ref})

    def image_push(self, ref: str, *, auth: Optional[dict], progress: Progress) -> None:
        self.images.push(ref, auth=auth, progress=progress)
        self.events.emit("image", "push", ref, {"name": ref})

    def image_list(self, filters: dict[str, list[str]], all_: bool) -> list[dict[str, Any]]:
        dangling = None
        if "dangling" in filters:
            values = {v.lower() for v in filters["dangling"]}
            if not values <= {"true", "false", "1", "0"}:
                raise errdefs.InvalidArgument(f"invalid filter 'dangling={filters['dangling'][0]}'")
            dangling = bool(values & {"true", "1"})
        images = self.images.list(dangling=dangling)
        if "reference" in filters:
            from runtime.images.service import _matches_reference
            images = [i for i in images if any(_matches_reference(i, p) for p in filters["reference"])]
        for label in filters.get("label", []):
            key, eq, value = label.partition("=")
            images = [i for i in images
                      if key in ((i.config.get("config") or {}).get("Labels") or {})
                      and (not eq or (i.config.get("config") or {}).get("Labels", {}).get(key) == value)]
        for key in ("before", "since"):
            for ref in filters.get(key, []):
                pivot = self.images.get(ref).created_unix
                images = [i for i in images if (i.created_unix < pivot if key == "before" else i.created_unix > pivot)]
        images.sort(key=lambda i: i.created_unix, reverse=True)
        return [image_summary(i, len(self.image_users(i.id))) for i in images]

    def image_inspect(self, name: str) -> dict[str, Any]:
        return self.images.inspect(name)

    def image_history(self, name: str) -> list[dict[str, Any]]:
        return self.images.history(name)

    def image_tag(self, source: str, target: str) -> None:
        self.images.tag(source, target)
        self.events.emit("image", "tag", self.images.resolve_id(source), {"name": target})

    def image_remove(self, name: str, force: bool, noprune: bool) -> list[dict[str, Any]]:
        deleted = self.images.remove(name, force=force, in_use=self._in_use, prune_children=not noprune)
        for entry in deleted:
            for action, key in (("untag", "Untagged"), ("delete", "Deleted")):
                if key in entry:
                    self.events.emit("image", action, entry[key], {"name": entry[key]})
        return deleted

    def image_prune(self, filters: dict[str, list[str]]) -> dict[str, Any]:
        dangling_only = True
        if "dangling" in filters:
            dangling_only = filters["dangling"][0].lower() in ("true", "1")
        result = self.images.prune(dangling_only=dangling_only, in_use=self._in_use)
        self.events.emit("image", "prune", "", {"reclaimed": str(result.get("SpaceReclaimed", 0))})
        return result

    def image_check_exist(self, names: list[str]) -> None:
        for name in names:
            self.images.get(name)

    def image_save(self, names: list[str], out: BinaryIO) -> None:
        self.images.save(names, out)

    def image_load(self, stream: BinaryIO, progress: Progress) -> list[str]:
        loaded = self.images.load(stream, progress=progress)
        for line in loaded:
            self.events.emit("image", "load", line.split(": ", 1)[-1], {"name": line.split(": ", 1)[-1]})
        return loaded

    def image_import(self, stream: BinaryIO, reference: Optional[str], *, changes: list[str], message: str):
        image = self.images.import_rootfs(stream, reference, changes=changes or None, message=message)
        self.events.emit("image", "import", image.id, {"name": reference or image.id})
        return image
