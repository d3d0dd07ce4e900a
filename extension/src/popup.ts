// The popup: sign in, start and stop, the upload's connection, the latest recording followed
// through WatchVideo (uploading, processing with progress, ready with its thumbnail, or failed
// with the reason and a retry), and my recent recordings (ListVideos) with thumbnails and delete.
import { Code } from "@connectrpc/connect";
import { recorderClients, type RecorderClients } from "../../web/src/client";
import { AssetKind, ProcessingStep, VideoStatus, type Video } from "../../web/src/gen/recorder/v1/common_pb";
import { getToken, signedIn } from "./auth";
import { failure, isQuota } from "./failure";
import type { RecorderStatus, UploadStatus } from "./messages";
import { loadSettings } from "./settings";

const CALL_TIMEOUT_MS = 15_000;
const $ = (id: string) => document.getElementById(id)!;
const thumbnails = new Map<string, string>();
let clients: RecorderClients;
let watching: { videoId: string; abort: AbortController } | null = null;
let backendUrl = "";

/** What a person can do about an error. */
export function explain(err: unknown): string {
  const { error, code } = failure(err);
  switch (code) {
    case Code.Unauthenticated: return "Not signed in: press Sign in.";
    case Code.ResourceExhausted:
      return isQuota(error) ? `Quota exceeded (${error.rawMessage}): delete old recordings.`
        : `Recording too long (${error.rawMessage}).`;
    case Code.Unavailable: case Code.DeadlineExceeded:
      return `The backend at ${backendUrl} is unreachable: check your network or the backend URL in Options.`;
    case Code.NotFound: return "That recording no longer exists.";
    default: return error.rawMessage || String(err);
  }
}

const showError = (text: string) => { $("error").textContent = text; };

async function send<T>(message: object): Promise<T> {
  const reply = await chrome.runtime.sendMessage(message);
  if (reply?.error) throw new Error(reply.error);
  return reply as T;
}

const clock = (ms: number) => `${Math.floor(ms / 60_000)}:${String(Math.floor(ms / 1000) % 60).padStart(2, "0")}`;

function uploadLine(upload: UploadStatus | undefined): { text: string; cls: string } {
  if (!upload) return { text: "", cls: "muted" };
  const counts = `${upload.acknowledged}/${upload.recorded} chunks acknowledged`;
  if (upload.error) return { text: `Upload stopped: ${upload.error}`, cls: "error" };
  if (upload.connection === "retrying") {
    return { text: `Connection lost, retrying (${counts}; the rest wait safely in the browser)`, cls: "warn" };
  }
  const recovered = upload.recovered ? `Back online after ${upload.outages} outage${upload.outages > 1 ? "s" : ""}; ` : "";
  if (upload.done) return { text: `${recovered}Uploaded: ${upload.recorded} chunks`, cls: "ok" };
  return { text: `${recovered}Uploading: ${counts}`, cls: upload.recovered ? "ok" : "muted" };
}

async function refreshStatus(): Promise<void> {
  let status: RecorderStatus;
  try {
    status = await send<RecorderStatus>({ target: "offscreen", type: "status" });
  } catch {
    status = { recording: null, uploads: [] };  // no offscreen document: nothing recording
  }
  if (!status || !Array.isArray(status.uploads)) status = { recording: null, uploads: [] };
  const rec = status.recording;
  $("recording").hidden = !rec;
  $("controls").hidden = Boolean(rec);
  if (rec) {
    $("timer").textContent = clock(rec.elapsedMs);
    $("pause").textContent = rec.paused ? "Resume" : "Pause";
  }
  const latest = status.uploads[0];
  const line = uploadLine(latest);
  $("upload").textContent = line.text;
  $("upload").className = line.cls;
  if (status.error) showError(status.error);
  if (latest?.done && watching?.videoId !== latest.videoId) void watch(latest.videoId);
}

async function thumbnail(videoId: string): Promise<string | null> {
  const known = thumbnails.get(videoId);
  if (known) return known;
  const parts: BlobPart[] = [];
  let type = "image/jpeg";
  for await (const piece of clients.media.download({ videoId, kind: AssetKind.THUMBNAIL }, { timeoutMs: CALL_TIMEOUT_MS })) {
    if (piece.contentType) type = piece.contentType;
    parts.push(piece.data.slice());
  }
  const url = URL.createObjectURL(new Blob(parts, { type }));
  thumbnails.set(videoId, url);
  return url;
}

