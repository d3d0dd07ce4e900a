// IndexedDB: every blob MediaRecorder produces is written here before it is sent, and deleted only
// when the backend acknowledged it (or reports it stored). An upload's record says how many blobs
// there are, whether recording stopped, and each blob's size and SHA-256 (kept after the blobs go,
// so the extension can say what it recorded). A closed browser or a stopped document loses nothing.
import type { ChunkRecord } from "./messages";

export interface UploadRecord {
  videoId: string;
  title: string;
  createdAt: number;
  backendUrl: string;
  /** Blobs written so far; the next blob gets this index. */
  recorded: number;
  /** Recording ended (user stop, "Stop sharing", or found unfinished after a restart). */
  stopped: boolean;
  done: boolean;
  error?: string;
  chunks: ChunkRecord[];
}

export interface BlobRecord { videoId: string; index: number; data: Blob; sha256: Uint8Array }

const DB_NAME = "recorder";
const UPLOADS = "uploads";
const BLOBS = "blobs";

function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx: IDBTransaction): Promise<void> {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error ?? new Error("IndexedDB transaction aborted"));
  });
}

export const hex = (bytes: Uint8Array) => [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");

export class ChunkStore {
  private constructor(private readonly db: IDBDatabase) {}

  static async open(): Promise<ChunkStore> {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => {
      req.result.createObjectStore(UPLOADS, { keyPath: "videoId" });
      req.result.createObjectStore(BLOBS, { keyPath: ["videoId", "index"] });
    };
    return new ChunkStore(await request(req));
  }

  async createUpload(record: UploadRecord): Promise<void> {
    const tx = this.db.transaction(UPLOADS, "readwrite");
    tx.objectStore(UPLOADS).put(record);
    await done(tx);
  }

  /** Writes the blob and counts it in its upload in one transaction; returns its index. */
  async appendBlob(videoId: string, data: Blob): Promise<number> {
    // Read the bytes and hash them before the transaction (IndexedDB transactions end when idle).
    const bytes = new Uint8Array(await data.arrayBuffer());
    const sha256 = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    const tx = this.db.transaction([UPLOADS, BLOBS], "readwrite");
    const uploads = tx.objectStore(UPLOADS);
    const upload = (await request(uploads.get(videoId))) as UploadRecord;
    const index = upload.recorded;
    tx.objectStore(BLOBS).put({ videoId, index, data: new Blob([bytes], { type: data.type }), sha256 } satisfies BlobRecord);
    upload.recorded = index + 1;
    upload.chunks.push({ index, size: bytes.byteLength, sha256: hex(sha256) });
    uploads.put(upload);
    await done(tx);
    return index;
  }

  async update(videoId: string, change: (record: UploadRecord) => void): Promise<UploadRecord> {
    const tx = this.db.transaction(UPLOADS, "readwrite");
    const uploads = tx.objectStore(UPLOADS);
    const upload = (await request(uploads.get(videoId))) as UploadRecord;
    change(upload);
    uploads.put(upload);
    await done(tx);
    return upload;
  }

  async upload(videoId: string): Promise<UploadRecord | undefined> {
    return request(this.db.transaction(UPLOADS).objectStore(UPLOADS).get(videoId));
  }

  async uploads(): Promise<UploadRecord[]> {
    return request(this.db.transaction(UPLOADS).objectStore(UPLOADS).getAll());
  }

  async blob(videoId: string, index: number): Promise<BlobRecord | undefined> {
    return request(this.db.transaction(BLOBS).objectStore(BLOBS).get([videoId, index]));
  }

  /** Indices of the blobs still stored for an upload (not yet acknowledged). */
  async pendingIndices(videoId: string): Promise<number[]> {
    const range = IDBKeyRange.bound([videoId, 0], [videoId, Number.MAX_SAFE_INTEGER]);
    const keys = await request(this.db.transaction(BLOBS).objectStore(BLOBS).getAllKeys(range));
    return keys.map((key) => (key as [string, number])[1]).sort((a, b) => a - b);
  }

  async deleteBlob(videoId: string, index: number): Promise<void> {
    const tx = this.db.transaction(BLOBS, "readwrite");
    tx.objectStore(BLOBS).delete([videoId, index]);
    await done(tx);
  }

  async forget(videoId: string): Promise<void> {
    const tx = this.db.transaction([UPLOADS, BLOBS], "readwrite");
    tx.objectStore(BLOBS).delete(IDBKeyRange.bound([videoId, 0], [videoId, Number.MAX_SAFE_INTEGER]));
    tx.objectStore(UPLOADS).delete(videoId);
    await done(tx);
  }
}
