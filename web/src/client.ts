// The browser client of the recorder backend: gRPC-Web through the Envoy gateway, using Connect.
// The extension and the test page share it.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import { BinaryReader } from "@bufbuild/protobuf/wire";
import { CatalogService } from "./gen/recorder/v1/catalog_pb";
import { IngestService } from "./gen/recorder/v1/ingest_pb";
import { MediaService } from "./gen/recorder/v1/media_pb";

export interface RecorderClients {
  ingest: Client<typeof IngestService>;
  catalog: Client<typeof CatalogService>;
  media: Client<typeof MediaService>;
}

/**
 * getToken returns the user's bearer JWT (from the extension's sign-in); it is asked on every call,
 * so a refreshed token is used as soon as there is one.
 */
export function recorderClients(baseUrl: string, getToken: () => string | Promise<string>): RecorderClients {
  const identity: Interceptor = (next) => async (req) => {
    req.header.set("authorization", `Bearer ${await getToken()}`);
    return next(req);
  };
  const transport = createGrpcWebTransport({ baseUrl, useBinaryFormat: true, interceptors: [identity] });
  return { ingest: createClient(IngestService, transport), catalog: createClient(CatalogService, transport),
           media: createClient(MediaService, transport) };
}

const RETRYABLE = new Set([Code.Unavailable, Code.DeadlineExceeded, Code.Unknown, Code.Internal]);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Uploads a recording while MediaRecorder is still producing it: one PutChunk per blob, in order,
 * each with its SHA-256 (WebCrypto has no CRC32C), retried with backoff on transient errors.
 * The newest blob is held back until the next arrives or recording stops, so the last one can be
 * flagged is_last.
 */
export class LiveUploader {
  private index = 0;
  private held: Blob | null = null;
  private chain: Promise<void> = Promise.resolve();
  private failure: unknown = null;
  retries = 0;
  /** Test hook: chunk indices whose first attempt fails as if the network dropped it. */
  failFirstAttemptOf = new Set<number>();

  constructor(private readonly clients: RecorderClients, readonly videoId: string,
              private readonly maxAttempts = 6) {}

  push(blob: Blob): void {
    if (this.held) this.enqueue(this.held, false);
    this.held = blob;
  }

  /** Call after the recorder's final dataavailable; resolves once every chunk is acknowledged. */
  async finish(): Promise<void> {
    this.enqueue(this.held ?? new Blob([]), true);
    this.held = null;
    await this.chain;
    if (this.failure) throw this.failure;
  }

  private enqueue(blob: Blob, isLast: boolean): void {
    const index = this.index++;
    this.chain = this.chain.then(() => this.send(index, blob, isLast)).catch((err) => {
      this.failure ??= err;
    });
  }

  private async send(index: number, blob: Blob, isLast: boolean): Promise<void> {
    if (this.failure) return;
    const data = new Uint8Array(await blob.arrayBuffer());
    const sha256 = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
    for (let attempt = 1; ; attempt++) {
      try {
        if (attempt === 1 && this.failFirstAttemptOf.has(index)) {
          throw new ConnectError("simulated network drop", Code.Unavailable);
        }
        await this.clients.ingest.putChunk(
          { videoId: this.videoId, chunk: { index: BigInt(index), data, isLast, checksum: { case: "sha256", value: sha256 } } },
          { timeoutMs: 30_000 });
        return;
      } catch (err) {
        const code = ConnectError.from(err).code;
        if (!RETRYABLE.has(code) || attempt >= this.maxAttempts) throw err;
        this.retries++;
        await sleep(Math.min(250 * 2 ** (attempt - 1), 5_000));
      }
    }
  }
}

/**
 * The stable reason of a refusal (the google.rpc.ErrorInfo the services send in
 * grpc-status-details-bin, domain "recorder.v1"), e.g. "QUOTA_EXCEEDED" or "CHUNK_TOO_LARGE":
 * branch on it, never on the message text. Undefined when the error carries none.
 */
export function errorReason(err: unknown): string | undefined {
  for (const detail of ConnectError.from(err).details) {
    if (!("type" in detail) || detail.type !== "google.rpc.ErrorInfo") continue;
    // ErrorInfo: reason = 1, domain = 2 (strings), metadata = 3 (a map, skipped).
    const reader = new BinaryReader(detail.value);
    let reason = "";
    let domain = "";
    while (reader.pos < reader.len) {
      const [field, wireType] = reader.tag();
      if (field === 1) reason = reader.string();
      else if (field === 2) domain = reader.string();
      else reader.skip(wireType);
    }
    if (domain === "recorder.v1" && reason) return reason;
  }
  return undefined;
}
