// The offscreen document owns recording and uploading, so the service worker's lifetime does not
// matter: Chrome may stop the worker at any time and MediaRecorder and the uploads go on here.
// Each blob goes to IndexedDB first, then to the backend (DurableUploader). When this document
// loads (after a browser restart, the worker creates it again) it resumes every unfinished upload.
import { Code, ConnectError } from "@connectrpc/connect";
import { recorderClients, type RecorderClients } from "../../web/src/client";
import type { OffscreenCommand, RecorderStatus, StartRecording, TokenReply, UploadStatus } from "./messages";
import { ChunkStore, type UploadRecord } from "./store";
import { describe, DurableUploader } from "./uploader";

const TIMESLICE_MS = 1000;
const CALL_TIMEOUT_MS = 30_000;
const KEEP_FINISHED = 20;
// Best first: VP9 (smaller at the same quality), then VP8, each with Opus in WebM. WebM rather
// than H.264 in MP4: the backend follows a WebM upload live (remux and compress while recording).
const MIME_TYPES = ["video/webm;codecs=vp9,opus", "video/webm;codecs=vp8,opus", "video/webm"];

export function bestMimeType(supported: (type: string) => boolean = (t) => MediaRecorder.isTypeSupported(t)): string {
  return MIME_TYPES.find(supported) ?? "video/webm";
}

const storeReady = ChunkStore.open();
const uploaders = new Map<string, DurableUploader>();
const clientsByUrl = new Map<string, RecorderClients>();
let cachedToken: { token: string; until: number } | null = null;
let lastError: string | undefined;

interface Recording {
  videoId: string;
  recorder: MediaRecorder;
  tracks: MediaStreamTrack[];
  audio: AudioContext;
  mimeType: string;
  startedAt: number;
  pausedMs: number;
  pausedAt: number | null;
  appended: Promise<void>;
  ticker: ReturnType<typeof setInterval>;
}
let recording: Recording | null = null;

/** Asking the service worker wakes it if Chrome stopped it; it reloads the token from
 * chrome.storage.session (or signs in again) and answers. */
async function token(refresh = false): Promise<string> {
  if (!refresh && cachedToken && cachedToken.until > Date.now()) return cachedToken.token;
  const reply = (await chrome.runtime.sendMessage({ type: "get-token", refresh })) as TokenReply | undefined;
  if (!reply?.token) throw new ConnectError(reply?.error ?? "not signed in", Code.Unauthenticated);
  // Asked again at most a minute later, and never past the point the worker would renew it.
  cachedToken = { token: reply.token, until: Math.min(Date.now() + 60_000, reply.useUntil ?? 0) };
  return reply.token;
}

function clients(backendUrl: string): RecorderClients {
  let found = clientsByUrl.get(backendUrl);
  if (!found) clientsByUrl.set(backendUrl, found = recorderClients(backendUrl, () => token()));
  return found;
}

function notify(message: object): void {
  chrome.runtime.sendMessage(message).catch(() => {});  // nobody listening (popup closed) is fine
}

async function follow(upload: UploadRecord, resync: boolean): Promise<DurableUploader> {
  const store = await storeReady;
  const uploader = new DurableUploader(clients(upload.backendUrl), store, upload.videoId,
    { changed: () => notify({ type: "upload-changed", videoId: upload.videoId }) },
    async () => { cachedToken = null; await token(true); });
  uploaders.set(upload.videoId, uploader);
  void (async () => {
    await uploader.load(resync);
    await uploader.whenFinished();
    // Refused for good (quota, too long, signed out): recording on would only fill IndexedDB.
    if (uploader.error && recording?.videoId === upload.videoId) stop();
    await store.update(upload.videoId, (record) => {
      record.done = !uploader.error;
      record.error = uploader.error;
    });
    notify({ type: "upload-finished", videoId: upload.videoId, error: uploader.error });
  })().catch((err) => { lastError = String(err); });
  return uploader;
}

