// Test page: records an animated canvas with a WebAudio tone through MediaRecorder (1000 ms
// timeslice), uploads each chunk live through the gRPC-Web gateway, follows the watch stream,
// and reports what it did on window.recorderResult for the browser test.
import { Code, ConnectError } from "@connectrpc/connect";
import { VideoStatus } from "./gen/recorder/v1/common_pb";
import { errorReason, LiveUploader, recorderClients } from "./client";

const params = new URLSearchParams(location.search);
const gateway = params.get("gateway") ?? "http://127.0.0.1:8080";
const seconds = Number(params.get("seconds") ?? "5");
// The token travels in the fragment, which the page server never sees.
const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
const statusEl = document.getElementById("status")!;
const show = (text: string) => { statusEl.textContent = text; };

function animatedCanvas(): HTMLCanvasElement {
  const canvas = document.getElementById("screen") as HTMLCanvasElement;
  const ctx = canvas.getContext("2d")!;
  const start = performance.now();
  const draw = () => {
    const t = (performance.now() - start) / 1000;
    ctx.fillStyle = `hsl(${(t * 60) % 360}, 60%, 85%)`;
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.fillStyle = "#123";
    ctx.fillRect(40 + ((t * 120) % (canvas.width - 120)), 120, 80, 80);
    ctx.font = "32px sans-serif";
    ctx.fillText(`t = ${t.toFixed(2)} s`, 20, 50);
    requestAnimationFrame(draw);
  };
  draw();
  return canvas;
}

function tone(): MediaStreamTrack {
  const audio = new AudioContext();
  const osc = audio.createOscillator();
  osc.frequency.value = 440;
  const out = audio.createMediaStreamDestination();
  osc.connect(out);
  osc.start();
  return out.stream.getAudioTracks()[0];
}

async function hex(bytes: ArrayBuffer): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0")).join("");
}

/** The call's status code and ErrorInfo reason ("OK" and "" when it succeeds). */
async function outcome(call: () => Promise<unknown>): Promise<[string, string]> {
  try {
    await call();
    return ["OK", ""];
  } catch (err) {
    return [Code[ConnectError.from(err).code], errorReason(err) ?? ""];
  }
}

async function main() {
  const clients = recorderClients(gateway, () => token);
  const canvas = animatedCanvas();
  const stream = new MediaStream([...canvas.captureStream(30).getVideoTracks(), tone()]);
  const { videoId } = await clients.ingest.createUpload(
    { title: "test page", filename: "screen.webm", contentType: "video/webm;codecs=vp8,opus" },
    { timeoutMs: 30_000 });
  const uploader = new LiveUploader(clients, videoId);
  uploader.failFirstAttemptOf.add(1);
  const recorded: Blob[] = [];
  const recorder = new MediaRecorder(stream, { mimeType: "video/webm;codecs=vp8,opus" });
  recorder.ondataavailable = (event) => {
    recorded.push(event.data);
    uploader.push(event.data);
    show(`recording: ${recorded.length} chunks`);
  };
  const stopped = new Promise((resolve) => { recorder.onstop = resolve; });
  recorder.start(1000);
  await new Promise((resolve) => setTimeout(resolve, seconds * 1000));
  recorder.stop();
  await stopped;
  await uploader.finish();
  const all = await new Blob(recorded).arrayBuffer();
  let final = VideoStatus.UNSPECIFIED;
  for await (const update of clients.catalog.watchVideo({ videoId }, { timeoutMs: 300_000 })) {
    final = update.status;
    show(`${VideoStatus[update.status]} ${Math.round(update.progress * 100)}%`);
  }
  const anonymous = recorderClients(gateway, () => "not-a-token");
  const outcomes = {
    badToken: await outcome(() => anonymous.catalog.listVideos({}, { timeoutMs: 30_000 })),
    unknownVideo: await outcome(() => clients.catalog.getVideo({ videoId: "0".repeat(32) }, { timeoutMs: 30_000 })),
    oversizeChunk: await outcome(async () => {
      const data = new Uint8Array(Number(params.get("oversize") ?? 9 * 1024 * 1024));
      const sha256 = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
      await clients.ingest.putChunk({ videoId, chunk: { index: 999n, data, checksum: { case: "sha256", value: sha256 } } },
        { timeoutMs: 60_000 });
    }),
  };
  const errors = Object.fromEntries(Object.entries(outcomes).map(([name, [code]]) => [name, code]));
  const reasons = Object.fromEntries(Object.entries(outcomes).map(([name, [, reason]]) => [name, reason]));
  show(`${VideoStatus[final]} | unknown video: ${errors.unknownVideo} | oversize chunk: ${errors.oversizeChunk}`);
  (window as any).recorderResult = {
    videoId, status: VideoStatus[final], sha256: await hex(all), size: all.byteLength,
    chunks: recorded.length, retries: uploader.retries, errors, reasons,
  };
}

main().catch((err) => {
  show(`error: ${err}`);
  (window as any).recorderResult = { error: String(err) };
});
