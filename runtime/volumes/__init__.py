"""Named volumes (driver `local`): directories under `<root>/volumes/<name>/_data`.

`VolumeStore` is called by runtime/services.py (the /volumes routes) and by the container
manager, which resolves the volumes a container mounts into host directories for the spec.
"""

from runtime.volumes.store import VolumeStore

__all__ = ["VolumeStore"]
