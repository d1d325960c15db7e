"""A Lambda Runtime API for benchmarks: runs one function process the way Lambda does and
times it. The process gets AWS_LAMBDA_RUNTIME_API pointing here; its first
`GET /2018-06-01/runtime/invocation/next` ends its init, each event is answered through
`POST /invocation/<id>/response` (or `/error`); after the last event the harness stops the
process and reads its peak RSS (VmHWM) while it waits for the next event.

usage (library): run(command, env, events) -> dict of seconds from spawn: init (first `next`),
  first_response, responses (each), peak_rss_kib (at the end), peaks_at_next_kib (the peak
  each time the process asked for an event), cpu_at_next_s (the CPU time its threads had used
  each time it asked for an event), answers (bodies), errors.
"""
import json
import os
import signal
import socket
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PREFIX = "/2018-06-01/runtime"


class _State:
    def __init__(self, events):
        self.events = list(events)
        self.started = None
        self.init = None
        self.responses = []
        self.answers = []
        self.errors = []
        self.finished = threading.Event()
        self.pid = None
        # the process's peak RSS (VmHWM, KiB) and CPU time (s) each time it asks for the next event
        self.peaks = []
        self.cpu = []
        self.lock = threading.Lock()


def _handler(state):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def setup(self):
            super().setup()
            # headers and body go out as two writes: without this, Nagle and the client's
            # delayed ACK add ~40 ms to every keep-alive exchange
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _reply(self, status, body=b"", headers=()):
            self.send_response(status)
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            if self.path != f"{PREFIX}/invocation/next":
                return self._reply(404)
            now = time.perf_counter()
            state.peaks.append(_peak_rss_kib(state.pid))
            state.cpu.append(_cpu_seconds(state.pid))
            with state.lock:
                if state.init is None:
                    state.init = now - state.started
                event = state.events.pop(0) if state.events else None
            if event is None:
                # no more work: the harness stops the process while it waits here
                state.finished.set()
                time.sleep(30)
                try:
                    return self._reply(500)
                except (BrokenPipeError, ConnectionResetError):
                    return None  # stopped, as intended: nothing to report
            body = json.dumps(event).encode()
            self._reply(200, body, [
                ("content-type", "application/json"),
                ("lambda-runtime-aws-request-id", str(uuid.uuid4())),
                ("lambda-runtime-deadline-ms", str(int(time.time() * 1000) + 60_000)),
                ("lambda-runtime-invoked-function-arn", "arn:aws:lambda:us-east-1:123456789012:function:bench"),
                ("lambda-runtime-trace-id", "Root=1-00000000-000000000000000000000000;Parent=0;Sampled=0"),
            ])

        def do_POST(self):
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            now = time.perf_counter() - state.started
            if self.path.endswith("/response"):
                state.responses.append(now)
                state.answers.append(body)
            elif self.path.endswith("/error"):
                state.errors.append(body.decode("utf-8", "replace"))
                state.responses.append(now)
                if self.path.endswith("/init/error"):
                    state.finished.set()
            else:
                return self._reply(404)
            self._reply(202, b'{"status":"OK"}', [("content-type", "application/json")])

    return Handler


def _peak_rss_kib(pid):
    """The process's own peak RSS since exec (VmHWM); wait4's ru_maxrss would also count the
    harness's pages the child shared between fork and exec."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, TypeError):
        return None


def _cpu_seconds(pid):
    """CPU time (user + system) the process's threads have run, in ns precision: the first
    field of each thread's schedstat (/proc/<pid>/stat counts in 10 ms ticks)."""
    total = 0
    try:
        for task in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{task}/schedstat") as stat:
                total += int(stat.read().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return total / 1e9


def lambda_env(api):
    return {
        "AWS_LAMBDA_RUNTIME_API": api,
        "AWS_LAMBDA_FUNCTION_NAME": "bench",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "1024",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/bench",
        "AWS_LAMBDA_LOG_STREAM_NAME": "bench",
        "LAMBDA_TASK_ROOT": os.getcwd(),
    }


def run(command, env, events, timeout=120):
    state = _State(events)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    api = f"127.0.0.1:{server.server_address[1]}"
    full_env = dict(os.environ)
    full_env.update(env)
    full_env.update(lambda_env(api))
    state.started = time.perf_counter()
    process = subprocess.Popen(command, env=full_env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE, start_new_session=True)
    state.pid = process.pid
    finished = state.finished.wait(timeout)
    peak = _peak_rss_kib(process.pid)
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    _, status, usage = os.wait4(process.pid, 0)
    stderr = process.stderr.read().decode("utf-8", "replace")
    server.shutdown()
    if not finished:
        raise RuntimeError(f"{command[0]} did not finish its events: {stderr[-2000:]}")
    return {
        "init": state.init,
        "first_response": state.responses[0] if state.responses else None,
        "responses": state.responses,
        "answers": state.answers,
        "errors": state.errors,
        "peak_rss_kib": peak if peak is not None else usage.ru_maxrss,
        "peaks_at_next_kib": state.peaks,
        "cpu_at_next_s": state.cpu,
        "stderr": stderr[-2000:],
    }
