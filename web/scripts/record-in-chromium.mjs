// Open the test page in headless Debian Chromium (playwright-core drives it; no browser download)
// and print what the page reports as JSON. Usage: node record-in-chromium.mjs URL [timeout-ms]
import { chromium } from "playwright-core";

const [url, timeout = "240000"] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--autoplay-policy=no-user-gesture-required"],
});
try {
  const page = await browser.newPage();
  const logs = [];
  page.on("console", (msg) => logs.push(msg.text()));
  page.on("pageerror", (err) => logs.push(`pageerror: ${err}`));
  await page.goto(url);
  await page.waitForFunction(() => window.recorderResult !== undefined, null, { timeout: Number(timeout) });
  const result = await page.evaluate(() => window.recorderResult);
  result.statusText = await page.textContent("#status");
  result.logs = logs;
  await page.screenshot({ path: process.env.SCREENSHOT || "/dev/null" }).catch(() => {});
  console.log(JSON.stringify(result));
} finally {
  await browser.close();
}