async function mixedAudio(stream: MediaStream, microphone: boolean, playBack: boolean, audio: AudioContext,
                          tracks: MediaStreamTrack[]): Promise<MediaStreamTrack[]> {
  const sources = stream.getAudioTracks();
  if (microphone) {
    const mic = await navigator.mediaDevices.getUserMedia({ audio: { echoCancellation: true } });
    tracks.push(...mic.getTracks());
    sources.push(...mic.getAudioTracks());
  }
  if (sources.length === 0) return [];
  const out = audio.createMediaStreamDestination();
  for (const track of stream.getAudioTracks()) {
    const source = audio.createMediaStreamSource(new MediaStream([track]));
    source.connect(out);
    // Capturing a tab mutes it for the user; play its sound on so they still hear it.
    if (playBack) source.connect(audio.destination);
  }
  for (const track of sources.filter((t) => !stream.getAudioTracks().includes(t))) {
    audio.createMediaStreamSource(new MediaStream([track])).connect(out);
  }
  return out.stream.getAudioTracks();
}

async function capture(command: StartRecording): Promise<MediaStream> {
  if (command.mode === "tab") {
    if (!command.streamId) throw new Error("no tab stream id");
    const source = { chromeMediaSource: "tab", chromeMediaSourceId: command.streamId };
    return navigator.mediaDevices.getUserMedia({
      audio: { mandatory: source },
      video: { mandatory: { ...source, maxWidth: 1920, maxHeight: 1080, maxFrameRate: 30 } },
    } as unknown as MediaStreamConstraints);
  }
  return navigator.mediaDevices.getDisplayMedia({ video: { width: 1280, height: 720, frameRate: 30 }, audio: true });
}

async function start(command: StartRecording): Promise<{ videoId: string; mimeType: string }> {
  if (recording) throw new Error("already recording");
  const store = await storeReady;
  const stream = await capture(command);
  const tracks = [...stream.getTracks()];
  const audio = new AudioContext();
  let created: string | undefined;
  try {
    const audioTracks = await mixedAudio(stream, command.microphone, command.mode === "tab", audio, tracks);
    const mimeType = bestMimeType();
    const { videoId } = await clients(command.backendUrl).ingest.createUpload(
      { title: command.title.slice(0, 200), filename: "recording.webm", contentType: mimeType },
      { timeoutMs: CALL_TIMEOUT_MS });
    created = videoId;
    const record: UploadRecord = { videoId, title: command.title, createdAt: Date.now(),
      backendUrl: command.backendUrl, recorded: 0, stopped: false, done: false, chunks: [] };
    await store.createUpload(record);
    const uploader = await follow(record, false);
    const recorder = new MediaRecorder(new MediaStream([...stream.getVideoTracks(), ...audioTracks]), { mimeType });
    const current: Recording = { videoId, recorder, tracks, audio, mimeType, startedAt: Date.now(), pausedMs: 0,
      pausedAt: null, appended: Promise.resolve(),
      ticker: setInterval(() => notify({ type: "tick", elapsedMs: elapsed(current), paused: recorder.state === "paused" }), 1000) };
    recorder.ondataavailable = (event) => {
      // Only the final blob may be empty (the backend takes an empty chunk only as the last).
      if (event.data.size === 0 && recorder.state !== "inactive") return;
      current.appended = current.appended
        .then(() => store.appendBlob(videoId, event.data))
        .then((index) => uploader.added(index))
        .catch((err) => { lastError = `could not keep a chunk in IndexedDB: ${err}`; });
    };
    recorder.onstop = () => void finishRecording(current, uploader);
    // Chrome's "Stop sharing" bar (or the tab closing) ends the video track: stop cleanly.
    for (const track of stream.getVideoTracks()) track.onended = () => stop();
    recording = current;
    recorder.start(TIMESLICE_MS);
    notify({ type: "recording-started", videoId });
    return { videoId, mimeType };
  } catch (err) {
    tracks.forEach((t) => t.stop());
    await audio.close();
    if (created) {
      // Nothing was recorded: leave no upload behind, here or at the backend.
      uploaders.delete(created);
      await store.forget(created).catch(() => {});
      await clients(command.backendUrl).ingest.abortUpload({ videoId: created }, { timeoutMs: CALL_TIMEOUT_MS }).catch(() => {});
    }
    throw err;
  }
}

