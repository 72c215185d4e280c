// Data forms generated from typed fields; the API's 400 {error, field} is shown beside the field.

import { h, put } from "./dom.js";

let uid = 0;

function control(f, id) {
  const name = f.id;
  const dflt = f.default;
  switch (f.type) {
    case "int":
      return h("input", { id, name, type: "number", step: "1", inputmode: "numeric",
        value: dflt === null || dflt === undefined ? "" : String(dflt), required: f.required });
    case "bool":
      return h("input", { id, name, type: "checkbox", checked: dflt === true || dflt === "true" });
    case "choice":
      return h("select", { id, name, required: f.required },
        f.required && (dflt === null || dflt === undefined) ? h("option", { value: "" }, "Choose…") : null,
        (f.options || []).map((o) => h("option", { value: o, selected: String(dflt) === o }, o)));
    case "list":
      return h("textarea", { id, name, rows: 3, spellcheck: "false", placeholder: "one item per line",
        required: f.required }, Array.isArray(dflt) ? dflt.join("\n") : (dflt ?? ""));
    default:
      return h("input", { id, name, type: "text", autocomplete: "off", spellcheck: "false",
        value: dflt === null || dflt === undefined ? "" : String(dflt),
        pattern: f.regex || null, required: f.required });
  }
}

function fieldRow(f) {
  const id = `f${++uid}-${f.id}`;
  const input = control(f, id);
  const label = h("label", { for: id }, f.prompt || f.id, f.required ? h("span", { class: "req", title: "required" }, "*") : null);
  const err = h("div", { class: "err", role: "alert", hidden: true });
  const help = f.type === "string" && f.regex ? h("div", { class: "help mono" }, f.regex) : null;
  if (f.type === "bool") {
    return h("div", { class: "field check", "data-field": f.id }, input, label, err);
  }
  return h("div", { class: "field", "data-field": f.id }, label, input, help, err);
}

/** The values to post: text as typed (the API checks and converts), checkboxes as booleans. */
export function values(form, fields) {
  const out = {};
  for (const f of fields) {
    const el = form.elements.namedItem(f.id);
    if (!el) continue;
    if (f.type === "bool") out[f.id] = el.checked;
    else if (el.value !== "" || f.type === "string") out[f.id] = el.value;
  }
  return out;
}

export function clearErrors(form) {
  for (const el of form.querySelectorAll(".field.invalid")) el.classList.remove("invalid");
  for (const el of form.querySelectorAll(".err, .form-error")) {
    el.hidden = true;
    el.textContent = "";
  }
}

/** Put the message next to `field`, or at the form's foot when no field matches. */
export function showErrors(form, err) {
  clearErrors(form);
  const field = (err && err.field) || "";
  const row = field ? form.querySelector(`.field[data-field="${CSS.escape(field)}"]`) : null;
  const text = (err && err.message) || String(err);
  if (row) {
    row.classList.add("invalid");
    const box = row.querySelector(".err");
    box.textContent = text;
    box.hidden = false;
    const input = row.querySelector("input, select");
    if (input) input.focus();
    return;
  }
  const box = form.querySelector(".form-error");
  box.textContent = text;
  box.hidden = false;
}

/**
 * A <form novalidate> for `fields`; `submit(values)` returns a promise, its rejection (an ApiError)
 * is shown inline. The API validates, so its message is the one the user sees.
 */
export function dataForm(fields, { label, submit, id }) {
  const button = h("button", { class: "btn primary", type: "submit" }, label);
  const form = h("form", { class: "form", novalidate: true, "data-form": id || "" },
    fields.length ? h("div", { class: "fields" }, fields.map(fieldRow)) : h("p", { class: "muted" }, "No inputs."),
    h("div", { class: "row" }, button, h("div", { class: "form-error", role: "alert", hidden: true })));
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    clearErrors(form);
    button.disabled = true;
    try {
      await submit(values(form, fields));
    } catch (err) {
      showErrors(form, err);
    } finally {
      button.disabled = false;
    }
  });
  return form;
}

export { put };
