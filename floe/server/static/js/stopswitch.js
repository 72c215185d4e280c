// The stop switch, on every page: a red banner while dispatch is stopped, with its reason.

import { api, showError } from "./api.js";
import { may } from "./roles.js";

const box = document.getElementById("stop-banner");

function scopeName(scope) {
  if (scope === "*") return "all flows";
  if (scope === "stop-file") return "this host (stop file)";
  return `flow ${scope}`;
}

function render(stopped) {
  const scopes = Object.keys(stopped);
  box.hidden = scopes.length === 0;
  box.replaceChildren();
  for (const scope of scopes) {
    const row = document.createElement("div");
    row.className = "stop-row";
    const text = document.createElement("span");
    text.textContent = `Dispatch stopped for ${scopeName(scope)}: ${stopped[scope]}`;
    row.append(text);
    if (scope !== "stop-file" && may("admin")) {
      const go = document.createElement("button");
      go.type = "button";
      go.className = "btn small";
      go.textContent = "Resume";
      go.addEventListener("click", async () => {
        try {
          await api("/go", { method: "POST", body: scope === "*" ? {} : { flow: scope } });
          await refresh();
        } catch (err) {
          showError(err);
        }
      });
      row.append(go);
    }
    box.append(row);
  }
}

export async function refresh() {
  try {
    render((await api("/stop")).stopped || {});
  } catch (err) {
    if (err.status !== 401) showError(err);
  }
}

export function start() {
  if (!box) return;
  refresh();
  setInterval(refresh, 5000);
}
