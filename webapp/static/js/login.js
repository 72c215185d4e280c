// The login page: posts {user, password}; the API sets the floe-sesh cookie.

import { api } from "./api.js";
import { showErrors, clearErrors } from "./forms.js";

/** `next` as a path of this host, read the way the browser reads it; else the dashboard. */
function sameOrigin(next) {
  const url = new URL(next || "/app/dash", location.origin);
  return url.origin === location.origin ? url.pathname + url.search + url.hash : "/app/dash";
}

export function start() {
  const form = document.getElementById("login");
  const button = form.querySelector("button");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    button.disabled = true;
    try {
      await api("/login", {
        method: "POST",
        login: false,
        body: { user: form.elements.user.value.trim(), password: form.elements.password.value },
      });
      location.assign(sameOrigin(form.dataset.next));
    } catch (err) {
      showErrors(form, err.status === 401 ? new Error("Wrong user or password.") : err);
      form.elements.password.select();
    } finally {
      button.disabled = false;
    }
  });
  button.disabled = false; // disabled in the page until now, so the form never submits natively
  form.elements[form.elements.user.value ? "password" : "user"].focus();
  button.disabled = false; // the page's button stays off until here: no submit without this script
}