function elapsed(r: Recording): number {
  const paused = r.pausedMs + (r.pausedAt ? Date.now() - r.pausedAt : 0);
  return Date.now() - r.startedAt - paused;
}

async function finishRecording(current: Recording, uploader: DurableUploader): Promise<void> {
  clearInterval(current.ticker);
  current.tracks.forEach((t) => t.stop());
  await current.audio.close().catch(() => {});
  await current.appended;  // the final blob is in IndexedDB before the upload learns it is the last
  await (await storeReady).update(current.videoId, (record) => { record.stopped = true; });
  uploader.stop();
  if (recording === current) recording = null;
  notify({ type: "recording-ended", videoId: current.videoId });
}

function stop(): void {
  if (recording && recording.recorder.state !== "inactive") recording.recorder.stop();
}

async function status(): Promise<RecorderStatus> {
  const store = await storeReady;
  const records = (await store.uploads()).sort((a, b) => b.createdAt - a.createdAt);
  const uploads: UploadStatus[] = records.map((record) => {
    const uploader = uploaders.get(record.videoId);
    return {
      videoId: record.videoId, title: record.title, createdAt: record.createdAt, recorded: record.recorded,
      acknowledged: uploader?.acknowledged ?? (record.done ? record.recorded : 0), stopped: record.stopped,
      done: record.done, connection: uploader?.connection ?? "ok", outages: uploader?.outages ?? 0,
      recovered: uploader?.recovered ?? false, error: uploader?.error ?? record.error, chunks: record.chunks,
    };
  });
  return {
    recording: recording && { videoId: recording.videoId, paused: recording.recorder.state === "paused",
      elapsedMs: elapsed(recording), mimeType: recording.mimeType },
    uploads, error: lastError,
  };
}

async function handle(command: OffscreenCommand): Promise<unknown> {
  switch (command.type) {
    case "start": return start(command);
    case "stop": stop(); return {};
    case "pause":
      if (recording?.recorder.state === "recording") { recording.recorder.pause(); recording.pausedAt = Date.now(); }
      return {};
    case "resume":
      if (recording?.recorder.state === "paused") {
        recording.recorder.resume();
        recording.pausedMs += Date.now() - (recording.pausedAt ?? Date.now());
        recording.pausedAt = null;
      }
      return {};
    case "status": return status();
  }
}

chrome.runtime.onMessage.addListener((message: OffscreenCommand & { target?: string }, _sender, reply) => {
  if (message?.target !== "offscreen") return false;
  handle(message).then(reply, (err) => reply({ error: err instanceof ConnectError ? describe(err) : String(err?.message ?? err) }));
  return true;  // answered asynchronously
});

/** What a closed browser (or a crashed document) left behind: finish those uploads now. */
async function resumeUnfinished(): Promise<void> {
  const store = await storeReady;
  const records = (await store.uploads()).sort((a, b) => b.createdAt - a.createdAt);
  for (const record of records) {
    if (record.done || record.error || uploaders.has(record.videoId)) continue;
    // Recording cannot go on after a restart: what was written is the recording.
    const upload = record.stopped ? record : await store.update(record.videoId, (r) => { r.stopped = true; });
    await follow(upload, true);
  }
  for (const old of records.filter((r) => r.done).slice(KEEP_FINISHED)) await store.forget(old.videoId);
}

void resumeUnfinished().catch((err) => { lastError = String(err); });
