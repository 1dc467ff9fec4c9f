// Log in and register (#/login). A new account is logged in at once.

import { api } from "./api.js";
import { h, heading, say } from "./dom.js";
import { saveSession, session } from "./session.js";

// Back to where the buyer was sent here from (a Buy click, My orders), else the deals.
function goOn() {
  const next = sessionStorage.getItem("flashsale.next");
  sessionStorage.removeItem("flashsale.next");
  location.hash = next && next !== "#/login" ? next : "#/deals";
}

function field(id, label, attrs) {
  return [h("label", { for: id }, label), h("input", { id, name: id, required: true, ...attrs })];
}

function form(kind, title, submit, fields, onSubmit) {
  const result = h("p", {
    class: "result",
    role: "status",
    "aria-live": "polite",
    "data-testid": `${kind}-result`,
  });
  const button = h("button", { type: "submit", "data-testid": `${kind}-button` }, submit);
  const el = h(
    "form",
    { class: "stack", "data-testid": `${kind}-form` },
    h("h2", {}, title),
    fields,
    button,
    result,
  );
  el.addEventListener("submit", async (event) => {
    event.preventDefault();
    const values = Object.fromEntries(new FormData(el));
    button.disabled = true;
    say(result, "One moment…", "busy");
    try {
      await onSubmit(values, result);
    } catch (err) {
      say(result, err.message, "error");
      result.dataset.code = err.code ?? "";
    } finally {
      button.disabled = false;
    }
  });
  return el;
}

async function logIn(username, password) {
  const { data } = await api.login(username, password);
  saveSession(data.token, username);
  goOn();
}

export function loginView(main) {
  const section = h(
    "section",
    { "data-testid": "view-login", "data-state": "ready" },
    heading("Log in or register", "login-heading"),
  );
  const who = session();
  if (who)
    section.append(
      h("p", { "data-testid": "login-already" }, `You are logged in as ${who.username}.`),
    );
  const names = "3–64 letters, digits, dots, dashes or underscores";
  section.append(
    h(
      "div",
      { class: "columns" },
      form(
        "login",
        "Log in",
        "Log in",
        [
          ...field("login-username", "Username", {
            autocomplete: "username",
            "data-testid": "login-username",
          }),
          ...field("login-password", "Password", {
            type: "password",
            autocomplete: "current-password",
            "data-testid": "login-password",
          }),
        ],
        ({ "login-username": username, "login-password": password }) => logIn(username, password),
      ),
      form(
        "register",
        "New here? Register",
        "Register",
        [
          ...field("register-username", "Username", {
            autocomplete: "username",
            "aria-describedby": "register-username-hint",
            "data-testid": "register-username",
          }),
          h("p", { class: "hint", id: "register-username-hint" }, names),
          ...field("register-password", "Password (at least 8 characters)", {
            type: "password",
            autocomplete: "new-password",
            "data-testid": "register-password",
          }),
        ],
        async ({ "register-username": username, "register-password": password }, result) => {
          await api.register(username, password);
          say(result, "Registered. Logging you in…", "ok");
          await logIn(username, password);
        },
      ),
    ),
  );
  main.append(section);
}
