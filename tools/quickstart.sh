#!/usr/bin/env bash
# The project's main job, from a fresh Debian 12 machine: installs what is
# missing, builds everything, starts the encoder, index, task and captioner
# services on loopback with the embedded model iv-tiny, renders a SynthWorld
# video library (trimmed clips and untrimmed videos), indexes it with the
# batch indexer, runs example searches and asks each task service once. The services keep running afterwards so you can
# query them; `tools/quickstart.sh stop` stops them. Interrupting the script
# (Ctrl-C) stops whatever it started.
#
# Environment: IV_QUICKSTART_DIR (default /tmp/iv-quickstart), IV_MODEL (a
# checkpoint folder; default models/iv-tiny), IV_ENCODER_PORT (50051),
# IV_INDEX_PORT (50052), IV_TASK_PORT (50053), IV_CAPTIONER_PORT (50055),
# IV_QUICKSTART_KEEP=0 to stop the services at the end.
# The default ports repeat the table in common/serving/ports.h: change both.
set -euo pipefail
cd "$(dirname "$0")/.."

out=${IV_QUICKSTART_DIR:-/tmp/iv-quickstart}
encoder=127.0.0.1:${IV_ENCODER_PORT:-50051}
index=127.0.0.1:${IV_INDEX_PORT:-50052}
tasks=127.0.0.1:${IV_TASK_PORT:-50053}
captioner=127.0.0.1:${IV_CAPTIONER_PORT:-50055}
iv=bazel-bin/tools/iv/iv

step() { printf '\n==> %s\n' "$*"; }

stop_services() {
  [ -f "$out/pids" ] || return 0
  while read -r pid; do kill "$pid" 2>/dev/null || true; done <"$out/pids"
  rm -f "$out/pids"
}

if [ "${1:-}" = stop ]; then
  stop_services
  echo "stopped the quick-start services"
  exit 0
fi

model=${IV_MODEL:-$PWD/models/iv-tiny}
if [ ! -d "$model" ]; then
  echo "quickstart: no model at $model; set IV_MODEL to a checkpoint folder" \
    "(e.g. one written by iv train)" >&2
  exit 2
fi
model=$(cd "$model" && pwd)

step "Installing missing Debian packages (tools/setup.sh)"
tools/setup.sh

step "Building every target offline (bazel build //...)"
bazel build //...

mkdir -p "$out"
stop_services  # a previous quick start's
# From here on, an interruption or failure stops what this run started.
trap 'stop_services; exit 130' INT TERM
trap 'status=$?; [ $status -ne 0 ] && stop_services' EXIT

step "Rendering a SynthWorld library into $out/library (iv synth)"
rm -rf "$out/library" "$out/index"
"$iv" synth --out "$out/library" --seed 2026 --size 64 --train 0 --val 0 \
  --test 300 --untrimmed-test 6 --preview
head -n 3 "$out/library/preview.txt"

step "Starting the encoder ($encoder, model $model), index ($index), task ($tasks) and captioner ($captioner) services"
# setsid: the services outlive this script (they are stopped through
# $out/pids), and a Ctrl-C in this terminal does not reach them twice.
setsid bazel-bin/encoder_service/encoder_server --address "$encoder" \
  --metrics-address "" --model-dir "$model" --allowed-roots "$out" \
  >"$out/encoder.log" 2>&1 &
echo $! >>"$out/pids"
setsid bazel-bin/index_service/index_server --address "$index" \
  --metrics-address "" --data-dir "$out/index" --encoder-address "$encoder" \
  >"$out/index.log" 2>&1 &
echo $! >>"$out/pids"
setsid bazel-bin/task_service/task_server --address "$tasks" \
  --metrics-address "" --model-dir "$model" --allowed-roots "$out" \
  >"$out/tasks.log" 2>&1 &
echo $! >>"$out/pids"
setsid bazel-bin/captioner/captioner_server --address "$captioner" \
  --metrics-address "" --model-dir "$model" --allowed-roots "$out" \
  >"$out/captioner.log" 2>&1 &
