// The service worker: sign-in (chrome.identity, chrome.storage.session), the tab's stream id,
// the offscreen document and the badge. It keeps no state of its own: Chrome may stop it at any
// time. It is woken by the next message (the offscreen document's badge tick every second or a
// token request, the popup) or by browser start-up, and reloads what it needs from
// chrome.storage (token, settings) and IndexedDB (unfinished uploads).
import { getToken, getTokenUntil, signedIn, signIn, signOut } from "./auth";
import type { CaptureMode, TokenReply } from "./messages";
import { loadSettings } from "./settings";
import { ChunkStore } from "./store";

const OFFSCREEN_URL = "offscreen.html";

async function ensureOffscreen(): Promise<void> {
  if (await chrome.offscreen.hasDocument()) return;
  try {
    await chrome.offscreen.createDocument({
      url: OFFSCREEN_URL,
      reasons: [chrome.offscreen.Reason.USER_MEDIA, chrome.offscreen.Reason.DISPLAY_MEDIA, chrome.offscreen.Reason.BLOBS],
      justification: "Records the tab or screen with MediaRecorder and uploads it while recording",
    });
  } catch (err) {
    // Two callers at once: the other one created it.
    if (!String((err as Error).message).includes("single offscreen")) throw err;
  }
}

export interface RecordRequest { mode: CaptureMode; tabId?: number; microphone?: boolean; title?: string }

/** Starts a recording: sign in first (the upload starts at once), then capture in the offscreen document. */
export async function startRecording(request: RecordRequest): Promise<{ videoId: string; mimeType: string }> {
  const settings = await loadSettings();
  await getToken({ interactive: true });
  let streamId: string | undefined;
  if (request.mode === "tab") {
    if (request.tabId === undefined) throw new Error("no tab to record");
    // Needs the user to have invoked the extension on this tab (action click or shortcut).
    streamId = await chrome.tabCapture.getMediaStreamId({ targetTabId: request.tabId });
  }
  await ensureOffscreen();
  const reply = await chrome.runtime.sendMessage({
    target: "offscreen", type: "start", mode: request.mode, streamId, microphone: request.microphone ?? settings.microphone,
    title: request.title ?? `Recording ${new Date().toLocaleString()}`, backendUrl: settings.backendUrl,
  });
  if (reply?.error) throw new Error(reply.error);
  await chrome.action.setBadgeBackgroundColor({ color: "#c00" });
  await chrome.action.setBadgeText({ text: "REC" });
  return reply;
}

export async function offscreen(type: "stop" | "pause" | "resume" | "status"): Promise<unknown> {
  if (!(await chrome.offscreen.hasDocument())) return type === "status" ? { recording: null, uploads: [] } : {};
  return chrome.runtime.sendMessage({ target: "offscreen", type });
}

const clock = (ms: number) => `${Math.floor(ms / 60_000)}:${String(Math.floor(ms / 1000) % 60).padStart(2, "0")}`;

/** Unfinished uploads in IndexedDB (a closed browser left them): the offscreen document resumes them. */
async function resumeUnfinished(): Promise<void> {
  const store = await ChunkStore.open();
  if ((await store.uploads()).some((u) => !u.done && !u.error)) await ensureOffscreen();
}

chrome.runtime.onMessage.addListener((message, _sender, reply) => {
  if (message?.target === "offscreen") return false;
  const answer = (work: Promise<unknown>) => {
    work.then(reply, (err) => reply({ error: String(err?.message ?? err) }));
    return true;
  };
  switch (message?.type) {
    case "get-token":
      return answer(getTokenUntil({ refresh: Boolean(message.refresh) }).then((t): TokenReply => t));
    case "sign-in": return answer(signIn(true).then(() => ({ signedIn: true })));
    case "sign-out": return answer(signOut().then(() => ({ signedIn: false })));
    case "signed-in": return answer(signedIn().then((value) => ({ signedIn: value })));
    case "record": return answer(startRecording(message));
    case "tick":
      void chrome.action.setBadgeBackgroundColor({ color: message.paused ? "#888" : "#c00" });
      void chrome.action.setBadgeText({ text: message.paused ? "II" : clock(message.elapsedMs) });
      return false;
    case "recording-ended":
      void chrome.action.setBadgeText({ text: "" });
      return false;
    default:
      return false;
  }
});

chrome.runtime.onStartup.addListener(() => void resumeUnfinished());
// Any wake-up (a message, start-up) is a chance to pick up what a closed browser left behind.
void resumeUnfinished();
chrome.runtime.onInstalled.addListener(() => void resumeUnfinished());

// For tests and the console: the same functions the popup reaches through messages.
Object.assign(globalThis, { recorder: { startRecording, offscreen, signIn, getToken, signedIn, ensureOffscreen } });
