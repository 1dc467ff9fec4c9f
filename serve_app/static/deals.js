// The deals list (#/deals) and one deal's page with its Buy button (#/deal/<id>).

import { api, newIdempotencyKey, shopConfig, withRetries } from "./api.js";
import { clockState, onTick, serverNow } from "./clock.js";
import { badge, duration, h, heading, localTime, money, say, setBadge, thumb } from "./dom.js";
import { poll } from "./poll.js";
import { rememberOrder, session } from "./session.js";

// The deal's status now, on server time: the API's answer is as old as the last poll,
// and a countdown reaching zero must flip "upcoming" to "live" without waiting for the
// next one. Same precedence as the server (actors/domain/deals.py): ended, upcoming,
// then live or sold out by the units left.
export function dealStatus(deal, now) {
  if (deal.status === "ended" || now >= Date.parse(deal.ends_at)) return "ended";
  if (deal.status === "upcoming" && now < Date.parse(deal.starts_at)) return "upcoming";
  return deal.remaining > 0 ? "open" : "sold_out";
}

function countdownText(deal, status, now) {
  if (status === "upcoming") return `Starts in ${duration(Date.parse(deal.starts_at) - now)}`;
  if (status === "open") return `Ends in ${duration(Date.parse(deal.ends_at) - now)}`;
  return "";
}

// 900 -> "15 minutes": the payment window, as a sentence says it.
const spoken = (seconds) =>
  seconds >= 120 && seconds % 60 === 0 ? `${seconds / 60} minutes` : `${seconds} seconds`;

const left = (deal) => `${deal.remaining} of ${deal.stock} left`;

export function dealsView(main) {
  const note = h("p", { class: "note", role: "status", "data-testid": "deals-status" });
  const empty = h("p", { hidden: true, "data-testid": "deals-empty" }, "No deals right now.");
  const list = h("ul", { class: "deals", "data-testid": "deal-list" });
  const section = h(
    "section",
    { "data-testid": "view-deals", "data-state": "loading" },
    heading("Deals", "deals-heading"),
    note,
    empty,
    list,
  );
  main.append(section);

  // Cards are made once and updated in place, so a poll never moves focus or scroll.
  const cards = new Map();

  function card(deal) {
    const parts = {
      status: badge("upcoming", "deal-status"),
      remaining: h("span", { class: "remaining", "data-testid": "deal-remaining" }),
      countdown: h("span", { class: "countdown", "data-testid": "deal-countdown" }),
    };
    parts.el = h(
      "li",
      { class: "card", "data-testid": "deal-card", "data-deal-id": deal.deal_id },
      thumb(deal.product),
      h(
        "h2",
        {},
        h("a", { href: `#/deal/${deal.deal_id}`, "data-testid": "deal-link" }, deal.product.name),
      ),
      h("p", { class: "price", "data-testid": "deal-price" }, money(deal.price_cents)),
      h("p", {}, parts.status, " ", parts.remaining),
      h("p", {}, parts.countdown),
    );
    return parts;
  }

  function paint(parts, now) {
    const status = dealStatus(parts.deal, now);
    if (parts.el.dataset.status !== status) {
      parts.el.dataset.status = status;
      setBadge(parts.status, status);
    }
    parts.remaining.textContent = status === "ended" ? "" : left(parts.deal);
    parts.countdown.textContent = countdownText(parts.deal, status, now);
  }

  function update(deals) {
    const seen = new Set();
    for (const deal of deals) {
      seen.add(deal.deal_id);
      let parts = cards.get(deal.deal_id);
      if (!parts) {
        parts = card(deal);
        cards.set(deal.deal_id, parts);
        list.append(parts.el);
      }
      parts.deal = deal;
    }
    // The list leaves out ended deals: a card already shown stays, marked ended.
    for (const [dealId, parts] of cards) {
      if (!seen.has(dealId)) parts.deal = { ...parts.deal, status: "ended" };
    }
    empty.hidden = cards.size > 0;
    const now = serverNow();
    for (const parts of cards.values()) paint(parts, now);
  }

  const poller = poll(
    async () => {
      update((await api.deals()).data);
      section.dataset.state = "ready";
      say(note, "");
    },
    {
      onError(err, waitMs) {
        section.dataset.state = cards.size ? "ready" : "error";
        say(
          note,
          `Could not refresh the deals (${err.message}); trying again in ${Math.ceil(waitMs / 1000)} s.`,
          "error",
        );
      },
    },
  );
  const untick = onTick((now) => {
    for (const parts of cards.values()) paint(parts, now);
  });
  return () => {
    poller.stop();
    untick();
  };
}

