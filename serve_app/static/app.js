// The storefront page: the header, the hash router and the clock sync. The views live
// in deals.js, orders.js, login.js and admin.js. Served by serve_app/storefront.py
// under content-hashed names; the modules import each other by their plain names and
// the page's import map sends them to the hashed ones.
//
// Hash routes: #/deals (also "" and #/), #/deal/<id>, #/orders, #/order/<id>,
// #/login, #/admin, #/admin/stats/<deal id>; anything else shows view-not-found.
//
// State a browser test can wait on:
//   body[data-route]            deals | deal | orders | order | login | admin | not-found
//   body[data-clock]            pending -> synced (or "local": /api/time failed, local clock)
//   body[data-clock-offset-ms]  server minus local clock, in ms, once synced
//   [data-testid=view-*][data-state]  loading | ready | error | missing
//   deal-card[data-deal-id][data-status], view-deal[data-status]
//        status: upcoming | open | sold_out | ended (as the API, on server time)
//   purchase-result[data-outcome]  busy | reserved | sold_out | limit_exceeded |
//        not_started | ended | rate_limited | unavailable | network | unauthorized |
//        invalid | invalid_request | unknown_deal; [data-order-id] once reserved
//   order[data-order-id][data-status]  loading | reserved | expiring | paid | cancelled | unknown
//   new-product-form-result / new-deal-form-result [data-outcome]  ok | <error code>
//   login-result / register-result [data-kind=error][data-code]  after a refusal
//
// data-testid hooks:
//   header: nav-brand nav-deals nav-orders nav-admin nav-login logout-button auth-user
//           global-status clock-status
//   deals:  view-deals deals-heading deals-status deals-empty deal-list deal-card
//           deal-link deal-price deal-status deal-remaining deal-countdown
//   deal:   view-deal deal-name deal-load-status deal-description deal-price
//           deal-status deal-countdown deal-remaining deal-limit buy-form
//           quantity-input buy-button pay-window purchase-result purchase-message
//           purchase-pay-by purchase-order-link purchase-login-link
//   orders: view-orders view-orders-heading view-order view-order-heading
//           orders-login orders-empty order-list order order-status order-pay-by
//           order-deal-link order-quantity order-amount pay-button cancel-button
//           order-message
//   login:  view-login login-heading login-already login-form login-username
//           login-password login-button login-result register-form
//           register-username register-password register-button register-result
//   admin:  view-admin admin-heading admin-denied new-product-form new-product-name
//           new-product-description new-product-image new-product-form-submit
//           new-product-form-result created-product-id new-deal-form new-deal-product
//           new-deal-price new-deal-stock new-deal-limit new-deal-starts new-deal-ends
//           new-deal-shards new-deal-form-submit new-deal-form-result created-deal-id
//           created-deal-link created-deal-stats-link stats-form stats-deal stats-submit
//           stats-status stats-updated stats stats-totals stats-shards stats-shard
//   other:  view-not-found not-found-heading

import { adminView } from "./admin.js";
import { clockFailed, syncClock } from "./clock.js";
import { dealView, dealsView } from "./deals.js";
import { h, heading, say } from "./dom.js";
import { loginView } from "./login.js";
import { orderView, ordersView } from "./orders.js";
import { dropSession, onSessionChange, session } from "./session.js";

const CLOCK_RESYNC_MS = 10 * 60 * 1000;
const CLOCK_RETRY_MS = 30 * 1000;
const NOTE_MS = 8000;
const ID = "([A-Za-z0-9-]{1,36})"; // the API's id pattern: nothing else reaches a URL

// [pattern, route name, title, view(main, ...captures) -> cleanup or undefined]
const ROUTES = [
  [/^(?:#\/?)?$/, "deals", "Deals", dealsView],
  [/^#\/deals$/, "deals", "Deals", dealsView],
  [new RegExp(`^#/deal/${ID}$`), "deal", "Deal", dealView],
  [/^#\/orders$/, "orders", "My orders", ordersView],
  [new RegExp(`^#/order/${ID}$`), "order", "Order", orderView],
  [/^#\/login$/, "login", "Log in", loginView],
  [/^#\/admin$/, "admin", "Admin", adminView],
  [new RegExp(`^#/admin/stats/${ID}$`), "admin", "Admin", adminView],
];

function notFound(main) {
  main.append(
    h(
      "section",
      { "data-testid": "view-not-found", "data-state": "ready" },
      heading("Not found", "not-found-heading"),
      h("p", {}, "There is no such page. ", h("a", { href: "#/deals" }, "See the deals")),
    ),
  );
}

const main = document.getElementById("view");
const globalStatus = document.querySelector("[data-testid=global-status]");
let cleanup = null;
let first = true;

function route() {
  cleanup?.();
  cleanup = null;
  main.replaceChildren();
  const hash = location.hash;
  let found = null;
  for (const [pattern, name, title, view] of ROUTES) {
    const match = pattern.exec(hash);
    if (match) {
      found = { name, title, view, args: match.slice(1) };
      break;
    }
  }
  found ??= { name: "not-found", title: "Not found", view: notFound, args: [] };
  document.body.dataset.route = found.name;
  document.title = `${found.title} · flashsale`;
  cleanup = found.view(main, ...found.args) ?? null;
  // After a navigation (not the first load) focus goes to the new view's heading, so
  // keyboard and screen-reader users start reading at the new content.
  if (!first) main.querySelector("h1")?.focus();
  first = false;
}

function renderHeader() {
  const who = session();
  const userEl = document.querySelector("[data-testid=auth-user]");
  userEl.textContent = who ? `${who.username}${who.role === "admin" ? " (admin)" : ""}` : "";
  document.querySelector("[data-testid=nav-login]").hidden = Boolean(who);
  document.querySelector("[data-testid=logout-button]").hidden = !who;
  for (const el of document.querySelectorAll("[data-admin-only]"))
    el.hidden = who?.role !== "admin";
}

// The skip link must not change the hash: that is the router's.
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault();
  main.focus();
});

document.querySelector("[data-testid=logout-button]").addEventListener("click", () => {
  dropSession("You are logged out.");
  route(); // what a view shows depends on who is asking
});

// Session notes ("Logged in as …") are said once, then cleared: they are news, not state.
let clearNote = null;
onSessionChange((note) => {
  renderHeader();
  if (!note) return;
  say(globalStatus, note);
  clearTimeout(clearNote);
  clearNote = setTimeout(() => say(globalStatus, ""), NOTE_MS);
});

async function keepClock() {
  const status = document.querySelector("[data-testid=clock-status]");
  let nextMs = CLOCK_RESYNC_MS; // clocks drift; a sync is three small requests
  try {
    const { offset } = await syncClock();
    document.body.dataset.clock = "synced";
    document.body.dataset.clockOffsetMs = String(Math.round(offset));
    const seconds = Math.abs(offset / 1000).toFixed(1);
    status.textContent = `Times are the shop's (your clock is ${seconds} s ${offset >= 0 ? "behind" : "ahead"}).`;
  } catch {
    nextMs = CLOCK_RETRY_MS;
    clockFailed();
    if (document.body.dataset.clock === "pending") {
      document.body.dataset.clock = "local";
      status.textContent = "Could not sync with the shop's clock: countdowns use this computer's.";
    }
  }
  setTimeout(keepClock, nextMs);
}

renderHeader();
window.addEventListener("hashchange", route);
route();
keepClock();
