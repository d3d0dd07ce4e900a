// The options page's settings (chrome.storage.local), with the development stack's defaults.
export interface Settings {
  /** The Envoy gRPC-Web gateway. */
  backendUrl: string;
  /** The authorization server (its /authorize and /token; the development one by default). */
  issuer: string;
  microphone: boolean;
}

export const DEFAULT_SETTINGS: Settings = {
  backendUrl: "http://127.0.0.1:8080",
  issuer: "http://127.0.0.1:8090",
  microphone: false,
};

/** A base URL the extension will talk to: http(s), no credentials, no query; else an error text. */
export function checkBaseUrl(text: string): string | null {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return `not a URL: ${text}`;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return "use an http:// or https:// address";
  if (url.username || url.password) return "no user name or password in the address";
  if (url.search || url.hash) return "no query or fragment in the address";
  if (url.protocol === "http:" && !["127.0.0.1", "localhost", "[::1]"].includes(url.hostname)) {
    return "plain http only for this machine (127.0.0.1 or localhost); use https";
  }
  return null;
}

export const trimSlash = (url: string) => url.replace(/\/+$/, "");

export async function loadSettings(): Promise<Settings> {
  const stored = await chrome.storage.local.get(Object.keys(DEFAULT_SETTINGS));
  return { ...DEFAULT_SETTINGS, ...stored } as Settings;
}

export async function saveSettings(settings: Partial<Settings>): Promise<void> {
  await chrome.storage.local.set(settings);
}
