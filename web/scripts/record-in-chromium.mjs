// Open the test page in headless Debian Chromium (playwright-core drives it; no browser download)
// and print what the page reports as JSON. Usage: node record-in-chromium.mjs URL [timeout-ms]
import { launchChromium, openPage } from "./chromium.mjs";

const [url, timeout = "240000"] = process.argv.slice(2);
const browser = await launchChromium();
try {
  const { page, logs } = await openPage(browser);
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
