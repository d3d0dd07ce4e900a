// What the Chromium drivers share: headless Debian Chromium (playwright-core drives it; no browser
// download) with the flags the tests need, and a page that collects its console and errors.
import { chromium } from "playwright-core";

export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           "--autoplay-policy=no-user-gesture-required"],
  });
}

// A new page of browser (or of a context of it) and the list its console lines and page errors go to.
export async function openPage(parent) {
  const page = await parent.newPage();
  const logs = [];
  page.on("console", (msg) => logs.push(msg.text()));
  page.on("pageerror", (err) => logs.push(`pageerror: ${err}`));
  return { page, logs };
}