async function image(videoId: string): Promise<HTMLImageElement> {
  const img = document.createElement("img");
  img.alt = "thumbnail";
  try {
    img.src = (await thumbnail(videoId)) ?? "";
  } catch {
    img.alt = "no thumbnail";
  }
  return img;
}

/** Follows one video through WatchVideo until it is READY or FAILED. */
async function watch(videoId: string): Promise<void> {
  watching?.abort.abort();
  const abort = new AbortController();
  watching = { videoId, abort };
  const box = $("current");
  try {
    for await (const update of clients.catalog.watchVideo({ videoId }, { signal: abort.signal })) {
      box.replaceChildren();
      const line = document.createElement("p");
      box.append(line);
      if (update.status === VideoStatus.READY) {
        line.className = "ok";
        line.textContent = "Ready";
        box.append(await image(videoId));
        void listRecent();
      } else if (update.status === VideoStatus.FAILED) {
        line.className = "error";
        line.textContent = `Failed at ${ProcessingStep[update.errorStep] ?? "?"}: ${update.error}`;
        const retry = document.createElement("button");
        retry.textContent = "Retry";
        retry.onclick = () => void clients.ingest.retryProcessing({ videoId }, { timeoutMs: CALL_TIMEOUT_MS })
          .then(() => watch(videoId), (err) => showError(explain(err)));
        box.append(retry);
      } else if (update.status === VideoStatus.PROCESSING) {
        line.textContent = `Processing: ${ProcessingStep[update.step] ?? ""} ${Math.round(update.progress * 100)}%`;
      } else {
        line.textContent = VideoStatus[update.status].toLowerCase();
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) showError(explain(err));
  }
}

function describeVideo(video: Video): string {
  const status = VideoStatus[video.status];
  return video.status === VideoStatus.PROCESSING ? `${status} ${Math.round(video.progress * 100)}%` : status;
}

async function listRecent(): Promise<void> {
  const list = $("recent");
  try {
    const { videos } = await clients.catalog.listVideos({ pageSize: 10 }, { timeoutMs: CALL_TIMEOUT_MS });
    const items = await Promise.all(videos.map(async (video) => {
      const item = document.createElement("li");
      item.dataset.videoId = video.videoId;
      const title = document.createElement("span");
      title.className = "title";
      title.textContent = `${video.title || video.filename} · ${describeVideo(video)}`;
      const remove = document.createElement("button");
      remove.textContent = "Delete";
      remove.className = "delete";
      remove.onclick = () => void clients.ingest.deleteVideo({ videoId: video.videoId }, { timeoutMs: CALL_TIMEOUT_MS })
        .then(listRecent, (err) => showError(explain(err)));
      if (video.assets.some((a) => a.kind === AssetKind.THUMBNAIL)) item.append(await image(video.videoId));
      item.append(title, remove);
      return item;
    }));
    list.replaceChildren(...items);
    if (videos.length === 0) list.replaceChildren(Object.assign(document.createElement("li"), { textContent: "none yet" }));
  } catch (err) {
    showError(explain(err));
  }
}

async function signedInView(): Promise<void> {
  const yes = await signedIn();
  $("signin-row").hidden = yes;
  $("account").textContent = yes ? "· signed in" : "· not signed in";
  if (yes) void listRecent();
}

async function record(mode: "tab" | "display"): Promise<void> {
  showError("");
  try {
    const [tab] = await chrome.tabs.query({ active: true, currentWindow: true });
    await send({ type: "record", mode, tabId: tab?.id, microphone: ($("microphone") as HTMLInputElement).checked });
    await refreshStatus();
  } catch (err) {
    showError(String((err as Error).message ?? err));
  }
}

async function main(): Promise<void> {
  const settings = await loadSettings();
  backendUrl = settings.backendUrl;
  clients = recorderClients(backendUrl, () => getToken());
  ($("microphone") as HTMLInputElement).checked = settings.microphone;
  $("sign-in").onclick = () => void send({ type: "sign-in" }).then(signedInView, (err) => showError(String(err.message)));
  $("record-tab").onclick = () => void record("tab");
  $("record-display").onclick = () => void record("display");
  $("stop").onclick = () => void send({ target: "offscreen", type: "stop" }).then(refreshStatus);
  $("pause").onclick = () => void send({ target: "offscreen", type: $("pause").textContent === "Pause" ? "pause" : "resume" })
    .then(refreshStatus);
  // Signed in or out elsewhere (the worker, another popup): show it.
  chrome.storage.onChanged.addListener((_changes, area) => { if (area === "session") void signedInView(); });
  await signedInView();
  await refreshStatus();
  setInterval(() => void refreshStatus(), 500);
}

void main();
