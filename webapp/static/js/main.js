// Entry point: the header's logout button, then the page's own module.

import { api, leave, quiet, showError } from "./api.js";

const logout = document.getElementById("logout");
if (logout) {
  logout.addEventListener("click", async () => {
    quiet(); // the session ends with the next call: what else is in flight must not redirect
    try {
      await api("/logout", { method: "POST", login: false });
    } catch (err) {
      if (err.status !== 401) showError(err);
    }
    leave("/app/login");
  });
}

import("./stopswitch.js").then((m) => m.start()).catch(showError);

const pages = {
  login: () => import("./login.js"),
  dash: () => import("./dash.js"),
  flow: () => import("./flow.js"),
  run: () => import("./run.js"),
  audit: () => import("./audit.js"),
};

const load = pages[document.body.dataset.page];
if (load) {
  load().then((m) => m.start()).catch(showError);
}
