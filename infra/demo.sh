#!/usr/bin/env bash
# Process one lesson on the embedded defaults (SQLite + local blob store + local Ray) and print its summary.
# VIDEO=path processes your own file; otherwise a short sample lesson is generated from ../shared/data.
set -uo pipefail
cd "$(dirname "$0")/.."
export EVIDENCE_HOME=${EVIDENCE_HOME:-$PWD/var}
out="$EVIDENCE_HOME/demo"
mkdir -p "$out"
shared=../shared/data
teacher_args=()

if [ -z "${VIDEO:-}" ]; then
  VIDEO="$out/sample_lesson.mp4"
  if [ ! -s "$VIDEO" ]; then
    echo "demo: generating a short sample lesson at $VIDEO"
    if [ -f "$shared/clips/short_hamilton_clip.mp4" ]; then
      # 5 s of "slides" (a test pattern with a tone), then a real clip of a person speaking, as one 1080p phone file.
      ffmpeg -nostdin -hide_banner -loglevel error -y \
        -f lavfi -i "testsrc2=s=1920x1080:r=25:d=5" -f lavfi -i "sine=f=440:r=48000:d=5" \
        -i "$shared/clips/short_hamilton_clip.mp4" \
        -filter_complex "[2:v]scale=1920:1080:force_original_aspect_ratio=decrease,pad=1920:1080:(ow-iw)/2:(oh-ih)/2,fps=25,setsar=1[v2];[2:a]aresample=48000,aformat=channel_layouts=stereo[a2];[1:a]aformat=channel_layouts=stereo[a1];[0:v]setsar=1[v1];[v1][a1][v2][a2]concat=n=2:v=1:a=1[v][a]" \
        -map "[v]" -map "[a]" -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac -b:a 128k "$VIDEO"
    else
      ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i "testsrc2=s=1920x1080:r=25:d=20" \
        -f lavfi -i "sine=f=440:r=48000:d=20" -c:v libx264 -preset veryfast -pix_fmt yuv420p -c:a aac "$VIDEO"
    fi
  fi
  if [ -f "$shared/faces/lin_manuel_miranda/ref1.png" ]; then
    echo "demo: enrolling the sample teacher from the teacher archive photo"
    .venv/bin/evidence enroll demo-teacher "$shared/faces/lin_manuel_miranda/ref1.png" \
      --school demo.city.county.school --subject demo --name "Demo Teacher" --by demo-admin >/dev/null \
      && teacher_args=(--teacher demo-teacher)
  fi
fi

echo "demo: processing $VIDEO (first run starts Ray, ~10 s)"
.venv/bin/evidence process "$VIDEO" "${teacher_args[@]}" > "$out/report.json"
rc=$?
echo "demo: full JSON report in $out/report.json (exit code $rc)"
# 0 = screened, 3 = rejected media: both are a working pipeline.
[ "$rc" = 0 ] || [ "$rc" = 3 ]