echo $! >>"$out/pids"
for service in "$encoder" "$index" "$tasks" "$captioner"; do
  for _ in $(seq 120); do
    "$iv" health "$service" >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! "$iv" health "$service" >/dev/null 2>&1; then
    echo "quickstart: $service did not become ready; see $out/*.log" >&2
    exit 1
  fi
done
echo "all four services are SERVING"

step "Indexing the library (iv ingest): the clips whole, the untrimmed videos also as 2 s moments"
"$iv" ingest "$out/library/clips" --encoder "$encoder" --index "$index" \
  --collection synthworld --jobs 2 --no-segments \
  --manifest "$out/library/test.jsonl"
"$iv" ingest "$out/library/untrimmed" --encoder "$encoder" --index "$index" \
  --collection synthworld --jobs 2 --manifest "$out/library/test_untrimmed.jsonl"

step "Searching by text"
for query in "a red circle moves left" "the blue square grows" \
  "a white triangle rotates clockwise"; do
  printf '\n$ iv search "%s" -k 5\n' "$query"
  "$iv" search "$query" --index "$index" --collection synthworld -k 5 \
    --scope whole
done

step "Searching moments inside the untrimmed videos"
query="a green cross fades out"
printf '$ iv search "%s" --scope segments -k 5\n' "$query"
"$iv" search "$query" --index "$index" --collection synthworld -k 5 \
  --scope segments

step "Searching by video (a clip as the query)"
clips=("$out"/library/clips/*.mp4)
clip=${clips[0]}
printf '$ iv search --video %s -k 3\n' "$clip"
"$iv" search --video "$clip" --index "$index" --collection synthworld -k 3

step "Asking the task services about that clip and one untrimmed video"
untrimmed=("$out"/library/untrimmed/*.mp4)
printf '$ iv recognize %s --top-k 3\n' "$clip"
"$iv" recognize "$clip" --server "$tasks" --top-k 3
printf '\n$ iv recognize %s --zero-shot "moves left,moves right,moves up,moves down,grows,shrinks"\n' "$clip"
"$iv" recognize "$clip" --server "$tasks" \
  --zero-shot "moves left,moves right,moves up,moves down,grows,shrinks"
# The clip's first manifest question (SynthWorld's "what color is the
# <shape> that <phrase>") and its true answer.
qa=$(grep -F "\"clips/$(basename "$clip")\"" "$out/library/test.jsonl" |
  sed -E 's/.*"questions":\[\{"q":"([^"]*)","a":"([^"]*)".*/\1|\2/')
question=${qa%%|*}
printf '\n$ iv ask %s "%s"\n' "$clip" "$question"
"$iv" ask "$clip" "$question" --server "$tasks" --top-k 3
echo "(true answer: ${qa##*|})"
printf '\n$ iv caption %s --beam 3\n' "$clip"
"$iv" caption "$clip" --server "$captioner" --beam 3
printf '\n$ iv localize %s --threshold 0.3\n' "${untrimmed[0]}"
"$iv" localize "${untrimmed[0]}" --server "$tasks" --threshold 0.3
echo "(true actions of that video: $(grep -F "$(basename "${untrimmed[0]}")" \
  "$out/library/test_untrimmed.jsonl" | head -c 300))"

trap - INT TERM EXIT
if [ "${IV_QUICKSTART_KEEP:-1}" = 0 ]; then
  stop_services
  echo; echo "Done; the services are stopped."
  exit 0
fi
cat <<MSG

Done. The stack is still running:
  encoder service  $encoder   (log $out/encoder.log)
  index service    $index   (log $out/index.log, data $out/index)
  task services    $tasks   (log $out/tasks.log)
  captioner        $captioner   (log $out/captioner.log)
Query it:
  $iv search "a yellow square shrinks" --index $index --collection synthworld
  $iv search --video $clip --index $index --collection synthworld
  $iv ingest MORE_VIDEOS_DIR --encoder $encoder --index $index --collection synthworld
  $iv recognize $clip --server $tasks
  $iv ask $clip "how many objects are there" --server $tasks
  $iv caption $clip --server $captioner --sample --temperature 0.7
  $iv health $index
Each video's labels are in $out/library/test.jsonl; $out/library/preview.png shows the world.
Stop the services with: tools/quickstart.sh stop
Run the test suite with: tools/test.sh
MSG
