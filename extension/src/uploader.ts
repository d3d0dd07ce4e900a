// The durable live uploader: one PutChunk per blob, several in flight, started in index order,
// each with its SHA-256; a blob is read from IndexedDB and deleted there only once acknowledged.
// On a transient failure (network down, Envoy or ingest restarting) it stops sending, waits with
// exponential backoff and full jitter (or until the browser says it is online again), asks
// GetUploadState, drops what the backend already has and sends only what is missing.
import { Code, ConnectError } from "@connectrpc/connect";
import type { RecorderClients } from "../../web/src/client";
import { failure, isQuota } from "./failure";
import type { Connection } from "./messages";
import type { ChunkStore } from "./store";

export const MAX_IN_FLIGHT = 3;
const CALL_TIMEOUT_MS = 30_000;
const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 5_000;

const TRANSIENT = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.Unknown, Code.Internal, Code.Aborted,
  Code.Canceled]);

/** Full jitter: a random wait in [0, min(cap, base * 2^attempt)). */
export function backoffMs(attempt: number, random: () => number = Math.random): number {
  return Math.floor(random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** attempt));
}

/** Which indices may be sent now: every pending one but the newest while recording goes on (it
 * is held back until the next blob shows whether it is the last). */
export function sendable(pending: number[], recorded: number, stopped: boolean): number[] {
  return pending.filter((index) => stopped || index < recorded - 1);
}

/** A sentence a person can act on, for an error that stops the upload. */
export function describe(err: unknown): string {
  const { error, code } = failure(err);
  switch (code) {
    case Code.Unauthenticated: return "Not signed in (or the sign-in expired): sign in again";
    case Code.ResourceExhausted:
      return isQuota(error) ? `Quota exceeded: ${error.rawMessage}. Delete old recordings.`
        : `Recording too long or too large: ${error.rawMessage}`;
    case Code.Unavailable: return "The backend is unreachable: check the backend URL in the options and your network";
    case Code.NotFound: return "The backend no longer knows this recording";
    case Code.FailedPrecondition: return `The upload cannot go on: ${error.rawMessage}`;
    default: return `${Code[error.code]}: ${error.rawMessage}`;
  }
}

export interface UploaderEvents { changed(): void }

export class DurableUploader {
  connection: Connection = "ok";
  outages = 0;
  recovered = false;
  acknowledged = 0;
  error: string | undefined;
  private inFlight = new Set<number>();
  private acked = new Set<number>();
  private pending: number[] = [];
  private recorded = 0;
  private stopped = false;
  private resyncing = false;
  private wakeUp: (() => void) | null = null;
  private finished: Promise<void>;
  private resolveFinished!: () => void;

  constructor(private readonly clients: RecorderClients, private readonly store: ChunkStore,
              readonly videoId: string, private readonly events: UploaderEvents,
              private readonly refreshToken: () => Promise<void>) {
    const online = () => this.wakeUp?.();  // the network is back: retry at once, not after the backoff
    globalThis.addEventListener?.("online", online);
    this.finished = new Promise((resolve) => { this.resolveFinished = resolve; });
    void this.finished.then(() => globalThis.removeEventListener?.("online", online));
  }

  /** Loads what IndexedDB holds (after a restart: ask the backend what it already has). */
  async load(resync: boolean): Promise<void> {
    const upload = await this.store.upload(this.videoId);
    if (!upload) throw new Error(`no upload ${this.videoId} in IndexedDB`);
    const stored = await this.store.pendingIndices(this.videoId);
    // Blobs may have been added while this loaded: keep both.
    this.recorded = Math.max(this.recorded, upload.recorded);
    this.stopped ||= upload.stopped;
    this.pending = [...new Set([...this.pending, ...stored])].sort((a, b) => a - b);
    this.acknowledged = this.recorded - this.pending.length;
    if (resync) {
      try {
        await this.resync(0);
      } catch (err) {
        if (!TRANSIENT.has(ConnectError.from(err).code)) return this.fail(err);
        void this.outage();  // backend unreachable at start: wait for it like any outage
        return;
      }
    }
    this.pump();
  }

