"""Per-container /etc/hostname, /etc/hosts and /etc/resolv.conf (pure content + one writer).

Called by the manager at create; the files live in the container's record directory and are
bind-mounted by the executor. The network hook may supply hosts/resolv.conf content.
"""

from __future__ import annotations

import os



def default_hosts(hostname: str) -> str:
    return ("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"
            "fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\n"
            f"ff02::2\tip6-allrouters\n127.0.1.1\t{hostname}\n")


def default_resolv_conf() -> str:
    # No network hook (network_mode none): nothing to resolve with. Docker writes the host's
    # file filtered of loopback servers; without a network there is nobody to ask.
    return "# no network configured (network_mode none)\n"


def write_text_atomic(path: str, text: str) -> None:
    tmp = f"{path}.tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.replace(tmp, path)
