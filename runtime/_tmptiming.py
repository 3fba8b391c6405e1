import os, time
_fd = os.open("/tmp/timing.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
def mark(label):
    os.write(_fd, f"{os.getpid()} {time.perf_counter_ns()} {label}\n".encode())
