"""Copy the first SECONDS of a video's stream into a new file, without re-encoding: cut_clip.py IN OUT SECONDS."""
import sys

import av

source, target, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
with av.open(source) as src, av.open(target, "w") as dst:
    stream = src.streams.video[0]
    out = dst.add_stream_from_template(stream)
    for packet in src.demux(stream):
        if packet.dts is None:
            continue
        if packet.pts is not None and packet.pts * stream.time_base > seconds:
            break
        packet.stream = out
        dst.mux(packet)
