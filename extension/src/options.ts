// The options page: backend URL and issuer, each checked before it is saved.
import { checkBaseUrl, loadSettings, saveSettings, trimSlash } from "./settings";

const field = (id: string) => document.getElementById(id) as HTMLInputElement;
const result = document.getElementById("result")!;

async function main() {
  const settings = await loadSettings();
  field("backendUrl").value = settings.backendUrl;
  field("issuer").value = settings.issuer;
  field("microphone").checked = settings.microphone;
  document.getElementById("extension-id")!.textContent = chrome.runtime.id;
  document.getElementById("form")!.addEventListener("submit", async (event) => {
    event.preventDefault();
    const backendUrl = trimSlash(field("backendUrl").value.trim());
    const issuer = trimSlash(field("issuer").value.trim());
    const problem = checkBaseUrl(backendUrl) ?? checkBaseUrl(issuer);
    if (problem) {
      result.className = "error";
      result.textContent = problem;
      return;
    }
    await saveSettings({ backendUrl, issuer, microphone: field("microphone").checked });
    result.className = "ok";
    result.textContent = "Saved.";
  });
  // The offscreen document cannot ask for the microphone; granting it here grants the extension.
  document.getElementById("allow-mic")!.addEventListener("click", async () => {
    try {
      (await navigator.mediaDevices.getUserMedia({ audio: true })).getTracks().forEach((t) => t.stop());
      result.className = "ok";
      result.textContent = "Microphone allowed.";
    } catch (err) {
      result.className = "error";
      result.textContent = `Microphone not allowed: ${(err as Error).message}`;
    }
  });
}

void main();
