// Drives headless Chromium with the extension loaded, for tests/test_extension.py: one JSON
// command per line on stdin, one JSON answer per line on stdout ({"ok": value} or {"error": text}).
// playwright-core (no browser download): the Debian Chromium binary itself, not its wrapper script.
import { createRequire } from "node:module";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";

const here = path.dirname(fileURLToPath(import.meta.url));
const { chromium } = createRequire(path.join(here, "..", "..", "web", "package.json"))("playwright-core");
const CHROMIUM = process.env.CHROMIUM_BINARY || "/usr/lib/chromium/chromium";

let context = null;
const pages = new Map();
const logs = [];

function extensionArgs(dir, id, extra) {
  return ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--autoplay-policy=no-user-gesture-required",
    `--disable-extensions-except=${dir}`, `--load-extension=${dir}`,
    // Tests only: lets tabCapture record without a user invoking the extension on the tab.
    ...(id ? [`--allowlisted-extension-id=${id}`] : []), ...extra];
}

async function worker(id, timeout = 30_000) {
  // No id: the extension's id is not pinned (a copy without its key), take the one loaded.
  const match = (w) => w.url().startsWith(id ? `chrome-extension://${id}/` : "chrome-extension://");
  const found = context.serviceWorkers().find(match);
  return found ?? context.waitForEvent("serviceworker", { predicate: match, timeout });
}

const commands = {
  async launch({ profile, extension, id, args = [] }) {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM, headless: true, ignoreDefaultArgs: ["--disable-extensions"],
      args: extensionArgs(extension, id, args), viewport: { width: 800, height: 450 },
    });
    context.on("console", (msg) => logs.push(msg.text()));
    const sw = await worker(id);
    return { id: new URL(sw.url()).host };
  },
  async open({ name, url, width, height }) {
    const page = await context.newPage();
    if (width) await page.setViewportSize({ width, height });
    page.on("console", (msg) => logs.push(`${name}: ${msg.text()}`));
    page.on("pageerror", (err) => logs.push(`${name} pageerror: ${err}`));
    await page.goto(url);
    pages.set(name, page);
    return { url: page.url() };
  },
  async evaluate({ name, expression, arg }) {
    const page = pages.get(name);
    // eslint-disable-next-line no-new-func
    return page.evaluate(new Function("arg", `return (async () => { ${expression} })();`), arg);
  },
  async wait({ name, expression, arg, timeout = 120_000 }) {
    // Polls the (async) expression until it returns something truthy.
    const page = pages.get(name);
    const fn = new Function("arg", `return (async () => { ${expression} })();`);
    const deadline = Date.now() + timeout;
    for (;;) {
      const value = await page.evaluate(fn, arg).catch((err) => { if (Date.now() > deadline) throw err; return null; });
      if (value) return value;
      if (Date.now() > deadline) throw new Error(`not true within ${timeout} ms: ${expression}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  },
  async workerEval({ id, expression, arg }) {
    const sw = await worker(id);
    return sw.evaluate(new Function("arg", `return (async () => { ${expression} })();`), arg);
  },
  async stopWorker({ name }) {
    // Through CDP, as DevTools' "Stop" does: the extension's service worker ends mid-recording.
    const session = await context.newCDPSession(pages.get(name));
    await session.send("ServiceWorker.enable");
    await session.send("ServiceWorker.stopAllWorkers");
    await session.detach();
    return {};
  },
  async targets() {
    const browserSession = await context.browser()?.newBrowserCDPSession();
    const session = browserSession ?? await context.newCDPSession(pages.values().next().value);
    const { targetInfos } = await session.send("Target.getTargets");
    return targetInfos.map((t) => ({ type: t.type, url: t.url }));
  },
  async screenshot({ name, path: file }) {
    await pages.get(name).screenshot({ path: file, fullPage: true });
    return { path: file };
  },
  async text({ name, selector }) {
    return pages.get(name).textContent(selector);
  },
  async logs() {
    return logs.splice(0);
  },
  async close() {
    await context?.close();
    context = null;
    pages.clear();
    return {};
  },
};

const input = readline.createInterface({ input: process.stdin });
for await (const line of input) {
  if (!line.trim()) continue;
  let answer;
  try {
    const { command, ...args } = JSON.parse(line);
    answer = { ok: (await commands[command](args)) ?? null };
  } catch (err) {
    answer = { error: String(err?.stack ?? err) };
  }
  process.stdout.write(`${JSON.stringify(answer)}\n`);
}
await context?.close();
