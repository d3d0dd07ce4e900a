// Open a share page of a recording that is still being made, play it, and sample the player every
// 250 ms until the video ends (after the recording stopped and the playlist got ENDLIST) or the
// timeout. Prints JSON: the samples (wall clock ms, currentTime, end of the buffered media), and
// whether the page played through hls.js or natively. Usage:
//   node watch-live-in-chromium.mjs URL [timeout-ms]
import { launchChromium, openPage } from "./chromium.mjs";

const [url, timeout = "120000"] = process.argv.slice(2);
const browser = await launchChromium();

try {
  const { page, logs } = await openPage(browser);
  const opened = Date.now();
  const response = await page.goto(url);
  const status = response.status();
  if (status !== 200) {
    console.log(JSON.stringify({ status, logs }));
  } else {
    const hlsSource = await page.evaluate(() => document.querySelector("#player").dataset.hls || null);
    await page.evaluate(() => { const v = document.querySelector("#player"); v.muted = true; v.play().catch(() => {}); });
    const samples = [];
    const deadline = opened + Number(timeout);
    let ended = false;
    while (Date.now() < deadline) {
      const s = await page.evaluate(() => {
        const v = document.querySelector("#player");
        const b = v.buffered;
        return { currentTime: v.currentTime, bufferedEnd: b.length ? b.end(b.length - 1) : 0,
                 ended: v.ended, duration: v.duration, paused: v.paused,
                 frames: v.getVideoPlaybackQuality().totalVideoFrames };
      });
      samples.push({ wallMs: Date.now(), ...s });
      if (s.ended) { ended = true; break; }
      // A live player may stall at the live edge and hls.js may pause at the end: keep it going.
      if (s.paused) await page.evaluate(() => document.querySelector("#player").play().catch(() => {}));
      await page.waitForTimeout(250);
    }
    const usedHlsJs = await page.evaluate(() => Boolean(window.recorderHls));
    console.log(JSON.stringify({ status, hlsSource, usedHlsJs, ended, openedMs: opened, samples, logs }));
  }
} catch (error) {
  console.log(JSON.stringify({ error: String(error) }));
} finally {
  await browser.close();
}
