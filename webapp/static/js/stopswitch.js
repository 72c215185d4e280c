// The stop switch, on every page: a red banner while dispatch is stopped, with its reason; admins also
// get a form to stop dispatch (of all flows, or of the flow of the page) with a reason, and Resume.

import { api, showError } from "./api.js";
import { h } from "./dom.js";
import { may } from "./roles.js";

const box = document.getElementById("stop-banner");
const control = document.getElementById("stop-control");
const FLOW = document.body.dataset.flow || "";

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

/** The admin's "Stop dispatch" form: a scope, a reason, and a button that asks every host to stop. */
function stopForm() {
  const reason = h("input", { type: "text", id: "stop-reason", name: "reason", required: true, maxLength: 200,
    placeholder: "why, e.g. release freeze" });
  const scope = h("select", { id: "stop-scope", name: "scope" }, h("option", { value: "*" }, "all flows"),
    FLOW ? h("option", { value: FLOW }, `flow ${FLOW}`) : null);
  const form = h("form", { class: "stop-form", id: "stop-form" },
    h("label", {}, "Stop dispatch of ", scope), h("label", {}, "because ", reason),
    h("button", { class: "btn small danger", type: "submit" }, "Stop"));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = { reason: reason.value.trim(), ...(scope.value === "*" ? {} : { flow: scope.value }) };
    try {
      await api("/stop", { method: "POST", body });
      reason.value = "";
      await refresh();
    } catch (err) {
      showError(err);
    }
  });
  return form;
}

export function start() {
  if (!box) return;
  if (control && may("admin")) {
    control.append(stopForm());
    control.hidden = false;
  }
  refresh();
  setInterval(refresh, 5000);
}
