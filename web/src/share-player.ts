// The share page's player for HLS (a recording watched while it is still being made). Native HLS
// where the browser has it, else hls.js (Media Source Extensions). The playlist URL carries the
// share token in its path, so the segment URIs (relative) inherit it.
import Hls from "hls.js";

const video = document.querySelector<HTMLVideoElement>("#player");
const source = video?.dataset.hls;
if (video && source) {
  // hls.js first where Media Source Extensions exist: it stays about one segment behind the
  // newest one while the recording goes on (Chromium's native HLS starts a live playlist several
  // segments back, and did not always start playing a growing EVENT playlist in tests).
  if (Hls.isSupported()) {
    const hls = new Hls({ liveSyncDurationCount: 1, enableWorker: false, lowLatencyMode: false });
    hls.loadSource(source);
    hls.attachMedia(video);
    (window as unknown as { recorderHls: Hls }).recorderHls = hls;
  } else if (video.canPlayType("application/vnd.apple.mpegurl")) {
    video.src = source;  // Safari on iOS: no MSE, native HLS
  } else {
    video.insertAdjacentHTML("afterend", "<p>This browser cannot play this recording while it is live.</p>");
  }
}