const PURCHASE_TRIES = 6; // about 20 s of retrying at most, Retry-After aside

// What to tell a buyer for each answer to a purchase; the server's message follows.
const OUTCOMES = {
  sold_out: "Sold out.",
  limit_exceeded: "That is more than this deal allows per buyer.",
  not_started: "Not on sale yet.",
  ended: "This deal has ended.",
  rate_limited: "Too many requests: wait a moment, then try again.",
  unavailable: "The shop is too busy right now: try again (a retry cannot buy twice).",
  network: "No answer from the shop: try again (a retry cannot buy twice).",
  unauthorized: "Please log in to buy.",
  unknown_deal: "This deal does not exist.",
  invalid_request: "The shop did not accept that.",
};

export function dealView(main, dealId) {
  const section = h("section", {
    "data-testid": "view-deal",
    "data-state": "loading",
    "data-deal-id": dealId,
  });
  const note = h(
    "p",
    { class: "note", role: "status", "data-testid": "deal-load-status" },
    "Loading…",
  );
  section.append(
    h("p", {}, h("a", { href: "#/deals" }, "← All deals")),
    heading("Deal", "deal-name"),
    note,
  );
  main.append(section);

  let deal = null;
  let busy = false; // a purchase is under way: the button stays off whatever the clock says
  let pending = null; // {key, quantity} of a purchase left unanswered: the next click resumes it
  let payBy = null; // after a reservation: its deadline, for the countdown
  const ui = {};

  function build() {
    const limit = deal.per_user_limit;
    ui.status = badge("upcoming", "deal-status");
    ui.remaining = h("dd", { "data-testid": "deal-remaining" });
    ui.countdown = h("p", { class: "countdown", "data-testid": "deal-countdown", id: "buy-why" });
    ui.quantity = h("input", {
      id: "quantity",
      name: "quantity",
      type: "number",
      inputmode: "numeric",
      min: 1,
      max: limit,
      step: 1,
      value: 1,
      required: true,
      "data-testid": "quantity-input",
    });
    ui.buy = h(
      "button",
      {
        type: "submit",
        disabled: true,
        "aria-describedby": "buy-why",
        "data-testid": "buy-button",
      },
      "Buy",
    );
    ui.payWindow = h("p", { class: "hint", "data-testid": "pay-window" });
    ui.result = h("div", {
      class: "result",
      role: "status",
      "aria-live": "polite",
      "data-testid": "purchase-result",
    });
    section.querySelector("h1").textContent = deal.product.name;
    note.replaceWith(
      h(
        "div",
        { class: "deal" },
        thumb(deal.product),
        h(
          "div",
          {},
          deal.product.description
            ? h("p", { "data-testid": "deal-description" }, deal.product.description)
            : null,
          h("p", { class: "price big", "data-testid": "deal-price" }, money(deal.price_cents)),
          h("p", {}, ui.status),
          ui.countdown,
          h(
            "dl",
            { class: "facts" },
            h("dt", {}, "Left"),
            ui.remaining,
            h("dt", {}, "Limit per buyer"),
            h("dd", { "data-testid": "deal-limit" }, String(limit)),
            h("dt", {}, "Starts"),
            h("dd", {}, h("time", { datetime: deal.starts_at }, localTime(deal.starts_at))),
            h("dt", {}, "Ends"),
            h("dd", {}, h("time", { datetime: deal.ends_at }, localTime(deal.ends_at))),
          ),
          h(
            "form",
            { class: "buy", "data-testid": "buy-form", novalidate: true, onsubmit: buy },
            h("label", { for: "quantity" }, `Quantity (1–${limit})`),
            ui.quantity,
            ui.buy,
          ),
          ui.payWindow,
          ui.result,
        ),
      ),
    );
    shopConfig().then((config) => {
      if (config)
        ui.payWindow.textContent = `Pay within ${spoken(config.payment_timeout_s)} of reserving, or the order is cancelled.`;
    });
  }

  function paint(now) {
    if (!deal) return;
    const status = dealStatus(deal, now);
    section.dataset.status = status;
    setBadge(ui.status, status);
    ui.remaining.textContent = left(deal);
    const waiting = clockState() === "pending";
    ui.countdown.textContent =
      status === "upcoming"
        ? `On sale in ${duration(Date.parse(deal.starts_at) - now)}`
        : status === "open"
          ? `On sale now; ends in ${duration(Date.parse(deal.ends_at) - now)}`
          : status === "sold_out"
            ? "Sold out."
            : "This deal has ended.";
    // Opens on the server's start, not this computer's: hence wait for the clock sync.
    ui.buy.disabled = busy || waiting || status !== "open";
    if (payBy !== null) {
      const pay = ui.result.querySelector("[data-testid=purchase-pay-by]");
      if (pay)
        pay.textContent =
          payBy > now ? `Pay within ${duration(payBy - now)}.` : "The payment window is over.";
    }
  }

  function outcome(kind, headline, detail = [], extra = []) {
    ui.result.dataset.outcome = kind;
    say(
      ui.result,
      [h("strong", {}, headline), " ", ...detail, ...extra],
      kind === "reserved" ? "ok" : kind === "busy" ? "busy" : "error",
    );
  }

  async function buy(event) {
    event.preventDefault();
    if (busy || !deal) return;
    const quantity = Number(ui.quantity.value);
    if (!Number.isInteger(quantity) || quantity < 1 || quantity > deal.per_user_limit) {
      outcome("invalid", `Choose a quantity from 1 to ${deal.per_user_limit}.`);
      ui.quantity.focus();
      return;
    }
    const who = session();
    if (!who) {
      sessionStorage.setItem("flashsale.next", location.hash);
      outcome(
        "unauthorized",
        OUTCOMES.unauthorized,
        [],
        [h("a", { href: "#/login", "data-testid": "purchase-login-link" }, "Log in or register")],
      );
      return;
    }
    // One key per purchase, kept across every retry of it, and across a click that
    // resumes a purchase whose retries ran out unanswered: the shop may have reserved it.
    if (!pending || pending.quantity !== quantity || pending.username !== who.username) {
      pending = { key: newIdempotencyKey(), quantity, username: who.username };
    }
    busy = true;
    paint(serverNow());
    outcome("busy", "Reserving…");
    try {
      const { data } = await withRetries(() => api.purchase(deal.deal_id, quantity, pending.key), {
        tries: PURCHASE_TRIES,
        onRetry(err, attempt) {
          outcome("busy", "The shop is busy, retrying…", [
            `(attempt ${attempt + 1} of ${PURCHASE_TRIES}: ${err.message})`,
          ]);
        },
      });
      pending = null;
      rememberOrder(who.username, data.order_id);
      payBy = Date.parse(data.pay_by);
      outcome(
        "reserved",
        "Reserved!",
        [`Order ${data.order_id}. `, h("span", { "data-testid": "purchase-pay-by" })],
        [
          " ",
          h(
            "a",
            { href: `#/order/${data.order_id}`, "data-testid": "purchase-order-link" },
            "Pay for it now",
          ),
        ],
      );
      ui.result.dataset.orderId = data.order_id;
    } catch (err) {
      if (!err.retriable) pending = null; // a final answer: the next click is a new purchase
      const extra =
        err.status === 401
          ? [" ", h("a", { href: "#/login", "data-testid": "purchase-login-link" }, "Log in")]
          : [];
      if (err.status === 401) sessionStorage.setItem("flashsale.next", location.hash);
      outcome(
        err.code,
        OUTCOMES[err.code] ?? "The purchase failed.",
        [h("span", { "data-testid": "purchase-message" }, err.message)],
        extra,
      );
    } finally {
      busy = false;
      poller.now(); // the units left just changed, whatever the answer
      paint(serverNow());
    }
  }

  const poller = poll(
    async () => {
      try {
        deal = (await api.deal(dealId)).data;
      } catch (err) {
        if (err.code !== "unknown_deal") throw err;
        section.dataset.state = "missing";
        say(note, `No such deal (${err.message}).`, "error");
        return false;
      }
      if (!ui.buy) build();
      section.dataset.state = "ready";
      paint(serverNow());
    },
    {
      onError(err, waitMs) {
        if (!deal)
          say(
            note,
            `Could not load the deal (${err.message}); trying again in ${Math.ceil(waitMs / 1000)} s.`,
            "error",
          );
      },
    },
  );
  const untick = onTick(paint);
  return () => {
    poller.stop();
    untick();
  };
}
