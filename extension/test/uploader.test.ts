// Unit tests of the uploader's rules on plain data, with a fake ingest client and an in-memory
// store in place of IndexedDB (the browser tests run the real ones). Run by tests/test_extension.py:
// bundled with esbuild for Node, then `node --test`.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { backoffMs, describe, DurableUploader, MAX_IN_FLIGHT, sendable } from "../src/uploader";
import { checkBaseUrl } from "../src/settings";

test("full jitter stays below the capped exponential", () => {
  assert.equal(backoffMs(0, () => 0.999), 499);
  assert.equal(backoffMs(3, () => 0.5), 2000);
  assert.equal(backoffMs(30, () => 0.999), 4995);  // capped at 5 s
  assert.equal(backoffMs(5, () => 0), 0);
});

test("the newest blob is held back until recording stops", () => {
  assert.deepEqual(sendable([0, 1, 2], 3, false), [0, 1]);
  assert.deepEqual(sendable([0, 1, 2], 3, true), [0, 1, 2]);
  assert.deepEqual(sendable([], 0, false), []);
});

test("errors read as what to do", () => {
  assert.match(describe(new ConnectError("x", Code.Unauthenticated)), /sign in again/);
  assert.match(describe(new ConnectError("user quota of 10 bytes", Code.ResourceExhausted)), /Quota exceeded/);
  assert.match(describe(new ConnectError("upload larger than 5 GiB", Code.ResourceExhausted)), /too long/);
  assert.match(describe(new ConnectError("Failed to fetch", Code.Unknown)), /unreachable/);
});

test("base URLs: https anywhere, http only for this machine", () => {
  assert.equal(checkBaseUrl("https://rec.example.com"), null);
  assert.equal(checkBaseUrl("http://127.0.0.1:8080"), null);
  assert.match(checkBaseUrl("http://rec.example.com") ?? "", /only for this machine/);
  assert.match(checkBaseUrl("https://u:p@rec.example.com") ?? "", /no user name/);
  assert.match(checkBaseUrl("javascript:alert(1)") ?? "", /http/);
});

class MemoryStore {
  blobs = new Map<number, { data: Blob; sha256: Uint8Array }>();
  constructor(public record: { recorded: number; stopped: boolean }) {}
  async upload() { return { ...this.record }; }
  async pendingIndices() { return [...this.blobs.keys()].sort((a, b) => a - b); }
  async blob(_id: string, index: number) { return this.blobs.get(index); }
  async deleteBlob(_id: string, index: number) { this.blobs.delete(index); }
  add(index: number) {
    this.blobs.set(index, { data: new Blob([new Uint8Array([index])]), sha256: new Uint8Array(32) });
    this.record.recorded = Math.max(this.record.recorded, index + 1);
  }
}

function fakeIngest(opts: { failWhile?: () => boolean; stored?: number[] } = {}) {
  const calls: { index: number; isLast: boolean }[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const stored = new Set(opts.stored ?? []);
  const ingest = {
    async putChunk(req: { chunk: { index: bigint; isLast: boolean } }) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, 5));
      inFlight--;
      if (opts.failWhile?.()) throw new ConnectError("down", Code.Unavailable);
      calls.push({ index: Number(req.chunk.index), isLast: req.chunk.isLast });
      stored.add(Number(req.chunk.index));
      return {};
    },
    async getUploadState() {
      if (opts.failWhile?.()) throw new ConnectError("down", Code.Unavailable);
      return { state: { storedIndices: [...stored].map(BigInt) } };
    },
  };
  return { ingest, calls, maxInFlight: () => maxInFlight };
}

function uploader(store: MemoryStore, ingest: object) {
  return new DurableUploader({ ingest } as never, store as never, "v", { changed() {} }, async () => {});
}

test("sends every blob once, in index order, a few in flight, the last one flagged", async () => {
  const store = new MemoryStore({ recorded: 0, stopped: false });
  const fake = fakeIngest();
  const u = uploader(store, fake.ingest);
  await u.load(false);
  for (let i = 0; i < 10; i++) { store.add(i); u.added(i); }
  u.stop();
  await u.whenFinished();
  assert.equal(u.error, undefined);
  assert.deepEqual(fake.calls.map((c) => c.index), [...Array(10).keys()]);
  assert.deepEqual(fake.calls.filter((c) => c.isLast).map((c) => c.index), [9]);
  assert.ok(fake.maxInFlight() > 1 && fake.maxInFlight() <= MAX_IN_FLIGHT, String(fake.maxInFlight()));
  assert.equal(store.blobs.size, 0);
});

test("after a restart only what the backend lacks is sent", async () => {
  const store = new MemoryStore({ recorded: 0, stopped: true });
  for (let i = 0; i < 6; i++) store.add(i);
  const fake = fakeIngest({ stored: [0, 1, 3] });
  const u = uploader(store, fake.ingest);
  await u.load(true);
  await u.whenFinished();
  assert.deepEqual(fake.calls.map((c) => c.index), [2, 4, 5]);
  assert.equal(store.blobs.size, 0);
});

test("an outage is waited out and counted; nothing is lost", async () => {
  let down = false;
  const store = new MemoryStore({ recorded: 0, stopped: false });
  const fake = fakeIngest({ failWhile: () => down });
  const u = uploader(store, fake.ingest);
  await u.load(false);
  store.add(0); u.added(0);
  store.add(1); u.added(1);
  down = true;
  store.add(2); u.added(2);
  store.add(3); u.added(3);
  while (u.connection !== "retrying") await new Promise((resolve) => setTimeout(resolve, 5));
  down = false;
  u.stop();
  await u.whenFinished();
  assert.equal(u.error, undefined);
  assert.equal(u.outages, 1);
  assert.ok(u.recovered);
  assert.deepEqual([...new Set(fake.calls.map((c) => c.index))].sort(), [0, 1, 2, 3]);
  assert.equal(store.blobs.size, 0);
});
