#!/usr/bin/env bash
# Integration check of spacy_uniner.OpenAICompatible.v1 against real llama.cpp servers, on CPU.
#
#   bash scripts/llamacpp_check.sh [TOKENIZER_MODEL]
#
# 1. Builds llama-cpp-python[server] and llama.cpp's own llama-server (from the llama.cpp
#    sources that llama-cpp-python's sdist vendors) into their own virtual environment,
#    $LLAMACPP_VENV (default ~/.cache/spacy-uniner/llamacpp), once: ~5 to 15 minutes.
# 2. Writes random LLaMA-1-style models with the given sentencepiece tokenizer (default: the
#    LLaMA tokenizer fixture) and converts them with llama.cpp's convert_hf_to_gguf.py.
# 3. Serves the float32 GGUF on 127.0.0.1 with both servers and runs scripts/llamacpp_check.py
#    (answers vs the Hugging Face backend, ids evaluated vs tokenizer(prompt).input_ids), then
#    the float16 one for benchmarks/server_prefix.py (grouped vs shuffled queries).
# Needs the project's .venv (scripts/setup.sh), cmake and a C++ compiler. Not part of the
# test-suite: it builds native code.
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=0.3.36
VENV=${LLAMACPP_VENV:-$HOME/.cache/spacy-uniner/llamacpp}
TOKENIZER=${1:-../shared/fixtures/llama_tokenizer/tokenizer.model}
JOBS=${JOBS:-2}
# Server threads in the benchmark. One by default: on a busy machine ggml's spinning worker
# threads lose their cores and timings scatter tenfold.
BENCH_THREADS=${BENCH_THREADS:-1}
PY=.venv/bin/python
export HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1
WORK=$(mktemp -d)
SERVER_PID=""

stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  fi
}
trap 'stop_server; rm -rf "$WORK"' EXIT

free_port() { "$PY" -c "import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); print(s.getsockname()[1])"; }

# start_server LOG CMD...: run CMD in the background and wait until /v1/models answers.
start_server() {
  local log=$1 port=$2
  shift 2
  "$@" >"$log" 2>&1 &
  SERVER_PID=$!
  for _ in $(seq 240); do
    if curl -sf "http://127.0.0.1:$port/v1/models" >/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then break; fi
    sleep 0.5
  done
  echo "server did not start; its log:" >&2
  tail -30 "$log" >&2
  exit 1
}

[ -f "$TOKENIZER" ] || { echo "tokenizer.model not found: $TOKENIZER" >&2; exit 1; }
[ -x "$PY" ] || { echo "no project .venv: run scripts/setup.sh first" >&2; exit 1; }

# 1. The servers, built once.
if ! "$VENV/bin/python" -c "import llama_cpp.server" 2>/dev/null; then
  python3 -m venv "$VENV"
  CMAKE_BUILD_PARALLEL_LEVEL=$JOBS nice -n 10 "$VENV/bin/pip" install "llama-cpp-python[server]==$VERSION"
fi
SRC="$VENV/src/llama_cpp_python-$VERSION/vendor/llama.cpp"
if [ ! -f "$SRC/convert_hf_to_gguf.py" ]; then
  "$VENV/bin/pip" download --no-deps --no-binary :all: "llama-cpp-python==$VERSION" -d "$VENV/src"
  tar xzf "$VENV/src/llama_cpp_python-$VERSION.tar.gz" -C "$VENV/src"
fi
SERVER="$VENV/llama-server-build/bin/llama-server"
if [ ! -x "$SERVER" ]; then
  nice -n 10 cmake -S "$SRC" -B "$VENV/llama-server-build" -DCMAKE_BUILD_TYPE=Release \
    -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
    -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
  nice -n 10 cmake --build "$VENV/llama-server-build" --target llama-server -j "$JOBS"
fi

# 2. Models: HF folders and their GGUF conversions (kept for the next run).
MODELS="$VENV/models"
"$PY" scripts/llamacpp_check.py build "$MODELS" --tokenizer "$TOKENIZER" --convert "$SRC/convert_hf_to_gguf.py"

# 3a. Equality and token-id checks on the float32 model, both servers at once.
mkdir -p "$WORK/slots"
PORT=$(free_port)
start_server "$WORK/llama-server.log" "$PORT" \
  "$SERVER" -m "$MODELS/tiny-f32.gguf" --host 127.0.0.1 --port "$PORT" -c 2048 -np 1 \
  --slot-save-path "$WORK/slots/"
LLAMA_SERVER_PID=$SERVER_PID
PORT2=$(free_port)
start_server "$WORK/llama-cpp-python.log" "$PORT2" \
  "$VENV/bin/python" -m llama_cpp.server --model "$MODELS/tiny-f32.gguf" --host 127.0.0.1 \
  --port "$PORT2" --n_ctx 2048
status=0
"$PY" scripts/llamacpp_check.py check --model "$MODELS/tiny" \
  --llama-server "http://127.0.0.1:$PORT/v1" --llama-cpp-python "http://127.0.0.1:$PORT2/v1" \
  --slot-dir "$WORK/slots" || status=$?
stop_server
SERVER_PID=$LLAMA_SERVER_PID
stop_server

# 3b. The float16 model: answers, then prefix-cache use with llama-server's 2 slots (its
# host-memory prompt cache on, the default, then off), then with llama-cpp-python.
echo
for cache_ram in 8192 0; do
  PORT=$(free_port)
  start_server "$WORK/bench-llama-server.log" "$PORT" \
    "$SERVER" -m "$MODELS/bench-f16.gguf" --host 127.0.0.1 --port "$PORT" -c 4096 -np 2 \
    --cache-ram "$cache_ram" -t "$BENCH_THREADS" -tb "$BENCH_THREADS"
  if [ "$cache_ram" != 0 ]; then
    "$PY" scripts/llamacpp_check.py answers --model "$MODELS/bench" --url "http://127.0.0.1:$PORT/v1"
  fi
  echo "llama-server --cache-ram $cache_ram"
  "$PY" benchmarks/server_prefix.py --base-url "http://127.0.0.1:$PORT/v1" --tokenizer "$MODELS/bench" \
    --slots 2 --concurrency 2
  stop_server
  echo
done
PORT=$(free_port)
start_server "$WORK/bench-llama-cpp-python.log" "$PORT" \
  "$VENV/bin/python" -m llama_cpp.server --model "$MODELS/bench-f16.gguf" --host 127.0.0.1 \
  --port "$PORT" --n_ctx 2048 --n_threads "$BENCH_THREADS" --n_threads_batch "$BENCH_THREADS" --verbose True
echo "llama-cpp-python"
"$PY" benchmarks/server_prefix.py --base-url "http://127.0.0.1:$PORT/v1" --tokenizer "$MODELS/bench" \
  --prompt-format text --extra-body '{"repeat_penalty": 1.0}' --concurrency 2 \
  --server-log "$WORK/bench-llama-cpp-python.log"
stop_server
exit $status
