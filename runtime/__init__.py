"""The built-in container engine (daemon, images, executor, network).

Only the leaf module `runtime.errdefs` is shared with the orchestrator.
"""
