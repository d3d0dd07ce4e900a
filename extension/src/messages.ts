// Messages between the extension's parts. The offscreen document owns recording and uploading;
// the service worker owns sign-in (chrome.identity and chrome.storage.session are not available in
// an offscreen document) and the badge; the popup shows state and sends commands.

export type CaptureMode = "tab" | "display";

export interface StartRecording { type: "start"; target: "offscreen"; mode: CaptureMode; streamId?: string;
  microphone: boolean; title: string; backendUrl: string }
export interface SimpleCommand { type: "stop" | "pause" | "resume" | "status"; target: "offscreen" }
export type OffscreenCommand = StartRecording | SimpleCommand;

/** What the service worker answers to the offscreen document and the popup. */
export interface TokenReply { token?: string; useUntil?: number; error?: string }

export interface ChunkRecord { index: number; size: number; sha256: string }

export type Connection = "ok" | "retrying" | "failed";

export interface UploadStatus {
  videoId: string;
  title: string;
  createdAt: number;
  /** Chunks MediaRecorder produced so far (all of them once stopped). */
  recorded: number;
  acknowledged: number;
  stopped: boolean;
  done: boolean;
  connection: Connection;
  /** How many times the connection was lost, and whether it came back after the last loss. */
  outages: number;
  recovered: boolean;
  error?: string;
  chunks: ChunkRecord[];
}

export interface RecorderStatus {
  recording: null | { videoId: string; paused: boolean; elapsedMs: number; mimeType: string };
  uploads: UploadStatus[];
  error?: string;
}

/** fetch() failed before any answer (connection refused, DNS, offline). */
export const isNetworkFailure = (text: string) => /failed to fetch|networkerror|network error|load failed/i.test(text);