  /** A blob was written to IndexedDB at this index. */
  added(index: number): void {
    this.recorded = Math.max(this.recorded, index + 1);
    if (!this.pending.includes(index)) this.pending.push(index);
    this.pump();
  }

  /** Recording ended: the newest blob is the last. */
  stop(): void {
    this.stopped = true;
    this.pump();
  }

  /** Resolves when every blob is acknowledged (or the upload failed for good). */
  whenFinished(): Promise<void> { return this.finished; }

  get isDone(): boolean { return this.stopped && this.pending.length === 0 && this.inFlight.size === 0; }

  private pump(): void {
    if (this.error || this.resyncing) return;
    if (this.isDone) {
      this.resolveFinished();
      return;
    }
    for (const index of sendable(this.pending, this.recorded, this.stopped)) {
      if (this.inFlight.size >= MAX_IN_FLIGHT) break;
      if (this.inFlight.has(index)) continue;
      this.inFlight.add(index);
      void this.send(index);
    }
  }

  private async send(index: number): Promise<void> {
    try {
      const blob = await this.store.blob(this.videoId, index);
      if (blob) {
        const data = new Uint8Array(await blob.data.arrayBuffer());
        const isLast = this.stopped && index === this.recorded - 1;
        await this.put(index, data, blob.sha256, isLast);
      }
      await this.acknowledge(index);
    } catch (err) {
      this.inFlight.delete(index);
      if (TRANSIENT.has(ConnectError.from(err).code)) {
        void this.outage();
      } else {
        this.fail(err);
      }
      return;
    }
    this.inFlight.delete(index);
    this.pump();
  }

  private async put(index: number, data: Uint8Array, sha256: Uint8Array, isLast: boolean): Promise<void> {
    const request = { videoId: this.videoId, chunk: { index: BigInt(index), data, isLast,
      checksum: { case: "sha256" as const, value: sha256 } } };
    try {
      await this.clients.ingest.putChunk(request, { timeoutMs: CALL_TIMEOUT_MS });
    } catch (err) {
      if (ConnectError.from(err).code !== Code.Unauthenticated) throw err;
      await this.refreshToken();  // expired mid-recording: sign in again, then once more
      await this.clients.ingest.putChunk(request, { timeoutMs: CALL_TIMEOUT_MS });
    }
  }

  private async acknowledge(index: number): Promise<void> {
    await this.store.deleteBlob(this.videoId, index);
    this.pending = this.pending.filter((i) => i !== index);
    if (!this.acked.has(index)) {
      this.acked.add(index);
      this.acknowledged = this.recorded - this.pending.length;
    }
    this.events.changed();
  }

  private async outage(): Promise<void> {
    if (this.resyncing) return;
    this.resyncing = true;
    if (this.connection === "ok") this.outages++;
    this.connection = "retrying";
    this.recovered = false;
    this.events.changed();
    // Let the calls still in flight fail or finish before asking what is stored.
    while (this.inFlight.size > 0) await new Promise((resolve) => setTimeout(resolve, 50));
    for (let attempt = 0; ; attempt++) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, backoffMs(attempt));
        this.wakeUp = () => { clearTimeout(timer); resolve(); };
      });
      this.wakeUp = null;
      try {
        await this.resync(attempt);
        break;
      } catch (err) {
        if (!TRANSIENT.has(ConnectError.from(err).code)) {
          this.resyncing = false;
          this.fail(err);
          return;
        }
      }
    }
    this.resyncing = false;
    this.connection = "ok";
    this.recovered = this.outages > 0;
    this.events.changed();
    this.pump();
  }

  /** GetUploadState: what the backend already stored counts as acknowledged. */
  private async resync(_attempt: number): Promise<void> {
    const { state } = await this.clients.ingest.getUploadState({ videoId: this.videoId }, { timeoutMs: CALL_TIMEOUT_MS });
    const stored = new Set((state?.storedIndices ?? []).map(Number));
    for (const index of [...this.pending]) {
      if (stored.has(index)) await this.acknowledge(index);
    }
  }

  private fail(err: unknown): void {
    if (this.error) return;
    this.error = describe(err);
    this.connection = "failed";
    this.events.changed();
    this.resolveFinished();
  }
}
