"""`python3 -m runtime.supervisor --root R --run-root RR`: the supervisor process.

Started detached by the container manager (runtime.supervisor.client.ensure_supervisor) or by
tests. Runs until SIGTERM/SIGINT, which leave the containers running.
"""

from __future__ import annotations

import argparse
import os


def main() -> None:
    parser = argparse.ArgumentParser(prog="python3 -m runtime.supervisor")
    parser.add_argument("--root", default="/var/lib/stackyard")
    parser.add_argument("--run-root", default="/run/stackyard")
    args = parser.parse_args()
    # Hold no directory of whoever started us (a mount point could not be unmounted). The umask
    # is Docker's 022: containers forked from here inherit it.
    os.chdir("/")
    os.umask(0o022)
    from runtime.executor.runtimes import Executors
    from runtime.supervisor.server import Supervisor
    # Each container runs on the executor its spec names (HostConfig.Runtime, resolved at
    # create); crun/runc keep their state under the run root.
    Supervisor(args.root, args.run_root, Executors(oci_state_dir=os.path.join(args.run_root, "oci"))).serve()


if __name__ == "__main__":
    main()
