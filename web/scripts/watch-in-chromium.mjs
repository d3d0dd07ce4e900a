// Open a share page in headless Debian Chromium (playwright-core, no browser download), play its
// video, seek to the middle, and print what happened as JSON. Usage:
//   node watch-in-chromium.mjs URL [timeout-ms]
// Also used by bench/playback.py (VIEWERS=N opens N pages at once in one browser and reports each
// page's time to first byte and to first decoded frame).
import { launchChromium, openPage } from "./chromium.mjs";

const [url, timeout = "120000"] = process.argv.slice(2);
const viewers = Number(process.env.VIEWERS || "0");
const browser = await launchChromium();

async function watch(context) {
  const { page, logs } = await openPage(context);
  const started = Date.now();
  const response = await page.goto(url);
  const status = response.status();
  if (status !== 200) return { status, logs };
  const timing = await page.evaluate(() => {
    const nav = performance.getEntriesByType("navigation")[0];
    return { ttfbMs: nav.responseStart - nav.startTime };
  });
  await page.evaluate(async () => {
    const v = document.querySelector("#player");
    v.muted = true;
    await v.play();
  });
  // Resolves when a frame has been decoded and presented.
  const first = await page.evaluate(() => new Promise((resolve) => {
    document.querySelector("#player").requestVideoFrameCallback((now, meta) => resolve(
      { mediaTime: meta.mediaTime, width: meta.width, height: meta.height }));
  }));
  const firstFrameMs = Date.now() - started;
  await page.waitForFunction(() => document.querySelector("#player").currentTime > 0.5, null,
                             { timeout: Number(timeout) });
  const played = await page.evaluate(() => document.querySelector("#player").currentTime);
  const duration = await page.evaluate(() => document.querySelector("#player").duration);
  const seek = await page.evaluate(async () => {
    const v = document.querySelector("#player");
    v.pause();
    const target = v.duration / 2;
    const seeked = new Promise((resolve) => v.addEventListener("seeked", resolve, { once: true }));
    const presented = new Promise((resolve) => v.requestVideoFrameCallback((now, meta) => resolve(meta)));
    v.currentTime = target;
    await seeked;
    const shown = await presented;
    // The decoded picture at the seek point: not blank (the test source is a colour pattern).
    const canvas = document.createElement("canvas");
    canvas.width = 64; canvas.height = 36;
    const ctx = canvas.getContext("2d");
    ctx.drawImage(v, 0, 0, 64, 36);
    const pixels = ctx.getImageData(0, 0, 64, 36).data;
    let sum = 0, distinct = new Set();
    for (let i = 0; i < pixels.length; i += 4) { sum += pixels[i] + pixels[i + 1] + pixels[i + 2]; distinct.add(pixels[i]); }
    return { target, currentTime: v.currentTime, frameTime: shown.mediaTime, meanLevel: sum / (pixels.length / 4 * 3),
             distinctReds: distinct.size };
  });
  const quality = await page.evaluate(() => document.querySelector("#player").getVideoPlaybackQuality().totalVideoFrames);
  const title = await page.textContent("#title");
  const poster = await page.evaluate(() => document.querySelector("#player").poster);
  await page.close();
  return { status, title, poster, played, duration, seek, decodedFrames: quality, firstFrame: first,
           ttfbMs: timing.ttfbMs, firstFrameMs, logs };
}

try {
  const context = await browser.newContext();
  if (viewers > 0) {
    const results = await Promise.all(Array.from({ length: viewers }, () => watch(context).catch((e) => ({ error: String(e) }))));
    console.log(JSON.stringify(results));
  } else {
    console.log(JSON.stringify(await watch(context)));
  }
} catch (error) {
  console.log(JSON.stringify({ error: String(error) }));
} finally {
  await browser.close();
}
